"""Protobuf messages to the client's dataclasses (one function per message)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from google.protobuf import json_format, struct_pb2, timestamp_pb2

from drive.v1 import events_pb2, files_pb2, tasks_pb2
from drive_service.client.models import CloudFile, Task, TaskEvent, TaskStatus, TaskType


def timestamp(message: Any, name: str) -> datetime | None:
    """The field ``name`` of ``message`` as an aware UTC datetime, None when unset."""
    if not message.HasField(name):
        return None
    value: timestamp_pb2.Timestamp = getattr(message, name)
    return value.ToDatetime(tzinfo=UTC)


def struct(value: struct_pb2.Struct) -> dict[str, Any]:
    """A Struct as plain JSON values (numbers are floats, as in JSON)."""
    return json_format.MessageToDict(value)


def cloud_file(message: files_pb2.CloudFile) -> CloudFile:
    return CloudFile(
        id=message.id,
        name=message.name,
        mime_type=message.mime_type,
        size=message.size,
        hash=message.hash,
        pool_id=message.pool_id,
        bundle_id=message.bundle_id or None,
        encrypted=message.encrypted,
        account_id=message.account_id,
        created_at=timestamp(message, "created_at"),
        updated_at=timestamp(message, "updated_at"),
        expired_at=timestamp(message, "expired_at"),
        uploaded_at=timestamp(message, "uploaded_at"),
        description=message.description,
    )


def task(message: tasks_pb2.Task) -> Task:
    return Task(
        task_id=message.task_id,
        name=message.name,
        description=message.description,
        type=TaskType(message.type),
        status=TaskStatus(message.status),
        progress=message.progress,
        status_message=message.status_message,
        priority=message.priority,
        parameters=struct(message.parameters),
        results=struct(message.results),
        error_message=message.error_message,
        account_id=message.account_id,
        created_at=timestamp(message, "created_at"),
        updated_at=timestamp(message, "updated_at"),
        started_at=timestamp(message, "started_at"),
        completed_at=timestamp(message, "completed_at"),
        last_activity=timestamp(message, "last_activity"),
        expired_at=timestamp(message, "expired_at"),
        estimated_duration_seconds=(
            message.estimated_duration_seconds if message.HasField("estimated_duration_seconds") else None
        ),
    )


def task_event(message: events_pb2.TaskEvent) -> TaskEvent:
    return TaskEvent(
        sequence=message.sequence,
        type=message.type,
        task_id=message.task_id,
        task_type=TaskType(message.task_type),
        data=struct(message.data),
        created_at=timestamp(message, "created_at"),
    )


def type_name(kind: TaskType) -> str:
    """The proto enum value's name (``TASK_TYPE_FILE_MOVE``), which protobuf accepts for the field."""
    return f"TASK_TYPE_{kind.name}"


def status_name(status: TaskStatus) -> str:
    return f"TASK_STATUS_{status.name}"


def to_struct(values: dict[str, Any] | None) -> struct_pb2.Struct | None:
    """Plain JSON values as a Struct (None stays None: the field is left unset)."""
    if values is None:
        return None
    message = struct_pb2.Struct()
    message.update(values)
    return message


def to_timestamp(value: datetime | None) -> timestamp_pb2.Timestamp | None:
    if value is None:
        return None
    message = timestamp_pb2.Timestamp()
    message.FromDatetime(value)
    return message

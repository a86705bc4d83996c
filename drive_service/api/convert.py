"""Conversions between domain values and drive.v1 messages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, cast

from google.protobuf import duration_pb2, json_format, struct_pb2, timestamp_pb2

from drive.v1 import events_pb2, task_enums_pb2, tasks_pb2
from drive_service.domain import validation as valid
from drive_service.domain.events import RecordedEvent
from drive_service.domain.tasks import Task, TaskStatus, TaskType
from drive_service.errors import InvalidArgument


def task_type_to_proto(value: TaskType) -> task_enums_pb2.TaskType:
    """Domain TaskType → ``drive.v1.TaskType`` number."""
    return cast(task_enums_pb2.TaskType, task_enums_pb2.TaskType.Value(f"TASK_TYPE_{value.name}"))


def task_status_to_proto(value: TaskStatus) -> task_enums_pb2.TaskStatus:
    """Domain TaskStatus → ``drive.v1.TaskStatus`` number."""
    return cast(task_enums_pb2.TaskStatus, task_enums_pb2.TaskStatus.Value(f"TASK_STATUS_{value.name}"))


def task_type_from_proto(number: int, *, field: str = "type") -> TaskType | None:
    """``drive.v1.TaskType`` number → domain TaskType (UNSPECIFIED → None)."""
    if number == 0:
        return None
    try:
        return TaskType[task_enums_pb2.TaskType.Name(number).removeprefix("TASK_TYPE_")]
    except ValueError:
        raise InvalidArgument(
            f"Unknown task type {number}.", reason="INVALID_TASK_TYPE", field=field
        ) from None


def task_status_from_proto(number: int, *, field: str = "status") -> TaskStatus | None:
    """``drive.v1.TaskStatus`` number → domain TaskStatus (UNSPECIFIED → None)."""
    if number == 0:
        return None
    try:
        return TaskStatus[task_enums_pb2.TaskStatus.Name(number).removeprefix("TASK_STATUS_")]
    except ValueError:
        raise InvalidArgument(
            f"Unknown task status {number}.", reason="INVALID_TASK_STATUS", field=field
        ) from None


def timestamp(value: datetime) -> timestamp_pb2.Timestamp:
    """An aware datetime as a Timestamp."""
    message = timestamp_pb2.Timestamp()
    message.FromDatetime(value)
    return message


#: Seconds of 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z: the Timestamp's valid range.
_MIN_SECONDS, _MAX_SECONDS = -62135596800, 253402300799
#: The Duration's valid range, in seconds (about 10,000 years either way).
_MAX_DURATION_SECONDS = 315576000000


def optional_datetime(message: Any, field: str) -> datetime | None:
    """The Timestamp ``field`` of ``message`` as an aware datetime, or None when unset.

    Raises:
        InvalidArgument: INVALID_TIMESTAMP outside the Timestamp's valid range (years 1..9999,
            nanos 0..999,999,999).
    """
    if not message.HasField(field):
        return None
    value: timestamp_pb2.Timestamp = getattr(message, field)
    if not (_MIN_SECONDS <= value.seconds <= _MAX_SECONDS and 0 <= value.nanos < 1_000_000_000):
        raise InvalidArgument(
            f"The {field} is not a valid timestamp (years 1 to 9999, nanos 0 to 999999999).",
            reason="INVALID_TIMESTAMP",
            field=field,
        )
    return value.ToDatetime(tzinfo=UTC)


def optional_duration(message: Any, field: str) -> timedelta | None:
    """The Duration ``field`` of ``message``, or None when unset.

    Raises:
        InvalidArgument: INVALID_DURATION outside the Duration's valid range, or with nanos of
            the other sign than its seconds.
    """
    if not message.HasField(field):
        return None
    value: duration_pb2.Duration = getattr(message, field)
    seconds, nanos = value.seconds, value.nanos
    if abs(seconds) > _MAX_DURATION_SECONDS or abs(nanos) >= 1_000_000_000 or seconds * nanos < 0:
        raise InvalidArgument(f"The {field} is not a valid duration.", reason="INVALID_DURATION", field=field)
    return value.ToTimedelta()


def struct(value: dict[str, Any]) -> struct_pb2.Struct:
    """A JSON-like dict as a Struct."""
    message = struct_pb2.Struct()
    message.update(value)
    return message


def from_struct(message: struct_pb2.Struct, *, field: str) -> dict[str, Any]:
    """A caller's Struct as a plain dict (numbers are floats, as JSON has it), checked by
    ``validation.struct``.

    Raises:
        InvalidArgument: INVALID_NUMBER for a NaN or infinite number (JSON cannot hold them), and
            the reasons of ``validation.struct``.
    """
    try:
        return valid.struct(dict(json_format.MessageToDict(message)), field=field)
    except ValueError:
        raise InvalidArgument(
            f"The {field} must hold finite numbers only (no NaN or Infinity).",
            reason="INVALID_NUMBER",
            field=field,
        ) from None


def task(value: Task) -> tasks_pb2.Task:
    """A domain Task as ``drive.v1.Task``."""
    message = tasks_pb2.Task(
        task_id=value.task_id,
        name=value.name,
        description=value.description,
        type=task_type_to_proto(value.type),
        status=task_status_to_proto(value.status),
        progress=value.progress,
        status_message=value.status_message,
        priority=value.priority,
        parameters=struct(value.parameters),
        results=struct(value.results),
        error_message=value.error_message,
        created_at=timestamp(value.created_at),
        updated_at=timestamp(value.updated_at),
        last_activity=timestamp(value.last_activity),
        account_id=value.account_id,
    )
    for field in ("started_at", "completed_at", "expired_at"):
        moment = getattr(value, field)
        if moment is not None:
            getattr(message, field).CopyFrom(timestamp(moment))
    if value.estimated_duration_seconds is not None:
        message.estimated_duration_seconds = value.estimated_duration_seconds
    return message


def event(value: RecordedEvent) -> events_pb2.TaskEvent:
    """A recorded event as ``drive.v1.TaskEvent``."""
    return events_pb2.TaskEvent(
        sequence=value.sequence,
        type=value.event.type.value,
        data=struct(value.event.data),
        task_id=value.event.task_id,
        task_type=task_type_to_proto(value.event.task_type),
        created_at=timestamp(value.created_at),
    )

"""Task events and their payloads, shaped exactly like the seed's WebSocket packets."""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from drive_service.domain.files import Upload
from drive_service.domain.tasks import Task, TaskStatus, TaskType
from drive_service.domain.throttle import should_send_progress


class EventType(enum.Enum):
    """Event names as they appear in the packet's ``type``."""

    TASK_CREATED = "task.created"
    TASK_PROGRESS = "task.progress"
    TASK_COMPLETED = "task.completed"
    TASK_FAILED = "task.failed"
    TASK_PAUSED = "task.paused"
    TASK_RESUMED = "task.resumed"
    TASK_CANCELLED = "task.cancelled"
    TASK_EXPIRED = "task.expired"
    UPLOAD_PROGRESS = "upload.progress"
    UPLOAD_COMPLETED = "upload.completed"
    UPLOAD_FAILED = "upload.failed"


@dataclass(frozen=True, slots=True)
class Event:
    """An event about to be recorded: ``data`` is the seed's JSON ``data`` object."""

    type: EventType
    account_id: str
    task_id: str
    task_type: TaskType
    data: dict[str, Any]

    def packet(self) -> dict[str, Any]:
        """The seed's packet: ``{"type": ..., "data": {...}}``."""
        return {"type": self.type.value, "data": self.data}


@dataclass(frozen=True, slots=True)
class RecordedEvent:
    """An event after it was stored, with its per-account ``sequence``."""

    sequence: int
    created_at: datetime
    event: Event


def iso(moment: datetime) -> str:
    """ISO-8601 UTC with a trailing ``Z``, as in the seed's examples."""
    text = moment.astimezone(UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


def _base(task: Task) -> dict[str, Any]:
    return {"taskId": task.task_id, "name": task.name, "type": task.type.value}


def _event(kind: EventType, task: Task, data: dict[str, Any]) -> Event:
    return Event(kind, task.account_id, task.task_id, task.type, {**_base(task), **data})


def created(task: Task) -> Event:
    """``task.created``: taskId, name, type, createdAt (parameters are never echoed: secrets)."""
    return _event(EventType.TASK_CREATED, task, {"createdAt": iso(task.created_at)})


def progressed(task: Task) -> Event:
    """``task.progress``: progress, status and lastActivity."""
    return _event(
        EventType.TASK_PROGRESS,
        task,
        {"progress": task.progress, "status": task.status.value, "lastActivity": iso(task.last_activity)},
    )


def completed(task: Task) -> Event:
    """``task.completed``: completedAt and results."""
    moment = task.completed_at or task.updated_at
    return _event(EventType.TASK_COMPLETED, task, {"completedAt": iso(moment), "results": task.results})


def failed(task: Task) -> Event:
    """``task.failed``: failedAt and errorMessage."""
    moment = task.completed_at or task.updated_at
    return _event(EventType.TASK_FAILED, task, {"failedAt": iso(moment), "errorMessage": task.error_message})


_STATUS_EVENTS = {
    TaskStatus.PAUSED: EventType.TASK_PAUSED,
    TaskStatus.CANCELLED: EventType.TASK_CANCELLED,
    TaskStatus.EXPIRED: EventType.TASK_EXPIRED,
}


def status_changed(task: Task, *, resumed: bool = False) -> Event:
    """``task.paused`` / ``task.resumed`` / ``task.cancelled`` / ``task.expired``."""
    kind = EventType.TASK_RESUMED if resumed else _STATUS_EVENTS[task.status]
    return _event(kind, task, {"status": task.status.value, "updatedAt": iso(task.updated_at)})


def upload_progressed(task: Task, upload: Upload) -> Event:
    """``upload.progress``: the seed's upload-specific progress packet."""
    return Event(
        EventType.UPLOAD_PROGRESS,
        task.account_id,
        task.task_id,
        task.type,
        {
            "taskId": task.task_id,
            "fileName": upload.file_name,
            "fileSize": upload.file_size,
            "chunksUploaded": upload.chunks_uploaded,
            "chunksTotal": upload.chunks_count,
            "progress": task.progress,
            "status": task.status.value,
            "lastActivity": iso(task.last_activity),
        },
    )


def upload_completed(task: Task, upload: Upload, file_id: str) -> Event:
    """``upload.completed``: taskId, fileId, fileName, fileSize, completedAt."""
    return Event(
        EventType.UPLOAD_COMPLETED,
        task.account_id,
        task.task_id,
        task.type,
        {
            "taskId": task.task_id,
            "fileId": file_id,
            "fileName": upload.file_name,
            "fileSize": upload.file_size,
            "completedAt": iso(task.completed_at or task.updated_at),
        },
    )


def upload_failed(task: Task, upload: Upload) -> Event:
    """``upload.failed``: taskId, fileName, fileSize, failedAt, errorMessage."""
    return Event(
        EventType.UPLOAD_FAILED,
        task.account_id,
        task.task_id,
        task.type,
        {
            "taskId": task.task_id,
            "fileName": upload.file_name,
            "fileSize": upload.file_size,
            "failedAt": iso(task.completed_at or task.updated_at),
            "errorMessage": task.error_message,
        },
    )


def throttled_progress(task: Task, now: datetime) -> tuple[Task, list[Event]]:
    """Attach ``task.progress`` when the throttle lets the task's new progress through.

    The returned task remembers what was sent, so the next decision compares with it.
    """
    if not should_send_progress(
        new_progress=task.progress,
        last_sent_progress=task.notified_progress,
        last_sent_at=task.notified_at,
        now=now,
    ):
        return task, []
    sent = dataclasses.replace(task, notified_progress=task.progress, notified_at=now)
    return sent, [progressed(sent)]


@dataclass(slots=True)
class Changes:
    """What one committed write did that others must hear of: the tasks whose cached copies are
    now stale, and the events it recorded in the outbox (in sequence order per account)."""

    touched_tasks: set[str] = field(default_factory=set)
    events: list[RecordedEvent] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.touched_tasks or self.events)

"""Tasks: types, statuses, the state machine and the task record."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from drive_service.errors import InvalidTaskState


class TaskType(enum.Enum):
    """Kinds of work; values are the seed's names, used in storage and event payloads."""

    FILE_UPLOAD = "FileUpload"
    FILE_MOVE = "FileMove"
    FILE_COMPRESS = "FileCompress"
    FILE_DECOMPRESS = "FileDecompress"
    FILE_ENCRYPT = "FileEncrypt"
    FILE_DECRYPT = "FileDecrypt"
    BULK_OPERATION = "BulkOperation"
    STORAGE_MIGRATION = "StorageMigration"
    FILE_CONVERSION = "FileConversion"
    CUSTOM = "Custom"


class TaskStatus(enum.Enum):
    """Lifecycle states; values are the seed's names."""

    PENDING = "Pending"
    IN_PROGRESS = "InProgress"
    PAUSED = "Paused"
    COMPLETED = "Completed"
    FAILED = "Failed"
    CANCELLED = "Cancelled"
    EXPIRED = "Expired"

    @property
    def terminal(self) -> bool:
        """Whether no further transition is possible."""
        return self in TERMINAL_STATUSES


#: Parameter names whose values are secrets: never stored in clear, echoed, logged or sent.
SECRET_PARAMETERS = frozenset({"password", "encryptPassword"})


TERMINAL_STATUSES = frozenset(
    {TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED, TaskStatus.EXPIRED}
)


class Action(enum.Enum):
    """Requested changes of a task, each allowed from a fixed set of statuses."""

    START = "start"
    REPORT_PROGRESS = "report progress"
    COMPLETE = "complete"
    FAIL = "fail"
    PAUSE = "pause"
    RESUME = "resume"
    CANCEL = "cancel"
    EXPIRE = "expire"


_ACTIVE = frozenset({TaskStatus.PENDING, TaskStatus.IN_PROGRESS})

#: Statuses each action may start from, and the status it leads to (None keeps the status).
TRANSITIONS: dict[Action, tuple[frozenset[TaskStatus], TaskStatus | None]] = {
    Action.START: (frozenset({TaskStatus.PENDING}), TaskStatus.IN_PROGRESS),
    # An external executor may report on a pending task: that starts it.
    Action.REPORT_PROGRESS: (_ACTIVE, TaskStatus.IN_PROGRESS),
    Action.COMPLETE: (_ACTIVE, TaskStatus.COMPLETED),
    Action.FAIL: (_ACTIVE, TaskStatus.FAILED),
    Action.PAUSE: (frozenset({TaskStatus.IN_PROGRESS}), TaskStatus.PAUSED),
    Action.RESUME: (frozenset({TaskStatus.PAUSED}), TaskStatus.IN_PROGRESS),
    Action.CANCEL: (_ACTIVE | {TaskStatus.PAUSED}, TaskStatus.CANCELLED),
    Action.EXPIRE: (_ACTIVE | {TaskStatus.PAUSED}, TaskStatus.EXPIRED),
}


def next_status(task_id: str, current: TaskStatus, action: Action) -> TaskStatus:
    """Return the status ``action`` leads to from ``current``.

    Raises:
        InvalidTaskState: the action is not allowed from ``current``.
    """
    allowed_from, target = TRANSITIONS[action]
    if current not in allowed_from:
        raise InvalidTaskState(task_id, current.value, action.value)
    return target or current


def require_in_progress(task: Task, action: str) -> None:
    """Uploads accept chunks and completion only while IN_PROGRESS.

    Raises:
        InvalidTaskState: the task is in any other status.
    """
    if task.status is not TaskStatus.IN_PROGRESS:
        raise InvalidTaskState(task.task_id, task.status.value, action)


@dataclass(frozen=True, slots=True)
class Task:
    """One persistent task as stored; progress is 0..100."""

    task_id: str
    account_id: str
    type: TaskType
    status: TaskStatus
    name: str
    description: str
    priority: int
    progress: float
    status_message: str
    parameters: dict[str, Any]
    results: dict[str, Any]
    error_message: str
    created_at: datetime
    updated_at: datetime
    last_activity: datetime
    started_at: datetime | None = None
    completed_at: datetime | None = None
    expired_at: datetime | None = None
    estimated_duration_seconds: int | None = None
    #: Progress carried by the last progress event sent, and when (the throttle's memory).
    notified_progress: float = 0.0
    notified_at: datetime | None = None
    #: Run by the built-in worker (a handler is registered for the type) rather than externally.
    managed: bool = False
    #: Attempts started so far, counted at claim, and the most allowed.
    attempts: int = 0
    max_attempts: int = 3
    #: The running attempt's lease: only its token may report, and only until it expires.
    lease_token: str | None = None
    lease_expires_at: datetime | None = None
    #: Not claimable before this time (retry backoff).
    run_after: datetime | None = None
    #: Where the handler stopped last; a resumed or rescued attempt continues from here.
    checkpoint: dict[str, Any] | None = None
    #: Secret parameters (passwords), sealed with the server's master key; cleared when terminal.
    sealed_secrets: bytes | None = None
    #: The idempotency key (AIP-155) the task was created with: a retried create returns this task.
    request_id: str | None = None


@dataclass(frozen=True, slots=True)
class TaskStats:
    """An account's task counts and averages."""

    total: int
    by_type: dict[TaskType, int]
    by_status: dict[TaskStatus, int]
    average_progress: float
    average_duration_seconds: float

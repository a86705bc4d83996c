"""Checks of caller-supplied task fields; each failure is an InvalidArgument with a reason."""

from __future__ import annotations

import enum
import json
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from drive_service.domain.ids import is_well_formed
from drive_service.domain.tasks import TaskStatus, TaskType
from drive_service.errors import InvalidArgument, TaskNotFound

MAX_NAME_LENGTH = 256
MAX_DESCRIPTION_LENGTH = 1024
MAX_MESSAGE_LENGTH = 1024
MAX_STRUCT_BYTES = 64 * 1024
DEFAULT_LIST_LIMIT = 50
MAX_LIST_LIMIT = 1000
DEFAULT_WAIT = timedelta(seconds=30)
MAX_WAIT = timedelta(seconds=300)


class SortKey(enum.Enum):
    """Columns a task list may be ordered by."""

    NAME = "name"
    TYPE = "type"
    STATUS = "status"
    PRIORITY = "priority"
    CREATED = "created"
    UPDATED = "updated"
    LAST_ACTIVITY = "lastActivity"


_SORT_ALIASES = {
    "": SortKey.LAST_ACTIVITY,
    "activity": SortKey.LAST_ACTIVITY,
    "lastactivity": SortKey.LAST_ACTIVITY,
    "last_activity": SortKey.LAST_ACTIVITY,
    "createdat": SortKey.CREATED,
    "created_at": SortKey.CREATED,
    "updatedat": SortKey.UPDATED,
    "updated_at": SortKey.UPDATED,
    **{key.value.lower(): key for key in SortKey},
}


@dataclass(frozen=True, slots=True)
class NewTask:
    """A validated request to create a task."""

    type: TaskType
    name: str
    description: str
    priority: int
    parameters: dict[str, Any]
    expired_at: datetime | None
    estimated_duration_seconds: int | None


@dataclass(frozen=True, slots=True)
class TaskQuery:
    """A validated list request: filters, order and page."""

    type: TaskType | None = None
    status: TaskStatus | None = None
    sort_by: SortKey = SortKey.LAST_ACTIVITY
    descending: bool = True
    offset: int = 0
    limit: int = DEFAULT_LIST_LIMIT


def task_id(value: str) -> str:
    """Return ``value`` if it could name a task; anything else cannot exist, so NOT_FOUND."""
    if not is_well_formed(value):
        raise TaskNotFound(value[:64])
    return value


def name(value: str) -> str:
    """A task name: 1..256 characters after trimming, no control characters."""
    value = value.strip()
    if not value or len(value) > MAX_NAME_LENGTH or not value.isprintable():
        raise InvalidArgument(
            f"The name must be 1 to {MAX_NAME_LENGTH} printable characters.",
            reason="INVALID_NAME",
            field="name",
        )
    return value


def error_message(value: str) -> str:
    """A failure message: the seed's default when empty, cut to ``MAX_MESSAGE_LENGTH``."""
    return value[:MAX_MESSAGE_LENGTH] or "Task failed due to an unknown error"


def creatable_type(value: TaskType | None) -> TaskType:
    """A type CreateTask accepts: any but FileUpload, which UploadService creates."""
    if value is None or value is TaskType.FILE_UPLOAD:
        raise InvalidArgument(
            "The task type is required and must not be FileUpload (use CreateUploadTask).",
            reason="INVALID_TASK_TYPE",
            field="type",
        )
    return value


def text(value: str, *, field: str, limit: int = MAX_MESSAGE_LENGTH) -> str:
    """Free text such as a description or message, at most ``limit`` characters."""
    if len(value) > limit:
        raise InvalidArgument(
            f"The {field} must be at most {limit} characters.",
            reason="TEXT_TOO_LONG",
            field=field,
            limit=limit,
        )
    return value


def priority(value: int) -> int:
    """A priority in 0..100 (higher runs first)."""
    if not 0 <= value <= 100:
        raise InvalidArgument(
            "The priority must be between 0 and 100.",
            reason="INVALID_PRIORITY",
            field="priority",
            priority=value,
        )
    return value


def progress(value: float) -> float:
    """A progress percentage in 0..100."""
    if not math.isfinite(value) or not 0.0 <= value <= 100.0:
        raise InvalidArgument(
            "The progress must be between 0 and 100.",
            reason="INVALID_PROGRESS",
            field="progress",
            progress=value,
        )
    return value


def struct(value: dict[str, Any], *, field: str) -> dict[str, Any]:
    """A parameters or results object, at most ``MAX_STRUCT_BYTES`` of JSON, without NUL characters
    (PostgreSQL's JSON cannot hold them)."""
    text = json.dumps(value, separators=(",", ":"))
    if _has_nul(value):
        raise InvalidArgument(
            f"The {field} must not contain NUL characters.", reason="NUL_CHARACTER", field=field
        )
    if len(text) > MAX_STRUCT_BYTES:
        raise InvalidArgument(
            f"The {field} must be at most {MAX_STRUCT_BYTES} bytes of JSON.",
            reason="STRUCT_TOO_LARGE",
            field=field,
            limit=MAX_STRUCT_BYTES,
        )
    return value


def estimated_duration(value: int | None) -> int | None:
    """An optional non-negative duration estimate in seconds."""
    if value is not None and value < 0:
        raise InvalidArgument(
            "The estimated duration must not be negative.",
            reason="INVALID_DURATION",
            field="estimated_duration_seconds",
        )
    return value


def deadline(value: datetime | None, *, now: datetime) -> datetime | None:
    """An optional task deadline, which must lie in the future."""
    if value is not None and value <= now:
        raise InvalidArgument(
            "The expiry must be in the future.", reason="INVALID_EXPIRY", field="expired_at"
        )
    return value


def sort_key(value: str) -> SortKey:
    """Parse a sort key, accepting the seed's spellings case-insensitively."""
    key = _SORT_ALIASES.get(value.strip().lower())
    if key is None:
        raise InvalidArgument(
            f"Unknown sort key {value!r}; use one of: {', '.join(k.value for k in SortKey)}.",
            reason="INVALID_SORT_KEY",
            field="sort_by",
            sort_by=value,
        )
    return key


def page(offset: int, limit: int | None) -> tuple[int, int]:
    """Offset ≥ 0 and limit in 1..1000 (None means the default of 50)."""
    if offset < 0:
        raise InvalidArgument(
            "The offset must not be negative.", reason="INVALID_OFFSET", field="offset", offset=offset
        )
    if limit is None:
        return offset, DEFAULT_LIST_LIMIT
    if not 1 <= limit <= MAX_LIST_LIMIT:
        raise InvalidArgument(
            f"The limit must be between 1 and {MAX_LIST_LIMIT}.",
            reason="INVALID_LIMIT",
            field="limit",
            limit=limit,
        )
    return offset, limit


def wait_timeout(value: timedelta | None) -> timedelta:
    """A WaitTask timeout: unset or 0 means 30 s, longer ones are cut to 300 s, never negative."""
    if value is None or value == timedelta(0):
        return DEFAULT_WAIT
    if value < timedelta(0):
        raise InvalidArgument("The timeout must not be negative.", reason="INVALID_TIMEOUT", field="timeout")
    return min(value, MAX_WAIT)


def max_age(value: timedelta | None) -> timedelta:
    """A cleanup age: unset means every terminal task; never negative."""
    if value is None:
        return timedelta(0)
    if value < timedelta(0):
        raise InvalidArgument("The maximum age must not be negative.", reason="INVALID_AGE", field="max_age")
    return value


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(key) or _has_nul(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_has_nul(item) for item in value)
    return False

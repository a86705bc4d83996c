"""Checks of caller-supplied task fields; each failure is an InvalidArgument with a reason."""

from __future__ import annotations

import enum
import json
import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from drive_service.domain.ids import is_well_formed
from drive_service.domain.tasks import TaskStatus, TaskType
from drive_service.errors import BundleNotFound, InvalidArgument, TaskNotFound

MAX_NAME_LENGTH = 256
MAX_DESCRIPTION_LENGTH = 1024
MAX_MESSAGE_LENGTH = 1024
MAX_STRUCT_BYTES = 64 * 1024
#: Deepest nesting of objects and lists in parameters and results (protobuf allows 100).
MAX_STRUCT_DEPTH = 32
#: Expiries and deadlines lie within this span from now; ages and durations stay below it.
MAX_SPAN = timedelta(days=100 * 365)
#: Control characters free text may not hold (tab and line breaks may), and lone surrogates.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
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


def bundle_id(value: str) -> str:
    """Return ``value`` if it could name a bundle; anything else cannot exist, so NOT_FOUND."""
    if not is_well_formed(value):
        raise BundleNotFound(value)
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
    """A failure message: the seed's default when empty, cut to ``MAX_MESSAGE_LENGTH``, no control
    characters but tab and line breaks."""
    return text(value[:MAX_MESSAGE_LENGTH], field="error_message") or "Task failed due to an unknown error"


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
    """Free text such as a description or message: at most ``limit`` characters, no NUL or other
    control characters but tab and line breaks (both databases store exactly the same text)."""
    if len(value) > limit:
        raise InvalidArgument(
            f"The {field} must be at most {limit} characters.",
            reason="TEXT_TOO_LONG",
            field=field,
            limit=limit,
        )
    if _CONTROL.search(value):
        raise InvalidArgument(
            f"The {field} must not contain NUL or other control characters.",
            reason="CONTROL_CHARACTER",
            field=field,
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
    """A parameters or results object: at most ``MAX_STRUCT_BYTES`` of JSON and ``MAX_STRUCT_DEPTH``
    levels, finite numbers only (JSON has no NaN or Infinity), no NUL characters (PostgreSQL's
    JSON cannot hold them)."""
    problem = _struct_problem(value, 0)
    if problem is not None:
        reason, message = problem
        raise InvalidArgument(f"The {field} {message}.", reason=reason, field=field)
    if len(json.dumps(value, separators=(",", ":"))) > MAX_STRUCT_BYTES:
        raise InvalidArgument(
            f"The {field} must be at most {MAX_STRUCT_BYTES} bytes of JSON.",
            reason="STRUCT_TOO_LARGE",
            field=field,
            limit=MAX_STRUCT_BYTES,
        )
    return value


def estimated_duration(value: int | None) -> int | None:
    """An optional duration estimate in seconds, from 0 to 100 years."""
    if value is not None and not 0 <= value <= MAX_SPAN.total_seconds():
        raise InvalidArgument(
            "The estimated duration must be between 0 seconds and 100 years.",
            reason="INVALID_DURATION",
            field="estimated_duration_seconds",
        )
    return value


def deadline(value: datetime | None, *, now: datetime) -> datetime | None:
    """An optional deadline or expiry, which must lie in the future, within ``MAX_SPAN``."""
    if value is not None and not now < value <= now + MAX_SPAN:
        raise InvalidArgument(
            "The expiry must be in the future, and within 100 years.",
            reason="INVALID_EXPIRY",
            field="expired_at",
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
    if not timedelta(0) <= value <= MAX_SPAN:
        raise InvalidArgument(
            "The maximum age must be between 0 and 100 years.", reason="INVALID_AGE", field="max_age"
        )
    return value


def _struct_problem(value: Any, depth: int) -> tuple[str, str] | None:
    """(reason, message) of the first thing a parameters or results value may not hold."""
    if depth > MAX_STRUCT_DEPTH:
        return "STRUCT_TOO_DEEP", f"must not nest more than {MAX_STRUCT_DEPTH} levels"
    if isinstance(value, float) and not math.isfinite(value):
        return "INVALID_NUMBER", "must hold finite numbers only (no NaN or Infinity)"
    if isinstance(value, str) and "\x00" in value:
        return "NUL_CHARACTER", "must not contain NUL characters"
    items: list[Any] = []
    if isinstance(value, dict):
        items = [*value.keys(), *value.values()]
    elif isinstance(value, list):
        items = value
    for item in items:
        if (problem := _struct_problem(item, depth + 1)) is not None:
            return problem
    return None

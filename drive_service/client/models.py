"""Typed results of the client: frozen dataclasses and enums, free of protobuf types."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class TaskStatus(enum.Enum):
    """Lifecycle state of a task (the proto's TaskStatus without its prefix)."""

    UNSPECIFIED = 0
    PENDING = 1
    IN_PROGRESS = 2
    PAUSED = 3
    COMPLETED = 4
    FAILED = 5
    CANCELLED = 6
    EXPIRED = 7

    @property
    def terminal(self) -> bool:
        """COMPLETED, FAILED, CANCELLED and EXPIRED never change again."""
        return self in _TERMINAL


_TERMINAL = {TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED, TaskStatus.EXPIRED}


class TaskType(enum.Enum):
    """Kind of task (the proto's TaskType without its prefix)."""

    UNSPECIFIED = 0
    FILE_UPLOAD = 1
    FILE_MOVE = 2
    FILE_COMPRESS = 3
    FILE_DECOMPRESS = 4
    FILE_ENCRYPT = 5
    FILE_DECRYPT = 6
    BULK_OPERATION = 7
    STORAGE_MIGRATION = 8
    FILE_CONVERSION = 9
    CUSTOM = 10


@dataclass(frozen=True)
class CloudFile:
    """A stored file of the caller's account. Optional ids and times are None when unset."""

    id: str
    name: str
    mime_type: str
    size: int
    hash: str
    pool_id: str
    bundle_id: str | None
    encrypted: bool
    account_id: str
    created_at: datetime | None
    updated_at: datetime | None
    expired_at: datetime | None
    uploaded_at: datetime | None
    description: str


@dataclass(frozen=True)
class Task:
    """A background task (uploads included). ``parameters``/``results`` are plain JSON values."""

    task_id: str
    name: str
    description: str
    type: TaskType
    status: TaskStatus
    progress: float
    status_message: str
    priority: int
    parameters: Mapping[str, Any]
    results: Mapping[str, Any]
    error_message: str
    account_id: str
    created_at: datetime | None
    updated_at: datetime | None
    started_at: datetime | None
    completed_at: datetime | None
    last_activity: datetime | None
    expired_at: datetime | None
    estimated_duration_seconds: int | None


@dataclass(frozen=True)
class TaskEvent:
    """One WatchTasks event: ``data`` is the seed's JSON payload (``taskId``, ``progress``, ...)."""

    sequence: int
    type: str
    task_id: str
    task_type: TaskType
    data: Mapping[str, Any]
    created_at: datetime | None


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a listing and the number of matches overall."""

    items: tuple[T, ...]
    total: int


@dataclass(frozen=True)
class UploadProgress:
    """What a progress callback receives. ``phase`` is "hashing", "uploading", "completing" or
    "done"; bytes count chunk bytes handed to the transport (stored earlier ones included)."""

    phase: str
    bytes_done: int
    bytes_total: int
    chunks_done: int
    chunks_total: int


@dataclass(frozen=True)
class UploadResult:
    """The outcome of ``upload``.

    ``deduplicated``: the account already had this content, no byte was sent and ``task_id`` is
    None. ``resumed``: an upload of this file already in flight was continued (from the local
    state file or the server's lookup). ``chunks_sent``/``bytes_sent`` count what this call sent;
    ``chunks_skipped`` is the server's count of sent chunks it already had (0 when resume works);
    ``retries`` counts transient failures that were retried.
    """

    file: CloudFile
    deduplicated: bool
    resumed: bool
    task_id: str | None
    chunks_count: int
    chunks_sent: int
    chunks_skipped: int
    bytes_sent: int
    retries: int
    hashed_while_sending: bool


@dataclass(frozen=True)
class DownloadResult:
    """The outcome of ``download``: where the content went, from which offset it resumed, and
    whether its SHA-256 was checked (unencrypted files)."""

    path: Path
    file: CloudFile
    resumed_from: int
    bytes_received: int
    verified: bool

"""Domain exceptions: each declares its gRPC status code name and ErrorInfo reason.

The hierarchy::

    DriveError
    ├── InvalidArgument        INVALID_ARGUMENT      (400)
    ├── Unauthenticated        UNAUTHENTICATED       (401)
    ├── PermissionDenied       PERMISSION_DENIED     (403)
    │   └── QuotaExceeded
    ├── NotFound               NOT_FOUND             (404)
    │   └── TaskNotFound, FileNotFound, BundleNotFound, PoolNotFound
    ├── AlreadyExists          ALREADY_EXISTS        (409)
    │   └── ChunkAlreadyUploaded
    ├── FailedPrecondition     FAILED_PRECONDITION   (400)
    │   └── InvalidTaskState, ResyncRequired, LeaseLost, ChunksMissing
    ├── DeadlineExceeded       DEADLINE_EXCEEDED     (504)
    │   └── StreamStalled
    ├── ResourceExhausted      RESOURCE_EXHAUSTED    (429, with RetryInfo)
    ├── DataLoss               DATA_LOSS             (500)
    │   └── HashMismatch, CorruptData
    └── Unavailable            UNAVAILABLE           (503, with RetryInfo)

Codes are names of ``grpc.StatusCode`` members so that this module stays free of transport
imports; ``api/status.py`` turns an instance into a ``google.rpc.Status`` in one place.

Two exceptions are not for callers but for task handlers and the worker: ``TaskFailed`` (fail the
task with this message, no retry) and ``StopAttempt`` (the attempt lost its task: stop quietly).
"""

from __future__ import annotations

from typing import ClassVar


class DriveError(Exception):
    """Base of every error a caller may see; ``message`` is a stable English sentence."""

    code: ClassVar[str] = "INTERNAL"
    default_reason: ClassVar[str] = "INTERNAL"

    def __init__(self, message: str, *, reason: str | None = None, **metadata: object) -> None:
        # Messages and metadata may quote what a caller sent: never more than a short, escaped
        # prefix of it (a huge value would push the status past the client's metadata limit).
        message = _clipped(message, MAX_MESSAGE)
        super().__init__(message)
        self.message = message
        self.reason = reason or self.default_reason
        known = {key: value for key, value in metadata.items() if value is not None}
        self.metadata = {_camel(key): _clipped(str(value), MAX_ECHO) for key, value in known.items()}


class InvalidArgument(DriveError):
    """A request field is malformed or out of range."""

    code = "INVALID_ARGUMENT"
    default_reason = "INVALID_ARGUMENT"

    def __init__(self, message: str, *, reason: str | None = None, field: str, **metadata: object):
        super().__init__(message, reason=reason, field=field, **metadata)
        self.field = field


class Unauthenticated(DriveError):
    """No bearer token, or one that does not verify."""

    code = "UNAUTHENTICATED"
    default_reason = "UNAUTHENTICATED"


class PermissionDenied(DriveError):
    """Pool policy, privilege or quota forbids the request."""

    code = "PERMISSION_DENIED"
    default_reason = "PERMISSION_DENIED"


class QuotaExceeded(PermissionDenied):
    """Stored bytes (times the pools' cost) plus reservations plus this request exceed the quota."""

    default_reason = "QUOTA_EXCEEDED"

    def __init__(self, quota_bytes: int, used_bytes: int, reserved_bytes: int) -> None:
        super().__init__(
            "The upload would exceed the account's quota.",
            quota_bytes=quota_bytes,
            used_bytes=used_bytes,
            reserved_bytes=reserved_bytes,
        )


class NotFound(DriveError):
    """The resource does not exist or belongs to another account."""

    code = "NOT_FOUND"
    default_reason = "NOT_FOUND"


class TaskNotFound(NotFound):
    """No task with this id belongs to the caller."""

    default_reason = "TASK_NOT_FOUND"

    def __init__(self, task_id: str) -> None:
        super().__init__(f"Task {task_id} was not found.", task_id=task_id)


class FileNotFound(NotFound):
    """No file with this id belongs to the caller (or it expired, or is a hidden task output)."""

    default_reason = "FILE_NOT_FOUND"

    def __init__(self, file_id: str) -> None:
        super().__init__(f"File {file_id} was not found.", file_id=file_id)


class BundleNotFound(NotFound):
    """No bundle with this id belongs to the caller."""

    default_reason = "BUNDLE_NOT_FOUND"

    def __init__(self, bundle_id: str) -> None:
        super().__init__(f"Bundle {bundle_id} was not found.", bundle_id=bundle_id)


class PoolNotFound(NotFound):
    """No pool with this id is configured (or the caller may not see it)."""

    default_reason = "POOL_NOT_FOUND"

    def __init__(self, pool_id: str | None) -> None:
        super().__init__(f"Pool {pool_id} was not found.", pool_id=pool_id)


class AlreadyExists(DriveError):
    """The thing being created is already there."""

    code = "ALREADY_EXISTS"
    default_reason = "ALREADY_EXISTS"


class ChunkAlreadyUploaded(AlreadyExists):
    """Another call stored this chunk first; its bytes are kept."""

    default_reason = "CHUNK_ALREADY_UPLOADED"

    def __init__(self, task_id: str, chunk_index: int) -> None:
        super().__init__(
            f"Chunk {chunk_index} of task {task_id} is already uploaded.",
            task_id=task_id,
            chunk_index=chunk_index,
        )


class FailedPrecondition(DriveError):
    """The resource is not in a state that allows the operation."""

    code = "FAILED_PRECONDITION"
    default_reason = "FAILED_PRECONDITION"


class InvalidTaskState(FailedPrecondition):
    """The task's current status does not allow the requested transition."""

    default_reason = "INVALID_TASK_STATE"

    def __init__(self, task_id: str, status: str, action: str) -> None:
        super().__init__(
            f"Task {task_id} is {status}; it cannot {action}.",
            task_id=task_id,
            status=status,
            action=action,
        )


class ResyncRequired(FailedPrecondition):
    """The events after the client's sequence are older than the replay window."""

    default_reason = "RESYNC_REQUIRED"

    def __init__(self, after_sequence: int, retention_hours: float) -> None:
        super().__init__(
            f"The events after sequence {after_sequence} cannot be replayed (they are older than "
            f"the {retention_hours:g} h replay window, or were never issued): reload the tasks "
            "with ListTasks, then watch from sequence 0.",
            after_sequence=after_sequence,
            retention_hours=f"{retention_hours:g}",
        )


class LeaseLost(FailedPrecondition):
    """The attempt no longer holds the task: paused, cancelled, finished or rescued."""

    default_reason = "LEASE_LOST"

    def __init__(self, task_id: str, status: str) -> None:
        super().__init__(
            f"Task {task_id} is no longer leased to this attempt ({status}).", task_id=task_id, status=status
        )
        self.status = status


class ChunksMissing(FailedPrecondition):
    """An upload cannot complete before every chunk is stored."""

    default_reason = "CHUNKS_MISSING"
    #: Missing indexes named in the metadata (all are counted).
    SHOWN = 50

    def __init__(self, task_id: str, missing: list[int]) -> None:
        super().__init__(
            f"{len(missing)} chunks are missing.",
            task_id=task_id,
            missing_count=len(missing),
            missing_chunks=",".join(map(str, missing[: self.SHOWN])),
        )


class DeadlineExceeded(DriveError):
    """The call did not finish in time."""

    code = "DEADLINE_EXCEEDED"
    default_reason = "DEADLINE_EXCEEDED"


class StreamStalled(DeadlineExceeded):
    """An upload stream holding a chunk buffer sent nothing for too long."""

    default_reason = "STREAM_IDLE"

    def __init__(self, idle_seconds: float) -> None:
        super().__init__(
            f"The stream sent nothing for {idle_seconds:g} s while holding a chunk buffer, which "
            "other uploads need; chunks stored so far are kept: resume with GetUploadResumeInfo.",
            idle_seconds=f"{idle_seconds:g}",
        )


class ResourceExhausted(DriveError):
    """A rate limit was hit; retry after ``retry_after`` seconds."""

    code = "RESOURCE_EXHAUSTED"
    default_reason = "RATE_LIMITED"

    def __init__(self, message: str, *, retry_after: float, **metadata: object) -> None:
        super().__init__(message, reason=None, **metadata)
        self.retry_after = retry_after


class DataLoss(DriveError):
    """Stored or received data does not match what was declared."""

    code = "DATA_LOSS"
    default_reason = "DATA_LOSS"


class HashMismatch(DataLoss):
    """The received content does not match the declared SHA-256 (the upload then fails)."""

    default_reason = "HASH_MISMATCH"

    def __init__(self, task_id: str) -> None:
        super().__init__("The uploaded data does not match the declared SHA-256 hash.", task_id=task_id)


class CorruptData(DataLoss):
    """A stored file's bytes are missing or fail their integrity check."""

    default_reason = "CORRUPT_DATA"

    def __init__(self, file_id: str) -> None:
        super().__init__(
            f"The stored bytes of file {file_id} are missing or fail their integrity check.", file_id=file_id
        )


class Unavailable(DriveError):
    """A backend (database, Redis, storage) is down, or the server stops; the call may be retried."""

    code = "UNAVAILABLE"
    default_reason = "BACKEND_UNAVAILABLE"

    def __init__(
        self, message: str, *, retry_after: float = 1.0, reason: str | None = None, **metadata: object
    ) -> None:
        super().__init__(message, reason=reason, **metadata)
        self.retry_after = retry_after


class TaskFailed(Exception):
    """Raised by a task handler: the task fails with this message at once and is not retried."""


class BlobMissing(Exception):
    """Raised by a blob store: a blob that should exist is not there (the service reports the
    file as CORRUPT_DATA)."""


class StopAttempt(Exception):
    """Raised to a task handler: its attempt no longer holds the task (paused, cancelled, finished
    or rescued) and must stop without further writes."""


#: Characters of a caller's value an error may echo in a metadata value, and of a whole message.
MAX_ECHO = 128
MAX_MESSAGE = 1024


def _clipped(text: str, limit: int) -> str:
    """``text`` with unprintable characters escaped (``\\x00``), cut to ``limit`` characters."""
    if text.isprintable() and len(text) <= limit:
        return text
    escaped = "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text[: limit + 1])
    return escaped if len(escaped) <= limit else escaped[: limit - 1] + "…"


def _camel(key: str) -> str:
    """ErrorInfo metadata keys are lowerCamelCase (``task_id`` -> ``taskId``), as ErrorInfo asks."""
    head, *rest = key.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)

"""Upload rules without I/O: request checks, chunk arithmetic, progress, speed and ETA."""

from __future__ import annotations

import dataclasses
import math
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime

from drive_service.domain import events as ev
from drive_service.domain.events import Event
from drive_service.domain.files import Upload
from drive_service.domain.tasks import Task, TaskStatus, TaskType, require_in_progress
from drive_service.errors import InvalidArgument

MIN_CHUNK_SIZE = 256 * 1024
MAX_FILE_NAME = 255
_SHA256 = re.compile(r"[0-9a-f]{64}")
_CONTENT_TYPE = re.compile(r"[\w.+-]+/[\w.+-]+(\s*;[\x20-\x7e]*)?", re.ASCII)
#: Longest encryption password accepted (the key derivation reads all of it).
MAX_PASSWORD_LENGTH = 1024


@dataclass(frozen=True, slots=True)
class UploadRequest:
    """What a caller declared when creating an upload (unchecked)."""

    file_name: str
    file_size: int
    content_type: str
    hash: str
    chunk_size: int
    pool_id: str
    bundle_id: str
    encrypt_password: str
    expired_at: datetime | None


@dataclass(frozen=True, slots=True)
class ChunkPlan:
    """How a file of ``file_size`` bytes is cut into ``chunks_count`` chunks of ``chunk_size``."""

    file_size: int
    chunk_size: int

    @property
    def chunks_count(self) -> int:
        """ceil(file_size / chunk_size)."""
        return math.ceil(self.file_size / self.chunk_size)

    def expected_length(self, index: int) -> int:
        """Bytes chunk ``index`` must hold: chunk_size, or the remainder for the last one.

        Raises:
            InvalidArgument: INVALID_CHUNK_INDEX when the index is outside [0, chunks_count).
        """
        if not 0 <= index < self.chunks_count:
            raise InvalidArgument(
                f"Chunk index {index} is outside 0..{self.chunks_count - 1}.",
                reason="INVALID_CHUNK_INDEX",
                field="chunk_index",
                chunk_index=index,
                chunks_count=self.chunks_count,
            )
        if index < self.chunks_count - 1:
            return self.chunk_size
        return self.file_size - self.chunk_size * (self.chunks_count - 1)

    def offset(self, index: int) -> int:
        """Byte offset of chunk ``index`` in the file."""
        return index * self.chunk_size


@dataclass(frozen=True, slots=True)
class ChunkReceipt:
    """The row that makes a chunk exist: one per (upload, index), inserted by exactly one writer."""

    index: int
    size: int
    #: The CRC32C the client declared (None when it gave none).
    crc32c: int | None
    created_at: datetime
    #: Byte offset of the chunk in the file.
    offset: int


@dataclass(frozen=True, slots=True)
class UploadStats:
    """An account's upload counts by status, bytes received and mean running progress."""

    by_status: dict[TaskStatus, int]
    uploaded_bytes: int
    average_progress: float


def new_upload(
    *,
    task_id: str,
    account_id: str,
    name: str,
    size: int,
    content_type: str,
    plan: ChunkPlan,
    pool_id: str,
    bundle_id: str | None,
    sha256: str,
    wrapped_key: bytes | None,
    salt: bytes | None,
    file_expired_at: datetime | None,
    now: datetime,
) -> tuple[Task, Upload]:
    """The IN_PROGRESS FileUpload task of a new upload and its upload record."""
    encrypted = wrapped_key is not None
    task = Task(
        task_id=task_id,
        account_id=account_id,
        type=TaskType.FILE_UPLOAD,
        status=TaskStatus.IN_PROGRESS,
        name="File Upload",
        description=name,
        priority=0,
        progress=0.0,
        status_message="",
        parameters={
            "fileName": name,
            "fileSize": size,
            "contentType": content_type,
            "poolId": pool_id,
            "bundleId": bundle_id,
            "chunkSize": plan.chunk_size,
            "chunksCount": plan.chunks_count,
            "hash": sha256,
            "encrypted": encrypted,
        },
        results={},
        error_message="",
        created_at=now,
        updated_at=now,
        last_activity=now,
        started_at=now,
    )
    upload = Upload(
        task_id=task_id,
        account_id=account_id,
        file_name=name,
        file_size=size,
        content_type=content_type,
        chunk_size=plan.chunk_size,
        chunks_count=plan.chunks_count,
        chunks_uploaded=0,
        bytes_uploaded=0,
        pool_id=pool_id,
        bundle_id=bundle_id,
        hash=sha256,
        encrypted=encrypted,
        wrapped_key=wrapped_key,
        key_salt=salt,
        file_expired_at=file_expired_at,
    )
    return task, upload


def chunk_receipt(
    task: Task, upload: Upload, index: int, size: int, declared: int | None, actual: int | None, now: datetime
) -> ChunkReceipt:
    """The receipt of chunk ``index`` of ``size`` bytes, if the upload accepts it.

    ``declared`` is the CRC32C the client gave and ``actual`` the one computed over the bytes
    received (both None when the client gave none).

    Raises:
        FailedPrecondition: INVALID_TASK_STATE when the upload is not in progress.
        InvalidArgument: INVALID_CHUNK_INDEX, CHUNK_SIZE_MISMATCH, CHECKSUM_MISMATCH.
    """
    require_in_progress(task, "accept chunks")
    plan = ChunkPlan(upload.file_size, upload.chunk_size)
    expected = plan.expected_length(index)
    if size != expected:
        raise size_mismatch(index, size, expected)
    if actual != declared:
        raise InvalidArgument(
            f"Chunk {index} does not match its CRC32C.",
            reason="CHECKSUM_MISMATCH",
            field="crc32c",
            chunk_index=index,
        )
    return ChunkReceipt(index, size, declared, now, plan.offset(index))


def counted(
    task: Task, upload: Upload, receipt: ChunkReceipt, *, upload_events: bool
) -> tuple[Task, Upload, list[Event]]:
    """The upload once the chunk of ``receipt`` is stored: counts, progress, activity and the
    (throttled) progress events.

    Raises:
        FailedPrecondition: INVALID_TASK_STATE when the upload left IN_PROGRESS meanwhile.
    """
    require_in_progress(task, "accept chunks")
    now = receipt.created_at
    chunks = upload.chunks_uploaded + 1
    upload = dataclasses.replace(
        upload, chunks_uploaded=chunks, bytes_uploaded=upload.bytes_uploaded + receipt.size
    )
    moved = dataclasses.replace(
        task, progress=progress(chunks, upload.chunks_count), updated_at=now, last_activity=now
    )
    moved, events = ev.throttled_progress(moved, now)
    if events and upload_events:
        events.append(ev.upload_progressed(moved, upload))
    return moved, upload, events


def size_mismatch(index: int, actual: int, expected: int) -> InvalidArgument:
    """CHUNK_SIZE_MISMATCH for chunk ``index``."""
    return InvalidArgument(
        f"Chunk {index} must be {expected} bytes; got {actual}.",
        reason="CHUNK_SIZE_MISMATCH",
        field="data",
        chunk_index=index,
        expected=expected,
        actual=actual,
    )


def file_name(value: str) -> str:
    """The base name (path parts stripped), 1..255 characters, no control characters."""
    base = re.split(r"[\\/]", value)[-1].strip()
    if base in {".", ".."}:
        base = ""
    if not base or len(base) > MAX_FILE_NAME or any(unicodedata.category(ch)[0] == "C" for ch in base):
        raise InvalidArgument(
            f"The file name must be 1 to {MAX_FILE_NAME} printable characters.",
            reason="INVALID_FILE_NAME",
            field="file_name",
        )
    return base


def file_size(value: int, maximum: int) -> int:
    """A size in bytes from 1 to ``maximum`` (UPLOAD_MAX_FILE_SIZE)."""
    if not 0 < value <= maximum:
        raise InvalidArgument(
            f"The file size must be between 1 and {maximum} bytes.",
            reason="INVALID_FILE_SIZE",
            field="file_size",
            file_size=value,
            max_file_size=maximum,
        )
    return value


def content_type(value: str) -> str:
    """A ``type/subtype`` content type, optionally with parameters."""
    value = value.strip()
    if len(value) > 255 or not _CONTENT_TYPE.fullmatch(value):
        raise InvalidArgument(
            "The content type must look like type/subtype.",
            reason="INVALID_CONTENT_TYPE",
            field="content_type",
        )
    return value


def password(value: str) -> str:
    """An encryption password: empty (none) or up to ``MAX_PASSWORD_LENGTH`` characters."""
    if len(value) > MAX_PASSWORD_LENGTH:
        raise InvalidArgument(
            f"The password must be at most {MAX_PASSWORD_LENGTH} characters.",
            reason="INVALID_PASSWORD",
            field="encrypt_password",
        )
    return value


def sha256_hex(value: str) -> str:
    """A lowercase 64-character hex SHA-256."""
    value = value.strip().lower()
    if not _SHA256.fullmatch(value):
        raise InvalidArgument(
            "The hash must be the SHA-256 of the file as 64 hex characters.",
            reason="INVALID_HASH",
            field="hash",
        )
    return value


def chunk_plan(size: int, requested: int, *, default: int, maximum: int) -> ChunkPlan:
    """Choose the chunk size: requested (0 = default) within [256 KiB, maximum], or one whole chunk.

    Raises:
        InvalidArgument: INVALID_CHUNK_SIZE for a negative, too small or too large chunk size.
    """
    chunk = requested or default
    if requested < 0 or chunk > maximum or (chunk < MIN_CHUNK_SIZE and chunk < size):
        raise InvalidArgument(
            f"The chunk size must be between {MIN_CHUNK_SIZE} and {maximum} bytes "
            "(or at least the file size).",
            reason="INVALID_CHUNK_SIZE",
            field="chunk_size",
            chunk_size=requested,
            max_chunk_size=maximum,
        )
    return ChunkPlan(size, min(chunk, size) if chunk >= size else chunk)


def progress(chunks_uploaded: int, chunks_count: int) -> float:
    """chunks_uploaded / chunks_count * 100."""
    return 100.0 * chunks_uploaded / chunks_count if chunks_count else 0.0


def human_speed(bytes_per_second: float) -> str:
    """The seed's speed text: "N B/s", "N KB/s" or "N.N MB/s"."""
    if bytes_per_second < 1024:
        return f"{bytes_per_second:.0f} B/s"
    if bytes_per_second < 1024 * 1024:
        return f"{bytes_per_second / 1024:.0f} KB/s"
    return f"{bytes_per_second / (1024 * 1024):.1f} MB/s"


def human_duration(seconds: float) -> str:
    """The seed's ETA text: "N seconds", "N minutes" or "N.N hours"."""
    if seconds < 60:
        return f"{seconds:.0f} seconds"
    if seconds < 3600:
        return f"{seconds / 60:.0f} minutes"
    return f"{seconds / 3600:.1f} hours"


#: Sort keys of ListUploadTasks, by every accepted spelling (lower case).
UPLOAD_SORT_KEYS = {
    "": "lastActivity",
    "filename": "filename",
    "filesize": "filesize",
    "created": "created",
    "createdat": "created",
    "updated": "updated",
    "updatedat": "updated",
    "activity": "lastActivity",
    "lastactivity": "lastActivity",
}


def upload_sort_key(value: str) -> str:
    """The canonical upload sort key for ``value`` (case-insensitive)."""
    key = UPLOAD_SORT_KEYS.get(value.strip().lower())
    if key is None:
        raise InvalidArgument(
            f"Unknown sort key {value!r}; use filename, filesize, created, updated or lastActivity.",
            reason="INVALID_SORT_KEY",
            field="sort_by",
            sort_by=value,
        )
    return key


def recent_speed(activity: list[tuple[datetime, int]], now: datetime) -> float:
    """Bytes per second over recent chunk receipts (time of first to now), 0 without data."""
    if len(activity) < 2:
        return 0.0
    start = min(moment for moment, _ in activity)
    elapsed = (now - start).total_seconds()
    received = sum(size for _, size in activity)
    return received / elapsed if elapsed > 0 else 0.0

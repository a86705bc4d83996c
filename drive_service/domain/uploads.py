"""Upload rules without I/O: request checks, chunk arithmetic, receipts, progress."""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime

from drive_service.domain import events as ev
from drive_service.domain.chunks import ChunkPlan, size_mismatch
from drive_service.domain.events import Event
from drive_service.domain.files import Upload
from drive_service.domain.tasks import Task, TaskStatus, TaskType, require_in_progress
from drive_service.errors import InvalidArgument

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
    #: Idempotency key (AIP-155): a retried create returns the first call's upload.
    request_id: str = ""


@dataclass(frozen=True, slots=True)
class UploadLimits:
    """Settings that shape uploads."""

    default_chunk_size: int
    max_chunk_size: int
    default_quota: int
    master_key: bytes
    #: Largest file an upload may declare (UPLOAD_MAX_FILE_SIZE).
    max_file_size: int = 1 << 40
    upload_events: bool = True
    #: Chunk buffers that UploadChunks streams may gather or write at once (process-wide), and
    #: of those, what the streams of one account may hold.
    max_buffered_chunks: int = 8
    max_buffered_chunks_per_account: int = 4


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
class UploadQuery:
    """A validated list request of uploads: filter, order and page."""

    status: TaskStatus | None = None
    sort_by: str = "lastActivity"
    descending: bool = True
    offset: int = 0
    limit: int = 50


@dataclass(frozen=True, slots=True)
class UploadLookup:
    """What identifies an upload a create may resume: its request id, or the file it uploads."""

    request_id: str | None
    sha256: str
    size: int
    name: str
    pool_id: str
    bundle_id: str | None


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


def sha256_hex(value: str, *, optional: bool = False) -> str:
    """A lowercase 64-character hex SHA-256 (or, when ``optional``, "" for none given yet)."""
    value = value.strip().lower()
    if optional and not value:
        return value
    if not _SHA256.fullmatch(value):
        raise InvalidArgument(
            "The hash must be the SHA-256 of the file as 64 hex characters.",
            reason="INVALID_HASH",
            field="hash",
        )
    return value


def progress(chunks_uploaded: int, chunks_count: int) -> float:
    """chunks_uploaded / chunks_count * 100."""
    return 100.0 * chunks_uploaded / chunks_count if chunks_count else 0.0


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

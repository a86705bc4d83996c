"""Records of uploads, stored files and bundles (plain data; rules live beside them)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from drive_service.domain.ids import new_id


@dataclass(frozen=True, slots=True)
class Upload:
    """The upload side of a FileUpload task."""

    task_id: str
    account_id: str
    file_name: str
    file_size: int
    content_type: str
    chunk_size: int
    chunks_count: int
    chunks_uploaded: int
    bytes_uploaded: int
    pool_id: str
    bundle_id: str | None
    hash: str
    encrypted: bool
    wrapped_key: bytes | None = None
    key_salt: bytes | None = None
    file_expired_at: datetime | None = None
    file_id: str | None = None
    completion_token: str | None = None
    completion_started_at: datetime | None = None
    #: The blob store's handle of the upload's staging (an S3 multipart upload), if it needs one.
    staging_ref: str | None = None


@dataclass(frozen=True, slots=True)
class StoredFile:
    """A file of an account: metadata plus the blob holding its (possibly encrypted) bytes."""

    id: str
    account_id: str
    name: str
    description: str
    mime_type: str
    size: int
    hash: str
    pool_id: str
    blob_key: str
    stored_size: int
    bundle_id: str | None
    encrypted: bool
    created_at: datetime
    updated_at: datetime
    uploaded_at: datetime
    expired_at: datetime | None


@dataclass(frozen=True, slots=True)
class Bundle:
    """A named group of an account's files; its expiry applies to its files."""

    id: str
    account_id: str
    name: str
    description: str
    expired_at: datetime | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Usage:
    """An account's quota position in bytes (stored bytes weighted by pool cost)."""

    quota_bytes: int
    used_bytes: int
    reserved_bytes: int

    def check(self, additional: int) -> bool:
        """Whether ``additional`` weighted bytes still fit."""
        return self.used_bytes + self.reserved_bytes + additional <= self.quota_bytes


def effective_expiry(
    requested: datetime | None, pool_default: datetime | None, bundle: datetime | None
) -> datetime | None:
    """The file's expiry: the earliest of the request, the pool's default and the bundle's."""
    candidates = [moment for moment in (requested, pool_default, bundle) if moment is not None]
    return min(candidates) if candidates else None


def new_file(
    upload: Upload,
    pool_id: str,
    default_expiry: timedelta | None,
    blob_key: str,
    stored_size: int,
    bundle: Bundle | None,
    now: datetime,
) -> StoredFile:
    """The file a completed upload becomes: a fresh id, the upload's name, type, size, hash and
    bundle, and the earliest of the requested, the pool's default and the bundle's expiry."""
    bundle_expiry = bundle.expired_at if bundle is not None else None
    pool_expiry = now + default_expiry if default_expiry else None
    return StoredFile(
        id=new_id(),
        account_id=upload.account_id,
        name=upload.file_name,
        description="",
        mime_type=upload.content_type,
        size=upload.file_size,
        hash=upload.hash,
        pool_id=pool_id,
        blob_key=blob_key,
        stored_size=stored_size,
        bundle_id=upload.bundle_id,
        encrypted=upload.encrypted,
        created_at=now,
        updated_at=now,
        uploaded_at=now,
        expired_at=effective_expiry(upload.file_expired_at, pool_expiry, bundle_expiry),
    )

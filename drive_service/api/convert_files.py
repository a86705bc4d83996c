"""Conversions of files, pools, bundles and uploads to drive.v1 messages."""

from __future__ import annotations

from datetime import datetime

from google.protobuf import duration_pb2

from drive.v1 import files_pb2, uploads_pb2
from drive_service.api.convert import task_status_to_proto, timestamp
from drive_service.domain.files import Bundle, StoredFile, Upload
from drive_service.domain.pools import Pool
from drive_service.domain.tasks import Task


def _set_time(message: object, field: str, value: datetime | None) -> None:
    if value is not None:
        getattr(message, field).CopyFrom(timestamp(value))


def cloud_file(value: StoredFile) -> files_pb2.CloudFile:
    """A stored file as ``drive.v1.CloudFile`` (never any key material)."""
    message = files_pb2.CloudFile(
        id=value.id,
        name=value.name,
        description=value.description,
        mime_type=value.mime_type,
        size=value.size,
        hash=value.hash,
        pool_id=value.pool_id,
        bundle_id=value.bundle_id or "",
        encrypted=value.encrypted,
        account_id=value.account_id,
        created_at=timestamp(value.created_at),
        updated_at=timestamp(value.updated_at),
        uploaded_at=timestamp(value.uploaded_at),
    )
    _set_time(message, "expired_at", value.expired_at)
    return message


def pool(value: Pool) -> files_pb2.Pool:
    """A pool and its policy as ``drive.v1.Pool`` (the storage location stays private)."""
    policy = files_pb2.PoolPolicy(
        max_file_size=value.policy.max_file_size,
        accept_types=list(value.policy.accept_types),
        allow_encryption=value.policy.allow_encryption,
        require_privilege=value.policy.require_privilege,
        public_usable=value.policy.public_usable,
        hidden=value.policy.hidden,
    )
    if value.policy.default_expiry is not None:
        expiry = duration_pb2.Duration()
        expiry.FromTimedelta(value.policy.default_expiry)
        policy.default_expiry.CopyFrom(expiry)
    return files_pb2.Pool(
        id=value.id,
        name=value.name,
        description=value.description,
        policy=policy,
        cost_multiplier=value.cost_multiplier,
    )


def bundle(value: Bundle) -> files_pb2.Bundle:
    """A bundle as ``drive.v1.Bundle``."""
    message = files_pb2.Bundle(
        id=value.id,
        name=value.name,
        description=value.description,
        account_id=value.account_id,
        created_at=timestamp(value.created_at),
        updated_at=timestamp(value.updated_at),
    )
    _set_time(message, "expired_at", value.expired_at)
    return message


def upload_task(task: Task, upload: Upload) -> uploads_pb2.UploadTask:
    """An upload task as ``drive.v1.UploadTask`` (the password never appears anywhere)."""
    message = uploads_pb2.UploadTask(
        task_id=task.task_id,
        file_name=upload.file_name,
        file_size=upload.file_size,
        content_type=upload.content_type,
        chunk_size=upload.chunk_size,
        chunks_count=upload.chunks_count,
        chunks_uploaded=upload.chunks_uploaded,
        progress=task.progress,
        status=task_status_to_proto(task.status),
        pool_id=upload.pool_id,
        bundle_id=upload.bundle_id or "",
        hash=upload.hash,
        encrypted=upload.encrypted,
        last_activity=timestamp(task.last_activity),
        created_at=timestamp(task.created_at),
        updated_at=timestamp(task.updated_at),
        error_message=task.error_message,
    )
    _set_time(message, "expired_at", upload.file_expired_at)
    return message

"""S3-compatible object storage: a small typed async adapter over one bucket (aiobotocore)."""

from __future__ import annotations

from drive_service.storage.s3.config import (
    MAX_PARTS,
    MIN_PART_SIZE,
    Buffer,
    MultipartUpload,
    ObjectInfo,
    Part,
    PutResult,
    S3Config,
)
from drive_service.storage.s3.errors import (
    AccessDenied,
    BucketNotFound,
    CredentialsMissing,
    ObjectNotFound,
    RangeNotSatisfiable,
    S3Error,
    UploadNotFound,
)
from drive_service.storage.s3.store import S3Store
from drive_service.storage.s3.stream import ObjectStream

__all__ = [
    "MAX_PARTS",
    "MIN_PART_SIZE",
    "AccessDenied",
    "BucketNotFound",
    "Buffer",
    "CredentialsMissing",
    "MultipartUpload",
    "ObjectInfo",
    "ObjectNotFound",
    "ObjectStream",
    "Part",
    "PutResult",
    "RangeNotSatisfiable",
    "S3Config",
    "S3Error",
    "S3Store",
    "UploadNotFound",
]

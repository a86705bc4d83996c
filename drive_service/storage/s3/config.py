"""The configuration of one S3 bucket and the values the store hands back."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Final, Literal, TypeVar
from urllib.parse import urlsplit

if TYPE_CHECKING:
    pass

T = TypeVar("T")

#: What ``upload_part`` and ``put_object`` accept: bytes-like objects sent without a copy.
Buffer = bytes | bytearray | memoryview

KIB: Final = 1024
MIB: Final = 1024 * KIB
GIB: Final = 1024 * MIB
#: S3's limits: every part but the last is at least 5 MiB; at most 10,000 parts; a single
#: PutObject or CopyObject takes at most 5 GiB.
MIN_PART_SIZE: Final = 5 * MIB
MAX_PARTS: Final = 10_000
MAX_SINGLE_PUT: Final = 5 * GIB
DEFAULT_PART_SIZE: Final = 16 * MIB
DEFAULT_COPY_PART_SIZE: Final = 512 * MIB
DEFAULT_BLOCK_SIZE: Final = 1 * MIB


@dataclass(frozen=True)
class S3Config:
    """Where a store lives and how to reach it.

    ``prefix`` is prepended to every key (a trailing ``/`` is added when missing, a leading one
    dropped). ``access_key_id`` and ``secret_access_key`` come together or not at all; without
    them the standard AWS credential chain applies (environment, shared files, instance role).
    ``addressing`` ``None`` lets botocore choose (virtual-hosted where the bucket name allows).
    The repr names whether keys were given, never the keys.
    """

    bucket: str
    prefix: str = ""
    endpoint: str | None = None
    region: str | None = None
    access_key_id: str | None = field(default=None, repr=False)
    secret_access_key: str | None = field(default=None, repr=False)
    addressing: Literal["path", "virtual"] | None = None
    connect_timeout: float = 5.0
    #: Seconds of silence on a socket before a call fails (not a whole-call deadline).
    read_timeout: float = 60.0
    #: HTTP connections kept to the endpoint: the most requests in flight at once.
    max_connections: int = 32
    #: Attempts per call, the first included, for transient failures (botocore's "standard" mode:
    #: exponential backoff with jitter); 1 leaves every retry to the caller.
    max_attempts: int = 3

    def __post_init__(self) -> None:
        if not self.bucket:
            raise ValueError("S3 storage needs a bucket")
        if (self.access_key_id is None) != (self.secret_access_key is None):
            raise ValueError("S3 storage needs both access_key_id and secret_access_key, or neither")
        if self.addressing not in (None, "path", "virtual"):
            raise ValueError(f"S3 addressing must be 'path' or 'virtual', not {self.addressing!r}")
        if self.endpoint is not None:
            parts = urlsplit(self.endpoint)
            # The endpoint is not a secret and may be logged: it must not smuggle credentials.
            if parts.username is not None or parts.password is not None:
                raise ValueError("the S3 endpoint must not contain credentials; use the key settings")
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError("the S3 endpoint must be an http:// or https:// URL")
        if self.connect_timeout <= 0 or self.read_timeout <= 0:
            raise ValueError("S3 timeouts must be positive")
        if self.max_connections < 1 or self.max_attempts < 1:
            raise ValueError("S3 max_connections and max_attempts must be at least 1")
        prefix = self.prefix.lstrip("/")
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        object.__setattr__(self, "prefix", prefix)

    def __repr__(self) -> str:
        credentials = "static" if self.access_key_id is not None else "default chain"
        return (
            f"S3Config(bucket={self.bucket!r}, prefix={self.prefix!r}, endpoint={self.endpoint!r}, "
            f"region={self.region!r}, addressing={self.addressing!r}, credentials={credentials!r})"
        )

    __str__ = __repr__


@dataclass(frozen=True)
class Part:
    """One uploaded part of a multipart upload."""

    number: int
    etag: str
    size: int = 0
    last_modified: datetime | None = None


@dataclass(frozen=True)
class MultipartUpload:
    """A multipart upload in progress (neither completed nor aborted)."""

    key: str
    upload_id: str
    initiated: datetime


@dataclass(frozen=True)
class ObjectInfo:
    """An object's key (relative to the prefix), size, last modification and ETag."""

    key: str
    size: int
    last_modified: datetime
    etag: str


@dataclass(frozen=True)
class PutResult:
    """What a streamed put stored: the object's ETag, its size, and its part count (0: one PutObject)."""

    etag: str
    size: int
    parts: int


# ----------------------------------------------------------------------------------------------
# Ranged reads
# ----------------------------------------------------------------------------------------------

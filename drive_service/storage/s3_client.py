"""A small typed async adapter over one S3-compatible bucket (aiobotocore).

``S3Store`` speaks the handful of S3 operations the blob-store port needs — multipart uploads
by part number, whole-object puts (streamed, multipart when big), ranged streamed reads, head,
server-side copy, delete, listings, and a health probe — on keys *relative to the configured
prefix*. It knows nothing of tasks, chunks or blobs.

Errors, the contract every method shares:

- the store unreachable, a timeout, a 5xx or throttling answer -> ``drive_service.errors.Unavailable``
  (retryable; after the client's own bounded retries, ``S3Config.max_attempts`` in all);
- a missing object -> ``ObjectNotFound``; a missing multipart upload -> ``UploadNotFound``;
  a missing bucket -> ``BucketNotFound``; refused credentials or permissions -> ``AccessDenied``;
  a read past the end -> ``RangeNotSatisfiable``; no credentials at all -> ``CredentialsMissing``;
  any other refusal -> ``S3Error`` with S3's error ``code`` (e.g. ``EntityTooSmall``, ``InvalidPart``).

Credentials never appear in a message, a repr, an exception (mapped errors are raised with no
``__cause__`` or ``__context__``, because botocore's errors carry the server's parsed answer, which
for a refused signature names the access key id) or a log line (the SDK's DEBUG logs print signed
headers: they are raised to INFO unless a level was set on purpose).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Awaitable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Literal, Protocol, Self, TypeVar, cast
from urllib.parse import urlsplit

import aiohttp
from aiobotocore.config import AioConfig
from aiobotocore.session import AioSession
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    HTTPClientError,
    IncompleteReadError,
    NoCredentialsError,
    PartialCredentialsError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError

from drive_service.errors import Unavailable

if TYPE_CHECKING:
    from types_aiobotocore_s3.client import S3Client
    from types_aiobotocore_s3.type_defs import (
        CopySourceTypeDef,
        GetObjectRequestTypeDef,
        ListMultipartUploadsRequestTypeDef,
        ListObjectsV2RequestTypeDef,
    )

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

_THROTTLING_CODES = frozenset(
    {"SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded", "RequestTimeout",
     "RequestTimeTooSkewed", "ServiceUnavailable", "InternalError", "TooManyRequests"}
)  # fmt: skip
_DENIED_CODES = frozenset(
    {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken",
     "TokenRefreshRequired", "AllAccessDisabled", "AccountProblem"}
)  # fmt: skip
#: Failures of the transport rather than answers of the store (all retryable).
_TRANSPORT_ERRORS = (
    BotoConnectionError,  # refused, DNS, connect timeout, proxy, TLS
    HTTPClientError,  # read timeout, connection closed, response streaming error
    IncompleteReadError,  # body shorter than its Content-Length: the connection was cut
    aiohttp.ClientError,
    TimeoutError,
    ConnectionError,
)
_SDK_LOGGERS = ("botocore", "aiobotocore")

log = logging.getLogger(__name__)


# ----------------------------------------------------------------------------------------------
# Errors
# ----------------------------------------------------------------------------------------------


class S3Error(Exception):
    """The store refused a request for a reason that retrying will not fix.

    ``operation`` is the S3 operation, ``code`` S3's error code (``"404"`` etc. when the answer had
    no body, as for HEAD), ``status`` the HTTP status (0 when no answer was involved), ``key`` the
    relative key when there is one.
    """

    def __init__(self, message: str, *, operation: str, code: str, status: int, key: str | None) -> None:
        super().__init__(message)
        self.message = message
        self.operation = operation
        self.code = code
        self.status = status
        self.key = key


class ObjectNotFound(S3Error):
    """No object with this key."""


class UploadNotFound(S3Error):
    """No multipart upload with this id for this key (never created, completed or aborted)."""


class BucketNotFound(S3Error):
    """The configured bucket does not exist."""


class AccessDenied(S3Error):
    """The credentials were refused (unknown key, wrong secret, expired) or lack a permission."""


class RangeNotSatisfiable(S3Error):
    """The read starts past the end of the object."""


class CredentialsMissing(S3Error):
    """No keys in the configuration and none found by the AWS credential chain."""


# ----------------------------------------------------------------------------------------------
# Configuration and results
# ----------------------------------------------------------------------------------------------


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


class _Body(Protocol):
    """What is used of aiobotocore's response body (its published stubs lag behind on ``aclose``)."""

    async def read(self, amt: int | None = None) -> bytes: ...

    async def aclose(self) -> None: ...


class _Chunks(Protocol):
    """aiohttp's ``StreamReader``: ``readchunk`` hands over the received buffers themselves."""

    async def readchunk(self) -> tuple[bytes, bool]: ...


class ObjectStream:
    """Bytes ``[offset, offset + length)`` of one object as an async iterator of blocks.

    Every block is ``block_size`` bytes except the last, which may be shorter (one copy per byte,
    to join what the socket delivered); with ``block_size`` ``None`` blocks are the buffers as
    they arrived (no copy; their size varies, often ~256 KiB on loopback). The total is
    ``length``; ``object_size`` is the whole object's size. Iterating to the end releases the
    connection; leaving early needs ``aclose()`` (or ``async with``). Errors while reading are
    mapped as everywhere else (a cut connection is ``Unavailable``).
    """

    def __init__(
        self,
        body: _Body | None,
        *,
        key: str,
        offset: int,
        length: int,
        object_size: int,
        etag: str,
        block_size: int | None,
    ) -> None:
        self._body = body
        self.key = key
        self.offset = offset
        self.length = length
        self.object_size = object_size
        self.etag = etag
        self._block_size = block_size
        self._remaining = length
        # With aiohttp (aiobotocore's default transport) blocks are cut from the buffers as the
        # socket delivered them, joined once. ``body.read(n)`` would join them first, and the
        # block would be a second copy; it stays the fallback for other transports.
        raw = getattr(body, "raw_stream", None)
        content = getattr(raw, "content", None)
        self._chunks: _Chunks | None = content if hasattr(content, "readchunk") else None
        self._pending: memoryview | None = None  # the part of a buffer past the last block

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> bytes:
        if self._remaining <= 0 or self._body is None:
            await self.aclose()
            raise StopAsyncIteration
        exact = self._block_size is not None
        want = min(self._block_size or DEFAULT_BLOCK_SIZE, self._remaining)
        try:
            if self._chunks is None:
                gather = self._gather(self._body, want, exact)
            else:
                gather = self._cut(self._chunks, want) if exact else self._as_received(self._chunks)
            block = await _guarded(gather, "GetObject", self.key)
        except BaseException:
            await self.aclose()
            raise
        if not block or (exact and len(block) < want) or len(block) > self._remaining:
            await self.aclose()
            raise _unavailable("GetObject", "the connection ended before the object's end")
        self._remaining -= len(block)
        return block

    @staticmethod
    async def _as_received(chunks: _Chunks) -> bytes:
        """The next buffer the socket delivered, as it is (empty at the end of the body)."""
        while True:
            piece, end_of_http_chunk = await chunks.readchunk()
            if piece or not end_of_http_chunk:
                return piece

    async def _cut(self, chunks: _Chunks, want: int) -> bytes:
        """``want`` bytes (fewer at the end) from the received buffers, joined once."""
        pieces: list[bytes | memoryview] = []
        got = 0
        while got < want:
            if self._pending is not None:
                piece: bytes | memoryview = self._pending
                self._pending = None
            else:
                piece, end_of_http_chunk = await chunks.readchunk()
                if not piece:
                    if end_of_http_chunk:  # a chunked-encoding boundary, not the end
                        continue
                    break
            if got + len(piece) > want:
                view = memoryview(piece)
                piece, self._pending = view[: want - got], view[want - got :]
            pieces.append(piece)
            got += len(piece)
        if len(pieces) == 1 and isinstance(pieces[0], bytes):
            return pieces[0]
        return b"".join(pieces)

    @staticmethod
    async def _gather(body: _Body, want: int, exact: bool) -> bytes:
        """``want`` bytes (fewer at the end of the body), or with ``exact`` false whatever one
        read returns, through the body's own ``read``, which hands back what has arrived."""
        if not exact:
            return await body.read(want)
        pieces: list[bytes] = []
        got = 0
        while got < want:
            piece = await body.read(want - got)
            if not piece:
                break
            pieces.append(piece)
            got += len(piece)
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)

    async def aclose(self) -> None:
        """Release the connection (closed, not reused, if the body was not read to the end)."""
        body, self._body, self._chunks, self._pending = self._body, None, None, None
        if body is not None:
            await body.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self.aclose()


# ----------------------------------------------------------------------------------------------
# The store
# ----------------------------------------------------------------------------------------------


class S3Store:
    """One bucket (under one prefix) through one lazily created aiobotocore client.

    Every key argument and every key returned is relative to ``config.prefix``. The client is
    created by the first call and closed by ``aclose()`` (or ``async with``); calls after that
    raise ``RuntimeError``. Safe for concurrent use by many tasks of one event loop.
    """

    def __init__(self, config: S3Config) -> None:
        self.config = config
        self._client: S3Client | None = None
        self._exit_stack: contextlib.AsyncExitStack | None = None
        self._opening = asyncio.Lock()
        self._closed = False

    def __repr__(self) -> str:
        return f"S3Store({self.config!r})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the client and its connections; idempotent."""
        self._closed = True
        stack, self._exit_stack, self._client = self._exit_stack, None, None
        if stack is not None:
            await stack.aclose()

    # -- health ------------------------------------------------------------------------------

    async def probe(self) -> None:
        """One HeadBucket: returns when the bucket exists and the credentials may use it.

        Raises ``Unavailable``, ``BucketNotFound``, ``AccessDenied`` or ``CredentialsMissing``.
        """
        client = await self._open()
        await _guarded(client.head_bucket(Bucket=self.config.bucket), "HeadBucket", None)

    # -- multipart uploads -------------------------------------------------------------------

    async def create_multipart(self, key: str, *, content_type: str | None = None) -> str:
        """Start a multipart upload for ``key``; returns its upload id."""
        client = await self._open()
        extra: dict[str, Any] = {"ContentType": content_type} if content_type else {}
        answer = await _guarded(
            client.create_multipart_upload(Bucket=self.config.bucket, Key=self._full(key), **extra),
            "CreateMultipartUpload",
            key,
        )
        return answer["UploadId"]

    async def upload_part(self, key: str, upload_id: str, number: int, data: Buffer) -> str:
        """Store ``data`` as part ``number`` (1..10,000) of the upload; returns the part's ETag.

        When this returns the store has the bytes durably. Uploading the same number again
        replaces the part. ``data`` is sent as is (no copy); a memoryview must be contiguous.
        """
        if not 1 <= number <= MAX_PARTS:
            raise ValueError(f"part number {number} is outside 1..{MAX_PARTS}")
        client = await self._open()
        answer = await _guarded(
            client.upload_part(
                Bucket=self.config.bucket,
                Key=self._full(key),
                UploadId=upload_id,
                PartNumber=number,
                Body=_body(data),
                ContentLength=memoryview(data).nbytes,
            ),
            "UploadPart",
            key,
        )
        return answer["ETag"]

    async def list_parts(self, key: str, upload_id: str, *, page_size: int = 1000) -> list[Part]:
        """Every part stored so far for the upload, by ascending number (all pages, of
        ``page_size`` parts each; S3 allows at most 1,000)."""
        client = await self._open()
        parts: list[Part] = []
        marker = 0
        while True:
            page = await _guarded(
                client.list_parts(
                    Bucket=self.config.bucket,
                    Key=self._full(key),
                    UploadId=upload_id,
                    PartNumberMarker=marker,
                    MaxParts=page_size,
                ),
                "ListParts",
                key,
            )
            parts.extend(
                Part(number=p["PartNumber"], etag=p["ETag"], size=p["Size"], last_modified=p["LastModified"])
                for p in page.get("Parts", [])
            )
            if not page.get("IsTruncated"):
                return parts
            marker = int(page["NextPartNumberMarker"])

    async def complete_multipart(self, key: str, upload_id: str, parts: Iterable[Part]) -> str:
        """Assemble the object from ``parts`` (any order; sorted here); returns the object's ETag.

        Every part but the last must be at least 5 MiB (``S3Error`` with code ``EntityTooSmall``);
        an unknown number or wrong ETag is ``S3Error`` ``InvalidPart``. Afterwards the upload id
        is gone (``UploadNotFound``) and the object replaces any previous one under ``key``.
        """
        ordered = sorted(parts, key=lambda part: part.number)
        client = await self._open()
        answer = await _guarded(
            client.complete_multipart_upload(
                Bucket=self.config.bucket,
                Key=self._full(key),
                UploadId=upload_id,
                MultipartUpload={"Parts": [{"PartNumber": p.number, "ETag": p.etag} for p in ordered]},
            ),
            "CompleteMultipartUpload",
            key,
        )
        return answer["ETag"]

    async def abort_multipart(self, key: str, upload_id: str) -> None:
        """Discard the upload and its parts. Idempotent: an upload already gone is not an error,
        so garbage collection can repeat itself after a crash."""
        client = await self._open()
        with contextlib.suppress(UploadNotFound):
            await _guarded(
                client.abort_multipart_upload(
                    Bucket=self.config.bucket, Key=self._full(key), UploadId=upload_id
                ),
                "AbortMultipartUpload",
                key,
            )

    async def list_multipart_uploads(self, prefix: str = "") -> AsyncIterator[MultipartUpload]:
        """The uploads in progress whose key starts with ``prefix``, with their initiation time
        (for collecting abandoned ones), page by page."""
        client = await self._open()
        request: ListMultipartUploadsRequestTypeDef = {
            "Bucket": self.config.bucket,
            "Prefix": self._full(prefix),
        }
        while True:
            page = await _guarded(
                client.list_multipart_uploads(**request),
                "ListMultipartUploads",
                prefix,
            )
            for upload in page.get("Uploads", []):
                yield MultipartUpload(
                    key=self._relative(upload["Key"]),
                    upload_id=upload["UploadId"],
                    initiated=upload["Initiated"],
                )
            if not page.get("IsTruncated"):
                return
            request["KeyMarker"] = page["NextKeyMarker"]
            request["UploadIdMarker"] = page["NextUploadIdMarker"]

    # -- whole objects -----------------------------------------------------------------------

    async def put_object(self, key: str, data: Buffer, *, content_type: str | None = None) -> str:
        """Store ``data`` (at most 5 GiB) as ``key`` in one PutObject; returns its ETag."""
        size = memoryview(data).nbytes
        if size > MAX_SINGLE_PUT:
            raise ValueError("put_object takes at most 5 GiB; use put_stream")
        client = await self._open()
        extra: dict[str, Any] = {"ContentType": content_type} if content_type else {}
        answer = await _guarded(
            client.put_object(
                Bucket=self.config.bucket, Key=self._full(key), Body=_body(data), ContentLength=size, **extra
            ),
            "PutObject",
            key,
        )
        return answer["ETag"]

    async def put_stream(
        self,
        key: str,
        blocks: AsyncIterable[Buffer],
        *,
        part_size: int = DEFAULT_PART_SIZE,
        concurrency: int = 4,
        content_type: str | None = None,
    ) -> PutResult:
        """Store the concatenated ``blocks`` as ``key`` without holding them all in memory.

        Up to ``part_size`` bytes become one PutObject; more become a multipart upload with up to
        ``concurrency`` parts in flight, so at most ``(concurrency + 1) * part_size`` bytes are
        held. On any failure (or cancellation) the multipart upload is aborted and nothing is
        stored under ``key``. Blocks are copied once, into part buffers.
        """
        return await self._put_parts(key, _rechunk(blocks, part_size), part_size, concurrency, content_type)

    async def put_file(
        self,
        key: str,
        path: Path,
        *,
        part_size: int = DEFAULT_PART_SIZE,
        concurrency: int = 4,
        content_type: str | None = None,
    ) -> PutResult:
        """``put_stream`` of a local file, read in a thread straight into part buffers."""
        return await self._put_parts(key, _file_parts(path, part_size), part_size, concurrency, content_type)

    async def open_range(
        self,
        key: str,
        offset: int = 0,
        length: int | None = None,
        *,
        block_size: int | None = DEFAULT_BLOCK_SIZE,
    ) -> ObjectStream:
        """Start reading ``length`` bytes of ``key`` from ``offset`` (``None``: to the end).

        One ranged GET; the bytes come as the returned stream is iterated. A range running past
        the end is cut at the end; ``offset`` equal to the size gives an empty stream, beyond it
        ``RangeNotSatisfiable``. A missing key raises ``ObjectNotFound`` here, before any byte.
        ``block_size`` ``None``: blocks as received, without a copy (see ``ObjectStream``).
        """
        if offset < 0 or (length is not None and length < 0) or (block_size is not None and block_size < 1):
            raise ValueError("offset and length must not be negative, block_size must be positive")
        if length == 0:
            return self._empty_stream(key, offset, await self.head(key))
        client = await self._open()
        request: GetObjectRequestTypeDef = {"Bucket": self.config.bucket, "Key": self._full(key)}
        if offset or length is not None:
            last = "" if length is None else str(offset + length - 1)
            request["Range"] = f"bytes={offset}-{last}"
        try:
            answer = await _guarded(client.get_object(**request), "GetObject", key)
        except RangeNotSatisfiable:
            # S3 refuses any range starting at the size; reading "from the end" is just empty.
            return self._empty_stream(key, offset, await self.head(key))
        content_range = answer.get("ContentRange")
        size = int(content_range.rpartition("/")[2]) if content_range else answer["ContentLength"]
        return ObjectStream(
            cast("_Body", answer["Body"]),
            key=key,
            offset=offset,
            length=answer["ContentLength"],
            object_size=size,
            etag=answer["ETag"],
            block_size=block_size,
        )

    async def read(self, key: str, offset: int = 0, length: int | None = None) -> bytes:
        """``open_range`` gathered into one bytes object (small reads only)."""
        async with await self.open_range(key, offset, length) as stream:
            return b"".join([block async for block in stream])

    async def head(self, key: str) -> ObjectInfo:
        """The object's size, last modification and ETag (``ObjectNotFound`` when missing)."""
        client = await self._open()
        answer = await _guarded(
            client.head_object(Bucket=self.config.bucket, Key=self._full(key)), "HeadObject", key
        )
        return ObjectInfo(
            key=key, size=answer["ContentLength"], last_modified=answer["LastModified"], etag=answer["ETag"]
        )

    async def copy(
        self,
        source: str,
        target: str,
        *,
        multipart_threshold: int = MAX_SINGLE_PUT,
        part_size: int = DEFAULT_COPY_PART_SIZE,
        concurrency: int = 4,
    ) -> str:
        """Copy ``source`` to ``target`` inside the bucket, server-side; returns the new ETag.

        Up to ``multipart_threshold`` bytes (S3 allows at most 5 GiB) take one CopyObject; bigger
        objects a multipart upload of UploadPartCopy ranges of ``part_size`` (raised so that
        there are at most 10,000), ``concurrency`` at a time, aborted on failure.
        """
        if multipart_threshold > MAX_SINGLE_PUT or part_size < MIN_PART_SIZE:
            raise ValueError("multipart_threshold is at most 5 GiB and part_size at least 5 MiB")
        info = await self.head(source)
        client = await self._open()
        copy_source: CopySourceTypeDef = {"Bucket": self.config.bucket, "Key": self._full(source)}
        if info.size <= multipart_threshold:
            answer = await _guarded(
                client.copy_object(Bucket=self.config.bucket, Key=self._full(target), CopySource=copy_source),
                "CopyObject",
                source,
            )
            return answer["CopyObjectResult"]["ETag"]
        part_size = max(part_size, math.ceil(info.size / MAX_PARTS))
        upload_id = await self.create_multipart(target)

        async def copy_part(number: int) -> Part:
            start = (number - 1) * part_size
            end = min(start + part_size, info.size) - 1
            answer = await _guarded(
                client.upload_part_copy(
                    Bucket=self.config.bucket,
                    Key=self._full(target),
                    UploadId=upload_id,
                    PartNumber=number,
                    CopySource=copy_source,
                    CopySourceRange=f"bytes={start}-{end}",
                ),
                "UploadPartCopy",
                source,
            )
            return Part(number=number, etag=answer["CopyPartResult"]["ETag"], size=end - start + 1)

        async def copies() -> AsyncIterator[Awaitable[Part]]:
            for number in range(1, math.ceil(info.size / part_size) + 1):
                yield copy_part(number)

        async with _AbortOnFailure(self, target, upload_id):
            parts = await _bounded_gather(copies(), concurrency)
            return await self.complete_multipart(target, upload_id, parts)

    async def delete(self, key: str) -> None:
        """Remove ``key``; removing a missing key is not an error (S3 answers the same)."""
        client = await self._open()
        await _guarded(
            client.delete_object(Bucket=self.config.bucket, Key=self._full(key)), "DeleteObject", key
        )

    async def list_objects(self, prefix: str = "", *, page_size: int = 1000) -> AsyncIterator[ObjectInfo]:
        """The objects whose key starts with ``prefix``, in key order, one page per request."""
        client = await self._open()
        request: ListObjectsV2RequestTypeDef = {
            "Bucket": self.config.bucket,
            "Prefix": self._full(prefix),
            "MaxKeys": page_size,
        }
        while True:
            page = await _guarded(
                client.list_objects_v2(**request),
                "ListObjectsV2",
                prefix,
            )
            for item in page.get("Contents", []):
                yield ObjectInfo(
                    key=self._relative(item["Key"]),
                    size=item["Size"],
                    last_modified=item["LastModified"],
                    etag=item["ETag"],
                )
            if not page.get("IsTruncated"):
                return
            request["ContinuationToken"] = page["NextContinuationToken"]

    # -- internals ---------------------------------------------------------------------------

    def _full(self, key: str) -> str:
        return self.config.prefix + key

    def _relative(self, full_key: str) -> str:
        return full_key[len(self.config.prefix) :]

    @staticmethod
    def _empty_stream(key: str, offset: int, info: ObjectInfo) -> ObjectStream:
        if offset > info.size:
            raise RangeNotSatisfiable(
                f"GetObject of {key!r} at offset {offset} starts past its end ({info.size} bytes).",
                operation="GetObject",
                code="InvalidRange",
                status=416,
                key=key,
            )
        return ObjectStream(
            None, key=key, offset=offset, length=0, object_size=info.size, etag=info.etag, block_size=1
        )

    async def _put_parts(
        self,
        key: str,
        parts: AsyncGenerator[Buffer, None],
        part_size: int,
        concurrency: int,
        content_type: str | None,
    ) -> PutResult:
        if part_size < MIN_PART_SIZE or concurrency < 1:
            raise ValueError("part_size must be at least 5 MiB and concurrency at least 1")
        try:
            first = await anext(parts, None)
            second = await anext(parts, None) if first is not None else None
            if first is None or second is None:  # fits one request
                data = first if first is not None else b""
                etag = await self.put_object(key, data, content_type=content_type)
                return PutResult(etag=etag, size=memoryview(data).nbytes, parts=0)
            head = (first, second)
            upload_id = await self.create_multipart(key, content_type=content_type)
            async with _AbortOnFailure(self, key, upload_id):

                async def numbered() -> AsyncIterator[Awaitable[Part]]:
                    for number, data in enumerate(head, 1):
                        yield self._part(key, upload_id, number, data)
                    number = 2
                    async for data in parts:
                        number += 1
                        yield self._part(key, upload_id, number, data)

                done = await _bounded_gather(numbered(), concurrency)
                etag = await self.complete_multipart(key, upload_id, done)
                return PutResult(etag=etag, size=sum(part.size for part in done), parts=len(done))
        finally:
            await parts.aclose()  # a file being read is closed now, not when collected

    async def _part(self, key: str, upload_id: str, number: int, data: Buffer) -> Part:
        etag = await self.upload_part(key, upload_id, number, data)
        return Part(number=number, etag=etag, size=memoryview(data).nbytes)

    async def _open(self) -> S3Client:
        if self._client is not None:
            return self._client
        async with self._opening:
            if self._closed:
                raise RuntimeError("the S3 store is closed")
            if self._client is None:
                _quiet_sdk_debug_logs()
                config = self.config
                stack = contextlib.AsyncExitStack()
                session = AioSession()
                client_config = AioConfig(
                    connect_timeout=config.connect_timeout,
                    read_timeout=config.read_timeout,
                    max_pool_connections=config.max_connections,
                    retries={"mode": "standard", "total_max_attempts": config.max_attempts},
                    s3={"addressing_style": config.addressing or "auto"},
                    # botocore's validation refuses memoryviews (which aiohttp sends without a
                    # copy); every parameter is built here, so it would only cost time.
                    parameter_validation=False,
                    # No extra checksum pass over every body: the service CRC32C-checks each chunk
                    # itself (and over plain http botocore already SHA-256-signs every payload).
                    request_checksum_calculation="when_required",
                    response_checksum_validation="when_required",
                )
                client = await stack.enter_async_context(
                    session.create_client(
                        "s3",
                        region_name=config.region,
                        endpoint_url=config.endpoint,
                        config=client_config,
                        # None (both, as the config guarantees) lets the credential chain decide.
                        aws_access_key_id=config.access_key_id,
                        aws_secret_access_key=config.secret_access_key,
                    )
                )
                self._client, self._exit_stack = client, stack
        return self._client


class _AbortOnFailure:
    """Abort the multipart upload when the block fails or is cancelled (best effort: an abort
    that fails too leaves the upload to garbage collection)."""

    def __init__(self, store: S3Store, key: str, upload_id: str) -> None:
        self._store, self._key, self._upload_id = store, key, upload_id

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if kind is None:
            return
        try:
            # Shielded: a cancelled put must still abort, or its parts stay billed until collected.
            await asyncio.shield(self._store.abort_multipart(self._key, self._upload_id))
        except (Unavailable, S3Error, asyncio.CancelledError):
            log.warning(
                "could not abort a failed multipart upload; garbage collection will", extra={"key": self._key}
            )


# ----------------------------------------------------------------------------------------------
# Helpers
# ----------------------------------------------------------------------------------------------


async def _guarded(call: Awaitable[T], operation: str, key: str | None) -> T:
    """Await one SDK call, turning its failures into this module's errors.

    The mapped error is raised outside the ``except`` block so that it carries no reference to
    botocore's exception (whose parsed answer may name the access key id).
    """
    mapped: Exception
    try:
        return await call
    except ClientError as error:
        mapped = _from_client_error(error, operation, key)
    except (NoCredentialsError, PartialCredentialsError):
        mapped = CredentialsMissing(
            f"{operation}: no S3 credentials were configured or found by the AWS credential chain.",
            operation=operation,
            code="NoCredentials",
            status=0,
            key=key,
        )
    except _TRANSPORT_ERRORS as error:
        mapped = _unavailable(operation, _transport_reason(error))
    except BotoCoreError as error:  # anything else botocore raises: not worth a retry
        mapped = S3Error(
            f"{operation} failed in the S3 client ({type(error).__name__}).",
            operation=operation,
            code=type(error).__name__,
            status=0,
            key=key,
        )
    raise mapped


def _from_client_error(error: ClientError, operation: str, key: str | None) -> Exception:
    answer: Any = error.response
    code = str(answer.get("Error", {}).get("Code", "")) or "Unknown"
    status = int(answer.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
    if status >= 500 or code in _THROTTLING_CODES or status in (429, 503):
        return _unavailable(
            operation, f"HTTP {status} {code}", retry_after=2.0 if status in (429, 503) else 1.0
        )
    where = f" of {key!r}" if key is not None else ""
    answer_text = f"HTTP {status}" if code == str(status) else f"HTTP {status} {code}"  # HEAD has no body
    message = f"{operation}{where} was refused: {answer_text}."
    kind: type[S3Error] = S3Error
    if code == "NoSuchUpload":
        kind = UploadNotFound
    elif code == "NoSuchBucket" or (operation == "HeadBucket" and status == 404):
        kind = BucketNotFound
    elif code in ("NoSuchKey", "NotFound", "404") or (
        status == 404 and operation in ("HeadObject", "GetObject")
    ):
        kind = ObjectNotFound
    elif code in _DENIED_CODES or status in (401, 403):
        kind = AccessDenied
    elif code == "InvalidRange" or status == 416:
        kind = RangeNotSatisfiable
    return kind(message, operation=operation, code=code, status=status, key=key)


def _unavailable(operation: str, reason: str, *, retry_after: float = 1.0) -> Unavailable:
    return Unavailable(
        f"The object store did not complete {operation} ({reason}); retry later.",
        retry_after=retry_after,
        operation=operation,
    )


def _transport_reason(error: BaseException) -> str:
    # Class names only: botocore's messages include the endpoint URL, harmless, but nothing here
    # should need auditing for what a message might carry.
    if isinstance(error, TimeoutError) or "Timeout" in type(error).__name__:
        return f"timed out: {type(error).__name__}"
    return f"connection failed: {type(error).__name__}"


def _body(data: Buffer) -> Any:
    """The SDK's Body: bytes-likes go to aiohttp as they are (it sends memoryviews without a copy);
    a non-byte memoryview is viewed as bytes, which copies nothing either."""
    if isinstance(data, memoryview) and (data.format != "B" or data.ndim != 1):
        return data.cast("B")
    return data


async def _rechunk(blocks: AsyncIterable[Buffer], part_size: int) -> AsyncGenerator[Buffer, None]:
    """Blocks of any size -> buffers of exactly ``part_size`` bytes (the last may be shorter,
    never empty unless the whole stream is)."""
    buffer = bytearray()
    async for block in blocks:
        view = memoryview(block).cast("B")
        while view.nbytes:
            if not buffer and view.nbytes >= part_size and isinstance(block, bytes):
                # A whole part inside an immutable block: hand a view of it on, no copy. (A
                # bytearray or memoryview may be reused by its producer: those are copied.)
                yield view[:part_size]
                view = view[part_size:]
                continue
            take = min(part_size - len(buffer), view.nbytes)
            buffer += view[:take]
            view = view[take:]
            if len(buffer) == part_size:
                yield buffer
                buffer = bytearray()  # the yielded one may still be uploading
    if buffer:
        yield buffer


async def _file_parts(path: Path, part_size: int) -> AsyncGenerator[Buffer, None]:
    """A local file as ``part_size`` buffers, each read in a thread straight into a new buffer."""
    handle = await asyncio.to_thread(path.open, "rb", buffering=0)
    try:
        while True:
            buffer = bytearray(part_size)
            count = await asyncio.to_thread(_fill, handle, buffer)
            if count == 0:
                return
            yield buffer if count == part_size else memoryview(buffer)[:count]
            if count < part_size:
                return
    finally:
        await asyncio.to_thread(handle.close)


def _fill(handle: Any, buffer: bytearray) -> int:
    """readinto until the buffer is full or the file ends (raw reads may return short)."""
    view = memoryview(buffer)
    total = 0
    while total < len(buffer):
        count = handle.readinto(view[total:])
        if not count:
            break
        total += count
    return total


async def _bounded_gather(calls: AsyncIterator[Awaitable[T]], limit: int) -> list[T]:
    """Run the awaitables, at most ``limit`` at a time, pulling the next only when a slot frees
    (so a producer's buffers are not all created up front). Results in completion order. On the
    first failure the others are cancelled and awaited, and that failure is raised as it is."""
    running: set[asyncio.Task[T]] = set()
    results: list[T] = []

    async def settle(until: int) -> None:
        while len(running) > until:
            done, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                running.discard(task)
                results.append(task.result())  # raises the part's own error

    try:
        while True:
            await settle(limit - 1)
            # The next awaitable (and so the next part's buffer) is made only once a slot is free.
            call = await anext(calls, None)
            if call is None:
                break
            running.add(asyncio.ensure_future(call))
        await settle(0)
    except BaseException:
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        raise
    return results


def _quiet_sdk_debug_logs() -> None:
    """botocore's DEBUG lines print signed request headers (with the access key id) and bodies:
    raise its loggers to INFO unless someone set a level on them on purpose."""
    for name in _SDK_LOGGERS:
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.INFO)


__all__ = [
    "DEFAULT_BLOCK_SIZE",
    "DEFAULT_PART_SIZE",
    "MAX_PARTS",
    "MAX_SINGLE_PUT",
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

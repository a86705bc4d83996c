"""A small typed async adapter over one S3-compatible bucket (aiobotocore).

``S3Store`` speaks the handful of S3 operations the blob-store port needs — multipart uploads
by part number, whole-object puts (streamed, multipart when big), ranged streamed reads, head,
server-side copy, delete, listings, and a health probe — on keys *relative to the configured
prefix*. It knows nothing of tasks, chunks or blobs.

Every method's errors are those of ``errors.py`` (retryable ones are ``Unavailable``).
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterable, AsyncIterator, Awaitable
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from drive_service.storage.s3.config import (
    DEFAULT_BLOCK_SIZE,
    DEFAULT_COPY_PART_SIZE,
    DEFAULT_PART_SIZE,
    MAX_PARTS,
    MAX_SINGLE_PUT,
    MIN_PART_SIZE,
    Buffer,
    ObjectInfo,
    Part,
    PutResult,
)
from drive_service.storage.s3.errors import RangeNotSatisfiable, guarded
from drive_service.storage.s3.stream import ObjectStream, _Body
from drive_service.storage.s3.transfer import (
    AbortOnFailure,
    body,
    bounded_gather,
    file_parts,
    put_parts,
    rechunk,
)

if TYPE_CHECKING:
    from types_aiobotocore_s3.type_defs import (
        CopySourceTypeDef,
        GetObjectRequestTypeDef,
        ListObjectsV2RequestTypeDef,
    )


from drive_service.storage.s3.multipart import S3Multipart


class S3Store(S3Multipart):
    """One bucket (under one prefix): multipart uploads (S3Multipart) and whole objects: puts
    (streamed, multipart when big), ranged streamed reads, head, server-side copy, delete,
    listings. Keys are relative to ``config.prefix``; see S3Base for the client's life."""

    async def put_object(self, key: str, data: Buffer, *, content_type: str | None = None) -> str:
        """Store ``data`` (at most 5 GiB) as ``key`` in one PutObject; returns its ETag."""
        size = memoryview(data).nbytes
        if size > MAX_SINGLE_PUT:
            raise ValueError("put_object takes at most 5 GiB; use put_stream")
        client = await self._open()
        extra: dict[str, Any] = {"ContentType": content_type} if content_type else {}
        answer = await guarded(
            client.put_object(
                Bucket=self.config.bucket, Key=self._full(key), Body=body(data), ContentLength=size, **extra
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
        return await put_parts(self, key, rechunk(blocks, part_size), part_size, concurrency, content_type)

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
        return await put_parts(self, key, file_parts(path, part_size), part_size, concurrency, content_type)

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
            answer = await guarded(client.get_object(**request), "GetObject", key)
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
        answer = await guarded(
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
            answer = await guarded(
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
            answer = await guarded(
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

        async with AbortOnFailure(self, target, upload_id):
            parts = await bounded_gather(copies(), concurrency)
            return await self.complete_multipart(target, upload_id, parts)

    async def delete(self, key: str) -> None:
        """Remove ``key``; removing a missing key is not an error (S3 answers the same)."""
        client = await self._open()
        await guarded(
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
            page = await guarded(
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

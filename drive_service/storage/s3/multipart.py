"""Multipart uploads by part number (the staging of an S3 pool's uploads)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable
from typing import TYPE_CHECKING, Any

from drive_service.storage.s3.config import (
    MAX_PARTS,
    Buffer,
    MultipartUpload,
    Part,
)
from drive_service.storage.s3.errors import UploadNotFound, guarded
from drive_service.storage.s3.transfer import (
    body,
)

if TYPE_CHECKING:
    from types_aiobotocore_s3.type_defs import (
        ListMultipartUploadsRequestTypeDef,
    )


from drive_service.storage.s3.base import S3Base


class S3Multipart(S3Base):
    """Multipart uploads of one bucket: parts by number, listed, completed or aborted."""

    async def create_multipart(self, key: str, *, content_type: str | None = None) -> str:
        """Start a multipart upload for ``key``; returns its upload id."""
        client = await self._open()
        extra: dict[str, Any] = {"ContentType": content_type} if content_type else {}
        answer = await guarded(
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
        answer = await guarded(
            client.upload_part(
                Bucket=self.config.bucket,
                Key=self._full(key),
                UploadId=upload_id,
                PartNumber=number,
                Body=body(data),
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
            page = await guarded(
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
        answer = await guarded(
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
            await guarded(
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
            page = await guarded(
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

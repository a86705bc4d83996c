"""The port to a pool's bytes: where uploads stage their chunks and where blobs live (local disk,
an S3-compatible bucket, or memory in unit tests)."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from drive_service.errors import BlobMissing as BlobMissing  # raised by BlobStore.read

#: Bytes-like data (bytes, bytearray or memoryview), written without a copy.
Data = bytes | bytearray | memoryview


@dataclass(frozen=True, slots=True)
class Staging:
    """One upload's staging as a store sees it: the task id, the handle ``open_staging`` gave
    (None for stores that need none) and, once every chunk is in, each chunk's tag in order."""

    task_id: str
    ref: str | None = None
    tags: tuple[str, ...] = ()


class BlobStore(Protocol):
    """The bytes of one pool: the staging area of its uploads in progress, and its blobs.

    Blobs are written once under their key: the SHA-256 of plain content, a random key for
    encrypted content, or whatever ``staged_key`` names for bytes a store keeps where they were
    staged. Every failure of the medium surfaces as ``Unavailable`` (retryable).
    """

    @property
    def min_chunk_size(self) -> int:
        """The smallest chunk (but the last) this store can stage; 0: any size."""

    @property
    def max_chunks(self) -> int:
        """The most chunks one upload may have here; 0: no limit."""

    async def open_staging(self, task_id: str) -> str | None:
        """Prepare the staging of a new upload; returns the handle to keep with it (None: none)."""

    async def write_chunk(self, staging: Staging, index: int, offset: int, data: Data) -> str | None:
        """Store chunk ``index`` (at ``offset``) of the upload durably; returns its tag, to be kept
        with the chunk's receipt (None: none). Returns only once the write has ended, even when the
        caller is cancelled meanwhile (the receipt must not roll back while these bytes may still
        land on another writer's)."""

    async def hash_staging(self, staging: Staging) -> tuple[str, int]:
        """SHA-256 hex and size of the upload's staged bytes."""

    def read_staging(self, staging: Staging) -> AsyncIterator[bytes]:
        """The upload's staged bytes, in blocks."""

    def staged_key(self, staging: Staging, sha256: str) -> str:
        """The blob key ``adopt_staging`` stores the upload's plain bytes (of that SHA-256) under."""

    async def adopt_staging(self, staging: Staging, key: str) -> bool:
        """Make the staged bytes the blob ``key`` (``staged_key``'s; a failed completion may retry
        until the staging is discarded); False when that blob existed already."""

    async def discard_staging(self, task_id: str, *, adopted: bool = False) -> None:
        """Remove what the upload staged (no error when already gone); ``adopted``: its bytes
        became a blob, which stays."""

    async def staging_ids(self) -> list[str]:
        """Task ids that have staged bytes here (for orphan collection)."""

    async def adopt(self, source: Path, key: str) -> bool:
        """Make the local file ``source`` (left in place) the blob ``key``; False when it existed."""

    async def put(self, key: str, blocks: AsyncIterable[bytes]) -> bool:
        """Store ``blocks`` as the blob ``key`` unless it exists; False when it existed."""

    async def write_blob(self, blocks: AsyncIterable[bytes]) -> tuple[str, int]:
        """Store ``blocks`` as a new blob under a fresh random key; returns (key, size)."""

    def read(self, key: str, offset: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
        """Bytes ``[offset, offset + length)`` of the blob (to its end when ``length`` is None), in
        blocks of at most 1 MiB; BlobMissing (while iterating) when it does not exist."""

    async def delete_blob(self, key: str) -> None:
        """Remove a blob (no error when already gone)."""

    async def blob_keys(self, modified_before: datetime) -> list[str]:
        """Keys of the blobs last written before the time (for orphan collection)."""

    async def sweep(self, started_before: datetime) -> int:
        """Remove the leftovers of blob writes a crash interrupted, begun before the time; returns
        how many."""

    async def probe(self) -> None:
        """Check the medium answers and is writable; raises when not."""


class BlobStores(Protocol):
    """The blob store of each configured pool."""

    def of(self, pool_id: str) -> BlobStore:
        """The store holding pool ``pool_id``'s bytes."""

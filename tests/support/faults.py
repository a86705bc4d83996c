"""Blob stores that fail like a disk does, or record what they were asked to write."""

from __future__ import annotations

import asyncio
import errno
from collections.abc import Callable
from pathlib import Path

from drive_service.services.ports import Data, Staging
from drive_service.storage import blobs
from drive_service.storage.blobs import LocalBlobStore


def _injected(operation: str) -> Callable[[], None]:
    def fail() -> None:
        raise OSError(errno.EIO, f"injected I/O error in {operation}")

    return fail


async def _disk_error(operation: str) -> None:
    """Raise an OSError from the store's I/O thread, exactly where a real disk error would surface."""
    await blobs._io(_injected(operation))


class FaultyBlobStore(LocalBlobStore):
    """A LocalBlobStore whose chosen operations fail once with an I/O error, then work again.

    ``fail_write_offsets``: a write at one of these staging offsets first writes half of its bytes
    (durably, a torn write), then fails. ``fail_hash``: hash_staging fails before reading.
    ``fail_adopt``: adopt_staging links the blob into place, then fails (as if the directory fsync
    failed), so a retry finds the blob file already there.
    """

    def __init__(
        self,
        staging_root: Path,
        pool_root: Path,
        *,
        fail_write_offsets: frozenset[int] = frozenset(),
        fail_hash: bool = False,
        fail_adopt: bool = False,
    ) -> None:
        super().__init__(staging_root, pool_root)
        self._pending_writes = set(fail_write_offsets)
        self._fail_hash = fail_hash
        self._fail_adopt = fail_adopt
        self.injected: list[str] = []

    async def write_chunk(self, staging: Staging, index: int, offset: int, data: Data) -> None:
        if offset in self._pending_writes:
            self._pending_writes.discard(offset)
            await super().write_chunk(staging, index, offset, data[: len(data) // 2])
            self.injected.append(f"write@{offset}")
            await _disk_error("write_chunk")
        await super().write_chunk(staging, index, offset, data)

    async def hash_staging(self, staging: Staging) -> tuple[str, int]:
        if self._fail_hash:
            self._fail_hash = False
            self.injected.append("hash")
            await _disk_error("hash_staging")
        return await super().hash_staging(staging)

    async def adopt_staging(self, staging: Staging, key: str) -> bool:
        if self._fail_adopt:
            self._fail_adopt = False
            await super().adopt_staging(staging, key)
            self.injected.append("adopt")
            await _disk_error("adopt_staging")
        return await super().adopt_staging(staging, key)


class CountingBlobStore(LocalBlobStore):
    """A LocalBlobStore that records the staging offset of every chunk write that started."""

    def __init__(self, staging_root: Path, pool_root: Path) -> None:
        super().__init__(staging_root, pool_root)
        self.writes: list[int] = []

    async def write_chunk(self, staging: Staging, index: int, offset: int, data: Data) -> None:
        self.writes.append(offset)
        # Give a racing writer of the same chunk every chance to slip in while this one writes.
        await asyncio.sleep(0.01)
        await super().write_chunk(staging, index, offset, data)

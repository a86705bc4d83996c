"""Local-disk blob stores: durable chunk writes into a staging file, content-addressed blobs."""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
import shutil
from collections.abc import AsyncIterable, AsyncIterator, Callable
from datetime import datetime
from pathlib import Path
from typing import BinaryIO, TypeVar

from drive_service.domain.ids import is_blob_key, is_well_formed
from drive_service.errors import PoolNotFound, Unavailable
from drive_service.services.ports import BlobMissing, BlobStore, Data, Staging
from drive_service.storage import probes
from drive_service.storage.shielded import to_the_end

_BLOCK = 1024 * 1024
_T = TypeVar("_T")


class LocalBlobStore:
    """One pool's bytes on local disk: staging under ``staging_root/<task_id>/``, blobs under
    ``<pool_root>/blobs/ab/cd/<key>``.

    Each upload has one staging file of the declared size; a chunk is written at its offset and
    fsync'd before the write returns, so chunks may arrive in any order and completion needs no
    copy: the staging file is hashed and hard-linked into place. Every OSError surfaces as
    Unavailable (retryable), so the caller's transaction rolls back and nothing half-done shows.
    """

    min_chunk_size = 0
    max_chunks = 0

    def __init__(self, staging_root: Path, pool_root: Path) -> None:
        self.staging_root = staging_root
        self.pool_root = pool_root

    def staging_file(self, task_id: str) -> Path:
        """Where the upload's bytes are gathered (task ids are checked to be path-safe)."""
        if not is_well_formed(task_id):
            raise ValueError(f"unsafe task id {task_id!r}")
        return self.staging_root / task_id / "data"

    def blob_path(self, key: str) -> Path:
        """The file of blob ``key``."""
        return blob_path(self.pool_root, key)

    async def open_staging(self, task_id: str) -> None:
        return None  # the staging file appears with the first chunk

    async def write_chunk(self, staging: Staging, index: int, offset: int, data: Data) -> None:
        path = self.staging_file(staging.task_id)
        await to_the_end(_io(lambda: _pwrite_all(path, offset, data)))

    async def hash_staging(self, staging: Staging) -> tuple[str, int]:
        path = self.staging_file(staging.task_id)
        return await _io(lambda: _hash_file(path))

    async def read_staging(self, staging: Staging) -> AsyncIterator[bytes]:
        async for block in _read(self.staging_file(staging.task_id), 0, None):
            yield block

    def staged_key(self, staging: Staging, sha256: str) -> str:
        return sha256  # content-addressed: one blob per content in the pool

    async def adopt_staging(self, staging: Staging, key: str) -> bool:
        # The blob is a hard link to the staging file, so a completion whose transaction fails
        # can simply be retried: the staging file is still there.
        return await self.adopt(self.staging_file(staging.task_id), key)

    async def discard_staging(self, task_id: str, *, adopted: bool = False) -> None:
        await _io(lambda: shutil.rmtree(self.staging_file(task_id).parent, ignore_errors=True))

    async def staging_ids(self) -> list[str]:
        def scan() -> list[str]:
            if not self.staging_root.is_dir():
                return []
            return [entry.name for entry in self.staging_root.iterdir() if entry.is_dir()]

        return await _io(scan)

    async def adopt(self, source: Path, key: str) -> bool:
        target = self.blob_path(key)

        def adopt() -> bool:
            if target.exists():
                os.utime(target)  # fresh again: the orphan collector leaves young blobs alone
                return False
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(source, target)
            except OSError:  # another file system: copy durably, then swap in
                temporary = _temporary(target)
                shutil.copyfile(source, temporary)
                _fsync_file(temporary)
                os.replace(temporary, target)
            _fsync_file(target.parent)
            return True

        return await _io(adopt)

    async def put(self, key: str, blocks: AsyncIterable[bytes]) -> bool:
        target = self.blob_path(key)
        if await _io(target.exists):
            return False
        await self._write(target, blocks)
        return True

    async def write_blob(self, blocks: AsyncIterable[bytes]) -> tuple[str, int]:
        key = secrets.token_hex(32)
        return key, await self._write(self.blob_path(key), blocks)

    async def read(self, key: str, offset: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
        async for block in _read(self.blob_path(key), offset, length):
            yield block

    async def delete_blob(self, key: str) -> None:
        path = self.blob_path(key)
        await _io(lambda: path.unlink(missing_ok=True))

    async def blob_keys(self, modified_before: datetime) -> list[str]:
        limit = modified_before.timestamp()

        def scan() -> list[str]:
            root = self.pool_root / "blobs"
            if not root.is_dir():
                return []
            return [
                path.name
                for path in root.glob("??/??/*")
                if not path.name.startswith(".") and path.stat().st_mtime < limit
            ]

        return await _io(scan)

    async def sweep(self, started_before: datetime) -> int:
        limit = started_before.timestamp()

        def scan() -> int:
            root = self.pool_root / "blobs"
            if not root.is_dir():
                return 0
            # A write in progress is a dot-file beside its target (see _write and adopt).
            stale = [path for path in root.glob("??/??/.*") if path.stat().st_mtime < limit]
            for path in stale:
                path.unlink(missing_ok=True)
            return len(stale)

        return await _io(scan)

    async def probe(self) -> None:
        for folder in (self.staging_root, self.pool_root):
            await probes.directory_writable(folder)

    async def _write(self, target: Path, blocks: AsyncIterable[bytes]) -> int:
        """Write ``blocks`` durably into a temporary file beside ``target``, then rename it into
        place; returns the size. Nothing is left behind on failure."""
        await _io(lambda: target.parent.mkdir(parents=True, exist_ok=True))
        temporary = _temporary(target)
        handle = await _io(lambda: temporary.open("wb"))
        size = 0
        try:
            async for block in blocks:
                size += await _io(lambda block=block: handle.write(block))  # type: ignore[misc]
            await _io(lambda: _close_durably(handle))
            await _io(lambda: _rename_durably(temporary, target))
        finally:
            handle.close()
            await _io(lambda: temporary.unlink(missing_ok=True))
        return size


class BlobStoreRegistry:
    """BlobStores: the store of each configured pool, built once by the composition root."""

    def __init__(self, stores: dict[str, BlobStore]) -> None:
        self._stores = stores

    def of(self, pool_id: str) -> BlobStore:
        """The store of pool ``pool_id``. Raises PoolNotFound when none is configured."""
        store = self._stores.get(pool_id)
        if store is None:
            raise PoolNotFound(pool_id)
        return store

    async def aclose(self) -> None:
        """Close the stores that hold connections (object stores)."""
        for store in self._stores.values():
            close = getattr(store, "aclose", None)
            if close is not None:
                await close()


def blob_path(pool_root: Path, key: str) -> Path:
    """The file of blob ``key`` in a pool (two levels of fan-out; keys are checked path-safe)."""
    if not is_blob_key(key):
        raise ValueError(f"bad blob key {key!r}")
    return pool_root / "blobs" / key[:2] / key[2:4] / key


async def _read(path: Path, offset: int, length: int | None) -> AsyncIterator[bytes]:
    """Bytes [offset, offset + length) of a file in blocks of at most 1 MiB; BlobMissing when
    the file does not exist."""
    try:
        handle = await asyncio.to_thread(path.open, "rb")
    except FileNotFoundError:
        raise BlobMissing(path.name) from None
    except OSError as error:
        raise Unavailable("Storage is unavailable; retry shortly.", retry_after=1.0) from error
    try:
        await _io(lambda: handle.seek(offset))
        remaining = length
        while remaining is None or remaining > 0:
            size = _BLOCK if remaining is None else min(_BLOCK, remaining)
            block = await _io(lambda size=size: handle.read(size))  # type: ignore[misc]
            if not block:
                return
            if remaining is not None:
                remaining -= len(block)
            yield block
    finally:
        handle.close()


async def _io(call: Callable[[], _T]) -> _T:
    try:
        return await asyncio.to_thread(call)
    except OSError as error:
        raise Unavailable("Storage is unavailable; retry shortly.", retry_after=1.0) from error


def _temporary(target: Path) -> Path:
    return target.with_name(f".{target.name}.{secrets.token_hex(4)}")


def _pwrite_all(path: Path, offset: int, data: Data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        view = memoryview(data)
        while view:
            written = os.pwrite(descriptor, view, offset)
            view, offset = view[written:], offset + written
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _hash_file(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while block := handle.read(_BLOCK * 4):
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size


def _close_durably(handle: BinaryIO) -> None:
    handle.flush()
    os.fsync(handle.fileno())
    handle.close()


def _rename_durably(source: Path, target: Path) -> None:
    os.replace(source, target)
    _fsync_file(target.parent)


def _fsync_file(path: Path) -> None:
    """fsync a file or a directory (a directory's fsync makes a rename inside it durable)."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)

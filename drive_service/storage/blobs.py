"""Local-disk blob store: durable chunk writes into a staging file, content-addressed blobs."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import secrets
import shutil
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TypeVar

from drive_service.domain.ids import is_well_formed
from drive_service.errors import Unavailable

_BLOCK = 1024 * 1024
_T = TypeVar("_T")

#: Bytes-like data to write (bytes, bytearray or memoryview; written without a copy).
Data = bytes | bytearray | memoryview


class LocalBlobStore:
    """Staging under ``staging_root/<task_id>/``; blobs under ``<pool root>/blobs/ab/cd/<key>``.

    Each upload has one staging file of the declared size; a chunk is written at its offset and
    fsync'd before the write returns, so chunks may arrive in any order and completion needs no
    copy: the staging file is hashed and renamed into place. Every OSError surfaces as
    Unavailable (retryable), so the caller's transaction rolls back and nothing half-done shows.
    """

    def __init__(self, staging_root: Path) -> None:
        self.staging_root = staging_root

    def staging_file(self, task_id: str) -> Path:
        """Where the upload's bytes are gathered (task ids are checked to be path-safe)."""
        if not is_well_formed(task_id):
            raise ValueError(f"unsafe task id {task_id!r}")
        return self.staging_root / task_id / "data"

    async def write_chunk(self, task_id: str, offset: int, data: Data) -> None:
        """Write ``data`` at ``offset`` of the staging file and make it durable.

        A cancelled caller still waits until the write thread is done: the caller's transaction
        (the chunk's receipt) must not roll back, letting another writer claim the chunk, while
        these bytes may still land on top of that writer's.
        """
        path = self.staging_file(task_id)
        await _io_to_the_end(lambda: _pwrite_all(path, offset, data))

    async def hash_staging(self, task_id: str) -> tuple[str, int]:
        """SHA-256 hex and size of the staging file."""
        return await self.hash(self.staging_file(task_id))

    async def hash(self, path: Path) -> tuple[str, int]:
        """SHA-256 hex and size of a file."""
        return await _io(lambda: _hash_file(path))

    async def adopt_staging(self, task_id: str, pool_root: Path, key: str) -> bool:
        """Make the staging file the blob ``key`` of the pool; False when that blob existed.

        The blob is a hard link to the staging file, so a completion whose transaction fails
        can simply be retried: the staging file is still there.
        """
        return await self.adopt(self.staging_file(task_id), pool_root, key)

    async def adopt(self, source: Path, pool_root: Path, key: str) -> bool:
        """Make ``source`` (left in place) the blob ``key`` of the pool; False when it existed."""

        def adopt() -> bool:
            target = blob_path(pool_root, key)
            if target.exists():
                os.utime(target)  # fresh again: the orphan collector leaves young blobs alone
                return False
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(source, target)
            except OSError:  # another file system: copy durably, then swap in
                temporary = target.with_name(f".{key}.{secrets.token_hex(4)}")
                shutil.copyfile(source, temporary)
                _fsync_file(temporary)
                os.replace(temporary, target)
            _fsync_file(target.parent)
            return True

        return await _io(adopt)

    async def write_blob(self, pool_root: Path, produce: Callable[[Path], _T]) -> tuple[str, _T]:
        """Let ``produce`` write a new blob file (it must fsync it); returns a fresh random key."""

        def write() -> tuple[str, _T]:
            key = secrets.token_hex(32)
            target = blob_path(pool_root, key)
            target.parent.mkdir(parents=True, exist_ok=True)
            temporary = target.with_name(f".{key}.part")
            try:
                result = produce(temporary)
                os.replace(temporary, target)
            finally:
                temporary.unlink(missing_ok=True)
            _fsync_file(target.parent)
            return key, result

        return await _io(write)

    async def copy_blob(self, source_root: Path, target_root: Path, key: str) -> None:
        """Copy blob ``key`` from one pool to another, durably, unless the target has it."""

        def copy() -> None:
            target = blob_path(target_root, key)
            if target.exists():
                return
            target.parent.mkdir(parents=True, exist_ok=True)
            temporary = target.with_name(f".{key}.{secrets.token_hex(4)}")
            try:
                shutil.copyfile(blob_path(source_root, key), temporary)
                _fsync_file(temporary)
                os.replace(temporary, target)
            finally:
                temporary.unlink(missing_ok=True)
            _fsync_file(target.parent)

        await _io(copy)

    async def discard_staging(self, task_id: str) -> None:
        """Remove the upload's staging directory (no error when already gone)."""
        await _io(lambda: shutil.rmtree(self.staging_file(task_id).parent, ignore_errors=True))

    async def delete_blob(self, pool_root: Path, key: str) -> None:
        """Remove a blob file (no error when already gone)."""
        await _io(lambda: blob_path(pool_root, key).unlink(missing_ok=True))

    async def read(self, path: Path, offset: int, length: int | None) -> AsyncIterator[bytes]:
        """Yield bytes [offset, offset+length) of a file in blocks of at most 1 MiB."""
        handle = await _io(lambda: path.open("rb"))
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

    async def blob_keys(self, pool_root: Path, modified_before: float) -> list[str]:
        """Keys of the pool's blob files last modified before ``modified_before`` (epoch seconds)."""

        def scan() -> list[str]:
            root = pool_root / "blobs"
            if not root.is_dir():
                return []
            return [
                path.name
                for path in root.glob("??/??/*")
                if not path.name.startswith(".") and path.stat().st_mtime < modified_before
            ]

        return await _io(scan)

    def staging_ids(self) -> list[str]:
        """Task ids that have a staging directory (for orphan collection)."""
        if not self.staging_root.is_dir():
            return []
        return [entry.name for entry in self.staging_root.iterdir() if entry.is_dir()]


def blob_path(pool_root: Path, key: str) -> Path:
    """The file of blob ``key`` in a pool (two levels of fan-out)."""
    if len(key) != 64 or not all(ch in "0123456789abcdef" for ch in key):
        raise ValueError(f"bad blob key {key!r}")
    return pool_root / "blobs" / key[:2] / key[2:4] / key


async def _io(call: Callable[[], _T]) -> _T:
    try:
        return await asyncio.to_thread(call)
    except OSError as error:
        raise Unavailable("Storage is unavailable; retry shortly.", retry_after=1.0) from error


async def _io_to_the_end(call: Callable[[], _T]) -> _T:
    """``_io`` that, when cancelled, first waits for the thread to finish, then re-raises."""
    work = asyncio.ensure_future(_io(call))
    try:
        return await asyncio.shield(work)
    except asyncio.CancelledError:
        while not work.done():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait([work])
        if not work.cancelled():
            work.exception()  # retrieved: the cancellation wins
        raise


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


def _fsync_file(path: Path) -> None:
    """fsync a file or a directory (a directory's fsync makes a rename inside it durable)."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)

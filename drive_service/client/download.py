"""The download use case: ReadFile into ``<path>.part`` with ranged resume, verify, rename.

A ``.part`` file left by an interrupted download is continued from its length (ReadFile with an
offset), after hashing what it already holds. An unencrypted file's SHA-256 must equal the
CloudFile's hash; on a mismatch the part is deleted and DataLossError raised. The finished file
is fsync'd and renamed over ``path`` atomically, so ``path`` is either absent or complete.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import grpc

import drive_service.client.convert as convert
from drive.v1 import files_pb2
from drive_service.client.connection import Connection
from drive_service.client.errors import DataLossError, RetryableError, from_rpc_error
from drive_service.client.models import CloudFile, DownloadResult
from drive_service.client.retry import Retrier, RetryPolicy

_HASH_BLOCK = 8 * 1024 * 1024


def part_path(path: Path) -> Path:
    return path.with_name(path.name + ".part")


class Download:
    """One download of ``file_id`` to ``path``; ``run`` once. ``progress(done, total)`` is called
    after each piece written."""

    def __init__(
        self,
        connection: Connection,
        file_id: str,
        path: Path,
        password: str | None,
        policy: RetryPolicy,
        progress: Callable[[int, int], None] | None = None,
    ) -> None:
        self._conn = connection
        self._file_id = file_id
        self._path = path
        self._password = password or ""
        self._retrier = Retrier(policy)
        self._progress = progress

    async def run(self) -> DownloadResult:
        part = part_path(self._path)
        part.parent.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        start = await asyncio.to_thread(_hash_existing, part, digest)
        fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            file, received = await self._receive(fd, start, digest)
            await asyncio.to_thread(os.fsync, fd)
        finally:
            os.close(fd)
        verified = not file.encrypted and bool(file.hash)
        if verified and digest.hexdigest() != file.hash.lower():
            part.unlink(missing_ok=True)
            raise DataLossError(
                f"the downloaded content's SHA-256 {digest.hexdigest()} differs from the file's {file.hash}",
                reason="DOWNLOAD_HASH_MISMATCH",
                metadata={"fileId": file.id},
            )
        os.replace(part, self._path)
        _fsync_directory(self._path.parent)
        return DownloadResult(
            self._path, file, resumed_from=start, bytes_received=received, verified=verified
        )

    async def _receive(self, fd: int, start: int, digest: hashlib._Hash) -> tuple[CloudFile, int]:
        """Stream from ``start`` to the end into ``fd``; after a transient failure, reconnect at the
        first byte not yet written."""
        position, file, failures = start, None, 0
        while True:
            call = self._conn.files.ReadFile(
                files_pb2.ReadFileRequest(file_id=self._file_id, offset=position, password=self._password),
                metadata=self._conn.metadata,
            )
            try:
                async for message in call:
                    if message.HasField("file"):
                        file = convert.cloud_file(message.file)
                        if position > file.size:
                            raise DataLossError(
                                f"the partial download ({position} B) exceeds the file ({file.size} B)",
                                reason="PARTIAL_DOWNLOAD_TOO_LONG",
                            )
                    if message.data:
                        await asyncio.to_thread(_append, fd, message.data, digest)
                        position += len(message.data)
                        failures = 0
                        if self._progress is not None and file is not None:
                            self._progress(position, file.size)
                break
            except grpc.RpcError as raw:
                error = from_rpc_error(raw)
                failures += 1
                if not isinstance(error, RetryableError) or failures >= self._retrier.policy.max_attempts:
                    raise error from None
                await self._retrier.wait(failures - 1, error)
            finally:
                call.cancel()
        if file is None:  # an empty range (a complete .part): the metadata is still needed
            file = await self._metadata()
        if position != file.size:
            raise DataLossError(f"received {position} of {file.size} bytes", reason="SHORT_DOWNLOAD")
        return file, position - start

    async def _metadata(self) -> CloudFile:
        request = files_pb2.GetFileRequest(file_id=self._file_id)
        response: files_pb2.GetFileResponse = await self._retrier.call(
            lambda: self._conn.files.GetFile(request, metadata=self._conn.metadata)
        )
        return convert.cloud_file(response.file)


def _hash_existing(part: Path, digest: hashlib._Hash) -> int:
    """Feed an existing partial download to ``digest``; its length (0 when there is none)."""
    size = 0
    with contextlib.suppress(FileNotFoundError), part.open("rb") as handle:
        while block := handle.read(_HASH_BLOCK):
            digest.update(block)
            size += len(block)
    return size


def _append(fd: int, data: bytes, digest: hashlib._Hash) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
    digest.update(data)


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

"""SHA-256 of an upload's content: all at once before the upload, or chunk by chunk while sending."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable

from drive_service.client.source import UploadSource

HASH_BLOCK = 8 * 1024 * 1024


async def sha256_of(source: UploadSource, progress: Callable[[int], None] | None = None) -> str:
    """Hex SHA-256 of the whole source, read in large blocks in a worker thread (hashlib releases
    the GIL on large buffers, so the event loop keeps running). ``progress(bytes_hashed)`` is
    called from the event loop after each block."""
    digest = hashlib.sha256()
    for offset in range(0, source.size, HASH_BLOCK):
        length = min(HASH_BLOCK, source.size - offset)
        await asyncio.to_thread(_read_into, source, offset, length, digest)
        if progress is not None:
            progress(offset + length)
    return digest.hexdigest()


def _read_into(source: UploadSource, offset: int, length: int, digest: hashlib._Hash) -> None:
    digest.update(source.read_at(offset, length))


class RunningHash:
    """SHA-256 fed chunk by chunk in file order (chunk ``next_chunk`` is the next one it needs).

    A chunk is taken whole or not at all: ``begin`` saves the state, ``update`` feeds its pieces,
    ``commit`` moves on, and ``rollback`` forgets a chunk left half-fed by an interrupted pass, so
    the next pass can feed it again.
    """

    def __init__(self) -> None:
        self._digest = hashlib.sha256()
        self._saved = self._digest.copy()
        self.next_chunk = 0

    def begin(self, index: int) -> None:
        assert index == self.next_chunk, "chunks must be hashed in order"
        self._saved = self._digest.copy()

    def update(self, data: bytes) -> None:
        self._digest.update(data)

    def commit(self) -> None:
        self.next_chunk += 1

    def rollback(self) -> None:
        self._digest = self._saved.copy()

    def hexdigest(self) -> str:
        return self._digest.hexdigest()

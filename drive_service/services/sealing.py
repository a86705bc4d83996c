"""Encryption at rest as streams: plaintext blocks in, sealed blocks out, and back, whatever store
holds the bytes (the format is ``drive_service.crypto``'s)."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterable, AsyncIterator, Callable
from typing import Any, TypeVar

from drive_service import crypto
from drive_service.services.ports import BlobStore

#: Blocks up to this size are sealed or opened on the event loop; a thread hop costs more.
_INLINE = 64 * 1024
_T = TypeVar("_T")


class Sealing:
    """Encrypts a stream of plaintext blocks (iterate it once); the plaintext's SHA-256 and size
    are known once the iteration has ended."""

    def __init__(self, plain: AsyncIterable[bytes], key: bytes, salt: bytes) -> None:
        self._plain = plain
        self._encryptor = crypto.SegmentEncryptor(key, salt)
        self._digest = hashlib.sha256()
        self.size = 0

    @property
    def sha256(self) -> str:
        """Hex SHA-256 of the plaintext read so far."""
        return self._digest.hexdigest()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self._encryptor.header()
        async for block in self._plain:
            self.size += len(block)
            sealed = await _run(len(block), self._seal, block)
            if sealed:
                yield sealed
        yield self._encryptor.finalize()

    def _seal(self, block: bytes) -> bytes:
        self._digest.update(block)
        return self._encryptor.update(block)


async def opened(
    store: BlobStore, key: str, stored_size: int, password: str, offset: int, length: int | None
) -> AsyncIterator[bytes]:
    """The plaintext ``[offset, offset + length)`` of the encrypted blob ``key`` (clipped to its
    size), in pieces of at most one segment.

    Raises (while iterating):
        WrongPassword: the first segment read does not authenticate (checked by the first piece).
        CorruptData: a bad header or size, a later segment fails, or the blob is short.
        BlobMissing: the blob does not exist.
    """
    raw = b"".join([block async for block in store.read(key, 0, crypto.HEADER_SIZE)])
    header = crypto.parse_header(raw)
    file_key = await asyncio.to_thread(crypto.derive_key, password, header.salt)
    decryptor = crypto.SegmentDecryptor(header, file_key, stored_size)
    span = decryptor.span(offset, length)
    index, position = span.first, span.position
    pending = bytearray()
    async for block in store.read(key, span.cipher_offset, span.cipher_length):
        pending += block
        while len(pending) >= (need := decryptor.sealed_length(index)):
            sealed = bytes(pending[:need])
            del pending[:need]
            plain = await _run(need, decryptor.open, index, sealed)
            low, high = max(span.start - position, 0), min(span.end - position, len(plain))
            if high > low:
                yield plain if low == 0 and high == len(plain) else plain[low:high]
            position += len(plain)
            index += 1
            if position >= span.end:  # the span ends with this segment (even when it is empty)
                return
    raise crypto.CorruptData("the encrypted blob is shorter than its size says")


async def _run(size: int, call: Callable[..., _T], *args: Any) -> _T:
    """``call(*args)`` inline for small work, in a thread for big (the cipher releases the GIL)."""
    if size <= _INLINE:
        return call(*args)
    return await asyncio.to_thread(call, *args)

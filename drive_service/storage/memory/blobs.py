"""An in-memory BlobStore: staging buffers and blobs as bytes (for unit tests of the use cases)."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from collections.abc import AsyncIterable, AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

from drive_service.services.ports import BlobMissing, Data

_BLOCK = 1024 * 1024


class MemoryBlobStore:
    """One pool's bytes in memory; ``writes`` counts chunk writes (tests check exactly-once)."""

    def __init__(self) -> None:
        self.staging: dict[str, bytearray] = {}
        self.blobs: dict[str, bytes] = {}
        self.written_at: dict[str, datetime] = {}
        self.writes = 0

    async def write_chunk(self, task_id: str, offset: int, data: Data) -> None:
        await asyncio.sleep(0)  # a real write yields to other writers
        staged = self.staging.setdefault(task_id, bytearray())
        if len(staged) < offset + len(data):
            staged.extend(bytes(offset + len(data) - len(staged)))
        staged[offset : offset + len(data)] = data
        self.writes += 1

    async def hash_staging(self, task_id: str) -> tuple[str, int]:
        staged = bytes(self.staging.get(task_id, b""))
        return hashlib.sha256(staged).hexdigest(), len(staged)

    async def read_staging(self, task_id: str) -> AsyncIterator[bytes]:
        staged = bytes(self.staging.get(task_id, b""))
        for start in range(0, len(staged), _BLOCK):
            yield staged[start : start + _BLOCK]

    async def adopt_staging(self, task_id: str, key: str) -> bool:
        return self._keep(key, bytes(self.staging.get(task_id, b"")))

    async def discard_staging(self, task_id: str) -> None:
        self.staging.pop(task_id, None)

    async def staging_ids(self) -> list[str]:
        return list(self.staging)

    async def adopt(self, source: Path, key: str) -> bool:
        return self._keep(key, await asyncio.to_thread(source.read_bytes))

    async def put(self, key: str, blocks: AsyncIterable[bytes]) -> bool:
        return self._keep(key, b"".join([block async for block in blocks]))

    async def write_blob(self, blocks: AsyncIterable[bytes]) -> tuple[str, int]:
        key = secrets.token_hex(32)
        data = b"".join([block async for block in blocks])
        self._keep(key, data)
        return key, len(data)

    async def read(self, key: str, offset: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
        if key not in self.blobs:
            raise BlobMissing(key)
        data = self.blobs[key]
        end = len(data) if length is None else min(len(data), offset + length)
        for start in range(offset, end, _BLOCK):
            yield data[start : min(end, start + _BLOCK)]

    async def delete_blob(self, key: str) -> None:
        self.blobs.pop(key, None)
        self.written_at.pop(key, None)

    async def blob_keys(self, modified_before: datetime) -> list[str]:
        return [key for key, moment in self.written_at.items() if moment < modified_before]

    async def probe(self) -> None:
        return None

    def _keep(self, key: str, data: bytes) -> bool:
        if key in self.blobs:
            return False
        self.blobs[key] = data
        self.written_at[key] = datetime.now(UTC)
        return True

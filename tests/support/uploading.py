"""Helpers for upload tests: payloads, create/send/complete through the real API."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

from drive.v1 import uploads_pb2
from tests.support.clients import Client

KIB = 1024
CHUNK = 256 * KIB


@dataclass(frozen=True)
class Payload:
    """Bytes to upload with their SHA-256."""

    data: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    def chunk(self, index: int, chunk_size: int = CHUNK) -> bytes:
        return self.data[index * chunk_size : (index + 1) * chunk_size]


def payload(size: int) -> Payload:
    """Random bytes of ``size``."""
    return Payload(os.urandom(size))


async def create(
    client: Client, data: Payload, *, chunk_size: int = CHUNK, **fields: object
) -> uploads_pb2.CreateUploadTaskResponse:
    """CreateUploadTask for ``data`` with sensible defaults."""
    values: dict[str, object] = {
        "file_name": "report.bin",
        "file_size": len(data.data),
        "content_type": "application/octet-stream",
        "hash": data.sha256,
        "chunk_size": chunk_size,
        **fields,
    }
    request = uploads_pb2.CreateUploadTaskRequest(**values)  # type: ignore[arg-type]
    return await client.uploads.CreateUploadTask(request, metadata=client.metadata)


async def send_chunk(client: Client, task_id: str, index: int, data: bytes, **fields: object) -> object:
    """UploadChunk."""
    request = uploads_pb2.UploadChunkRequest(task_id=task_id, chunk_index=index, data=data, **fields)  # type: ignore[arg-type]
    return await client.uploads.UploadChunk(request, metadata=client.metadata)


async def send_all(client: Client, task_id: str, data: Payload, chunk_size: int = CHUNK) -> None:
    """Every chunk of ``data`` with UploadChunk, in order."""
    for index in range(0, (len(data.data) + chunk_size - 1) // chunk_size):
        await send_chunk(client, task_id, index, data.chunk(index, chunk_size))


async def complete(client: Client, task_id: str) -> uploads_pb2.CompleteUploadResponse:
    """CompleteUpload."""
    return await client.uploads.CompleteUpload(
        uploads_pb2.CompleteUploadRequest(task_id=task_id), metadata=client.metadata
    )

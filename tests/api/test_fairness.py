"""One account's idle and slow upload streams cannot stall another account's upload."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import grpc

from drive.v1 import uploads_pb2
from tests.support import Client
from tests.support.uploading import CHUNK, create, payload


async def test_many_idle_streams_of_one_account_do_not_delay_another_accounts_upload(
    client: Client, other: Client
) -> None:
    held = asyncio.Event()
    stalls: list[grpc.aio.StreamUnaryCall] = []

    async def one_piece_then_silence(task_id: str) -> AsyncIterator[uploads_pb2.UploadChunksRequest]:
        yield uploads_pb2.UploadChunksRequest(task_id=task_id, chunk_index=0, data=b"x" * 1024)
        held.set()
        await asyncio.Event().wait()  # sends nothing more, ever

    for _ in range(12):  # more streams than the process has chunk buffers (8)
        created = await create(client, payload(2 * CHUNK))
        stalls.append(
            client.uploads.UploadChunks(one_piece_then_silence(created.task_id), metadata=client.metadata)
        )
    await held.wait()
    try:
        data = payload(3 * 1024)
        started = time.monotonic()

        async def small_file() -> AsyncIterator[uploads_pb2.UploadFileRequest]:
            metadata = uploads_pb2.CreateUploadTaskRequest(
                file_name="small.txt", file_size=len(data.data), content_type="text/plain", hash=data.sha256
            )
            yield uploads_pb2.UploadFileRequest(metadata=metadata, data=data.data)

        stored = await other.uploads.UploadFile(small_file(), metadata=other.metadata)
        assert stored.file.size == len(data.data) and stored.file.hash == data.sha256
        assert time.monotonic() - started < 1.0
    finally:
        for stall in stalls:
            stall.cancel()

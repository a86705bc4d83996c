"""A stalled upload stream cannot hold a chunk buffer forever: it is ended with STREAM_IDLE and
the buffer goes to the next stream; what it stored stays stored."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest

from drive.v1 import uploads_pb2
from tests.support import (
    BACKEND_NAMES,
    backend_database,
    expect_error,
    make_client,
    running_app,
    settings_for,
)
from tests.support.uploading import CHUNK, create, payload


@pytest.mark.parametrize("backend_name", BACKEND_NAMES)
async def test_a_stalled_stream_is_ended_and_frees_its_buffer(backend_name: str, tmp_path: Path) -> None:
    async with backend_database(backend_name) as url:
        settings = settings_for(
            tmp_path,
            url,
            DRIVE_WORKER="false",
            DRIVE_MAX_BUFFERED_CHUNKS="1",
            DRIVE_STREAM_IDLE_SECONDS="0.3",
        )
        async with (
            running_app(settings) as app,
            grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as channel,
        ):
            client = make_client(app, channel)
            data = payload(2 * CHUNK)
            task_id = (await create(client, data)).task_id
            never = asyncio.Event()

            async def stalled() -> AsyncIterator[uploads_pb2.UploadChunksRequest]:
                yield uploads_pb2.UploadChunksRequest(task_id=task_id, chunk_index=0, data=data.chunk(0))
                yield uploads_pb2.UploadChunksRequest(chunk_index=1, data=data.chunk(1)[: CHUNK // 2])
                await never.wait()  # holds the only buffer, half-way through chunk 1

            details = await expect_error(
                client.uploads.UploadChunks(stalled(), metadata=client.metadata),
                grpc.StatusCode.DEADLINE_EXCEEDED,
                "STREAM_IDLE",
            )
            assert details == {"idleSeconds": "0.3"}

            async def rest() -> AsyncIterator[uploads_pb2.UploadChunksRequest]:
                yield uploads_pb2.UploadChunksRequest(task_id=task_id, chunk_index=1, data=data.chunk(1))

            sent = await client.uploads.UploadChunks(rest(), metadata=client.metadata)
            assert (sent.chunks_stored, sent.chunks_uploaded) == (1, 2)  # chunk 0 had been kept

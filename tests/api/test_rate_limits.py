"""Per-account rate limits through the API: calls by class, upload bytes per chunk call, and
streams slowed down rather than failed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import grpc
import pytest

from drive.v1 import task_enums_pb2, tasks_pb2, uploads_pb2
from tests.support import (
    BACKEND_NAMES,
    Client,
    backend_database,
    expect_error,
    make_client,
    retry_delay,
    running_app,
    settings_for,
)
from tests.support.uploading import CHUNK, create, payload, send_chunk

pytestmark = pytest.mark.parametrize("backend_name", BACKEND_NAMES)


@asynccontextmanager
async def limited(backend_name: str, tmp_path: Path, limits: str) -> AsyncIterator[tuple[Client, Client]]:
    """Two accounts on a server with ``DRIVE_RATE_LIMITS=limits`` and 256 KiB chunks at most."""
    async with backend_database(backend_name) as url:
        settings = settings_for(
            tmp_path,
            url,
            DRIVE_WORKER="false",
            DRIVE_RATE_LIMITS=limits,
            UPLOAD_MAX_CHUNK_SIZE=str(CHUNK),
            UPLOAD_DEFAULT_CHUNK_SIZE=str(CHUNK),
        )
        async with running_app(settings) as app:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as channel:
                yield make_client(app, channel), make_client(app, channel)


async def test_writes_beyond_the_burst_are_refused_with_retry_info(backend_name: str, tmp_path: Path) -> None:
    async with limited(backend_name, tmp_path, "write=0.01/3") as (client, other):
        request = tasks_pb2.CreateTaskRequest(type=task_enums_pb2.TASK_TYPE_CUSTOM, name="job")
        created = [await client.tasks.CreateTask(request, metadata=client.metadata) for _ in range(3)]
        refused = client.tasks.CreateTask(request, metadata=client.metadata)
        details = await expect_error(refused, grpc.StatusCode.RESOURCE_EXHAUSTED, "RATE_LIMITED")
        assert details == {"limit": "write"}
        with pytest.raises(grpc.aio.AioRpcError) as again:
            await client.tasks.CreateTask(request, metadata=client.metadata)
        assert 50 < retry_delay(again.value) <= 100  # one write refills in 100 s
        # Reads have their own budget, and other accounts theirs.
        get = tasks_pb2.GetTaskRequest(task_id=created[0].task.task_id)
        assert (await client.tasks.GetTask(get, metadata=client.metadata)).task.name == "job"
        await other.tasks.CreateTask(request, metadata=other.metadata)
        listed = await client.tasks.ListTasks(tasks_pb2.ListTasksRequest(), metadata=client.metadata)
        assert listed.total == 3  # the refused calls changed nothing


async def test_chunk_bytes_are_counted_and_the_upload_stays_resumable(
    backend_name: str, tmp_path: Path
) -> None:
    async with limited(backend_name, tmp_path, f"upload_bytes=1/{CHUNK}") as (client, _):
        data = payload(2 * CHUNK)
        task_id = (await create(client, data)).task_id
        await send_chunk(client, task_id, 0, data.chunk(0))
        details = await expect_error(
            send_chunk(client, task_id, 1, data.chunk(1)), grpc.StatusCode.RESOURCE_EXHAUSTED, "RATE_LIMITED"
        )
        assert details == {"limit": "upload_bytes"}
        resume = await client.uploads.GetUploadResumeInfo(
            uploads_pb2.GetUploadResumeInfoRequest(task_id=task_id), metadata=client.metadata
        )
        assert list(resume.uploaded_chunks) == [0]


async def test_a_stream_over_budget_is_slowed_not_failed(backend_name: str, tmp_path: Path) -> None:
    # 1 MiB/s with a 256 KiB burst: a 640 KiB stream must wait for refills along the way.
    async with limited(backend_name, tmp_path, f"upload_bytes={4 * CHUNK}/{CHUNK}") as (client, _):
        data = payload(2 * CHUNK + CHUNK // 2)

        async def messages() -> AsyncIterator[uploads_pb2.UploadFileRequest]:
            yield uploads_pb2.UploadFileRequest(
                metadata=uploads_pb2.CreateUploadTaskRequest(
                    file_name="paced.bin",
                    file_size=len(data.data),
                    content_type="application/octet-stream",
                    hash=data.sha256,
                    chunk_size=CHUNK,
                )
            )
            for start in range(0, len(data.data), 64 * 1024):
                yield uploads_pb2.UploadFileRequest(data=data.data[start : start + 64 * 1024])

        response = await client.uploads.UploadFile(messages(), metadata=client.metadata)
        assert response.file.hash == data.sha256

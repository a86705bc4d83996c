"""The maintenance pass with an injected clock: idle uploads, expired files, retention, garbage."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest

from drive.v1 import files_pb2, task_enums_pb2, tasks_pb2, uploads_pb2
from drive_service.storage.blobs import blob_path
from tests.support import (
    BACKEND_NAMES,
    FakeClock,
    backend_database,
    expect_error,
    make_client,
    running_app,
    settings_for,
    staging_dir,
)
from tests.support.uploading import CHUNK, complete, create, payload, send_all, send_chunk


@pytest.mark.parametrize("backend_name", BACKEND_NAMES)
async def test_maintenance_pass(tmp_path: Path, backend_name: str) -> None:
    async with backend_database(backend_name) as url:
        await _scenario(tmp_path, url)


async def _scenario(tmp_path: Path, url: str | None) -> None:
    clock = FakeClock(datetime.now(UTC))
    settings = settings_for(tmp_path, url)
    async with running_app(settings, clock=clock) as app:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as channel:
            client = make_client(app, channel)
            md = client.metadata
            # An idle upload, a file that expires in an hour, a finished custom task.
            idle_data = payload(2 * CHUNK)
            idle = await create(client, idle_data)
            await send_chunk(client, idle.task_id, 0, idle_data.chunk(0))
            short_data = payload(CHUNK)
            expiry = clock.now + timedelta(hours=1)
            short = await create(client, short_data, expired_at=expiry)
            await send_all(client, short.task_id, short_data)
            short_file = (await complete(client, short.task_id)).file
            custom = await client.tasks.CreateTask(
                tasks_pb2.CreateTaskRequest(type=task_enums_pb2.TASK_TYPE_CUSTOM, name="old"), metadata=md
            )
            await client.tasks.CompleteTask(
                tasks_pb2.CompleteTaskRequest(task_id=custom.task.task_id), metadata=md
            )
            orphan = app.settings.storage.uploads_path / "orphanStagingDir12345"
            orphan.mkdir(parents=True)
            pool = app.service.pools.get(None)
            stray = blob_path(pool.root, "ab" * 32)
            stray.parent.mkdir(parents=True, exist_ok=True)
            stray.write_bytes(b"nobody references me")

            report = await app.service.maintenance.run_once()
            assert (report.uploads_expired, report.files_expired, report.tasks_purged) == (0, 0, 0)
            assert report.staging_removed == 1 and not orphan.exists()
            assert report.blobs_removed == 0 and stray.exists()  # too young to collect

            clock.advance(hours=25)
            report = await app.service.maintenance.run_once()
            assert (report.uploads_expired, report.files_expired, report.blobs_removed) == (1, 1, 1)
            assert not stray.exists() and not blob_path(pool.root, short_file.hash).exists()
            task = await client.uploads.GetUploadProgress(
                uploads_pb2.GetUploadProgressRequest(task_id=idle.task_id), metadata=md
            )
            assert task.status == task_enums_pb2.TASK_STATUS_EXPIRED
            assert not staging_dir(app.settings, idle.task_id).exists()
            await expect_error(
                client.files.GetFile(files_pb2.GetFileRequest(file_id=short_file.id), metadata=md),
                grpc.StatusCode.NOT_FOUND,
                "FILE_NOT_FOUND",
            )

            clock.advance(days=31)
            report = await app.service.maintenance.run_once()
            assert report.tasks_purged == 3  # the custom task, the completed and the expired upload
            await expect_error(
                client.tasks.GetTask(tasks_pb2.GetTaskRequest(task_id=custom.task.task_id), metadata=md),
                grpc.StatusCode.NOT_FOUND,
                "TASK_NOT_FOUND",
            )

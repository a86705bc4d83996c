"""The replay window: WatchTasks replays what a client missed while it is kept, and asks the
client to resync (FAILED_PRECONDITION, RESYNC_REQUIRED) once it is not."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
import pytest

from drive.v1 import task_enums_pb2, tasks_pb2
from tests.support import (
    BACKEND_NAMES,
    Client,
    FakeClock,
    backend_database,
    expect_error,
    make_client,
    running_app,
    settings_for,
)


async def _create(client: Client, name: str) -> str:
    request = tasks_pb2.CreateTaskRequest(type=task_enums_pb2.TASK_TYPE_CUSTOM, name=name)
    return (await client.tasks.CreateTask(request, metadata=client.metadata)).task.task_id


async def _first(client: Client, after_sequence: int) -> tuple[int, str]:
    request = tasks_pb2.WatchTasksRequest(after_sequence=after_sequence)
    stream = client.tasks.WatchTasks(request, metadata=client.metadata)
    response = await asyncio.wait_for(stream.read(), 10)
    stream.cancel()
    return response.event.sequence, response.event.task_id


@pytest.mark.parametrize("backend_name", BACKEND_NAMES)
async def test_events_older_than_the_window_need_a_resync(backend_name: str, tmp_path: Path) -> None:
    clock = FakeClock()
    async with backend_database(backend_name) as url:
        settings = settings_for(tmp_path, url, DRIVE_WORKER="false", DRIVE_EVENT_RETENTION_HOURS="24")
        async with running_app(settings, clock=clock) as app:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as channel:
                client = make_client(app, channel)
                for name in ("one", "two", "three"):  # sequences 1..3
                    await _create(client, name)
                assert (await _first(client, 1))[0] == 2  # kept: replayed

                clock.advance(hours=25)
                report = await app.service.maintenance.run_once()
                assert report.events_pruned >= 3
                newest = await _create(client, "four")  # sequence 4, inside the window

                watch = client.tasks.WatchTasks(
                    tasks_pb2.WatchTasksRequest(after_sequence=1), metadata=client.metadata
                )
                details = await expect_error(
                    watch.read(), grpc.StatusCode.FAILED_PRECONDITION, "RESYNC_REQUIRED"
                )
                assert details == {"afterSequence": "1", "retentionHours": "24"}
                assert await _first(client, 3) == (4, newest)  # nothing missed after 3: fine


async def test_a_sequence_never_issued_needs_a_resync(client: Client) -> None:
    await _create(client, "only")
    watch = client.tasks.WatchTasks(tasks_pb2.WatchTasksRequest(after_sequence=5), metadata=client.metadata)
    await expect_error(watch.read(), grpc.StatusCode.FAILED_PRECONDITION, "RESYNC_REQUIRED")

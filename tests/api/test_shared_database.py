"""Without Redis, processes sharing a database still see each other's events: a watcher on one
server gets the events of tasks changed through another (or by a separate worker process)."""

from __future__ import annotations

from contextlib import AsyncExitStack
from pathlib import Path

import grpc
import pytest

from drive.v1 import task_enums_pb2, tasks_pb2
from tests.support import BACKEND_NAMES, backend_database, make_client, new_account, running_app, settings_for
from tests.support.watching import read, started


@pytest.mark.parametrize("backend_name", BACKEND_NAMES)
async def test_events_made_elsewhere_reach_the_watcher(backend_name: str, tmp_path: Path) -> None:
    account = new_account()
    async with AsyncExitStack() as stack:
        url = await stack.enter_async_context(backend_database(backend_name))
        url = url or f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}"
        clients = []
        for name in ("watched", "other"):
            settings = settings_for(tmp_path / name, url, DRIVE_WORKER="false")
            app = await stack.enter_async_context(running_app(settings))
            channel = await stack.enter_async_context(grpc.aio.insecure_channel(f"127.0.0.1:{app.port}"))
            clients.append(make_client(app, channel, account))
        watched, other = clients

        request = tasks_pb2.CreateTaskRequest(type=task_enums_pb2.TASK_TYPE_CUSTOM, name="first")
        await watched.tasks.CreateTask(request, metadata=watched.metadata)  # sequence 1
        stream = await started(watched, after_sequence=1)
        request = tasks_pb2.CreateTaskRequest(type=task_enums_pb2.TASK_TYPE_CUSTOM, name="elsewhere")
        created = (await other.tasks.CreateTask(request, metadata=other.metadata)).task
        await other.tasks.CompleteTask(
            tasks_pb2.CompleteTaskRequest(task_id=created.task_id), metadata=other.metadata
        )
        seen = await read(stream, 3)
        stream.cancel()
        assert [event.type for event in seen] == ["task.created", "task.progress", "task.completed"]
        assert [event.sequence for event in seen] == [2, 3, 4]
        assert {event.task_id for event in seen} == {created.task_id}

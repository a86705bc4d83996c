"""Two server processes sharing PostgreSQL and Redis behave as one service: events reach
watchers on the other instance in order, reads after writes are never stale across instances,
and rate limits are shared."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from google.protobuf import json_format

from drive.v1 import events_pb2, task_enums_pb2, tasks_pb2, tasks_pb2_grpc
from tests.support import (
    PG_ENV,
    REDIS_ENV,
    auth,
    error_reason,
    new_account,
    postgres_database,
    retry_delay,
    settings_for,
    token_for,
)
from tests.support.processes import JWT_SECRET, ServerProcess, server_process

_WAIT = 30.0

pytestmark = pytest.mark.skipif(
    not (os.environ.get(PG_ENV) and os.environ.get(REDIS_ENV)),
    reason=f"{PG_ENV} and {REDIS_ENV} are needed",
)


@dataclass(frozen=True)
class Instance:
    """One server process and a TaskService stub on it."""

    process: ServerProcess
    tasks: tasks_pb2_grpc.TaskServiceStub


@asynccontextmanager
async def instances(tmp_path: Path, count: int = 2, **env: str) -> AsyncIterator[list[Instance]]:
    """``count`` server processes on one fresh PostgreSQL database and the test Redis, each
    subscribed to the event channel before this yields."""
    async with AsyncExitStack() as stack:
        url = await stack.enter_async_context(postgres_database())
        started = []
        for number in range(count):
            process = await stack.enter_async_context(
                server_process(tmp_path / f"instance-{number}", url, REDIS_URL=os.environ[REDIS_ENV], **env)
            )
            port = await process.port()
            channel = await stack.enter_async_context(grpc.aio.insecure_channel(f"127.0.0.1:{port}"))
            started.append(Instance(process, tasks_pb2_grpc.TaskServiceStub(channel)))
        for instance in started:
            await instance.process.logged('"events subscribed"')
        yield started


def metadata_for(tmp_path: Path, account_id: str) -> tuple[tuple[str, str], ...]:
    return auth(token_for(settings_for(tmp_path / "tokens", DRIVE_JWT_SECRET=JWT_SECRET), account_id))


async def create(instance: Instance, metadata: tuple[tuple[str, str], ...], name: str) -> tasks_pb2.Task:
    request = tasks_pb2.CreateTaskRequest(type=task_enums_pb2.TASK_TYPE_CUSTOM, name=name)
    return (await instance.tasks.CreateTask(request, metadata=metadata)).task


async def next_event(stream: object) -> events_pb2.TaskEvent:
    response = await asyncio.wait_for(stream.read(), _WAIT)  # type: ignore[attr-defined]
    return response.event


async def test_events_from_one_instance_reach_watchers_on_the_other(tmp_path: Path) -> None:
    async with instances(tmp_path) as (a, b):
        metadata = metadata_for(tmp_path, new_account())
        await create(b, metadata, "first on B")  # sequence 1
        stream = b.tasks.WatchTasks(tasks_pb2.WatchTasksRequest(after_sequence=1), metadata=metadata)
        # Receiving B's own next event proves the stream is subscribed (a late subscription
        # replays it). From then on A's events can only come through Redis: nothing else makes
        # B look at the outbox.
        local = await create(b, metadata, "second on B")
        assert (await next_event(stream)).task_id == local.task_id

        task = await create(a, metadata, "on A")
        for progress in (10, 35, 60, 85):
            request = tasks_pb2.UpdateTaskProgressRequest(task_id=task.task_id, progress=progress)
            await a.tasks.UpdateTaskProgress(request, metadata=metadata)
        await a.tasks.CompleteTask(tasks_pb2.CompleteTaskRequest(task_id=task.task_id), metadata=metadata)

        seen = [await next_event(stream) for _ in range(7)]
        stream.cancel()
        assert [event.type for event in seen] == ["task.created"] + ["task.progress"] * 5 + ["task.completed"]
        assert {event.task_id for event in seen} == {task.task_id}
        assert [event.sequence for event in seen] == list(range(3, 10))  # in order, none missing
        progress = [json_format.MessageToDict(event.data)["progress"] for event in seen[1:6]]
        assert progress == [10.0, 35.0, 60.0, 85.0, 100.0]


async def test_reads_after_writes_are_fresh_on_every_instance(tmp_path: Path) -> None:
    async with instances(tmp_path) as (a, b):
        metadata = metadata_for(tmp_path, new_account())
        task = await create(a, metadata, "cached")
        get = tasks_pb2.GetTaskRequest(task_id=task.task_id)
        for step in range(1, 16):
            writer, reader = (a, b) if step % 2 else (b, a)
            await reader.tasks.GetTask(get, metadata=metadata)  # warm the reader's cache entry
            # One point at a time: the throttle sends no event, only the cache can be stale.
            request = tasks_pb2.UpdateTaskProgressRequest(task_id=task.task_id, progress=step)
            await writer.tasks.UpdateTaskProgress(request, metadata=metadata)
            assert (await reader.tasks.GetTask(get, metadata=metadata)).task.progress == step
        await b.tasks.PauseTask(tasks_pb2.PauseTaskRequest(task_id=task.task_id), metadata=metadata)
        paused = (await a.tasks.GetTask(get, metadata=metadata)).task
        assert paused.status == task_enums_pb2.TASK_STATUS_PAUSED


async def test_rate_limits_are_shared_between_instances(tmp_path: Path) -> None:
    async with instances(tmp_path, DRIVE_RATE_LIMITS="read=0.01/6") as (a, b):
        metadata = metadata_for(tmp_path, new_account())
        listing = tasks_pb2.ListTasksRequest()
        for instance in (a, b, a, b, a, b):  # six reads in all: the burst
            await instance.tasks.ListTasks(listing, metadata=metadata)
        for instance in (a, b):
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await instance.tasks.ListTasks(listing, metadata=metadata)
            code, reason, details = error_reason(refused.value)
            assert (code, reason) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "RATE_LIMITED")
            assert details["limit"] == "read"
            assert 50 < retry_delay(refused.value) <= 100  # one read refills in 100 s
        # Another account has its own budget.
        other = metadata_for(tmp_path, new_account())
        await b.tasks.ListTasks(listing, metadata=other)

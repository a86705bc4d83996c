"""Degradation (issue 5, item 5): PostgreSQL or Redis stopped during a run, then started again.

Each test breaks only a private server of its own (tests.support.backends), never the shared ones.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import grpc
import pytest

from drive.v1 import events_pb2, stats_pb2, stats_pb2_grpc, tasks_pb2, uploads_pb2
from drive.v1 import task_enums_pb2 as enums
from tests.support import (
    PG_ENV,
    Client,
    eventually,
    expect_unavailable,
    make_client,
    new_account,
    postgres_database,
    running_app,
    settings_for,
    unavailable,
)
from tests.support.backends import PrivatePostgres, PrivateRedis
from tests.support.handlers import read_bytes
from tests.support.tasks import create as create_task
from tests.support.uploading import CHUNK, complete, payload, send_chunk
from tests.support.uploading import create as create_upload
from tests.support.watching import started

pytestmark = pytest.mark.timeout(120)

_CALL = 10.0  # deadline of each RPC made while a backend is down, and of each awaited event
_RECOVERY = 30.0  # how long a backend that is back may take to be usable again


def components(health: stats_pb2.GetServiceHealthResponse) -> dict[str, stats_pb2.ComponentHealth]:
    return {component.name: component for component in health.components}


async def service_health(channel: grpc.aio.Channel) -> dict[str, stats_pb2.ComponentHealth]:
    """GetServiceHealth without a token (it is public), as a map by component name."""
    stub = stats_pb2_grpc.StatsServiceStub(channel)
    return components(await stub.GetServiceHealth(stats_pb2.GetServiceHealthRequest(), timeout=_CALL))


async def test_postgres_stopped_then_back(tmp_path: Path) -> None:
    async with (
        PrivatePostgres() as postgres,
        running_app(settings_for(tmp_path / "var", postgres.url, DRIVE_WORKER="false")) as app,
        grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as channel,
    ):
        client = make_client(app, channel)
        md = client.metadata
        task = await create_task(client, "survivor")
        data = payload(2 * CHUNK)
        upload = await create_upload(client, data)
        await send_chunk(client, upload.task_id, 0, data.chunk(0))

        await postgres.stop()
        get = tasks_pb2.GetTaskRequest(task_id=task.task_id)
        await expect_unavailable(client.tasks.GetTask(get, metadata=md, timeout=_CALL))
        lost = tasks_pb2.CreateTaskRequest(name="lost", type=enums.TASK_TYPE_CUSTOM)
        await expect_unavailable(client.tasks.CreateTask(lost, metadata=md, timeout=_CALL))
        chunk = uploads_pb2.UploadChunkRequest(task_id=upload.task_id, chunk_index=1, data=data.chunk(1))
        await expect_unavailable(client.uploads.UploadChunk(chunk, metadata=md, timeout=_CALL))
        everything = tasks_pb2.ListTasksRequest()
        await expect_unavailable(client.tasks.ListTasks(everything, metadata=md, timeout=_CALL))
        health = await client.stats.GetServiceHealth(stats_pb2.GetServiceHealthRequest(), timeout=_CALL)
        assert not health.healthy
        assert not components(health)["database"].healthy
        assert components(health)["storage"].healthy
        assert health.pending_tasks == -1

        await postgres.start()
        # The same App, never restarted: its pool drops the dead connections and reconnects. The
        # call is retried on UNAVAILABLE as a client would; any answer means it is back.
        recovered = await eventually(
            lambda: client.tasks.GetTask(get, metadata=md, timeout=_CALL),
            lambda _answer: True,
            within=_RECOVERY,
            retrying=unavailable,
            failure="GetTask never answered after PostgreSQL came back",
        )
        assert recovered.task == task
        assert (await service_health(channel))["database"].healthy
        listed = await client.tasks.ListTasks(everything, metadata=md, timeout=_CALL)
        assert {listed_task.task_id for listed_task in listed.tasks} == {task.task_id, upload.task_id}
        # The upload goes on from the chunk stored before the outage; the failed chunk is sent again.
        sent = await client.uploads.UploadChunk(chunk, metadata=md, timeout=_CALL)
        assert (sent.chunks_uploaded, sent.chunks_count) == (2, 2)
        stored = (await complete(client, upload.task_id)).file
        assert (stored.hash, stored.size) == (data.sha256, len(data.data))
        _, content = await read_bytes(client, stored.id)
        assert content == data.data


class Watch:
    """One open WatchTasks stream (subscribed: its headers have arrived)."""

    def __init__(self, call: Any) -> None:
        self._call = call

    async def next(self) -> events_pb2.TaskEvent:
        response = await asyncio.wait_for(self._call.read(), _CALL)
        assert response is not grpc.aio.EOF, f"the watch ended: {await self._call.code()}"
        return response.event  # type: ignore[no-any-return]

    async def read(self, count: int) -> list[events_pb2.TaskEvent]:
        return [await self.next() for _ in range(count)]

    async def read_through(self, task_id: str) -> list[events_pb2.TaskEvent]:
        """Events up to and including the first one of ``task_id``."""
        events = [await self.next()]
        while events[-1].task_id != task_id:
            events.append(await self.next())
        return events


@asynccontextmanager
async def watching(client: Client) -> AsyncIterator[Watch]:
    call = await started(client)
    try:
        yield Watch(call)
    finally:
        call.cancel()


def keys(events: list[events_pb2.TaskEvent]) -> list[tuple[int, str, str]]:
    return [(event.sequence, event.type, event.task_id) for event in events]


async def test_redis_stopped_then_back(tmp_path: Path) -> None:
    if not os.environ.get(PG_ENV):
        pytest.skip(f"two instances share a database: {PG_ENV} is not set")
    async with PrivateRedis() as redis, postgres_database() as url:
        env = {"REDIS_URL": redis.url, "DRIVE_WORKER": "false"}
        async with (
            running_app(settings_for(tmp_path / "a", url, **env)) as a,
            running_app(settings_for(tmp_path / "b", url, **env)) as b,
            grpc.aio.insecure_channel(f"127.0.0.1:{a.port}") as channel_a,
            grpc.aio.insecure_channel(f"127.0.0.1:{b.port}") as channel_b,
        ):
            assert a.service.bus is not None and b.service.bus is not None
            await asyncio.wait_for(
                asyncio.gather(a.service.bus.subscribed.wait(), b.service.bus.subscribed.wait()), _CALL
            )
            account = new_account()
            on_a = make_client(a, channel_a, account)
            async with watching(on_a) as watch_a, watching(make_client(b, channel_b, account)) as watch_b:
                before = await create_task(on_a, "before")
                (seen_on_a,) = await watch_a.read(1)
                (seen_on_b,) = await watch_b.read(1)
                assert keys([seen_on_b]) == keys([seen_on_a])
                assert (seen_on_a.type, seen_on_a.task_id) == ("task.created", before.task_id)

                await redis.stop()
                health = await service_health(channel_a)
                assert not health["redis"].healthy
                assert health["database"].healthy
                # Instance A alone: tasks and uploads work, and its own watcher hears all of it.
                md = on_a.metadata
                task = await create_task(on_a, "while redis is away")
                progress = tasks_pb2.UpdateTaskProgressRequest(task_id=task.task_id, progress=50.0)
                await on_a.tasks.UpdateTaskProgress(progress, metadata=md, timeout=_CALL)
                done = tasks_pb2.CompleteTaskRequest(task_id=task.task_id)
                await on_a.tasks.CompleteTask(done, metadata=md, timeout=_CALL)
                get = tasks_pb2.GetTaskRequest(task_id=task.task_id)
                fetched = await on_a.tasks.GetTask(get, metadata=md, timeout=_CALL)
                assert fetched.task.status == enums.TASK_STATUS_COMPLETED
                data = payload(2 * CHUNK)
                upload = await create_upload(on_a, data)
                for index in range(2):
                    await send_chunk(on_a, upload.task_id, index, data.chunk(index))
                stored = (await complete(on_a, upload.task_id)).file
                assert (stored.hash, stored.size) == (data.sha256, len(data.data))
                marker = await create_task(on_a, "last one while redis is away")
                during = await watch_a.read_through(marker.task_id)
                assert [event.sequence for event in during] == list(
                    range(seen_on_a.sequence + 1, seen_on_a.sequence + 1 + len(during))
                )
                kinds = {(event.task_id, event.type) for event in during}
                for task_id in (task.task_id, upload.task_id):
                    assert {(task_id, "task.created"), (task_id, "task.completed")} <= kinds
                assert (task.task_id, "task.progress") in kinds

                await redis.start()
                # B's subscriber hears of the outage only through the resync that follows B's
                # resubscription: it re-reads the outbox, so it gets what A did meanwhile, in order.
                assert keys(await watch_b.read(len(during))) == keys(during)
                # Fan-out is back: B now hears this one only through Redis.
                after = await create_task(on_a, "after")
                (live_on_b,) = await watch_b.read(1)
                assert keys([live_on_b]) == [(during[-1].sequence + 1, "task.created", after.task_id)]
                assert (await service_health(channel_a))["redis"].healthy
                # B reads what A wrote while Redis was away (no stale cached copy survives).
                on_b = make_client(b, channel_b, account)
                seen_from_b = await on_b.tasks.GetTask(get, metadata=on_b.metadata, timeout=_CALL)
                assert seen_from_b.task == fetched.task

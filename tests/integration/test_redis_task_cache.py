"""The Redis task cache on a real Redis: hits, no stale fill after an invalidation made while a
reader was loading, and reads around the cache while invalidations could not be made."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import socket
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as redis

from drive_service.domain.ids import new_id
from drive_service.domain.tasks import Task
from drive_service.storage.redis_client import command_client
from drive_service.storage.task_cache import Loader, RedisTaskCache
from tests.support import REDIS_ENV
from tests.support.samples import TASK

pytestmark = pytest.mark.skipif(not os.environ.get(REDIS_ENV), reason=f"{REDIS_ENV} is not set")


@pytest.fixture
async def client() -> AsyncIterator[redis.Redis]:
    connection = command_client(os.environ[REDIS_ENV])
    yield connection
    await connection.aclose()


def loader(task: Task, calls: list[Task]) -> Loader:
    async def load() -> Task:
        calls.append(task)
        return task

    return load


async def test_fill_then_hit_then_invalidate(client: redis.Redis) -> None:
    cache = RedisTaskCache(client, ttl_seconds=60)
    task = dataclasses.replace(TASK, task_id=new_id())
    calls: list[Task] = []
    assert await cache.read(task.task_id, loader(task, calls)) == task
    hit = await cache.read(task.task_id, loader(task, calls))
    assert len(calls) == 1 and hit == dataclasses.replace(task, sealed_secrets=None)
    await cache.invalidate([task.task_id])
    newer = dataclasses.replace(task, progress=99.0)
    assert await cache.read(task.task_id, loader(newer, calls)) == newer
    assert len(calls) == 2


async def test_a_reader_that_loaded_before_a_write_does_not_fill(client: redis.Redis) -> None:
    reader_cache = RedisTaskCache(client, ttl_seconds=60)
    writer_cache = RedisTaskCache(client, ttl_seconds=60)  # as on another instance
    task = dataclasses.replace(TASK, task_id=new_id())
    loading, release = asyncio.Event(), asyncio.Event()

    async def slow_old_load() -> Task:
        loading.set()
        await release.wait()
        return task

    reader = asyncio.create_task(reader_cache.read(task.task_id, slow_old_load))
    await loading.wait()
    await writer_cache.invalidate([task.task_id])  # the write committed while the reader loaded
    release.set()
    await reader
    newer = dataclasses.replace(task, progress=77.0)
    calls: list[Task] = []
    assert await reader_cache.read(task.task_id, loader(newer, calls)) == newer
    assert calls == [newer]  # the old row was not cached


async def test_failed_invalidations_bypass_the_cache_until_redone(client: redis.Redis) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]
    unreachable = command_client(f"redis://127.0.0.1:{dead_port}/0")
    cache = RedisTaskCache(unreachable, ttl_seconds=60)
    task = dataclasses.replace(TASK, task_id=new_id())
    await cache.invalidate([task.task_id])  # fails quietly, remembered
    calls: list[Task] = []
    for _ in range(2):
        await cache.read(task.task_id, loader(task, calls))
    assert len(calls) == 2
    await unreachable.aclose()

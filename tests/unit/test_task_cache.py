"""The in-process task cache: hits, expiry, and no stale fill after an invalidation."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime

from drive_service.domain.tasks import Task, TaskStatus, TaskType
from drive_service.storage.task_cache import MemoryTaskCache, decode, encode

NOW = datetime(2026, 1, 1, tzinfo=UTC)
TASK = Task(
    task_id="t" * 21,
    account_id="a",
    type=TaskType.CUSTOM,
    status=TaskStatus.IN_PROGRESS,
    name="n",
    description="",
    priority=1,
    progress=12.5,
    status_message="",
    parameters={"x": [1, 2]},
    results={},
    error_message="",
    created_at=NOW,
    updated_at=NOW,
    last_activity=NOW,
    lease_expires_at=NOW,
    sealed_secrets=b"sealed",
)


async def test_hit_after_fill_and_secrets_are_never_kept() -> None:
    cache = MemoryTaskCache(ttl_seconds=60)
    loads = 0

    async def load() -> Task:
        nonlocal loads
        loads += 1
        return TASK

    assert await cache.read(TASK.task_id, load) == TASK  # the caller still gets what it loaded
    cached = await cache.read(TASK.task_id, load)
    assert loads == 1 and cached == dataclasses.replace(TASK, sealed_secrets=None)


async def test_an_invalidation_during_a_load_keeps_the_old_row_out() -> None:
    cache = MemoryTaskCache(ttl_seconds=60)
    loading, release = asyncio.Event(), asyncio.Event()
    newer = dataclasses.replace(TASK, progress=50.0)

    async def slow_old_load() -> Task:
        loading.set()
        await release.wait()
        return TASK  # read before the write committed

    reader = asyncio.create_task(cache.read(TASK.task_id, slow_old_load))
    await loading.wait()
    await cache.invalidate([TASK.task_id])  # the write commits meanwhile
    release.set()
    assert await reader == TASK

    async def fresh_load() -> Task:
        return newer

    assert await cache.read(TASK.task_id, fresh_load) == newer


async def test_entries_expire() -> None:
    cache = MemoryTaskCache(ttl_seconds=0.0)
    calls = []

    async def load() -> Task:
        calls.append(1)
        return TASK

    await cache.read(TASK.task_id, load)
    await cache.read(TASK.task_id, load)
    assert len(calls) == 2


def test_codec_round_trip_without_secrets() -> None:
    assert decode(encode(TASK)) == dataclasses.replace(TASK, sealed_secrets=None)

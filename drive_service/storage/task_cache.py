"""Caches of task rows for GetTask-style reads: in-process (one instance) or Redis (shared).

Both keep one promise: a read that starts after a write committed never returns the state from
before it. Writers invalidate after commit (``Database.after_commit``) and before their RPC
answers; a read that loaded the row from the database only stores it if no invalidation of that
task happened while it was loading, so a slow reader cannot put an old row back. Sealed secrets
are never cached.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from typing import Any, Protocol

import redis.asyncio as redis

from drive_service.domain.tasks import Task, TaskStatus, TaskType
from drive_service.storage.models import UtcDateTime, tasks
from drive_service.storage.redis_client import RedisFailure

_log = logging.getLogger(__name__)
Loader = Callable[[], Awaitable[Task | None]]
_DATETIMES = frozenset(column.name for column in tasks.c if isinstance(column.type, UtcDateTime))


class TaskCache(Protocol):
    """A cache of tasks by id."""

    async def read(self, task_id: str, load: Loader) -> Task | None:
        """The cached task, or what ``load`` returns (kept when nothing changed meanwhile)."""

    async def invalidate(self, task_ids: Iterable[str]) -> None:
        """Forget these tasks (they changed or were deleted); never raises."""

    async def retry_pending(self) -> None:
        """Make the invalidations that failed while the cache was unreachable (it is back)."""


class NoTaskCache:
    """Every read goes to the database: several instances without a shared cache."""

    async def read(self, task_id: str, load: Loader) -> Task | None:
        return await load()

    async def invalidate(self, task_ids: Iterable[str]) -> None:
        return None

    async def retry_pending(self) -> None:
        return None


class MemoryTaskCache:
    """The embedded default: a bounded, per-process cache with a time to live."""

    def __init__(self, ttl_seconds: float, capacity: int = 10_000) -> None:
        self._ttl = ttl_seconds
        self._capacity = capacity
        self._entries: OrderedDict[str, tuple[float, Task]] = OrderedDict()
        self._loading: dict[str, object] = {}  # task id -> the newest load allowed to fill

    async def read(self, task_id: str, load: Loader) -> Task | None:
        entry = self._entries.get(task_id)
        if entry is not None and entry[0] > time.monotonic():
            return entry[1]
        ticket = self._loading[task_id] = object()
        try:
            task = await load()
        finally:
            still_valid = self._loading.get(task_id) is ticket
            if still_valid:
                del self._loading[task_id]
        if task is not None and still_valid:
            self._entries[task_id] = (time.monotonic() + self._ttl, _without_secrets(task))
            self._entries.move_to_end(task_id)
            while len(self._entries) > self._capacity:
                self._entries.popitem(last=False)
        return task

    async def invalidate(self, task_ids: Iterable[str]) -> None:
        for task_id in task_ids:
            self._entries.pop(task_id, None)
            self._loading.pop(task_id, None)

    async def retry_pending(self) -> None:
        return None  # in process, invalidations never fail


# Store the row only if the task's generation is still the one read before loading it.
_FILL = """
local generation = redis.call('GET', KEYS[2]) or ''
if generation == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
end
return 0
"""


class RedisTaskCache:
    """The cache shared by every instance. Each task has a generation counter, bumped by every
    invalidation; a fill is a script that stores the row only under the generation seen before
    the database read. When Redis is away reads go to the database, and invalidations that could
    not be made are retried with the next ones."""

    def __init__(self, client: redis.Redis, ttl_seconds: float, max_pending: int = 100_000) -> None:
        self._client = client
        self._ttl_ms = max(1, int(ttl_seconds * 1000))
        self._fill = client.register_script(_FILL)
        self._pending: set[str] = set()
        self._max_pending = max_pending

    async def read(self, task_id: str, load: Loader) -> Task | None:
        if task_id in self._pending:  # its cached copy may be stale until the retry succeeds
            return await load()
        keys = [f"drive:task:{task_id}", f"drive:task-generation:{task_id}"]
        try:
            cached, generation = await self._client.mget(keys)
        except RedisFailure:
            return await load()
        if cached is not None:
            return decode(cached)
        task = await load()
        if task is not None:
            seen = b"" if generation is None else generation
            with contextlib.suppress(*RedisFailure):  # answered anyway; the next read fills
                await self._fill(keys=keys, args=[seen, encode(task), self._ttl_ms])
        return task

    async def retry_pending(self) -> None:
        if self._pending:
            await self.invalidate(())

    async def invalidate(self, task_ids: Iterable[str]) -> None:
        batch = self._pending | set(task_ids)
        pipeline = self._client.pipeline(transaction=False)
        for task_id in batch:
            generation = f"drive:task-generation:{task_id}"
            pipeline.incr(generation)
            pipeline.pexpire(generation, self._ttl_ms * 2)
            pipeline.delete(f"drive:task:{task_id}")
        try:
            await pipeline.execute()
        except RedisFailure as error:
            self._pending = batch if len(batch) <= self._max_pending else set()
            _log.warning(
                "task cache invalidation failed; retried with the next one",
                extra={"tasks": len(batch), "error": type(error).__name__},
            )
            return
        self._pending = set()


def encode(task: Task) -> str:
    """A task as JSON (datetimes in ISO form, secrets left out)."""
    values = dataclasses.asdict(_without_secrets(task))
    values["type"] = task.type.value
    values["status"] = task.status.value
    return json.dumps(values, default=_iso, separators=(",", ":"))


def decode(payload: bytes | str) -> Task:
    """The task :func:`encode` wrote."""
    values: dict[str, Any] = json.loads(payload)
    for name in _DATETIMES & values.keys():
        if values[name] is not None:
            values[name] = datetime.fromisoformat(values[name])
    values["type"] = TaskType(values["type"])
    values["status"] = TaskStatus(values["status"])
    return Task(**values)


def _without_secrets(task: Task) -> Task:
    return dataclasses.replace(task, sealed_secrets=None) if task.sealed_secrets is not None else task


def _iso(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot encode {type(value).__name__}")

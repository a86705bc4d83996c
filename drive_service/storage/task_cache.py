"""The task cache for GetTask-style reads: shared in Redis, or none.

It keeps one promise: a read that starts after a write committed never returns the state from
before it, on any instance. Writers invalidate after commit (``EventPublisher.publish``) and before
their RPC answers; a reader that loaded the row from the database only stores it if no
invalidation of that task happened while it was loading, so a slow reader cannot put an old row
back. Sealed secrets are never cached.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import json
import logging
import secrets
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from typing import Any

import redis.asyncio as redis

from drive_service.domain.tasks import Task, TaskStatus, TaskType
from drive_service.storage.models import UtcDateTime, tasks
from drive_service.storage.redis_client import RedisFailure, RedisGuard, RedisUnavailable

_log = logging.getLogger(__name__)
Loader = Callable[[], Awaitable[Task | None]]
_DATETIMES = frozenset(column.name for column in tasks.c if isinstance(column.type, UtcDateTime))
#: Part of every key: instances of two versions never read each other's encoding.
_VERSION = "v1"
_RETRY_CHUNK = 1000


class NoTaskCache:
    """Every read goes to the database (no Redis: nothing could tell processes about changes)."""

    async def read(self, task_id: str, load: Loader) -> Task | None:
        return await load()

    async def invalidate(self, task_ids: Iterable[str]) -> None:
        return None

    async def retry_pending(self) -> None:
        return None


# Store the row only if the task's generation is still the one read before loading it.
_FILL = """
local generation = redis.call('GET', KEYS[2]) or ''
if generation == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
end
return 0
"""


class RedisTaskCache:
    """The cache shared by every instance.

    Each task has a generation key that every invalidation sets to a new random value; a fill is
    a script that stores the row only under the generation seen before the database read (random
    values never repeat, even after the generation key expires). While Redis is unreachable, reads
    go to the database and this instance remembers its invalidations, reads those tasks from the
    database too, and makes them as soon as Redis answers again.
    """

    def __init__(
        self,
        client: redis.Redis,
        ttl_seconds: float,
        guard: RedisGuard | None = None,
        max_pending: int = 100_000,
        *,
        prefix: str = "drive",
    ) -> None:
        self._prefix = prefix
        self._client = client
        self._guard = guard or RedisGuard()
        self._ttl_ms = max(1, int(ttl_seconds * 1000))
        self._fill = client.register_script(_FILL)
        self._pending: set[str] = set()
        self._max_pending = max_pending
        self._overflowed = False  # too many to remember: every entry is suspect until flushed

    async def read(self, task_id: str, load: Loader) -> Task | None:
        if self._overflowed or task_id in self._pending:  # the cached copy may be stale
            return await load()
        keys = self._keys(task_id)
        try:
            cached, generation = await self._guard.run(lambda: self._client.mget(keys))
        except RedisUnavailable:
            return await load()
        if cached is not None:
            try:
                return decode(cached)
            except (ValueError, TypeError, KeyError):
                _log.warning("ignored an unreadable cached task", extra={"task_id": task_id})
        task = await load()
        if task is not None:
            args = [b"" if generation is None else generation, encode(task), self._ttl_ms]
            with contextlib.suppress(RedisUnavailable):  # answered anyway; the next read fills
                await self._guard.run(lambda: self._fill(keys=keys, args=args))
        return task

    async def invalidate(self, task_ids: Iterable[str]) -> None:
        batch = set(task_ids)
        if not batch:
            return
        # Tried even during the guard's cool-down: a skipped invalidation could let another
        # instance serve the old row to someone reacting to this change's event.
        if await self._invalidate(batch, even_if_recently_failed=True):
            self._pending -= batch
            return
        self._pending |= batch
        if len(self._pending) > self._max_pending:
            self._pending.clear()
            self._overflowed = True

    async def retry_pending(self) -> None:
        if not self._guard.available:
            return
        if self._overflowed:
            await self._flush()
        while self._pending:
            chunk = set(itertools.islice(self._pending, _RETRY_CHUNK))
            if not await self._invalidate(chunk):
                return
            self._pending -= chunk

    async def _invalidate(self, task_ids: set[str], *, even_if_recently_failed: bool = False) -> bool:
        pipeline = self._client.pipeline(transaction=False)
        for task_id in task_ids:
            cached, generation = self._keys(task_id)
            pipeline.set(generation, secrets.token_hex(8), px=self._ttl_ms * 2)
            pipeline.delete(cached)
        try:
            await self._guard.run(pipeline.execute, even_if_recently_failed=even_if_recently_failed)
        except RedisUnavailable as error:
            _log.warning("task cache invalidation deferred: %s", error, extra={"tasks": len(task_ids)})
            return False
        return True

    def _keys(self, task_id: str) -> list[str]:
        return [
            f"{self._prefix}:task:{_VERSION}:{task_id}",
            f"{self._prefix}:task-generation:{_VERSION}:{task_id}",
        ]

    async def _flush(self) -> None:
        """Drop every cached task (after more invalidations failed than could be remembered)."""
        try:
            doomed = [key async for key in self._client.scan_iter(match=self._keys("*")[0], count=1000)]
            for start in range(0, len(doomed), 1000):
                await self._client.unlink(*doomed[start : start + 1000])
        except RedisFailure:
            return  # still unreachable: the next retry flushes
        self._overflowed = False


def encode(task: Task) -> str:
    """A task as JSON (datetimes in ISO form, secrets left out)."""
    values = dataclasses.asdict(dataclasses.replace(task, sealed_secrets=None))
    values["type"] = task.type.value
    values["status"] = task.status.value
    return json.dumps(values, default=_iso, separators=(",", ":"))


def decode(payload: bytes | str) -> Task:
    """The task :func:`encode` wrote.

    Raises:
        ValueError, TypeError, KeyError: the payload is not such a task.
    """
    values: dict[str, Any] = json.loads(payload)
    if not isinstance(values, dict):
        raise ValueError("not a task object")
    for name in _DATETIMES & values.keys():
        if values[name] is not None:
            values[name] = datetime.fromisoformat(values[name])
    values["type"] = TaskType(values["type"])
    values["status"] = TaskStatus(values["status"])
    return Task(**values)


def _iso(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot encode {type(value).__name__}")

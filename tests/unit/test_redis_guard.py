"""The Redis guard: a failure or a slow answer makes callers skip Redis for a cool-down."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as redis

from drive_service.storage.redis_client import RedisGuard, RedisUnavailable


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_a_failure_skips_redis_until_the_cool_down_passes() -> None:
    clock = Clock()
    guard = RedisGuard(timeout=1.0, cooldown=2.0, clock=clock)

    async def fails() -> None:
        raise redis.ConnectionError("refused")

    async def answers() -> str:
        return "ok"

    with pytest.raises(RedisUnavailable):
        await guard.run(fails)
    assert not guard.available
    with pytest.raises(RedisUnavailable):
        await guard.run(answers)  # not even tried
    assert await guard.run(answers, even_if_recently_failed=True) == "ok"  # for invalidations
    clock.now += 2.0
    assert await guard.run(answers) == "ok"


async def test_a_slow_answer_counts_as_a_failure() -> None:
    guard = RedisGuard(timeout=0.01, cooldown=60.0)
    never = asyncio.Event()
    with pytest.raises(RedisUnavailable):
        await guard.run(never.wait)
    assert not guard.available

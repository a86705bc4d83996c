"""Redis connections shared by the event bus, the task cache and the rate limiter."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import redis.asyncio as redis

T = TypeVar("T")

#: Redis failures as they reach callers (connection refused, reset, timeouts, errors).
RedisFailure = (redis.RedisError, OSError)


def command_client(url: str) -> redis.Redis:
    """A pooled client for short commands: a Redis that does not answer fails fast rather than
    holding the RPC that needed it."""
    client: redis.Redis = redis.Redis.from_url(url, socket_connect_timeout=1.0, socket_timeout=1.0)
    return client


def subscriber_client(url: str) -> redis.Redis:
    """A client for one long-lived subscription: no read timeout (it waits for messages), but a
    periodic health check notices a Redis that went away silently."""
    client: redis.Redis = redis.Redis.from_url(url, socket_connect_timeout=1.0, health_check_interval=2)
    return client


class RedisGuard:
    """Runs the Redis commands of the RPC path with a short deadline and, after a failure, skips
    Redis for ``cooldown`` seconds: an unreachable or stalled Redis then costs the service one
    short timeout now and then, not one per call."""

    def __init__(
        self, *, timeout: float = 0.5, cooldown: float = 2.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._timeout = timeout
        self._cooldown = cooldown
        self._clock = clock
        self._skip_until = float("-inf")

    @property
    def available(self) -> bool:
        """Redis is worth trying (no failure in the last ``cooldown`` seconds)."""
        return self._clock() >= self._skip_until

    async def run(self, command: Callable[[], Awaitable[T]], *, even_if_recently_failed: bool = False) -> T:
        """The command's result. ``even_if_recently_failed`` tries even during the cool-down
        (for commands whose skipping would cost correctness rather than time).

        Raises:
            RedisUnavailable: Redis failed recently, failed now, or did not answer in time.
        """
        if not (self.available or even_if_recently_failed):
            raise RedisUnavailable("skipped: Redis failed recently")
        try:
            async with asyncio.timeout(self._timeout):
                return await command()
        except (*RedisFailure, TimeoutError) as error:
            self._skip_until = self._clock() + self._cooldown
            raise RedisUnavailable(type(error).__name__) from error


class RedisUnavailable(Exception):
    """A guarded Redis command was not run or did not succeed."""

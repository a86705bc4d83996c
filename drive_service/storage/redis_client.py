"""Redis connections shared by the event bus, the task cache and the rate limiter."""

from __future__ import annotations

import redis.asyncio as redis

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

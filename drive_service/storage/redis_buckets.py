"""Token buckets in Redis, shared by every instance (one atomic script per take)."""

from __future__ import annotations

import logging
import time

import redis.asyncio as redis

from drive_service.domain.rate_limits import RateLimit
from drive_service.storage.redis_client import RedisGuard, RedisUnavailable

_log = logging.getLogger(__name__)
_WARN_EVERY = 10.0

# The same rule as drive_service.domain.rate_limits.take, on Redis's clock so that instances with
# skewed clocks agree. The wait is returned as a string: Redis would truncate a Lua number.
_TAKE = """
local rate, burst, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1])
if tokens == nil then
  tokens = burst
else
  tokens = math.min(burst, tokens + math.max(0, now - tonumber(state[2])) * rate)
end
local wait = 0
if tokens >= cost then tokens = tokens - cost else wait = (cost - tokens) / rate end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return tostring(wait)
"""


class RedisBuckets:
    """Buckets under ``<prefix>:rate:<class>:<account>``; expire once they would be full again."""

    def __init__(self, client: redis.Redis, guard: RedisGuard, *, prefix: str = "drive") -> None:
        self._take = client.register_script(_TAKE)
        self._guard = guard
        self._prefix = prefix
        self._warned_at = float("-inf")

    async def take(self, key: str, limit: RateLimit, cost: float) -> float:
        keys, args = [f"{self._prefix}:rate:{key}"], [limit.rate, limit.burst, cost]
        try:
            wait = await self._guard.run(lambda: self._take(keys=keys, args=args))
        except RedisUnavailable as error:
            # Fail open: an outage of the limiter must not become an outage of the service.
            if time.monotonic() - self._warned_at > _WARN_EVERY:
                self._warned_at = time.monotonic()
                _log.warning("rate limiter unavailable, allowing calls: %s", error)
            return 0.0
        return float(wait)

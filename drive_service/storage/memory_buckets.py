"""Rate-limit buckets of this process only (the embedded default, and whenever Redis is absent)."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

from drive_service.domain.rate_limits import Bucket, RateLimit, take


class MemoryBuckets:
    """Buckets of this process only (the embedded default), least recently used dropped first."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, capacity: int = 100_000) -> None:
        self._clock = clock
        self._capacity = capacity
        self._buckets: OrderedDict[str, Bucket] = OrderedDict()

    async def take(self, key: str, limit: RateLimit, cost: float) -> float:
        bucket, wait = take(self._buckets.get(key), limit, self._clock(), cost)
        self._buckets[key] = bucket
        self._buckets.move_to_end(key)
        if len(self._buckets) > self._capacity:
            self._buckets.popitem(last=False)  # a forgotten bucket comes back full: lenient
        return wait

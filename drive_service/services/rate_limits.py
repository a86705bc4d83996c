"""Per-account rate limits by RPC class (``read``, ``write``, ``upload_bytes``)."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol

from drive_service.domain.rate_limits import Bucket, RateLimit, take
from drive_service.errors import ResourceExhausted

_MAX_PACING_ROUNDS = 5


class Buckets(Protocol):
    """Where token buckets live: this process, or Redis when instances share them."""

    async def take(self, key: str, limit: RateLimit, cost: float) -> float:
        """Take ``cost`` tokens from bucket ``key``: 0.0 when taken, else the seconds to wait.
        A store that cannot answer (Redis away) lets the call through rather than failing it."""


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


class RateLimits:
    """Checks an account's calls and bytes against its buckets; no limits configured, no checks."""

    def __init__(self, buckets: Buckets, limits: dict[str, RateLimit]) -> None:
        self._buckets = buckets
        self._limits = limits

    async def check(self, account_id: str, kind: str, cost: float = 1.0) -> None:
        """Spend ``cost`` of the account's ``kind`` budget.

        Raises:
            ResourceExhausted: the budget is spent; ``retry_after`` says when it will allow this.
        """
        wait = await self._wait(account_id, kind, cost)
        if wait > 0:
            raise ResourceExhausted(
                f"Too many {kind.replace('_', ' ')} requests for this account; retry in {wait:.2f} s.",
                retry_after=wait,
                limit=kind,
            )

    async def pace(self, account_id: str, kind: str, cost: float) -> None:
        """Spend ``cost``, waiting for the budget to refill when needed (inside a stream the
        sender is slowed down rather than failed). A cost above the burst is spent in parts.

        Raises:
            ResourceExhausted: the budget stayed spent through several refills (other calls of
                the account share it).
        """
        limit = self._limits.get(kind)
        if limit is None:
            return
        while cost > 0:
            part = min(cost, limit.burst)
            for _ in range(_MAX_PACING_ROUNDS):
                wait = await self._wait(account_id, kind, part)
                if wait <= 0:
                    break
                await asyncio.sleep(wait)  # the refill is time itself: there is no event to await
            else:
                await self.check(account_id, kind, part)
            cost -= part

    async def _wait(self, account_id: str, kind: str, cost: float) -> float:
        limit = self._limits.get(kind)
        if limit is None:
            return 0.0
        return await self._buckets.take(f"{kind}:{account_id}", limit, cost)

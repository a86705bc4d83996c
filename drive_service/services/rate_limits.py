"""Per-account rate limits by RPC class (``read``, ``write``, ``upload_bytes``)."""

from __future__ import annotations

import asyncio

from drive_service.domain.rate_limits import RateLimit
from drive_service.errors import ResourceExhausted
from drive_service.services.ports import Buckets

_MAX_PACING_ROUNDS = 5


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

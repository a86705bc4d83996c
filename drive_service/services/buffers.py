"""The process's chunk buffers, shared fairly between accounts."""

from __future__ import annotations

import asyncio
from collections import OrderedDict, deque


class FairBuffers:
    """``total`` chunk buffers for the upload streams of every account; one account holds at most
    ``per_account`` at once, so streams of one account, however many, idle or slow, never keep
    every buffer from the others. Streams waiting for a buffer are served in turn across accounts
    (round robin), and in order within an account."""

    def __init__(self, total: int, per_account: int) -> None:
        self._free = total
        self._cap = max(1, min(per_account, total))
        self._held: dict[str, int] = {}
        #: Accounts with waiting streams, in the order they get their next turn.
        self._waiting: OrderedDict[str, deque[asyncio.Future[None]]] = OrderedDict()

    async def acquire(self, account_id: str) -> None:
        """Take a buffer for the account, waiting for its turn when none may be taken now."""
        if self._free > 0 and self._held.get(account_id, 0) < self._cap and not self._waiting:
            self._take(account_id)
            return
        granted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(account_id, deque()).append(granted)
        self._grant()
        try:
            await granted
        except asyncio.CancelledError:
            if granted.done() and not granted.cancelled():
                self.release(account_id)  # granted just as the waiter left: hand it on
            else:
                self._forget(account_id, granted)
            raise

    def release(self, account_id: str) -> None:
        """Give back a buffer the account took."""
        self._held[account_id] -= 1
        if not self._held[account_id]:
            del self._held[account_id]
        self._free += 1
        self._grant()

    def _take(self, account_id: str) -> None:
        self._free -= 1
        self._held[account_id] = self._held.get(account_id, 0) + 1

    def _grant(self) -> None:
        """Hand free buffers to waiting accounts in turn, skipping those at their share."""
        granted = True
        while granted and self._free > 0:
            granted = False
            for account_id in list(self._waiting):
                if self._free == 0:
                    return
                if self._held.get(account_id, 0) >= self._cap:
                    continue
                queue = self._waiting.pop(account_id)
                self._take(account_id)
                queue.popleft().set_result(None)
                granted = True
                if queue:
                    self._waiting[account_id] = queue  # to the back of the rotation

    def _forget(self, account_id: str, granted: asyncio.Future[None]) -> None:
        queue = self._waiting.get(account_id)
        if queue is not None and granted in queue:
            queue.remove(granted)
            if not queue:
                del self._waiting[account_id]

"""The Ring sink: every event this instance produced goes to DysonNetwork's Ring service, and
the RPC that produced it never waits for Ring or fails because of it."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
import zlib
from collections.abc import Callable, Sequence

from drive_service.config import RingSettings
from drive_service.domain.events import RecordedEvent
from drive_service.domain.ring import Delivery, Packet, backoff_ceiling, deliveries
from drive_service.services.ports import RingClient

_log = logging.getLogger(__name__)

#: Deliveries of different accounts go out on this many senders at once; one account's stay in order.
SENDERS = 4


class RingError(Exception):
    """A Ring call failed; ``retryable`` says whether the same call may succeed later."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


class RingSink:
    """A bounded, ordered, retrying queue of deliveries to Ring.

    ``offer`` never blocks or raises: it queues a batch's packets and notifications, dropping
    (and counting) what does not fit in ``queue_size``. ``run`` sends them, in order per account,
    retrying each failed delivery after a jittered exponential wait up to ``max_attempts``
    attempts, then dropping it. A delivery Ring rejects for good (e.g. INVALID_ARGUMENT) is
    dropped at once.
    """

    def __init__(
        self,
        client: RingClient,
        settings: RingSettings,
        *,
        on_drop: Callable[[int], None] = lambda _count: None,
    ) -> None:
        """``on_drop(count)``, which must not block or raise, hears of every dropped delivery
        (e.g. to count it in the metrics)."""
        self._client = client
        self._settings = settings
        self._lanes: list[asyncio.Queue[Delivery]] = [asyncio.Queue() for _ in range(SENDERS)]
        self._held = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._overflowing = False
        self._on_drop = on_drop
        self.sent = 0
        self.dropped = 0
        self.retries = 0

    @property
    def depth(self) -> int:
        """Deliveries held: queued or being sent (at most ``queue_size``)."""
        return self._held

    def offer(self, batch: Sequence[RecordedEvent]) -> None:
        """Queue what Ring receives for ``batch`` (an EventHub forwarder: never blocks or raises)."""
        try:
            planned = deliveries(
                [recorded.event for recorded in batch], self._settings.topic, self._settings.notifications
            )
        except Exception:  # a bug here must not fail the RPC whose change is already committed
            _log.exception("cannot prepare Ring deliveries", extra={"events": len(batch)})
            self._drop(len(batch))
            return
        for delivery in planned:
            if self._held >= self._settings.queue_size:
                if not self._overflowing:
                    self._overflowing = True
                    _log.warning("Ring queue full, dropping", extra={"size": self._settings.queue_size})
                self._drop()
                continue
            self._overflowing = False
            self._held += 1
            self._idle.clear()
            self._lanes[zlib.crc32(delivery.user_id.encode()) % len(self._lanes)].put_nowait(delivery)

    async def run(self) -> None:
        """Send until cancelled, one sender per lane."""
        async with asyncio.TaskGroup() as group:
            for lane in self._lanes:
                group.create_task(self._send_lane(lane))

    async def drain(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds until nothing is held; True when nothing is."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._idle.wait()
        return self._held == 0

    async def close(self) -> None:
        """Close the Ring connection (after ``run`` was cancelled)."""
        await self._client.close()

    async def _send_lane(self, lane: asyncio.Queue[Delivery]) -> None:
        while True:
            delivery = await lane.get()
            try:
                await self._deliver(delivery)
            finally:
                self._held -= 1
                if self._held == 0:
                    self._idle.set()

    async def _deliver(self, delivery: Delivery) -> None:
        settings = self._settings
        for attempt in itertools.count(1):
            try:
                await self._send(delivery)
            except RingError as error:
                if error.retryable and attempt < settings.max_attempts:
                    self.retries += 1
                    ceiling = backoff_ceiling(
                        attempt, settings.retry_base_seconds, settings.retry_max_seconds
                    )
                    await asyncio.sleep(random.uniform(0.0, ceiling))
                    continue
                reason = "exhausted" if error.retryable else "rejected"
                _log.warning(
                    "Ring delivery dropped",
                    extra={"reason": reason, "attempts": attempt, "error": str(error)},
                )
                self._drop()
            except Exception:  # a sender must outlive any single delivery
                _log.exception("Ring delivery failed unexpectedly")
                self._drop()
            else:
                self.sent += 1
            return

    async def _send(self, delivery: Delivery) -> None:
        if isinstance(delivery, Packet):
            await self._client.push_packet(delivery)
        else:
            await self._client.push_notification(delivery)

    def _drop(self, count: int = 1) -> None:
        self.dropped += count
        self._on_drop(count)

"""Live event delivery: publishing committed changes, the in-process hub, and the replaying watch
over the outbox."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager

from drive_service.domain.events import RecordedEvent
from drive_service.errors import ResyncRequired, Unavailable
from drive_service.services.ports import Changes, EventLog, TaskCache

_log = logging.getLogger(__name__)

_CATCH_UP_BATCH = 500


class _Closing:
    """Queued for every subscriber when the server stops: its stream ends with UNAVAILABLE."""


_CLOSING = _Closing()


def _shutting_down() -> Unavailable:
    return Unavailable(
        "The server is shutting down; reconnect (to another instance) and watch from your last sequence.",
        reason="SHUTTING_DOWN",
    )


class Subscription:
    """One subscriber's bounded queue; ``None`` in the queue means "you fell behind, re-read"."""

    def __init__(self, account_id: str, capacity: int) -> None:
        self.account_id = account_id
        self._queue: asyncio.Queue[RecordedEvent | _Closing | None] = asyncio.Queue(capacity)
        self._closed = False

    def offer(self, event: RecordedEvent) -> None:
        """Queue ``event`` without ever blocking the publisher.

        A full queue is emptied and replaced by one lag marker: the subscriber then reads what it
        missed from the outbox, so a slow reader costs the publisher nothing and loses nothing.
        """
        if self._closed:
            return
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            self.lagged()

    def lagged(self) -> None:
        """Replace whatever is queued by one "re-read the outbox" marker."""
        self._replace(None)

    def close(self) -> None:
        """Replace whatever is queued by the end of the stream (the server stops)."""
        self._replace(_CLOSING)
        self._closed = True

    def _replace(self, marker: _Closing | None) -> None:
        if self._closed:
            return
        while not self._queue.empty():
            self._queue.get_nowait()
        self._queue.put_nowait(marker)

    async def next(self) -> RecordedEvent | None:
        """The next live event, or None when the subscriber must catch up from the log.

        Raises:
            Unavailable: SHUTTING_DOWN once the server stops.
        """
        item = await self._queue.get()
        if isinstance(item, _Closing):
            self._queue.put_nowait(item)  # for any later call too
            raise _shutting_down()
        return item


Forwarder = Callable[[Sequence[RecordedEvent]], None]


class EventHub:
    """Fans recorded events out to this process's subscribers, by account, and forwards the
    events this process produced to outbound sinks (other instances, the Ring service)."""

    def __init__(self, capacity: int = 1024) -> None:
        self._capacity = capacity
        self._subscribers: dict[str, set[Subscription]] = {}
        self._forwarders: list[Forwarder] = []
        self._newest: dict[str, int] = {}  # the newest sequence handed out, by subscribed account
        self._closed = False

    def forward_to(self, forwarder: Forwarder) -> None:
        """Also hand every locally produced batch to ``forwarder``, which must never block."""
        self._forwarders.append(forwarder)

    def publish(self, events: Iterable[RecordedEvent]) -> None:
        """Deliver events this process committed, then forward them (never blocks)."""
        batch = list(events)
        if not batch:
            return
        self.deliver(batch)
        for forwarder in self._forwarders:
            forwarder(batch)

    def deliver(self, events: Iterable[RecordedEvent]) -> None:
        """Hand events to this process's subscribers of their account (never blocks)."""
        for recorded in events:
            account_id = recorded.event.account_id
            group = self._subscribers.get(account_id)
            if not group:
                continue
            self._newest[account_id] = max(self._newest.get(account_id, 0), recorded.sequence)
            for subscription in group:
                subscription.offer(recorded)

    @property
    def subscribed_accounts(self) -> list[str]:
        """Accounts with a subscriber in this process."""
        return list(self._subscribers)

    def catch_up_to(self, newest: dict[str, int]) -> None:
        """Given the outbox's newest sequence per account, make the subscribers of accounts with
        events that never reached this hub re-read the outbox (written by a process that could
        not tell us: a worker process without Redis, a publish Redis lost)."""
        for account_id, sequence in newest.items():
            group = self._subscribers.get(account_id)
            if group and sequence > self._newest.get(account_id, 0):
                self._newest[account_id] = sequence
                for subscription in group:
                    subscription.lagged()

    def resync(self) -> None:
        """Make every subscriber re-read the outbox (after a gap in delivery, e.g. Redis was away)."""
        for group in self._subscribers.values():
            for subscription in group:
                subscription.lagged()

    def close(self) -> None:
        """The server stops: every subscriber's stream ends at once with UNAVAILABLE, and no new
        subscription is taken (clients reconnect elsewhere and replay from their sequence)."""
        self._closed = True
        for group in self._subscribers.values():
            for subscription in group:
                subscription.close()

    @contextmanager
    def subscribe(self, account_id: str) -> Iterator[Subscription]:
        """Subscribe for the duration of the ``with`` block; always unsubscribes.

        Raises:
            Unavailable: SHUTTING_DOWN when the server stops.
        """
        if self._closed:
            raise _shutting_down()
        subscription = Subscription(account_id, self._capacity)
        self._subscribers.setdefault(account_id, set()).add(subscription)
        try:
            yield subscription
        finally:
            remaining = self._subscribers.get(account_id, set())
            remaining.discard(subscription)
            if not remaining:
                self._subscribers.pop(account_id, None)
                self._newest.pop(account_id, None)


class Publisher:
    """The EventPublisher: after a commit, the touched tasks' cached copies are invalidated first
    (a watcher that reacts to an event by reading the task must see the change on every
    instance), then the events go to the hub, which delivers and forwards them."""

    def __init__(self, cache: TaskCache, hub: EventHub) -> None:
        self._cache = cache
        self._hub = hub
        self._following: set[asyncio.Future[None]] = set()

    async def publish(self, changes: Changes) -> None:
        """Publish ``changes``; a cancelled caller cannot cut it short (it runs as its own task,
        which ``settle`` waits for at shutdown)."""
        if not changes:
            return
        work = asyncio.ensure_future(self._publish(changes))
        self._following.add(work)
        work.add_done_callback(self._following.discard)
        await asyncio.shield(work)

    async def settle(self, timeout: float) -> None:
        """Wait, at most ``timeout`` seconds, for publications whose callers were cancelled."""
        if self._following:
            await asyncio.wait(set(self._following), timeout=timeout)

    async def _publish(self, changes: Changes) -> None:
        try:
            await self._cache.invalidate(changes.touched_tasks)
        finally:
            self._hub.publish(changes.events)


class EventWatcher:
    """Streams an account's events in sequence order with no gaps and no duplicates."""

    def __init__(self, hub: EventHub, log: EventLog, retention_hours: float = 24.0) -> None:
        self._hub = hub
        self._log = log
        self._retention_hours = retention_hours

    @asynccontextmanager
    async def open(
        self,
        account_id: str,
        after_sequence: int,
        accept: Callable[[RecordedEvent], bool] = lambda _event: True,
    ) -> AsyncIterator[AsyncIterator[RecordedEvent]]:
        """Subscribe now and yield the stream of the account's accepted events.

        The stream holds the events after ``after_sequence`` (0 = from the moment of opening), in
        sequence order, forever. The subscription is open before the log is read, so nothing
        committed in between is missed; any hole in the live sequence (a reordered publish, a
        dropped burst) is filled from the outbox before going on.

        Raises (from the stream):
            ResyncRequired: events the client has not seen were pruned (older than the replay
                window), whether it asked for them or fell that far behind while watching.
        """
        with self._hub.subscribe(account_id) as subscription:
            newest = await self._log.last_sequence(account_id)
            if after_sequence > newest:
                raise ResyncRequired(after_sequence, self._retention_hours)
            last = after_sequence if after_sequence > 0 else newest
            stream = self._stream(subscription, last, accept, behind=last < newest)
            try:
                yield stream
            finally:
                await stream.aclose()

    async def _stream(
        self,
        subscription: Subscription,
        last: int,
        accept: Callable[[RecordedEvent], bool],
        *,
        behind: bool,
    ) -> AsyncGenerator[RecordedEvent, None]:
        """``behind``: the outbox holds events after ``last`` that live delivery will not bring."""
        while True:
            if behind:
                async for recorded in self._catch_up(subscription.account_id, last):
                    last = recorded.sequence
                    if accept(recorded):
                        yield recorded
            live = await subscription.next()
            behind = live is None or live.sequence > last + 1  # a marker or a hole: read the outbox
            if behind or live is None or live.sequence <= last:
                continue
            last = live.sequence
            if accept(live):
                yield live

    async def _catch_up(self, account_id: str, after: int) -> AsyncIterator[RecordedEvent]:
        batch = await self._log.after(account_id, after, _CATCH_UP_BATCH)
        if not batch and await self._log.last_sequence(account_id) > after:
            # Events exist past ``after``: committed since the read above, or pruned.
            batch = await self._log.after(account_id, after, _CATCH_UP_BATCH)
            if not batch:
                raise ResyncRequired(after, self._retention_hours)
        while True:
            for recorded in batch:
                # Sequences are dense: a hole means events the client needs were pruned.
                if recorded.sequence != after + 1:
                    raise ResyncRequired(after, self._retention_hours)
                after = recorded.sequence
                yield recorded
            if len(batch) < _CATCH_UP_BATCH:
                return
            batch = await self._log.after(account_id, after, _CATCH_UP_BATCH)


async def watch_outbox(hub: EventHub, log: EventLog, interval: float) -> None:
    """Every ``interval`` seconds, compare the outbox with what the hub delivered, for the accounts
    someone watches here (one query), until cancelled: events committed by processes that could
    not publish to this one still reach its subscribers, within about ``interval``."""
    while True:
        await asyncio.sleep(interval)
        accounts = hub.subscribed_accounts
        try:
            for start in range(0, len(accounts), _CATCH_UP_BATCH):
                hub.catch_up_to(await log.newest(accounts[start : start + _CATCH_UP_BATCH]))
        except Exception:
            _log.exception("outbox check failed")

"""Event fan-out between instances over one Redis pub/sub channel.

Redis only carries notifications: the outbox stays the source of truth. A receiver that sees a
hole in an account's sequence re-reads the outbox, and after every (re)subscription all local
subscribers re-read it too, so a message Redis lost while it was away is never lost for good.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

import redis.asyncio as redis

from drive_service.domain.events import Event, EventType, RecordedEvent
from drive_service.domain.tasks import TaskType
from drive_service.storage.redis_client import RedisFailure, subscriber_client

_log = logging.getLogger(__name__)
_MAX_BACKOFF = 5.0


class RedisEventBus:
    """Publishes this instance's events and delivers every other instance's to ``deliver``.

    ``forward`` never blocks: batches wait in a bounded queue for the publisher; when it is full
    (Redis slow or away) the batch is dropped and counted. After any batch was dropped or failed
    to publish, the publisher's next success is an empty message, which asks every receiver to
    re-read the outbox (``resync``): the other instances' subscribers get what was lost even when
    no later event of theirs shows them the gap.
    """

    def __init__(
        self,
        client: redis.Redis,
        url: str,
        instance_id: str,
        deliver: Callable[[Sequence[RecordedEvent]], None],
        resync: Callable[[], None],
        on_reconnect: Callable[[], Awaitable[None]],
        *,
        queue_size: int = 10_000,
        on_drop: Callable[[int], None] = lambda _count: None,
        prefix: str = "drive",
    ) -> None:
        self._channel = f"{prefix}:events"
        self._url = url
        self._instance_id = instance_id
        self._deliver = deliver
        self._resync = resync
        self._on_reconnect = on_reconnect
        self._on_drop = on_drop
        self._outgoing: asyncio.Queue[Sequence[RecordedEvent]] = asyncio.Queue(queue_size)
        self._publisher = client
        self._lost = False  # a batch never reached Redis: receivers must be told to resync
        #: Set while Redis has confirmed our subscription (events published now reach us).
        self.subscribed = asyncio.Event()

    def forward(self, batch: Sequence[RecordedEvent]) -> None:
        """Queue a committed batch for the other instances."""
        try:
            self._outgoing.put_nowait(batch)
        except asyncio.QueueFull:
            self._dropped(len(batch))

    async def drain(self, timeout: float) -> None:
        """Wait, at most ``timeout`` seconds, until every queued batch was published or dropped."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._outgoing.join()

    async def run(self) -> None:
        """Publish and subscribe until cancelled, reconnecting with backoff when Redis goes away."""
        async with asyncio.TaskGroup() as group:
            group.create_task(self._publish_forever())
            group.create_task(self._subscribe_forever())

    async def _publish_forever(self) -> None:
        while True:
            batch: Sequence[RecordedEvent] = []
            try:
                if self._lost:  # a resync marker first, retried every second until Redis takes it
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(1.0):
                            batch = await self._outgoing.get()
                    self._lost = False  # a drop while the marker is on its way sets it again
                    await self._publish(())
                else:
                    batch = await self._outgoing.get()
                if batch:
                    await self._publish(batch)
            except RedisFailure as error:
                self._dropped(len(batch))
                _log.warning("event publish failed: %s", type(error).__name__)
            finally:
                if batch:
                    self._outgoing.task_done()

    async def _publish(self, batch: Sequence[RecordedEvent]) -> None:
        await self._publisher.publish(self._channel, encode(self._instance_id, batch))

    def _dropped(self, count: int) -> None:
        self._lost = True
        self._on_drop(count)

    async def _subscribe_forever(self) -> None:
        failures = 0
        while True:
            client = subscriber_client(self._url)
            try:
                async with client.pubsub() as pubsub:
                    await pubsub.subscribe(self._channel)  # only sends the command
                    while True:
                        message = await pubsub.get_message(timeout=1.0)
                        if message is None:
                            continue
                        if message["type"] == "subscribe":
                            # Redis confirmed: every publish from now on reaches us, so resyncing
                            # only now leaves no window in which an event is neither received
                            # nor in the outbox read that follows.
                            failures = 0
                            self.subscribed.set()
                            _log.info("events subscribed", extra={"channel": self._channel})
                            await self._on_reconnect()  # what Redis dropped comes from the outbox
                        elif message["type"] == "message":
                            self._receive(message["data"])
            except RedisFailure as error:
                if self.subscribed.is_set():
                    _log.warning("event subscription lost: %s", type(error).__name__)
                self.subscribed.clear()
                failures += 1
                await asyncio.sleep(min(0.1 * 2**failures, _MAX_BACKOFF))
            finally:
                with contextlib.suppress(Exception):
                    await client.aclose()

    def _receive(self, payload: bytes) -> None:
        try:
            sender, batch = decode(payload)
        except (ValueError, KeyError, TypeError):
            _log.warning("ignored a malformed event message")
            return
        if sender == self._instance_id:
            return
        if batch:
            self._deliver(batch)
        else:
            self._resync()


def encode(instance_id: str, batch: Sequence[RecordedEvent]) -> str:
    """The wire form of a batch: JSON, tagged with the sending instance."""
    return json.dumps(
        {
            "instance": instance_id,
            "events": [
                {
                    "sequence": recorded.sequence,
                    "createdAt": recorded.created_at.isoformat(),
                    "accountId": recorded.event.account_id,
                    "taskId": recorded.event.task_id,
                    "taskType": recorded.event.task_type.value,
                    "type": recorded.event.type.value,
                    "data": recorded.event.data,
                }
                for recorded in batch
            ],
        },
        separators=(",", ":"),
    )


def decode(payload: bytes | str) -> tuple[str, list[RecordedEvent]]:
    """The sender and events of a message made by :func:`encode`."""
    message: dict[str, Any] = json.loads(payload)
    batch = [
        RecordedEvent(
            int(item["sequence"]),
            datetime.fromisoformat(item["createdAt"]),
            Event(
                type=EventType(item["type"]),
                account_id=str(item["accountId"]),
                task_id=str(item["taskId"]),
                task_type=TaskType(item["taskType"]),
                data=dict(item["data"]),
            ),
        )
        for item in message["events"]
    ]
    return str(message["instance"]), batch

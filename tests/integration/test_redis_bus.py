"""The Redis event bus on a real Redis: batches reach the other instance, not the sender, and a
batch that never reached Redis makes the other instances re-read the outbox."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import pytest

from drive_service.domain.events import Event, EventType, RecordedEvent
from drive_service.domain.ids import new_id
from drive_service.domain.tasks import TaskType
from drive_service.storage.redis_bus import RedisEventBus
from drive_service.storage.redis_client import command_client
from tests.support import REDIS_ENV, eventually

pytestmark = pytest.mark.skipif(not os.environ.get(REDIS_ENV), reason=f"{REDIS_ENV} is not set")


class Receiver:
    """What one instance's hub would get: this account's batches and resync requests."""

    def __init__(self, account_id: str) -> None:
        self.account_id = account_id
        self.sequences: list[int] = []
        self.resyncs = 0
        self.changed = asyncio.Event()

    def deliver(self, batch: Sequence[RecordedEvent]) -> None:
        self.sequences += [item.sequence for item in batch if item.event.account_id == self.account_id]
        self.changed.set()

    def resync(self) -> None:
        self.resyncs += 1
        self.changed.set()


@asynccontextmanager
async def bus(receiver: Receiver, queue_size: int = 100) -> AsyncIterator[RedisEventBus]:
    url = os.environ[REDIS_ENV]
    client = command_client(url)

    async def reconnected() -> None:
        return None

    instance = RedisEventBus(
        client, url, new_id(), receiver.deliver, receiver.resync, reconnected, queue_size=queue_size
    )
    running = asyncio.create_task(instance.run())
    try:
        async with asyncio.timeout(10):
            await instance.subscribed.wait()
        yield instance
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        await client.aclose()


def batch(account_id: str, sequence: int) -> list[RecordedEvent]:
    event = Event(EventType.TASK_CREATED, account_id, new_id(), TaskType.CUSTOM, {"n": sequence})
    return [RecordedEvent(sequence, datetime.now(UTC), event)]


async def test_batches_reach_the_other_instance_only() -> None:
    account = new_id()
    here, there = Receiver(account), Receiver(account)
    async with bus(here) as sender, bus(there):
        for sequence in (1, 2, 3):
            sender.forward(batch(account, sequence))
        await eventually(lambda: len(there.sequences) == 3, changed=there.changed, failure="batches missing")
        assert there.sequences == [1, 2, 3]
        await sender.drain(5)
        assert here.sequences == []


async def test_a_dropped_batch_makes_the_others_resync() -> None:
    account = new_id()
    here, there = Receiver(account), Receiver(account)
    async with bus(here, queue_size=1) as sender, bus(there):
        for sequence in (1, 2, 3):  # one fits in the queue, two are dropped
            sender.forward(batch(account, sequence))
        await eventually(
            lambda: there.resyncs >= 1 and there.sequences == [1],
            changed=there.changed,
            failure="no resync after the dropped batches",
        )
        assert here.resyncs == 0

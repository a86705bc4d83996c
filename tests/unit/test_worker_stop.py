"""The worker loop stops when cancelled, even when a wake-up lands in the same loop iteration."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from drive_service.services.secrets import SecretBox
from drive_service.services.worker import Worker, WorkerSettings


class _IdleStore:
    """A queue with nothing in it and no expired leases; ``looked`` is set once the loop asked."""

    def __init__(self) -> None:
        self.looked = asyncio.Event()

    async def expired_leases(self, _now: datetime, _limit: int) -> list[str]:
        self.looked.set()
        return []


async def _unused(*_args: Any) -> Any:
    raise AssertionError("no task should run")


async def test_cancel_racing_a_wake_up_stops_the_loop() -> None:
    store = _IdleStore()
    worker = Worker(
        store,  # type: ignore[arg-type]
        _unused,  # type: ignore[arg-type]
        {},
        lambda: datetime.now(UTC),
        _unused,  # type: ignore[arg-type]
        _unused,
        WorkerSettings(),
        SecretBox(bytes(32)),
    )
    running = asyncio.create_task(worker.run())
    # Nothing in between suspends: by the time this resumes, the loop waits for a wake-up.
    await asyncio.wait_for(store.looked.wait(), 2)
    worker.wake()
    await asyncio.sleep(0)  # the wake-up completes the wait in this iteration...
    running.cancel()  # ...and the stop arrives with it
    done, _ = await asyncio.wait([running], timeout=2)
    assert done == {running} and running.cancelled()

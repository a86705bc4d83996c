"""FairBuffers: one account's share is capped, and waiting streams are served in turn across accounts."""

from __future__ import annotations

import asyncio

from drive_service.services.buffers import FairBuffers


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_one_account_holds_at_most_its_share_and_others_get_the_rest_at_once() -> None:
    buffers = FairBuffers(total=4, per_account=2)
    await buffers.acquire("greedy")
    await buffers.acquire("greedy")
    blocked = asyncio.create_task(buffers.acquire("greedy"))  # a third stream of the same account
    await _settle()
    assert not blocked.done()
    await asyncio.wait_for(buffers.acquire("other"), 1)  # not delayed by the greedy account
    await asyncio.wait_for(buffers.acquire("other"), 1)
    buffers.release("greedy")
    await asyncio.wait_for(blocked, 1)  # its share freed up


async def test_waiters_are_served_in_turn_across_accounts() -> None:
    buffers = FairBuffers(total=1, per_account=1)
    await buffers.acquire("a")
    order: list[str] = []

    async def wait(account: str) -> None:
        await buffers.acquire(account)
        order.append(account)

    waiters = [asyncio.create_task(wait(account)) for account in ("a", "a", "a", "b", "c")]
    await _settle()
    for _ in range(5):
        buffers.release(order[-1] if order else "a")
        await _settle()
    await asyncio.gather(*waiters)
    assert order == ["a", "b", "c", "a", "a"]  # b and c do not wait behind a's whole queue


async def test_a_cancelled_waiter_gives_its_turn_away() -> None:
    buffers = FairBuffers(total=1, per_account=1)
    await buffers.acquire("a")
    leaving = asyncio.create_task(buffers.acquire("b"))
    staying = asyncio.create_task(buffers.acquire("c"))
    await _settle()
    leaving.cancel()
    await _settle()
    buffers.release("a")
    await asyncio.wait_for(staying, 1)
    assert leaving.cancelled()

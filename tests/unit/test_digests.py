"""PrefixDigests: the running SHA-256 of an upload's chunks committed here in order."""

from __future__ import annotations

import hashlib
import os

from drive_service.services.digests import PrefixDigests

BIG = 300 * 1024  # hashed in a thread, speculatively, while the chunk is written
SMALL = 1000  # hashed on the event loop after the commit


async def _commit(digests: PrefixDigests, task_id: str, index: int, data: bytes) -> None:
    feed = digests.begin(task_id, index, data)
    if feed is not None:
        await feed.commit()


async def test_chunks_in_order_give_the_file_digest() -> None:
    digests = PrefixDigests()
    chunks = [os.urandom(BIG), os.urandom(BIG), os.urandom(SMALL)]
    for index, chunk in enumerate(chunks):
        assert digests.digest("t", len(chunks)) is None
        await _commit(digests, "t", index, chunk)
    whole = b"".join(chunks)
    assert digests.digest("t", len(chunks)) == (hashlib.sha256(whole).hexdigest(), len(whole))
    assert digests.digest("t", len(chunks) + 1) is None  # not every chunk
    digests.discard("t")
    assert digests.digest("t", len(chunks)) is None


async def test_a_chunk_out_of_order_drops_the_prefix_for_good() -> None:
    digests = PrefixDigests()
    await _commit(digests, "t", 0, b"a" * SMALL)
    await _commit(digests, "t", 2, b"c" * SMALL)  # chunk 1 was committed elsewhere, or later
    await _commit(digests, "t", 1, b"b" * SMALL)
    assert digests.digest("t", 3) is None
    await _commit(digests, "t", 3, b"d")  # nothing to extend any more
    assert digests.digest("t", 4) is None


async def test_only_chunk_zero_starts_a_prefix() -> None:
    digests = PrefixDigests()
    await _commit(digests, "t", 1, b"x")
    await _commit(digests, "t", 0, b"w")
    assert digests.digest("t", 2) is None
    assert digests.begin("t", 0, b"w") is None  # already in the prefix: it cannot commit again


async def test_an_abandoned_chunk_leaves_the_prefix_as_it_was() -> None:
    digests = PrefixDigests()
    first = os.urandom(BIG)
    await _commit(digests, "t", 0, first)
    loser = digests.begin("t", 1, os.urandom(BIG))  # its receipt was not committed
    assert loser is not None
    loser.abandon()
    winner = os.urandom(BIG)
    await _commit(digests, "t", 1, winner)
    assert digests.digest("t", 2) == (hashlib.sha256(first + winner).hexdigest(), 2 * BIG)


async def test_a_chunk_begun_before_its_predecessor_committed_is_hashed_at_commit() -> None:
    digests = PrefixDigests()
    data = [os.urandom(BIG), os.urandom(BIG)]
    second = digests.begin("t", 1, data[1])  # chunk 0 still in flight: no speculative base yet
    await _commit(digests, "t", 0, data[0])
    assert second is not None
    await second.commit()
    assert digests.digest("t", 2) == (hashlib.sha256(b"".join(data)).hexdigest(), 2 * BIG)


async def test_the_oldest_prefixes_are_forgotten_beyond_capacity() -> None:
    digests = PrefixDigests(capacity=2)
    for task_id in ("a", "b", "c"):
        await _commit(digests, task_id, 0, task_id.encode())
    assert digests.digest("a", 1) is None
    assert digests.digest("c", 1) == (hashlib.sha256(b"c").hexdigest(), 1)

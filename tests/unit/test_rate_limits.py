"""The token bucket rule, with explicit times."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from drive_service.domain.rate_limits import Bucket, RateLimit, take

LIMIT = RateLimit(rate=2.0, burst=4.0)


def test_a_new_bucket_is_full_and_empties_by_cost() -> None:
    bucket, wait = take(None, LIMIT, now=10.0, cost=3)
    assert (bucket, wait) == (Bucket(1.0, 10.0), 0.0)
    bucket, wait = take(bucket, LIMIT, now=10.0, cost=3)
    assert bucket.tokens == 1.0 and wait == 1.0  # two more tokens at 2/s; nothing was taken


def test_refill_is_capped_at_the_burst() -> None:
    bucket, _ = take(None, LIMIT, now=0.0, cost=4)
    bucket, wait = take(bucket, LIMIT, now=1000.0, cost=4)
    assert (bucket.tokens, wait) == (0.0, 0.0)
    assert take(bucket, LIMIT, now=1000.0, cost=5)[1] == 2.5  # beyond the burst: never by waiting less


def test_time_going_backwards_adds_nothing() -> None:
    bucket, _ = take(None, LIMIT, now=5.0, cost=4)
    assert take(bucket, LIMIT, now=4.0, cost=1)[1] == 0.5


@given(st.lists(st.tuples(st.floats(0, 10), st.floats(0.1, 4)), max_size=50))
def test_never_more_than_burst_plus_refill(calls: list[tuple[float, float]]) -> None:
    bucket: Bucket | None = None
    now = granted = 0.0
    for gap, cost in calls:
        now += gap
        bucket, wait = take(bucket, LIMIT, now, cost)
        granted += cost if wait == 0 else 0
        assert 0 <= bucket.tokens <= LIMIT.burst
    assert granted <= LIMIT.burst + LIMIT.rate * now + 1e-9

"""The progress-event throttle (docs/contract.md#events) with explicit times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from drive_service.domain.throttle import should_send_progress

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def decide(new: float, last: float, last_at: datetime | None, now: datetime) -> bool:
    return should_send_progress(new_progress=new, last_sent_progress=last, last_sent_at=last_at, now=now)


@pytest.mark.parametrize(
    ("new", "last", "elapsed", "expected"),
    [
        (5.0, 0.0, 0.0, True),  # moved 5 points
        (4.9, 0.0, 0.1, False),  # small move, too soon
        (4.9, 0.0, 1.0, True),  # small move, a second later
        (100.0, 99.9, 0.0, True),  # reaching 100 always goes out
        (50.0, 50.0, 10.0, False),  # unchanged never goes out
        (47.0, 50.0, 0.0, False),  # small backwards move, too soon
        (44.0, 50.0, 0.0, True),  # large backwards move
    ],
)
def test_rule(new: float, last: float, elapsed: float, expected: bool) -> None:
    assert decide(new, last, T0, T0 + timedelta(seconds=elapsed)) is expected


def test_first_change_without_previous_event_is_sent() -> None:
    assert decide(0.5, 0.0, None, T0) is True


def test_compares_with_last_sent_not_last_seen() -> None:
    # 1,000 chunks: each step is 0.1 points; without the time rule only every 50th would go out.
    sent_at, sent, now, events = T0, 0.0, T0, 0
    for chunk in range(1, 1001):
        now += timedelta(milliseconds=10)
        progress = chunk / 10
        if decide(progress, sent, sent_at, now):
            sent, sent_at, events = progress, now, events + 1
    assert sent == 100.0
    assert 20 <= events <= 40

"""The progress-event throttle (docs/contract.md#events), as a pure function of the last sent event."""

from __future__ import annotations

from datetime import datetime, timedelta

MIN_STEP = 5.0
MIN_INTERVAL = timedelta(seconds=1)


def should_send_progress(
    *,
    new_progress: float,
    last_sent_progress: float,
    last_sent_at: datetime | None,
    now: datetime,
) -> bool:
    """Decide whether a progress change deserves an event.

    Send when progress moved at least ``MIN_STEP`` points since the last *sent* event, when it
    reaches 100, or when it changed at all and ``MIN_INTERVAL`` has passed since the last sent one.
    """
    if new_progress == last_sent_progress:
        return False
    if new_progress >= 100.0 or abs(new_progress - last_sent_progress) >= MIN_STEP:
        return True
    return last_sent_at is None or now - last_sent_at >= MIN_INTERVAL

"""Upload speed and time left, measured and in the seed's words."""

from __future__ import annotations

from datetime import datetime


def human_speed(bytes_per_second: float) -> str:
    """The seed's speed text: "N B/s", "N KB/s" or "N.N MB/s"."""
    if bytes_per_second < 1024:
        return f"{bytes_per_second:.0f} B/s"
    if bytes_per_second < 1024 * 1024:
        return f"{bytes_per_second / 1024:.0f} KB/s"
    return f"{bytes_per_second / (1024 * 1024):.1f} MB/s"


def human_duration(seconds: float) -> str:
    """The seed's ETA text: "N seconds", "N minutes" or "N.N hours"."""
    if seconds < 60:
        return f"{seconds:.0f} seconds"
    if seconds < 3600:
        return f"{seconds / 60:.0f} minutes"
    return f"{seconds / 3600:.1f} hours"


def recent_speed(activity: list[tuple[datetime, int]], now: datetime) -> float:
    """Bytes per second over recent chunk receipts (time of first to now), 0 without data."""
    if len(activity) < 2:
        return 0.0
    start = min(moment for moment, _ in activity)
    elapsed = (now - start).total_seconds()
    received = sum(size for _, size in activity)
    return received / elapsed if elapsed > 0 else 0.0

"""Token buckets: the pure rule behind per-account rate limits."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RateLimit:
    """``rate`` units refill per second, at most ``burst`` saved up."""

    rate: float
    burst: float


@dataclass(frozen=True, slots=True)
class Bucket:
    """A bucket's tokens at the moment ``at`` (seconds on any steady clock)."""

    tokens: float
    at: float


def take(bucket: Bucket | None, limit: RateLimit, now: float, cost: float) -> tuple[Bucket, float]:
    """Try to take ``cost`` tokens at ``now``.

    Returns the bucket's new state and how long to wait: 0.0 when the tokens were taken, else the
    seconds until enough will have refilled (nothing is taken then). A new bucket starts full.
    """
    if bucket is None:
        tokens = limit.burst
    else:
        tokens = min(limit.burst, bucket.tokens + max(0.0, now - bucket.at) * limit.rate)
    if tokens >= cost:
        return Bucket(tokens - cost, now), 0.0
    return Bucket(tokens, now), (cost - tokens) / limit.rate

"""Retries of transient failures: exponential backoff with jitter that honours RetryInfo."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import grpc

from drive_service.client.errors import (
    DeadlineExceededError,
    DriveClientError,
    RetryableError,
    from_rpc_error,
)

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """``max_attempts`` calls in all (1 = no retry). Without RetryInfo the n-th wait is drawn from
    [d/2, d] with d = min(maximum, initial x multiplier^n) (so clients that failed together do
    not retry together); with RetryInfo the server's delay is waited, plus up to ``jitter`` of it."""

    max_attempts: int = 8
    initial: float = 0.2
    maximum: float = 10.0
    multiplier: float = 2.0
    jitter: float = 0.2

    def delay(self, attempt: int, error: DriveClientError) -> float:
        """Seconds to wait before retry number ``attempt`` (0-based) after ``error``."""
        if error.retry_delay is not None:
            return error.retry_delay * (1 + random.uniform(0, self.jitter))
        ceiling = min(self.maximum, self.initial * self.multiplier**attempt)
        return random.uniform(ceiling / 2, ceiling)


NO_RETRY = RetryPolicy(max_attempts=1)


def retryable(error: DriveClientError, idempotent: bool) -> bool:
    """Whether a failed call may be sent again. A call that is not idempotent is retried only when
    the server cannot have acted on it: rate limited or unavailable, not a passed deadline."""
    if not isinstance(error, RetryableError):
        return False
    return idempotent or not isinstance(error, DeadlineExceededError)


class Retrier:
    """Runs calls under one policy and counts the retries it made (``retries``)."""

    def __init__(self, policy: RetryPolicy) -> None:
        self.policy = policy
        self.retries = 0

    async def call(self, attempt: Callable[[], Awaitable[T]], *, idempotent: bool = True) -> T:
        """``await attempt()`` until it succeeds, fails for good, or attempts run out. gRPC errors
        come out as ``DriveClientError`` subclasses."""
        number = 0
        while True:
            try:
                return await attempt()
            except grpc.RpcError as raw:
                error = from_rpc_error(raw)
                number += 1
                if number >= self.policy.max_attempts or not retryable(error, idempotent):
                    raise error from None
                await self.wait(number - 1, error)

    async def wait(self, attempt: int, error: DriveClientError) -> None:
        """Sleep before retry ``attempt`` and count it."""
        self.retries += 1
        await asyncio.sleep(self.policy.delay(attempt, error))

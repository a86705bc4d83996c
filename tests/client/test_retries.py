"""Transient failures: a rate-limited server (RESOURCE_EXHAUSTED with RetryInfo) and the backoff
policy itself."""

from __future__ import annotations

import hashlib
from pathlib import Path

import grpc

from drive_service.client import AsyncDriveClient, ResourceExhaustedError, RetryPolicy
from drive_service.client.errors import DeadlineExceededError
from drive_service.client.retry import retryable
from tests.support import new_account, token_for
from tests.support.drive_client import FAST_RETRY, private_server, random_file, target_of

KIB = 1024


async def test_rate_limited_upload_is_retried(backend: str, tmp_path: Path) -> None:
    """Two write calls per second, one at a time: create, three parallel streams and complete
    cannot all pass at once; the client waits as RetryInfo says and finishes the upload."""
    async with private_server(backend, tmp_path / "var", DRIVE_RATE_LIMITS="write=2/1") as app:
        token = token_for(app.settings, new_account())
        path = random_file(tmp_path / "limited.bin", 1024 * KIB)
        async with AsyncDriveClient(
            target_of(app), token, retry=FAST_RETRY, state_dir=tmp_path / "s"
        ) as client:
            result = await client.upload(path, chunk_size=256 * KIB, parallel=3)
            assert result.retries >= 1
            assert result.file.hash == hashlib.sha256(path.read_bytes()).hexdigest()
            assert result.chunks_skipped == 0


async def test_rate_limit_surfaces_when_retries_run_out(backend: str, tmp_path: Path) -> None:
    async with private_server(backend, tmp_path / "var", DRIVE_RATE_LIMITS="read=1/1") as app:
        token = token_for(app.settings, new_account())
        policy = RetryPolicy(max_attempts=1)
        async with AsyncDriveClient(target_of(app), token, retry=policy) as client:
            await client.list_files()
            try:
                await client.list_files()
            except ResourceExhaustedError as error:
                assert error.code is grpc.StatusCode.RESOURCE_EXHAUSTED
                assert error.reason == "RATE_LIMITED"
                assert error.retry_delay is not None and 0 < error.retry_delay <= 1.0
            else:
                raise AssertionError("the second read should have been rate limited")


def test_backoff_honours_retry_info() -> None:
    policy = RetryPolicy(initial=0.2, maximum=10.0, multiplier=2.0, jitter=0.2)
    told = ResourceExhaustedError("slow down", retry_delay=3.0)
    assert all(3.0 <= policy.delay(attempt, told) <= 3.6 for attempt in range(5))
    silent = DeadlineExceededError("late")
    for attempt in range(8):
        ceiling = min(10.0, 0.2 * 2**attempt)
        assert ceiling / 2 <= policy.delay(attempt, silent) <= ceiling


def test_only_safe_calls_retry_a_passed_deadline() -> None:
    late = DeadlineExceededError("late")
    assert retryable(late, idempotent=True) and not retryable(late, idempotent=False)
    limited = ResourceExhaustedError("slow down")
    assert retryable(limited, idempotent=False)

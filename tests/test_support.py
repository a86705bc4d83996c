"""The shared helpers fail when they should: ``eventually`` and ``expect_error`` are what many
tests rest their assertions on, so they are checked here without a server."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2

from tests.support import eventually, expect_error, expect_unavailable


def _failed_call(
    code: grpc.StatusCode, reason: str, retry_seconds: int | None = None
) -> grpc.aio.AioRpcError:
    """An AioRpcError carrying a rich status with one ErrorInfo of ``reason`` (as the server sends)."""
    status = status_pb2.Status(code=code.value[0], message="refused")
    status.details.add().Pack(error_details_pb2.ErrorInfo(reason=reason, domain="drive", metadata={"k": "v"}))
    if retry_seconds is not None:
        retry = error_details_pb2.RetryInfo()
        retry.retry_delay.FromSeconds(retry_seconds)
        status.details.add().Pack(retry)
    trailers = grpc.aio.Metadata(("grpc-status-details-bin", status.SerializeToString()))
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), trailers, "refused")


async def _raising(error: BaseException) -> None:
    raise error


async def _answer() -> str:
    return "answer"


async def test_eventually_returns_the_first_result_that_passes() -> None:
    seen: list[int] = []

    def count() -> int:
        seen.append(len(seen))
        return seen[-1]

    async def later() -> int:
        return count()

    assert await eventually(count, lambda value: value >= 2, every=0) == 2
    assert await eventually(later, lambda value: value >= 4, every=0) == 4
    assert await eventually(lambda: True) is True


async def test_eventually_fails_with_the_message_and_the_last_result() -> None:
    with pytest.raises(AssertionError, match=r"never ready; not met within 0.1 s .*last result: False"):
        await eventually(lambda: False, within=0.1, failure="never ready")
    with pytest.raises(AssertionError, match="told later"):
        await eventually(lambda: 0, within=0.05, failure=lambda: "told later")


async def test_eventually_retries_only_what_it_is_told_to() -> None:
    tries: list[str] = []

    def flaky() -> str:
        tries.append("x")
        if len(tries) < 3:
            raise ConnectionError("not yet")
        return "up"

    assert await eventually(flaky, retrying=lambda error: isinstance(error, ConnectionError), every=0) == "up"
    with pytest.raises(ValueError):  # not retried: at once, not after the time bound
        await eventually(lambda: _raising(ValueError("bad")), within=30)
    with pytest.raises(AssertionError, match="last error: ConnectionError"):
        await eventually(lambda: _raising(ConnectionError("down")), within=0.1, retrying=lambda _error: True)


async def test_eventually_wakes_on_the_event_and_bounds_a_hanging_probe() -> None:
    changed = asyncio.Event()
    state: list[str] = []

    async def change_later() -> None:
        await asyncio.sleep(0.05)
        state.append("done")
        changed.set()

    setter = asyncio.ensure_future(change_later())
    # every=30: only the event can wake it in time.
    assert await eventually(lambda: bool(state), changed=changed, every=30, within=5)
    await setter
    with pytest.raises(AssertionError, match="hangs"):
        await eventually(lambda: asyncio.Event().wait(), within=0.1, failure="hangs")
    with pytest.raises(TimeoutError):  # the probe's own timeout is its error, not the bound's
        await eventually(lambda: asyncio.wait_for(asyncio.Event().wait(), 0.01), within=30)


async def test_expect_error_fails_unless_the_call_fails_as_expected() -> None:
    denied = grpc.StatusCode.PERMISSION_DENIED
    metadata = await expect_error(_raising(_failed_call(denied, "NOPE")), denied, "NOPE")
    assert metadata == {"k": "v"}
    with pytest.raises(AssertionError, match="the call succeeded"):
        await expect_error(_answer(), denied, "NOPE")
    with pytest.raises(AssertionError):
        await expect_error(_raising(_failed_call(denied, "OTHER")), denied, "NOPE")
    with pytest.raises(AssertionError):
        await expect_error(_raising(_failed_call(denied, "NOPE")), grpc.StatusCode.NOT_FOUND, "NOPE")


async def test_expect_unavailable_needs_the_reason_and_a_retry_delay() -> None:
    unavailable = grpc.StatusCode.UNAVAILABLE
    await expect_unavailable(_raising(_failed_call(unavailable, "BACKEND_UNAVAILABLE", retry_seconds=2)))
    with pytest.raises(AssertionError, match="RetryInfo"):
        await expect_unavailable(_raising(_failed_call(unavailable, "BACKEND_UNAVAILABLE")))
    with pytest.raises(AssertionError, match="the call succeeded"):
        await expect_unavailable(_answer())

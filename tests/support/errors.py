"""What a failed call says: its status, its one ErrorInfo, its RetryInfo."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status


def error_reason(error: grpc.aio.AioRpcError) -> tuple[grpc.StatusCode, str, dict[str, str]]:
    """The status code, ErrorInfo reason and metadata of a failed call; fails the test unless the
    call carries a rich status with exactly one ErrorInfo of domain "drive"."""
    status = rpc_status.from_call(error)
    assert status is not None, f"no rich status on {error.code()}: {error.details()}"
    infos = []
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            infos.append(info)
    assert len(infos) == 1, "exactly one ErrorInfo expected"
    assert infos[0].domain == "drive"
    return error.code(), infos[0].reason, dict(infos[0].metadata)


def retry_delay(error: grpc.aio.AioRpcError) -> float:
    """Seconds of the one RetryInfo a failed call carries; fails the test unless there is one."""
    status = rpc_status.from_call(error)
    assert status is not None, f"no rich status on {error.code()}: {error.details()}"
    delays = []
    for detail in status.details:
        if detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            info = error_details_pb2.RetryInfo()
            detail.Unpack(info)
            delays.append(info.retry_delay.ToTimedelta().total_seconds())
    assert len(delays) == 1, "a retryable error carries one RetryInfo"
    return delays[0]


async def expect_error(call: Awaitable[Any], code: grpc.StatusCode, reason: str) -> dict[str, str]:
    """Await ``call`` (an RPC, or a coroutine making one); it must fail with ``code`` and the
    ErrorInfo ``reason``. Returns the ErrorInfo metadata, for the caller to check."""
    error = await _failure_of(call, f"{code.name} {reason}")
    actual_code, actual_reason, metadata = error_reason(error)
    assert (actual_code, actual_reason) == (code, reason)
    return metadata


async def expect_unavailable(call: Awaitable[Any]) -> None:
    """Await ``call``; it must fail with UNAVAILABLE, reason BACKEND_UNAVAILABLE, and tell the client
    when to retry (a positive RetryInfo)."""
    error = await _failure_of(call, "UNAVAILABLE BACKEND_UNAVAILABLE")
    code, reason, _ = error_reason(error)
    assert (code, reason) == (grpc.StatusCode.UNAVAILABLE, "BACKEND_UNAVAILABLE")
    assert retry_delay(error) > 0


async def _failure_of(call: Awaitable[Any], expected: str) -> grpc.aio.AioRpcError:
    """The error ``call`` fails with; fails the test if it succeeds. (No pytest here: benchmarks
    import tests.support without the test extras.)"""
    try:
        result = await call
    except grpc.aio.AioRpcError as error:
        return error
    raise AssertionError(f"expected {expected}, but the call succeeded: {result!r}"[:2000])


def unavailable(error: BaseException) -> bool:
    """Whether ``error`` is a call that failed with UNAVAILABLE (what a client retries): for
    ``eventually(..., retrying=unavailable)``."""
    return isinstance(error, grpc.aio.AioRpcError) and error.code() == grpc.StatusCode.UNAVAILABLE

"""Client-side exceptions: one class per gRPC code family, all under ``DriveClientError``.

Every failed call surfaces as one of these, carrying the gRPC code, the server's message, the
``google.rpc.ErrorInfo`` reason and metadata (lowerCamelCase keys such as ``taskId``) and the
``google.rpc.RetryInfo`` delay when the server sent one::

    DriveClientError
    ├── InvalidArgumentError     INVALID_ARGUMENT, OUT_OF_RANGE
    ├── UnauthenticatedError     UNAUTHENTICATED
    ├── PermissionDeniedError    PERMISSION_DENIED
    ├── NotFoundError            NOT_FOUND
    ├── AlreadyExistsError       ALREADY_EXISTS
    ├── FailedPreconditionError  FAILED_PRECONDITION, ABORTED
    │   └── ResyncRequiredError  reason RESYNC_REQUIRED (WatchTasks replay window passed)
    ├── DataLossError            DATA_LOSS (and client-side checksum failures)
    ├── RetryableError           the families a client may retry
    │   ├── ResourceExhaustedError  RESOURCE_EXHAUSTED (rate limited)
    │   ├── UnavailableError        UNAVAILABLE
    │   └── DeadlineExceededError   DEADLINE_EXCEEDED
    ├── CallCancelledError       CANCELLED
    ├── ServerError              INTERNAL, UNKNOWN, UNIMPLEMENTED and anything else
    └── WaitTimeoutError         wait() ran out of time (also a TimeoutError)
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

_EMPTY: Mapping[str, str] = MappingProxyType({})


class DriveClientError(Exception):
    """A call failed. ``code`` is None for errors detected by the client itself."""

    def __init__(
        self,
        message: str,
        *,
        code: grpc.StatusCode | None = None,
        reason: str = "",
        metadata: Mapping[str, str] | None = None,
        retry_delay: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.reason = reason or (code.name if code is not None else "CLIENT_ERROR")
        self.metadata: Mapping[str, str] = MappingProxyType(dict(metadata)) if metadata else _EMPTY
        self.retry_delay = retry_delay

    def __str__(self) -> str:
        return f"{self.reason}: {self.message}"


class InvalidArgumentError(DriveClientError):
    """The request was malformed or out of range."""


class UnauthenticatedError(DriveClientError):
    """No token, or a token the server does not accept."""


class PermissionDeniedError(DriveClientError):
    """Pool policy, privilege or quota forbids the request."""


class NotFoundError(DriveClientError):
    """The task or file does not exist or belongs to another account."""


class AlreadyExistsError(DriveClientError):
    """What was being created is already there (e.g. a stored chunk)."""


class FailedPreconditionError(DriveClientError):
    """The resource is in a state that does not allow the call."""


class ResyncRequiredError(FailedPreconditionError):
    """WatchTasks cannot replay from the requested sequence: reload with ListTasks, watch from 0."""


class DataLossError(DriveClientError):
    """Content does not match its declared hash or checksum."""


class RetryableError(DriveClientError):
    """A transient failure: the same call may succeed later (see ``retry_delay``)."""


class ResourceExhaustedError(RetryableError):
    """Rate limited; ``retry_delay`` says how long to wait."""


class UnavailableError(RetryableError):
    """The server or one of its backends is down."""


class DeadlineExceededError(RetryableError):
    """The call's deadline passed, or the server ended an idle stream."""


class CallCancelledError(DriveClientError):
    """The call was cancelled."""


class ServerError(DriveClientError):
    """An internal or unexpected server error."""


class WaitTimeoutError(DriveClientError, TimeoutError):
    """``wait`` gave up before the task became terminal; ``task`` is its last known state."""

    def __init__(self, message: str, task: Any) -> None:
        super().__init__(message, reason="WAIT_TIMEOUT")
        self.task = task


_FAMILIES: dict[grpc.StatusCode, type[DriveClientError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgumentError,
    grpc.StatusCode.OUT_OF_RANGE: InvalidArgumentError,
    grpc.StatusCode.UNAUTHENTICATED: UnauthenticatedError,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDeniedError,
    grpc.StatusCode.NOT_FOUND: NotFoundError,
    grpc.StatusCode.ALREADY_EXISTS: AlreadyExistsError,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPreconditionError,
    grpc.StatusCode.ABORTED: FailedPreconditionError,
    grpc.StatusCode.DATA_LOSS: DataLossError,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhaustedError,
    grpc.StatusCode.UNAVAILABLE: UnavailableError,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceededError,
    grpc.StatusCode.CANCELLED: CallCancelledError,
}
_BY_REASON: dict[str, type[DriveClientError]] = {"RESYNC_REQUIRED": ResyncRequiredError}


def from_rpc_error(error: grpc.RpcError) -> DriveClientError:
    """The typed exception for a failed call, with ErrorInfo and RetryInfo read from its details."""
    code: grpc.StatusCode = error.code()
    message = error.details() or code.name
    reason, metadata, delay = "", {}, None
    try:
        status = rpc_status.from_call(error)
    except ValueError:  # a status whose code or message disagrees with the call's: keep the basics
        status = None
    for detail in status.details if status is not None else ():
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            reason, metadata = info.reason, dict(info.metadata)
        elif detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            retry = error_details_pb2.RetryInfo()
            detail.Unpack(retry)
            delay = retry.retry_delay.ToTimedelta().total_seconds()
    family = _BY_REASON.get(reason) or _FAMILIES.get(code, ServerError)
    return family(message, code=code, reason=reason, metadata=metadata, retry_delay=delay)

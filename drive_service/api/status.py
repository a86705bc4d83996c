"""The one place where exceptions become ``google.rpc.Status`` with an ErrorInfo (AIP-193)."""

from __future__ import annotations

import logging
import math

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from drive_service.errors import DriveError, ResourceExhausted, Unavailable

DOMAIN = "drive"
_log = logging.getLogger(__name__)


def to_status(error: DriveError) -> grpc.Status:
    """A gRPC status carrying one ErrorInfo, plus RetryInfo for retryable errors."""
    info = error_details_pb2.ErrorInfo(reason=error.reason, domain=DOMAIN, metadata=error.metadata)
    details = [_pack(info)]
    if isinstance(error, ResourceExhausted | Unavailable):
        delay = duration_pb2.Duration()
        delay.FromMilliseconds(max(1, math.ceil(error.retry_after * 1000)))
        details.append(_pack(error_details_pb2.RetryInfo(retry_delay=delay)))
    code = getattr(code_pb2, error.code)
    return rpc_status.to_status(status_pb2.Status(code=code, message=error.message, details=details))


def internal_status() -> grpc.Status:
    """INTERNAL without any exception text (that stays in the log)."""
    return to_status(DriveError("An internal error occurred."))


def _pack(message: error_details_pb2.ErrorInfo | error_details_pb2.RetryInfo) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed

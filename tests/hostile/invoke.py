"""Calling any RPC with raw request bytes, and what the client saw.

Requests go out as bytes (``request_serializer=None``) so that a test can send bytes that do not
parse; responses come back as bytes too, so that a response the client cannot parse is reported
as such instead of as a client-side INTERNAL.

Client streams go through a *synchronous* channel (in a thread): when a server answers before
reading the whole stream, the asyncio client can replace the server's status with its own
"INTERNAL: Internal error from Core" (grpc/grpc#36066), which would blame the server for a client
bug. The synchronous client reports the server's status.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.protobuf.message import DecodeError, Message
from google.rpc import error_details_pb2, status_pb2

from tests.hostile.rpcs import Rpc

_DETAILS_KEY = "grpc-status-details-bin"
_MAX_RESPONSES = 1000  # a server stream is read this far, no further


@dataclass
class Outcome:
    """What one call returned: a status, its details, metadata sizes and the responses."""

    code: grpc.StatusCode
    message: str = ""
    infos: list[error_details_pb2.ErrorInfo] = field(default_factory=list)
    has_status_details: bool = False
    metadata_bytes: int = 0
    responses: list[Message] = field(default_factory=list)
    unparsable_responses: int = 0
    raw_parts: list[bytes] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.code == grpc.StatusCode.OK)

    @property
    def reason(self) -> str:
        return self.infos[0].reason if len(self.infos) == 1 else ""

    def describe(self) -> str:
        """One line for a failure message: code, reason, ErrorInfo metadata and a message prefix."""
        if self.ok:
            return f"OK ({len(self.responses)} responses)"
        info = ""
        if self.infos:
            metadata = {key: _short(value) for key, value in self.infos[0].metadata.items()}
            info = f" reason={self.infos[0].reason} metadata={metadata}"
        size = f"{self.metadata_bytes} metadata bytes"
        return f"{self.code.name}{info} message={_short(self.message)!r} ({size})"


def _short(text: str, limit: int = 160) -> str:
    return text if len(text) <= limit else f"{text[:limit]}…<{len(text)} chars>"


@dataclass(frozen=True)
class Channels:
    """An asyncio channel and a synchronous one (for client streams) to the same server."""

    aio: grpc.aio.Channel
    sync: grpc.Channel


async def invoke(
    channels: Channels,
    rpc: Rpc,
    requests: bytes | Iterable[bytes],
    metadata: tuple[tuple[str, str], ...],
    timeout: float,
) -> Outcome:
    """Call ``rpc`` once; ``requests`` is one encoded request, or an iterable for a client stream."""
    if rpc.client_streaming:
        stream = iter([requests]) if isinstance(requests, bytes) else iter(requests)
        outcome = await asyncio.to_thread(_client_stream, channels.sync, rpc, stream, metadata, timeout)
    else:
        assert isinstance(requests, bytes)
        outcome = await _unary_request(channels.aio, rpc, requests, metadata, timeout)
    response_type = rpc.response_class()
    for part in outcome.raw_parts:
        try:
            outcome.responses.append(response_type.FromString(part))
        except DecodeError:
            outcome.unparsable_responses += 1
    return outcome


def _client_stream(
    channel: grpc.Channel,
    rpc: Rpc,
    requests: Iterator[bytes],
    metadata: tuple[tuple[str, str], ...],
    timeout: float,
) -> Outcome:
    outcome = Outcome(grpc.StatusCode.OK)
    try:
        if rpc.server_streaming:
            call: Any = channel.stream_stream(rpc.path)(requests, metadata=metadata, timeout=timeout)
            for part in call:
                outcome.raw_parts.append(part)
                if len(outcome.raw_parts) >= _MAX_RESPONSES:
                    call.cancel()
                    break
        else:
            response, call = channel.stream_unary(rpc.path).with_call(
                requests, metadata=metadata, timeout=timeout
            )
            outcome.raw_parts.append(response)
        outcome.metadata_bytes = _size(call.initial_metadata() or ()) + _size(call.trailing_metadata() or ())
    except grpc.RpcError as error:
        _fill_error(outcome, error)
    return outcome


async def _unary_request(
    channel: grpc.aio.Channel, rpc: Rpc, request: bytes, metadata: tuple[tuple[str, str], ...], timeout: float
) -> Outcome:
    outcome = Outcome(grpc.StatusCode.OK)
    call: Any
    try:
        factory = channel.unary_stream if rpc.server_streaming else channel.unary_unary
        call = factory(rpc.path)(request, metadata=metadata, timeout=timeout)
        if rpc.server_streaming:
            async for part in call:
                outcome.raw_parts.append(part)
                if len(outcome.raw_parts) >= _MAX_RESPONSES:
                    call.cancel()
                    break
        else:
            outcome.raw_parts.append(await call)
        outcome.metadata_bytes = _size(await call.initial_metadata()) + _size(await call.trailing_metadata())
    except grpc.aio.AioRpcError as error:
        _fill_error(outcome, error)
    return outcome


def _fill_error(outcome: Outcome, error: grpc.aio.AioRpcError) -> None:
    """From a failed call (asyncio or synchronous: both have these methods)."""
    outcome.code = error.code()
    outcome.message = error.details() or ""
    trailing = error.trailing_metadata() or ()
    outcome.metadata_bytes = _size(error.initial_metadata() or ()) + _size(trailing)
    for key, value in trailing:
        if key != _DETAILS_KEY:
            continue
        status = status_pb2.Status.FromString(value if isinstance(value, bytes) else value.encode())
        outcome.has_status_details = True
        for detail in status.details:
            if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                info = error_details_pb2.ErrorInfo()
                detail.Unpack(info)
                outcome.infos.append(info)


def _size(metadata: Iterable[tuple[str, str | bytes]]) -> int:
    return sum(len(key) + len(value) for key, value in metadata)

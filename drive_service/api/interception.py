"""Wrapping a gRPC method handler so every call runs inside an async context manager."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import grpc
from google.protobuf.message import DecodeError

from drive_service.errors import InvalidArgument

_log = logging.getLogger(__name__)


class _Malformed:
    """Stands in for a request message whose bytes did not parse."""


#: What a tolerant deserializer returns for bytes that do not parse (see ``check_parsed``).
MALFORMED = _Malformed()


def check_parsed(message: Any) -> None:
    """Raise MALFORMED_REQUEST when ``message`` is the stand-in of a request that did not parse.

    Raises:
        InvalidArgument: MALFORMED_REQUEST.
    """
    if message is MALFORMED:
        raise InvalidArgument(
            "The request does not parse as its message type (invalid UTF-8 in a string field, "
            "nesting deeper than protobuf allows, or corrupt bytes).",
            reason="MALFORMED_REQUEST",
            field="request",
        )


def _tolerant(method: str, deserializer: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    """``deserializer`` answering MALFORMED for bytes that do not parse, with one warning line
    (grpcio would log a traceback and answer UNKNOWN without details)."""
    if deserializer is None or getattr(deserializer, "tolerant", False):
        return deserializer

    def parse(data: bytes) -> Any:
        try:
            return deserializer(data)
        except (DecodeError, RecursionError, ValueError):
            _log.warning("malformed request", extra={"method": method, "size": len(data)})
            return MALFORMED

    parse.tolerant = True  # type: ignore[attr-defined]
    return parse

#: Called once per call with its context; the call's work (and its stream) runs inside it.
Around = Callable[[grpc.aio.ServicerContext], AbstractAsyncContextManager[None]]


def wrap(
    handler: grpc.RpcMethodHandler, around: Around, *, parse_requests: str | None = None
) -> grpc.RpcMethodHandler:
    """The same handler, with each call run inside ``around(context)``: an exception the call
    raises reaches the context manager, which may translate it. ``parse_requests`` (the method
    name) makes request bytes that do not parse a MALFORMED_REQUEST error raised inside
    ``around`` (for streams of requests, where the servicer reads them: see ``check_parsed``)."""
    deserializer = handler.request_deserializer
    checked = parse_requests is not None
    if parse_requests is not None:
        deserializer = _tolerant(parse_requests, deserializer)
    codec = {"request_deserializer": deserializer, "response_serializer": handler.response_serializer}
    if handler.unary_unary or handler.stream_unary:
        behavior = handler.unary_unary or handler.stream_unary

        async def unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
            async with around(context):
                if checked:
                    check_parsed(request)
                return await behavior(request, context)

        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(unary, **codec)
        return grpc.stream_unary_rpc_method_handler(unary, **codec)
    streaming = handler.unary_stream or handler.stream_stream

    async def stream(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        async with around(context):
            if checked:
                check_parsed(request)
            async for response in streaming(request, context):
                yield response

    if handler.unary_stream:
        return grpc.unary_stream_rpc_method_handler(stream, **codec)
    return grpc.stream_stream_rpc_method_handler(stream, **codec)


class AroundInterceptor(grpc.aio.ServerInterceptor):
    """A server interceptor that runs the calls of the methods it picks inside ``around``."""

    #: Whether this interceptor turns request bytes that do not parse into MALFORMED_REQUEST
    #: (the one that maps errors to statuses does).
    parses_requests = False

    def around(self, method: str, handler: grpc.RpcMethodHandler) -> Around | None:
        """What to run each call of ``method`` inside; None leaves the method alone."""
        raise NotImplementedError

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None:  # an unknown method: gRPC answers UNIMPLEMENTED
            return None
        method = handler_call_details.method
        around = self.around(method, handler)
        if around is None:
            return handler
        return wrap(handler, around, parse_requests=method if self.parses_requests else None)

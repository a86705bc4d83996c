"""Wrapping a gRPC method handler so every call runs inside an async context manager."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import grpc

#: Called once per call with its context; the call's work (and its stream) runs inside it.
Around = Callable[[grpc.aio.ServicerContext], AbstractAsyncContextManager[None]]


def wrap(handler: grpc.RpcMethodHandler, around: Around) -> grpc.RpcMethodHandler:
    """The same handler, with each call run inside ``around(context)``: an exception the call
    raises reaches the context manager, which may translate it."""
    codec = {
        "request_deserializer": handler.request_deserializer,
        "response_serializer": handler.response_serializer,
    }
    if handler.unary_unary or handler.stream_unary:
        behavior = handler.unary_unary or handler.stream_unary

        async def unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
            async with around(context):
                return await behavior(request, context)

        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(unary, **codec)
        return grpc.stream_unary_rpc_method_handler(unary, **codec)
    streaming = handler.unary_stream or handler.stream_stream

    async def stream(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        async with around(context):
            async for response in streaming(request, context):
                yield response

    if handler.unary_stream:
        return grpc.unary_stream_rpc_method_handler(stream, **codec)
    return grpc.stream_stream_rpc_method_handler(stream, **codec)

"""Wrapping a gRPC method handler so every call runs inside an async context manager."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
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


class AroundInterceptor(grpc.aio.ServerInterceptor):
    """A server interceptor that runs the calls of the methods it picks inside ``around``."""

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
        around = self.around(handler_call_details.method, handler)
        return handler if around is None else wrap(handler, around)

"""Server interceptor writing one audit record per call that changes state (and per read, when
DRIVE_AUDIT_READS asks): who, what, on which ids, with what outcome, from where."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc

from drive_service import audit
from drive_service.api.auth import current_caller
from drive_service.api.rate_limit import rate_class

#: Request and response fields naming what a call acts on; only ids, never content or secrets.
_TARGET_FIELDS = ("task_id", "file_id", "bundle_id", "pool_id", "account_id", "request_id")
#: Messages inside a response that carry the id of what the call created or changed.
_TARGET_MESSAGES = {"task": "task_id", "file": "id", "bundle": "id"}
_MAX_ID = 64


class AuditInterceptor(grpc.aio.ServerInterceptor):
    """Goes first, so calls refused by authentication or rate limits are audited too."""

    def __init__(self, *, reads: bool) -> None:
        self._reads = reads

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        method = handler_call_details.method
        kind = rate_class(method)
        if handler is None or kind is None or (kind == "read" and not self._reads):
            return handler
        action = method.lstrip("/")
        codec = {
            "request_deserializer": handler.request_deserializer,
            "response_serializer": handler.response_serializer,
        }
        if handler.unary_unary or handler.stream_unary:
            behavior = handler.unary_unary or handler.stream_unary

            async def unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
                response, failure = None, None
                try:
                    response = await behavior(request, context)
                    return response
                except BaseException as error:
                    failure = error
                    raise
                finally:
                    _record(action, context, failure, request if handler.unary_unary else None, response)

            if handler.unary_unary:
                return grpc.unary_unary_rpc_method_handler(unary, **codec)
            return grpc.stream_unary_rpc_method_handler(unary, **codec)
        streaming = handler.unary_stream or handler.stream_stream

        async def stream(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            failure = None
            try:
                async for response in streaming(request, context):
                    yield response
            except BaseException as error:
                failure = error
                raise
            finally:
                _record(action, context, failure, request if handler.unary_stream else None, None)

        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(stream, **codec)
        return grpc.stream_stream_rpc_method_handler(stream, **codec)


def _record(
    action: str, context: grpc.aio.ServicerContext, failure: BaseException | None, request: Any, response: Any
) -> None:
    try:
        account_id: str | None = current_caller().account_id
    except LookupError:
        account_id = None  # refused before authentication succeeded
    code = context.code()
    if code is not None:
        outcome = code.name  # set by the error mapping (an abort)
    elif isinstance(failure, asyncio.CancelledError | GeneratorExit):
        outcome = "CANCELLED"  # the client went away or its deadline passed
    else:
        outcome = "OK" if failure is None else "UNKNOWN"
    metadata = dict(context.invocation_metadata() or ())
    request_id = metadata.get("x-request-id")
    audit.record(
        action,
        account_id=account_id,
        outcome=outcome,
        targets={**_targets(request), **_targets(response)},
        request_id=str(request_id)[:_MAX_ID] if request_id else str(uuid.uuid4()),
        peer=context.peer(),
    )


def _targets(message: Any) -> dict[str, str]:
    """The ids a request or response names (clipped), from fields every transport renders alike."""
    if message is None or not hasattr(message, "DESCRIPTOR"):
        return {}
    found: dict[str, str] = {}
    fields = message.DESCRIPTOR.fields_by_name
    for name in _TARGET_FIELDS:
        if name in fields and isinstance(value := getattr(message, name), str) and value:
            found[name] = value[:_MAX_ID]
    for name, id_field in _TARGET_MESSAGES.items():
        if name in fields and message.HasField(name):
            value = getattr(getattr(message, name), id_field, "")
            if value:
                found[f"{name}_id"] = str(value)[:_MAX_ID]
    return found

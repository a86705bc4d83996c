"""Servicers for services whose RPCs are in the contract but not served yet."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from google.protobuf.descriptor import MethodDescriptor, ServiceDescriptor

from drive_service.errors import Unimplemented


def unimplemented_servicer(base: type, service: ServiceDescriptor) -> Any:
    """An instance of ``base`` whose every RPC answers UNIMPLEMENTED with an ErrorInfo."""
    methods = {method.name: _method(method) for method in service.methods}
    return type(f"Unimplemented{service.name}", (base,), methods)()


def _method(method: MethodDescriptor) -> Any:
    message = f"{method.full_name} is not available in this version."
    if method.server_streaming:

        async def stream(self: Any, request: Any, context: Any) -> AsyncIterator[Any]:
            raise Unimplemented(message, method=method.name)
            yield  # pragma: no cover - makes this an async generator

        return stream

    async def unary(self: Any, request: Any, context: Any) -> Any:
        raise Unimplemented(message, method=method.name)

    return unary

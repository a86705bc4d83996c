"""Server interceptor: authenticates every call and maps every error in one place."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import grpc

from drive_service.api.interception import Around, AroundInterceptor
from drive_service.api.status import internal_status, to_status
from drive_service.errors import DriveError
from drive_service.services.tokens import Caller, TokenVerifier

_log = logging.getLogger(__name__)
_caller: contextvars.ContextVar[Caller] = contextvars.ContextVar("caller")
#: How long, and how much, a failed client stream is still read before its error is sent.
_DRAIN_SECONDS = 1.0
_DRAIN_BYTES = 64 * 1024 * 1024

#: Methods callable without a token.
PUBLIC_PREFIXES = (
    "/grpc.health.v1.Health/",
    "/grpc.reflection.",
    "/drive.v1.StatsService/GetServiceHealth",
)


def current_caller() -> Caller:
    """The caller of the RPC being served (set by the interceptor before the handler runs)."""
    return _caller.get()


class CallInterceptor(AroundInterceptor):
    """Verifies the bearer token (except on public methods) and turns exceptions into statuses.

    Domain errors become their declared code with an ErrorInfo; anything unexpected is logged
    with its traceback and answered as INTERNAL without leaking its text.
    """

    parses_requests = True

    def __init__(self, verifier: TokenVerifier) -> None:
        self._verifier = verifier

    def around(self, method: str, handler: grpc.RpcMethodHandler) -> Around | None:
        if method.startswith(PUBLIC_PREFIXES[:2]):  # health and reflection: nothing to map
            return None
        streaming = bool(handler.request_streaming)
        return self._guard(method, public=method.startswith(PUBLIC_PREFIXES), streaming=streaming)

    def _guard(self, method: str, public: bool, streaming: bool) -> Around:
        """Per call: authenticate (unless public), then map whatever the call raises."""

        @asynccontextmanager
        async def guarded(context: grpc.aio.ServicerContext) -> AsyncIterator[None]:
            if not public:
                header = dict(context.invocation_metadata() or ()).get("authorization")
                try:
                    _caller.set(self._verifier.verify(header if isinstance(header, str) else None))
                except DriveError as error:
                    _log.info("rejected %s: %s", method, error.reason)
                    await context.abort_with_status(to_status(error))
            try:
                yield
            except Exception as error:
                if streaming and not isinstance(error, grpc.aio.AbortError):
                    await _drain(context)
                await _abort(context, error)

        return guarded


async def _drain(context: grpc.aio.ServicerContext) -> None:
    """Read (and drop) what a client stream still sends, for a moment, before answering an error:
    grpcio's asyncio client reports "INTERNAL: Internal error from Core" instead of the status
    when the call ends while it is still writing (grpc/grpc#36066)."""
    read = 0
    with contextlib.suppress(Exception):
        async with asyncio.timeout(_DRAIN_SECONDS):
            while read < _DRAIN_BYTES and (message := await context.read()) is not grpc.aio.EOF:
                read += getattr(message, "ByteSize", lambda: 1)()


async def _abort(context: grpc.aio.ServicerContext, error: Exception) -> None:
    if isinstance(error, grpc.aio.AbortError):
        raise error
    if isinstance(error, DriveError):
        await context.abort_with_status(to_status(error))
    _log.exception("unexpected error", exc_info=error)
    await context.abort_with_status(internal_status())

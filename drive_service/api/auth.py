"""Server interceptor: authenticates every call and maps every error in one place."""

from __future__ import annotations

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
        return self._guard(method, public=method.startswith(PUBLIC_PREFIXES))

    def _guard(self, method: str, public: bool) -> Around:
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
                await _abort(context, error)

        return guarded


async def _abort(context: grpc.aio.ServicerContext, error: Exception) -> None:
    if isinstance(error, grpc.aio.AbortError):
        raise error
    if isinstance(error, DriveError):
        await context.abort_with_status(to_status(error))
    _log.exception("unexpected error", exc_info=error)
    await context.abort_with_status(internal_status())

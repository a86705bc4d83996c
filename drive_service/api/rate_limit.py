"""Server interceptor charging each authenticated call to its account's ``read`` or ``write``
budget. Upload data is also charged by bytes where it is read (see api/uploads.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import grpc

from drive_service.api.auth import PUBLIC_PREFIXES, current_caller
from drive_service.api.interception import Around, AroundInterceptor
from drive_service.services.rate_limits import RateLimits

_READ_VERBS = ("Get", "List", "Wait", "Watch", "Read")


def rate_class(method: str) -> str | None:
    """``read`` or ``write`` for a full method name; None when calls are not counted."""
    if not method.startswith("/drive.v1.") or method.startswith(PUBLIC_PREFIXES):
        return None
    name = method.rsplit("/", 1)[-1]
    return "read" if name.startswith(_READ_VERBS) else "write"


class RateLimitInterceptor(AroundInterceptor):
    """Runs inside the auth interceptor, so the caller is known and its errors are mapped."""

    def __init__(self, limits: RateLimits) -> None:
        self._limits = limits

    def around(self, method: str, handler: grpc.RpcMethodHandler) -> Around | None:
        kind = rate_class(method)
        if kind is None:
            return None
        limits = self._limits

        @asynccontextmanager
        async def charged(_context: grpc.aio.ServicerContext) -> AsyncIterator[None]:
            await limits.check(current_caller().account_id, kind)
            yield

        return charged

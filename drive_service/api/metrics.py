"""Server interceptor recording every call's method, final code, duration and open streams.

It must come first in the interceptor list, so it also sees calls that authentication or rate
limiting reject. While a call runs, ``received`` and ``event_sent`` record into the serving
App's metrics (servicers reach them through the call's context, as they reach their caller).
"""

from __future__ import annotations

import asyncio
import contextvars
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime

import grpc

from drive_service.api.interception import Around, AroundInterceptor
from drive_service.metrics import Metrics, RpcSeries

_current: contextvars.ContextVar[Metrics] = contextvars.ContextVar("metrics")


def received(count: int) -> None:
    """Count ``count`` upload bytes read by the call being served."""
    _current.get().received(count)


def event_sent(created_at: datetime) -> None:
    """Record the lag of an event the call being served is about to send."""
    _current.get().event_sent(created_at)


class MetricsInterceptor(AroundInterceptor):
    """Measures each call of a registered method (unknown methods have no handler to wrap)."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def around(self, method: str, handler: grpc.RpcMethodHandler) -> Around:
        return self._measure(self._metrics.rpc(method.lstrip("/"), streaming=not handler.unary_unary))

    def _measure(self, series: RpcSeries) -> Around:
        metrics = self._metrics

        @asynccontextmanager
        async def measured(context: grpc.aio.ServicerContext) -> AsyncIterator[None]:
            _current.set(metrics)
            series.opened()
            started = time.perf_counter()
            code: str | None = None
            try:
                yield
            except (asyncio.CancelledError, GeneratorExit):
                # The client went away or its deadline passed: the handler is cancelled, no code set.
                remaining = context.time_remaining()
                expired = remaining is not None and remaining <= 0
                code = "DEADLINE_EXCEEDED" if expired else "CANCELLED"
                raise
            except grpc.aio.AbortError:
                raise  # the code it carries is on the context
            except Exception:
                code = "UNKNOWN"  # what gRPC answers for an exception nothing mapped
                raise
            finally:
                if code is None:
                    final = context.code()
                    code = "OK" if final is None else final.name
                series.closed(code, time.perf_counter() - started)

        return measured

"""Prometheus metrics of one App: its own registry, the recording surface and the HTTP endpoint.

Each App owns a ``CollectorRegistry`` (tests run many Apps in one process). Recording is on hot
paths (every RPC, every upload message, every watched event), so label children are looked up
once and cached in plain dicts: only the event loop thread records, the scrape thread only reads.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from wsgiref.simple_server import WSGIServer

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    start_http_server,
)

from drive_service.domain.tasks import TaskStatus

_log = logging.getLogger(__name__)

TaskCounter = Callable[[], Awaitable[Mapping[TaskStatus, int]]]
#: Sinks whose drops are counted; their series exist (at 0) from the start.
SINKS = ("redis", "ring")
_RPC_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
# Live events arrive in milliseconds; replayed ones may be hours old.
_LAG_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5, 30, 300, 3600)


class RpcSeries:
    """The series of one RPC method: call durations by final code, and open streams."""

    __slots__ = ("_active", "_by_code", "_durations", "_method")

    def __init__(self, durations: Histogram, active: Gauge | None, method: str) -> None:
        self._durations = durations
        self._active = active
        self._method = method
        self._by_code: dict[str, Histogram] = {}

    def opened(self) -> None:
        """A call started (counted as an active stream when the method streams)."""
        if self._active is not None:
            self._active.inc()

    def closed(self, code: str, seconds: float) -> None:
        """The call ended with status ``code`` (e.g. ``OK``) after ``seconds``."""
        if self._active is not None:
            self._active.dec()
        child = self._by_code.get(code)
        if child is None:
            child = self._by_code[code] = self._durations.labels(self._method, code)
        child.observe(seconds)


class Metrics:
    """Every series the service exports; ``clock`` is the App's (events are stamped with it)."""

    def __init__(self, clock: Callable[[], datetime]) -> None:
        self._clock = clock
        self._count_tasks: TaskCounter | None = None
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        self._rpc_durations = Histogram(
            "drive_rpc_duration_seconds",
            "gRPC calls by method and final status code: duration (streams: their whole life); "
            "the _count series counts calls.",
            ("method", "code"),
            buckets=_RPC_BUCKETS,
            registry=self.registry,
        )
        self._active_streams = Gauge(
            "drive_rpc_active_streams", "Streaming gRPC calls now open.", ("method",), registry=self.registry
        )
        self._received = Counter(
            "drive_upload_received_bytes",
            "Upload chunk bytes received (UploadChunk, UploadChunks and UploadFile).",
            registry=self.registry,
        )
        self._lag = Histogram(
            "drive_event_lag_seconds",
            "Seconds from an event's recording to its sending on a WatchTasks stream.",
            buckets=_LAG_BUCKETS,
            registry=self.registry,
        )
        drops = Counter(
            "drive_sink_dropped_events",
            "Events an outbound sink dropped (queue full or delivery given up).",
            ("sink",),
            registry=self.registry,
        )
        self._drops = {sink: drops.labels(sink) for sink in SINKS}
        tasks = Gauge(
            "drive_tasks",
            "Tasks of all accounts by status (refreshed periodically).",
            ("status",),
            registry=self.registry,
        )
        self._tasks = {status: tasks.labels(status.value) for status in TaskStatus}
        self._queue_depth = Gauge(
            "drive_task_queue_depth",
            "Pending tasks of all accounts, waiting for an executor (refreshed periodically).",
            registry=self.registry,
        )
        self._rpcs: dict[str, RpcSeries] = {}

    def rpc(self, method: str, *, streaming: bool) -> RpcSeries:
        """The series of ``method`` (``package.Service/Method``), created on first use."""
        series = self._rpcs.get(method)
        if series is None:
            active = self._active_streams.labels(method) if streaming else None
            series = self._rpcs[method] = RpcSeries(self._rpc_durations, active, method)
        return series

    def received(self, count: int) -> None:
        """``count`` upload bytes arrived."""
        self._received.inc(count)

    def event_sent(self, created_at: datetime) -> None:
        """An event recorded at ``created_at`` goes out to a watcher now (per the App's clock)."""
        # Another instance's clock may run ahead of this one: a negative lag counts as none.
        self._lag.observe(max((self._clock() - created_at).total_seconds(), 0.0))

    def sink_drops(self, sink: str) -> Callable[[int], None]:
        """The ``on_drop(count)`` callback of ``sink`` (one of SINKS)."""
        return self._drops[sink].inc

    def track_tasks(self, count_tasks: TaskCounter) -> None:
        """Feed the task gauges from ``count_tasks`` (counts of all accounts by status)."""
        self._count_tasks = count_tasks

    async def refresh(self) -> None:
        """Count tasks by status now and update the task gauges (no-op until ``track_tasks``).

        Raises:
            Exception: whatever counting raises (e.g. the database is down); gauges keep their values.
        """
        if self._count_tasks is None:
            return
        counts = await self._count_tasks()
        for status, gauge in self._tasks.items():
            gauge.set(counts.get(status, 0))
        self._queue_depth.set(counts.get(TaskStatus.PENDING, 0))

    async def refresh_forever(self, interval: float) -> None:
        """Refresh now and then every ``interval`` seconds until cancelled."""
        while True:
            try:
                await self.refresh()
            except Exception as error:
                _log.warning("task metrics not refreshed: %s", type(error).__name__)
            await asyncio.sleep(interval)


class MetricsEndpoint:
    """Serves a registry at ``http://HOST:PORT/metrics`` from a daemon thread."""

    def __init__(self, registry: CollectorRegistry, listen: str) -> None:
        self._registry = registry
        self._listen = listen
        self._server: tuple[WSGIServer, threading.Thread] | None = None

    def start(self) -> int:
        """Bind and serve; return the bound port (the real one when the setting says port 0).

        Raises:
            OSError: the address cannot be bound.
        """
        host, _, port = self._listen.rpartition(":")
        self._server = start_http_server(int(port), host.strip("[]"), self._registry)
        return int(self._server[0].server_port)

    async def stop(self) -> None:
        """Stop serving and release the port (no-op when not started)."""
        if self._server is None:
            return
        server, thread = self._server
        self._server = None
        # shutdown() waits for the serving loop's next poll (up to half a second): off the loop.
        await asyncio.to_thread(server.shutdown)
        server.server_close()
        await asyncio.to_thread(thread.join)

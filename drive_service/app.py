"""The running service: the gRPC server over what ``bootstrap.build`` made, its background loops,
and an orderly start and stop."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import socket
from collections.abc import Coroutine
from datetime import timedelta
from typing import Any, Protocol

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from drive_service import logs
from drive_service.api.audit import AuditInterceptor
from drive_service.api.auth import CallInterceptor
from drive_service.api.metrics import MetricsInterceptor
from drive_service.api.rate_limit import RateLimitInterceptor
from drive_service.api.services import SERVICE_NAMES, register_servicers
from drive_service.bootstrap import Service, build
from drive_service.config import Settings
from drive_service.metrics import MetricsEndpoint
from drive_service.services.events import watch_outbox
from drive_service.services.handlers import Handler
from drive_service.storage import migrations

_log = logging.getLogger(__name__)
_MIB = 1024 * 1024
_SINK_DRAIN_SECONDS = 1.0  # how long queued Redis and Ring deliveries may take at stop
_STOP_TIMEOUT_SECONDS = 5.0
_CACHE_RETRY_SECONDS = 2.0
_OUTBOX_CHECK_SECONDS = 1.0


class App:
    """Serves a built ``Service`` over gRPC (or, with ``serve_grpc=False``, runs only its worker)."""

    def __init__(self, service: Service, *, serve_grpc: bool = True) -> None:
        self.service = service
        self.settings = service.settings
        self.serve_grpc = serve_grpc
        self.health = health.aio.HealthServicer()
        self.stopping = asyncio.Event()
        self.server = _grpc_server(service, self.stopping)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        reflection.enable_server_reflection(
            (*SERVICE_NAMES, health.SERVICE_NAME, reflection.SERVICE_NAME), self.server
        )
        listen = self.settings.server.metrics_listen
        self.metrics_endpoint = MetricsEndpoint(service.metrics.registry, listen) if listen else None
        self.port = 0
        self.metrics_port = 0
        self._background: list[asyncio.Task[None]] = []
        self._sinks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Migrate the database, then start the worker and, when serving, the port and the loops."""
        service, settings = self.service, self.settings
        if self.serve_grpc:  # first: a taken address stops the start before anything runs
            self._bind(settings.server.listen)
        settings.storage.data_dir.mkdir(parents=True, exist_ok=True)
        await migrations.upgrade(service.db)
        if service.bus is not None:  # stopped after the calls, so the events of the last ones go out
            self._sinks.append(asyncio.create_task(service.bus.run()))
            self._loop(self._every(_CACHE_RETRY_SECONDS, service.task_cache.retry_pending))
        if service.ring_sink is not None:
            self._sinks.append(asyncio.create_task(service.ring_sink.run()))
        if settings.worker.enabled or not self.serve_grpc:
            self._loop(service.worker.run())
        if not self.serve_grpc:
            _log.info("worker running", extra={"concurrency": settings.worker.concurrency})
            return
        if self.metrics_endpoint is not None:
            self.metrics_port = self.metrics_endpoint.start()
            self._loop(service.metrics.refresh_forever(settings.server.metrics_refresh_seconds))
        await self.server.start()
        for name in ("", *SERVICE_NAMES):
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        self._loop(self._every(settings.tasks.expiry_sweep_seconds, service.tasks.expire_overdue))
        # Without Redis this is how a separate worker process's events reach watchers here; with
        # it, a safety net for publishes Redis lost.
        outbox_check = _OUTBOX_CHECK_SECONDS * (5 if service.bus is not None else 1)
        self._loop(watch_outbox(service.hub, service.event_log, outbox_check))
        interval = timedelta(minutes=settings.uploads.cleanup_interval_minutes)
        self._loop(service.maintenance.run_forever(interval))
        _log.info(
            "serving",
            extra={"listen": settings.server.listen, "port": self.port, "metrics_port": self.metrics_port},
        )

    async def stop(self, grace: float | None = None) -> None:
        """Report NOT_SERVING, stop the loops, drain calls for ``grace`` seconds, close pools."""
        service = self.service
        await self.health.enter_graceful_shutdown()
        # Server streams end at once (their clients reconnect elsewhere and resume); unary calls
        # and upload streams get the grace below.
        self.stopping.set()
        service.hub.close()
        await _cancel(self._background)
        if self.serve_grpc:
            await self.server.stop(self.settings.server.shutdown_grace_seconds if grace is None else grace)
        await service.publisher.settle(_SINK_DRAIN_SECONDS)  # events of calls cancelled after commit
        if service.bus is not None:
            await service.bus.drain(_SINK_DRAIN_SECONDS)
        if service.ring_sink is not None:
            await service.ring_sink.drain(_SINK_DRAIN_SECONDS)
        await _cancel(self._sinks)
        if service.ring_sink is not None:
            await service.ring_sink.close()
        if self.metrics_endpoint is not None:
            await self.metrics_endpoint.stop()
        await service.db.close()
        await service.blobs.aclose()
        if service.redis is not None:
            await service.task_cache.retry_pending()
            await service.redis.aclose()
        _log.info("stopped")

    def _bind(self, listen: str) -> None:
        problem = _unbindable(listen)
        if problem is None:
            try:
                self.port = self.server.add_insecure_port(listen)
            except RuntimeError:  # grpcio's way of saying the bind failed
                self.port = 0
        if problem is not None or self.port == 0:
            raise OSError(f"cannot listen on {listen}: {problem or 'the address is not available'}")

    def _loop(self, work: Coroutine[Any, Any, None]) -> None:
        self._background.append(asyncio.create_task(work))

    @staticmethod
    async def _every(seconds: float, job: Any) -> None:
        """Run ``job()`` every ``seconds`` until cancelled; a failed run is logged, not fatal."""
        while True:
            await asyncio.sleep(seconds)
            try:
                await job()
            except Exception:
                _log.exception("periodic job failed", extra={"job": getattr(job, "__qualname__", str(job))})


def _grpc_server(service: Service, stopping: asyncio.Event) -> grpc.aio.Server:
    message_limit = service.settings.uploads.max_chunk_size + _MIB
    server = grpc.aio.server(
        interceptors=[
            # First: these also see the calls that authentication or rate limits refuse.
            AuditInterceptor(reads=service.settings.server.audit_reads),
            MetricsInterceptor(service.metrics),
            CallInterceptor(service.tokens),
            RateLimitInterceptor(service.rate_limits),
        ],
        options=[
            ("grpc.max_receive_message_length", message_limit),
            ("grpc.max_send_message_length", message_limit),
            # Without BDP probing a stream's flow-control window stays small (64 KiB beyond
            # the message being read), so a stream the service does not read from (waiting
            # for a chunk buffer, DRIVE_MAX_BUFFERED_CHUNKS) holds its sender instead of
            # filling server memory: with probing, 200 concurrent 16 MiB uploads buffered
            # about 3 GiB in the transport.
            ("grpc.http2.bdp_probe", 0),
            # A second server on an address in use must fail to start, not silently share the
            # port (gRPC sets SO_REUSEPORT by default, and calls would then be split between them).
            ("grpc.so_reuseport", 0),
        ],
    )
    register_servicers(
        server,
        tasks=service.tasks,
        watcher=service.watcher,
        uploads=service.uploads,
        files=service.files,
        health=service.health,
        rate_limits=service.rate_limits,
        stream_idle_seconds=service.settings.uploads.stream_idle_seconds,
        stopping=stopping,
    )
    return server


def _unbindable(listen: str) -> str | None:
    """Why ``listen`` cannot be bound right now (e.g. "Address already in use"), or None. Checked
    with a plain socket first, so a taken address gives one clear line instead of gRPC's log."""
    host, _, port = listen.rpartition(":")
    if int(port) == 0:
        return None
    try:
        for family, kind, proto, _, address in socket.getaddrinfo(
            host.strip("[]"), int(port), type=socket.SOCK_STREAM
        ):
            with socket.socket(family, kind, proto) as probe:
                # As a server binds: connections of a stopped server left in TIME_WAIT do not
                # count, a live listener does (SO_REUSEADDR never shares a listening port).
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                probe.bind(address)
    except OSError as error:
        return error.strerror or str(error)
    return None


async def _cancel(loops: list[asyncio.Task[None]]) -> None:
    """Cancel background loops and wait for them, but not forever: a loop that does not end (a
    library swallowing the cancellation) is reported instead of hanging the shutdown."""
    for loop_task in loops:
        loop_task.cancel()
    if not loops:
        return
    done, stuck = await asyncio.wait(loops, timeout=_STOP_TIMEOUT_SECONDS)
    for loop_task in done:
        if not loop_task.cancelled() and loop_task.exception() is not None:
            _log.error("background loop had failed", exc_info=loop_task.exception())
    for loop_task in stuck:
        _log.error("background loop did not stop", extra={"loop": loop_task.get_name()})
    loops.clear()


class Runnable(Protocol):
    """Something started once and stopped once: the App, or a benchmark's baseline."""

    async def start(self) -> None:
        """Start serving."""

    async def stop(self) -> None:
        """Stop gracefully."""


async def run_until_signalled(app: Runnable) -> None:
    """Start ``app``, run it until SIGTERM or SIGINT, then stop it gracefully."""
    await app.start()
    # Everything built at start lives until exit: keep it out of the collector's full passes,
    # which otherwise pause the loop for tens of milliseconds every few thousand calls.
    gc.freeze()
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    await stopping.wait()
    _log.info("shutting down")
    await app.stop()


async def serve(
    settings: Settings, *, serve_grpc: bool = True, handlers: list[Handler] | None = None
) -> None:
    """``drive-service serve`` (or, with ``serve_grpc=False``, ``worker``) with these task handlers
    (None: the built-in ones and the installed plug-ins)."""
    logs.configure(settings.server.log_levels, settings.server.audit_log)
    await run_until_signalled(App(build(settings, handlers=handlers), serve_grpc=serve_grpc))

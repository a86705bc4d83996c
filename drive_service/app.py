"""Composition root: builds every part from Settings, starts it, and stops it in order."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from drive_service import logs
from drive_service.api.auth import CallInterceptor
from drive_service.api.metrics import MetricsInterceptor
from drive_service.api.rate_limit import RateLimitInterceptor
from drive_service.api.services import SERVICE_NAMES, register_servicers
from drive_service.config import Settings
from drive_service.domain.ids import new_id
from drive_service.domain.tasks import Task
from drive_service.metrics import Metrics, MetricsEndpoint
from drive_service.pools import load_pools
from drive_service.services.events import EventHub, EventWatcher, watch_outbox
from drive_service.services.file_ops import FileOps
from drive_service.services.files import FileManager
from drive_service.services.handlers import Handler, registry
from drive_service.services.handlers.builtin import builtin_handlers
from drive_service.services.health import HealthChecker
from drive_service.services.maintenance import Maintenance, MaintenancePolicy
from drive_service.services.rate_limits import Buckets, MemoryBuckets, RateLimits
from drive_service.services.ring_sink import RingSink
from drive_service.services.secrets import SecretBox
from drive_service.services.tasks import TaskManager
from drive_service.services.tokens import TokenVerifier
from drive_service.services.uploads import UploadLimits, UploadManager
from drive_service.services.worker import Worker, WorkerSettings
from drive_service.storage import migrations, probes
from drive_service.storage.blobs import LocalBlobStore
from drive_service.storage.db import Committed, Database
from drive_service.storage.files import OutputStore, SqlFileStore
from drive_service.storage.outbox import SqlEventLog
from drive_service.storage.redis_buckets import RedisBuckets
from drive_service.storage.redis_bus import RedisEventBus
from drive_service.storage.redis_client import RedisGuard, command_client
from drive_service.storage.ring_client import GrpcRingClient
from drive_service.storage.task_cache import NoTaskCache, RedisTaskCache, TaskCache
from drive_service.storage.tasks import SqlTaskStore
from drive_service.storage.uploads import SqlUploadStore
from drive_service.storage.worker import SqlWorkerStore

_log = logging.getLogger(__name__)
_MIB = 1024 * 1024
#: How long stopping waits for queued Ring deliveries (Ring may be down: then they are lost).
_SINK_DRAIN_SECONDS = 1.0  # how long queued Redis and Ring deliveries may take at stop
_STOP_TIMEOUT_SECONDS = 5.0
_CACHE_RETRY_SECONDS = 2.0
_OUTBOX_CHECK_SECONDS = 1.0


def utc_now() -> datetime:
    """The production clock."""
    return datetime.now(UTC)


class App:
    """A running drive-service: database, managers, gRPC server and background loops."""

    def __init__(
        self,
        settings: Settings,
        clock: Callable[[], datetime] = utc_now,
        blob_store: LocalBlobStore | None = None,
        *,
        serve_grpc: bool = True,
        handlers: list[Handler] | None = None,
    ) -> None:
        self.settings = settings
        self.serve_grpc = serve_grpc
        self.db = Database(settings.database_url)
        self.metrics = Metrics(clock)
        self.hub = EventHub()
        self.redis = command_client(settings.redis_url) if settings.redis_url else None
        self.redis_guard = RedisGuard()  # shared: one failure spares every hot-path caller
        cache = self.task_cache = self._task_cache()

        async def committed(change: Committed) -> None:
            # Invalidate first: a subscriber that reacts to an event by reading the task must
            # see the change on every instance.
            await cache.invalidate(change.touched_tasks)
            self.hub.publish(change.events)

        self.db.after_commit = committed
        self.bus = self._event_bus()
        self.ring_sink = self._ring_sink()
        store = SqlTaskStore(self.db, cache)
        self.metrics.track_tasks(store.count_by_status)
        event_log = self._event_log = SqlEventLog(self.db)
        self.watcher = EventWatcher(self.hub, event_log, settings.event_retention_hours)
        self.pools = load_pools(settings.pools_file, settings.data_dir, settings.preferred_pool)
        self.blobs = blob_store or LocalBlobStore(settings.uploads_path)
        file_store = SqlFileStore(self.db)
        self.files = FileManager(file_store, self.pools, self.blobs, clock, settings.default_quota_bytes)
        outputs = OutputStore(self.db)

        async def discard_outputs(task_id: str) -> None:
            await outputs.discard_outputs(task_id, self.files.release_blob)

        def file_ops(task: Task, token: str) -> FileOps:
            return FileOps(
                account_id=task.account_id,
                task_id=task.task_id,
                lease_token=token,
                files=self.files,
                file_store=file_store,
                outputs=outputs,
                pools=self.pools,
                blobs=self.blobs,
                clock=clock,
                default_quota=settings.default_quota_bytes,
            )

        registered = registry(builtin_handlers() if handlers is None else handlers)
        secrets = SecretBox(settings.master_key)
        self.worker = Worker(
            SqlWorkerStore(self.db),
            registered,
            clock,
            file_ops,
            discard_outputs,
            WorkerSettings(
                concurrency=settings.worker_concurrency,
                lease=timedelta(seconds=settings.worker_lease_seconds),
                poll=timedelta(milliseconds=settings.worker_poll_ms),
            ),
            secrets,
        )
        self.tasks = TaskManager(
            store,
            self.watcher,
            clock,
            managed_types=frozenset(registered),
            on_queued=self.worker.wake,
            on_abandoned=discard_outputs,
            secrets=secrets,
        )
        upload_store = SqlUploadStore(self.db)
        self.uploads = UploadManager(
            upload_store,
            file_store,
            self.pools,
            self.blobs,
            clock,
            UploadLimits(
                default_chunk_size=settings.default_chunk_size,
                max_chunk_size=settings.max_chunk_size,
                default_quota=settings.default_quota_bytes,
                master_key=settings.master_key,
                upload_events=settings.upload_events,
                max_buffered_chunks=settings.max_buffered_chunks,
            ),
        )
        self.maintenance = Maintenance(
            uploads=self.uploads,
            tasks=self.tasks,
            expire_files=self.files.expire_files,
            outputs=outputs,
            prune_events=event_log.prune,
            discard_outputs=discard_outputs,
            task_store=store,
            upload_store=upload_store,
            blobs=self.blobs,
            pools=self.pools,
            clock=clock,
            policy=MaintenancePolicy(
                stale_upload_after=timedelta(hours=settings.stale_threshold_hours),
                task_retention=timedelta(days=settings.task_retention_days),
                event_retention=timedelta(hours=settings.event_retention_hours),
            ),
        )
        self.health_checker = HealthChecker(
            {
                "database": self.db.ping,
                "redis": self._ping_redis if self.redis is not None else None,
                "storage": lambda: probes.directory_writable(settings.uploads_path),
            },
            store,
        )
        self.health = health.aio.HealthServicer()
        message_limit = settings.max_chunk_size + _MIB
        buckets: Buckets = MemoryBuckets()
        if self.redis is not None:
            buckets = RedisBuckets(self.redis, self.redis_guard, prefix=settings.redis_prefix)
        self.rate_limits = RateLimits(buckets, settings.rate_limits)
        self.server = grpc.aio.server(
            interceptors=[
                MetricsInterceptor(self.metrics),  # first: it also sees rejected calls
                CallInterceptor(TokenVerifier(settings.jwt)),
                RateLimitInterceptor(self.rate_limits),
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
            ],
        )
        register_servicers(self.server, self)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        reflection.enable_server_reflection(
            (*SERVICE_NAMES, health.SERVICE_NAME, reflection.SERVICE_NAME), self.server
        )
        self.port = 0
        listen = settings.metrics_listen
        self.metrics_endpoint = MetricsEndpoint(self.metrics.registry, listen) if listen else None
        self.metrics_port = 0
        self._background: list[asyncio.Task[None]] = []
        self._bus_task: asyncio.Task[None] | None = None
        self._ring_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Migrate the database, then start the worker and, when serving, the port and the loops."""
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        await migrations.upgrade(self.db)
        if self.bus is not None:  # stopped after the calls, so the events of the last ones go out
            self._bus_task = asyncio.create_task(self.bus.run())
            self._background.append(asyncio.create_task(self._retry_cache_invalidations()))
        if self.ring_sink is not None:  # stopped last, so the events of the last calls still go
            self._ring_task = asyncio.create_task(self.ring_sink.run())
        if self.settings.worker_enabled or not self.serve_grpc:
            self._background.append(asyncio.create_task(self.worker.run()))
        if not self.serve_grpc:
            _log.info("worker running", extra={"concurrency": self.settings.worker_concurrency})
            return
        if self.metrics_endpoint is not None:
            self.metrics_port = self.metrics_endpoint.start()
            refresh = self.metrics.refresh_forever(self.settings.metrics_refresh_seconds)
            self._background.append(asyncio.create_task(refresh))
        self.port = self.server.add_insecure_port(self.settings.listen)
        if self.port == 0:
            raise OSError(f"cannot listen on {self.settings.listen}")
        await self.server.start()
        for name in ("", *SERVICE_NAMES):
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        self._background.append(asyncio.create_task(self._sweep_expired_tasks()))
        # Without Redis this is how a separate worker process's events reach watchers here; with
        # it, a safety net for publishes Redis lost.
        outbox_check = _OUTBOX_CHECK_SECONDS * (5 if self.bus is not None else 1)
        self._background.append(asyncio.create_task(watch_outbox(self.hub, self._event_log, outbox_check)))
        interval = timedelta(minutes=self.settings.cleanup_interval_minutes)
        self._background.append(asyncio.create_task(self.maintenance.run_forever(interval)))
        _log.info(
            "serving",
            extra={"listen": self.settings.listen, "port": self.port, "metrics_port": self.metrics_port},
        )

    async def stop(self, grace: float | None = None) -> None:
        """Report NOT_SERVING, stop the loops, drain calls for ``grace`` seconds, close pools."""
        await self.health.enter_graceful_shutdown()
        await _cancel(self._background)
        if self.serve_grpc:
            await self.server.stop(self.settings.shutdown_grace_seconds if grace is None else grace)
        await self.db.settle(_SINK_DRAIN_SECONDS)  # events of calls cancelled right after commit
        if self.bus is not None and self._bus_task is not None:
            await self.bus.drain(_SINK_DRAIN_SECONDS)
            await _cancel([self._bus_task])
        await self._stop_ring_sink()
        if self.metrics_endpoint is not None:
            await self.metrics_endpoint.stop()
        await self.db.close()
        if self.redis is not None:
            await self.task_cache.retry_pending()
            await self.redis.aclose()
        _log.info("stopped")

    def _event_bus(self) -> RedisEventBus | None:
        """Fan-out to and from the other instances, when Redis is configured."""
        if self.redis is None or self.settings.redis_url is None:
            return None

        async def redis_back() -> None:
            """Redis (re)connected: re-read what it may have dropped, redo lost invalidations."""
            self.hub.resync()
            await self.task_cache.retry_pending()

        bus = RedisEventBus(
            self.redis,
            self.settings.redis_url,
            new_id(),
            self.hub.deliver,
            self.hub.resync,
            redis_back,
            on_drop=self.metrics.sink_drops("redis"),
            prefix=self.settings.redis_prefix,
        )
        self.hub.forward_to(bus.forward)
        return bus

    def _ring_sink(self) -> RingSink | None:
        """Deliveries to DysonNetwork's Ring service, when its address is configured."""
        ring = self.settings.ring
        if ring.address is None:
            return None
        client = GrpcRingClient(ring.address, ring.call_timeout_seconds, ring.retry_max_seconds)
        sink = RingSink(client, ring, on_drop=self.metrics.sink_drops("ring"))
        self.hub.forward_to(sink.offer)
        return sink

    def _task_cache(self) -> TaskCache:
        """Redis when configured; else none: processes sharing a database without Redis (API
        servers, `drive-service worker` processes) could not tell each other about changes."""
        if self.redis is None:
            return NoTaskCache()
        ttl = self.settings.cache_duration_minutes * 60
        return RedisTaskCache(self.redis, ttl, self.redis_guard, prefix=self.settings.redis_prefix)

    async def _stop_ring_sink(self) -> None:
        """Give queued Ring deliveries a short, bounded drain, then stop sending and disconnect."""
        if self.ring_sink is None:
            return
        if self._ring_task is not None:
            await self.ring_sink.drain(_SINK_DRAIN_SECONDS)
            await _cancel([self._ring_task])
        await self.ring_sink.close()

    async def _ping_redis(self) -> None:
        assert self.redis is not None
        await self.redis.ping()

    async def _retry_cache_invalidations(self) -> None:
        while True:
            await asyncio.sleep(_CACHE_RETRY_SECONDS)
            await self.task_cache.retry_pending()

    async def _sweep_expired_tasks(self) -> None:
        while True:
            await asyncio.sleep(self.settings.expiry_sweep_seconds)
            try:
                await self.tasks.expire_overdue()
            except Exception:
                _log.exception("expiry sweep failed")


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


async def serve(settings: Settings, *, serve_grpc: bool = True) -> None:
    """Run until SIGTERM or SIGINT, then shut down gracefully (``serve_grpc=False``: worker only)."""
    logs.configure(settings.log_levels)
    app = App(settings, serve_grpc=serve_grpc)
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

"""The composition root: ``build`` chooses an implementation of every port and wires the services.

Building opens nothing (no connection, socket or file): ``App`` starts and stops what was built.
Tests and benchmarks call ``build`` with overrides (a clock they move, a failing blob store, their
own task handlers, another Ring client).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import redis.asyncio as redis

from drive_service.config import Settings
from drive_service.domain.ids import new_id
from drive_service.domain.pools import Pool
from drive_service.domain.tasks import Task
from drive_service.metrics import Metrics
from drive_service.pools import PoolRegistry, load_pools
from drive_service.services.events import EventHub, EventWatcher, Publisher
from drive_service.services.file_ops import FileOps
from drive_service.services.files import FileManager
from drive_service.services.handlers import Handler, registry
from drive_service.services.handlers.builtin import builtin_handlers
from drive_service.services.health import HealthChecker
from drive_service.services.maintenance import Maintenance, MaintenancePolicy
from drive_service.services.ports import (
    BlobStore,
    BlobStores,
    Buckets,
    Clock,
    EventLog,
    FileStore,
    OutputStore,
    RingClient,
    TaskCache,
    TaskStore,
    UploadStore,
    WorkerStore,
)
from drive_service.services.rate_limits import RateLimits
from drive_service.services.ring_sink import RingSink
from drive_service.services.secrets import SecretBox
from drive_service.services.tasks import TaskManager
from drive_service.services.tokens import TokenVerifier
from drive_service.services.uploads import UploadLimits, UploadManager
from drive_service.services.worker import Worker, WorkerSettings
from drive_service.storage.blobs import BlobStoreRegistry, LocalBlobStore
from drive_service.storage.db import Database
from drive_service.storage.files import SqlFileStore
from drive_service.storage.memory_buckets import MemoryBuckets
from drive_service.storage.outbox import SqlEventLog
from drive_service.storage.outputs import SqlOutputStore
from drive_service.storage.probes import directory_writable
from drive_service.storage.redis_buckets import RedisBuckets
from drive_service.storage.redis_bus import RedisEventBus
from drive_service.storage.redis_client import RedisGuard, command_client
from drive_service.storage.ring_client import GrpcRingClient
from drive_service.storage.task_cache import NoTaskCache, RedisTaskCache
from drive_service.storage.tasks import SqlTaskStore
from drive_service.storage.uploads import SqlUploadStore
from drive_service.storage.worker import SqlWorkerStore


def utc_now() -> datetime:
    """The production clock."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class Stores:
    """The storage ports the use cases persist through."""

    tasks: TaskStore
    worker: WorkerStore
    uploads: UploadStore
    files: FileStore
    outputs: OutputStore
    events: EventLog


def sql_stores(db: Database) -> Stores:
    """The production stores: SQL on ``db``."""
    return Stores(
        tasks=SqlTaskStore(db),
        worker=SqlWorkerStore(db),
        uploads=SqlUploadStore(db),
        files=SqlFileStore(db),
        outputs=SqlOutputStore(db),
        events=SqlEventLog(db),
    )


@dataclass(frozen=True)
class Service:
    """Everything ``build`` made; ``App`` starts, serves and stops it."""

    settings: Settings
    clock: Clock
    db: Database
    redis: redis.Redis | None
    metrics: Metrics
    hub: EventHub
    publisher: Publisher
    task_cache: TaskCache
    bus: RedisEventBus | None
    ring_sink: RingSink | None
    event_log: EventLog
    watcher: EventWatcher
    pools: PoolRegistry
    blobs: BlobStores
    files: FileManager
    tasks: TaskManager
    uploads: UploadManager
    worker: Worker
    maintenance: Maintenance
    health: HealthChecker
    rate_limits: RateLimits
    tokens: TokenVerifier


def build(
    settings: Settings,
    *,
    clock: Clock = utc_now,
    blob_store: Callable[[Pool], BlobStore] | None = None,
    stores: Stores | None = None,
    handlers: list[Handler] | None = None,
    ring_client: RingClient | None = None,
) -> Service:
    """Wire the service for ``settings``; each keyword replaces the production choice.

    Raises:
        ConfigError: the pools file is unusable (names DRIVE_POOLS_FILE).
    """
    storage = settings.storage
    db = Database(storage.database_url)
    metrics = Metrics(clock)
    hub = EventHub()
    client = command_client(settings.redis.url) if settings.redis.url else None
    guard = RedisGuard()  # shared: one failure spares every hot-path caller
    cache = _task_cache(settings, client, guard)
    publisher = Publisher(cache, hub)
    bus = _event_bus(settings, client, hub, cache, metrics)
    sink = _ring_sink(settings, hub, metrics, ring_client)
    pools = load_pools(storage.pools_file, storage.data_dir, storage.preferred_pool)
    make_store = blob_store or (lambda pool: LocalBlobStore(storage.uploads_path, pool.root))
    blobs = BlobStoreRegistry({pool.id: make_store(pool) for pool in pools.all()})
    stores = stores or sql_stores(db)
    metrics.track_tasks(stores.tasks.count_by_status)
    watcher = EventWatcher(hub, stores.events, settings.tasks.event_retention_hours)
    file_store, outputs = stores.files, stores.outputs
    files = FileManager(file_store, pools, blobs, clock, storage.default_quota_bytes)

    async def discard_outputs(task_id: str) -> None:
        await outputs.discard_outputs(task_id, files.release_blob)

    def file_ops(task: Task, token: str) -> FileOps:
        return FileOps(
            account_id=task.account_id,
            task_id=task.task_id,
            lease_token=token,
            files=files,
            file_store=file_store,
            outputs=outputs,
            pools=pools,
            blobs=blobs,
            clock=clock,
            default_quota=storage.default_quota_bytes,
        )

    registered = registry(builtin_handlers() if handlers is None else handlers)
    secrets = SecretBox(storage.master_key)
    worker_settings = WorkerSettings(
        concurrency=settings.worker.concurrency,
        lease=timedelta(seconds=settings.worker.lease_seconds),
        poll=timedelta(milliseconds=settings.worker.poll_ms),
    )
    worker = Worker(
        stores.worker, publisher, registered, clock, file_ops, discard_outputs, worker_settings, secrets
    )
    tasks = TaskManager(
        stores.tasks,
        cache,
        publisher,
        watcher,
        clock,
        managed_types=frozenset(registered),
        on_queued=worker.wake,
        on_abandoned=discard_outputs,
        secrets=secrets,
    )
    upload_store = stores.uploads
    limits = UploadLimits(
        default_chunk_size=settings.uploads.default_chunk_size,
        max_chunk_size=settings.uploads.max_chunk_size,
        max_file_size=settings.uploads.max_file_size,
        default_quota=storage.default_quota_bytes,
        master_key=storage.master_key,
        upload_events=settings.uploads.upload_events,
        max_buffered_chunks=settings.uploads.max_buffered_chunks,
        max_buffered_chunks_per_account=settings.uploads.max_buffered_chunks_per_account,
    )
    uploads = UploadManager(upload_store, file_store, pools, blobs, publisher, clock, limits)
    maintenance = Maintenance(
        uploads=uploads,
        tasks=tasks,
        files=files,
        outputs=outputs,
        event_log=stores.events,
        discard_outputs=discard_outputs,
        upload_store=upload_store,
        file_store=file_store,
        blobs=blobs,
        pools=pools,
        clock=clock,
        policy=MaintenancePolicy(
            stale_upload_after=timedelta(hours=settings.uploads.stale_threshold_hours),
            task_retention=timedelta(days=settings.tasks.retention_days),
            event_retention=timedelta(hours=settings.tasks.event_retention_hours),
        ),
    )
    probes: dict[str, Callable[[], Awaitable[None]] | None] = {
        "database": db.ping,
        "redis": client.ping if client is not None else None,
        "storage": lambda: directory_writable(storage.uploads_path),
        **{f"pool:{pool.id}": blobs.of(pool.id).probe for pool in pools.all()},
    }
    buckets: Buckets = MemoryBuckets()
    if client is not None:
        buckets = RedisBuckets(client, guard, prefix=settings.redis.prefix)
    return Service(
        settings=settings,
        clock=clock,
        db=db,
        redis=client,
        metrics=metrics,
        hub=hub,
        publisher=publisher,
        task_cache=cache,
        bus=bus,
        ring_sink=sink,
        event_log=stores.events,
        watcher=watcher,
        pools=pools,
        blobs=blobs,
        files=files,
        tasks=tasks,
        uploads=uploads,
        worker=worker,
        maintenance=maintenance,
        health=HealthChecker(probes, stores.tasks),
        rate_limits=RateLimits(buckets, settings.rate_limits),
        tokens=TokenVerifier(settings.jwt),
    )


def _task_cache(settings: Settings, client: redis.Redis | None, guard: RedisGuard) -> TaskCache:
    """Redis when configured; else none: processes sharing a database without Redis (API
    servers, `drive-service worker` processes) could not tell each other about changes."""
    if client is None:
        return NoTaskCache()
    ttl = settings.tasks.cache_duration_minutes * 60
    return RedisTaskCache(client, ttl, guard, prefix=settings.redis.prefix)


def _event_bus(
    settings: Settings, client: redis.Redis | None, hub: EventHub, cache: TaskCache, metrics: Metrics
) -> RedisEventBus | None:
    """Fan-out to and from the other instances, when Redis is configured."""
    if client is None or settings.redis.url is None:
        return None

    async def redis_back() -> None:
        """Redis (re)connected: re-read what it may have dropped, redo lost invalidations."""
        hub.resync()
        await cache.retry_pending()

    bus = RedisEventBus(
        client,
        settings.redis.url,
        new_id(),
        hub.deliver,
        hub.resync,
        redis_back,
        on_drop=metrics.sink_drops("redis"),
        prefix=settings.redis.prefix,
    )
    hub.forward_to(bus.forward)
    return bus


def _ring_sink(
    settings: Settings, hub: EventHub, metrics: Metrics, client: RingClient | None
) -> RingSink | None:
    """Deliveries to DysonNetwork's Ring service, when its address is configured."""
    ring = settings.ring
    if ring.address is None:
        return None
    client = client or GrpcRingClient(ring.address, ring.call_timeout_seconds, ring.retry_max_seconds)
    sink = RingSink(client, ring, on_drop=metrics.sink_drops("ring"))
    hub.forward_to(sink.offer)
    return sink

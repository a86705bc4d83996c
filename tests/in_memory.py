"""The use cases wired on the in-memory ports, for unit tests that need no database or disk."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from drive_service.domain.events import RecordedEvent
from drive_service.domain.pools import Pool, PoolPolicy
from drive_service.domain.tasks import Task, TaskType
from drive_service.errors import TaskFailed
from drive_service.pools import PoolRegistry
from drive_service.services.events import EventHub, EventWatcher, Publisher
from drive_service.services.file_ops import FileOps
from drive_service.services.files import FileManager
from drive_service.services.handlers import Handler, TaskContext
from drive_service.services.maintenance import Maintenance, MaintenancePolicy
from drive_service.services.secrets import SecretBox
from drive_service.services.tasks import TaskManager
from drive_service.services.uploads import UploadLimits, UploadManager
from drive_service.services.worker import Worker, WorkerSettings
from drive_service.storage.blobs import BlobStoreRegistry
from drive_service.storage.memory import (
    MemoryBlobStore,
    MemoryEventLog,
    MemoryFileStore,
    MemoryOutputStore,
    MemoryState,
    MemoryTaskStore,
    MemoryUploadStore,
    MemoryWorkerStore,
)
from drive_service.storage.task_cache import NoTaskCache
from tests.support import FakeClock

POOL_ID = "00000000-0000-4000-8000-000000000001"
CHUNK = 256 * 1024
QUOTA = 64 * 1024 * 1024
MASTER_KEY = bytes(range(32))


@dataclass
class InMemory:
    """Managers, worker and maintenance over one MemoryState; ``published`` is every event the
    publisher delivered, in order."""

    state: MemoryState
    clock: FakeClock
    blobs: MemoryBlobStore
    tasks: TaskManager
    uploads: UploadManager
    files: FileManager
    worker: Worker
    maintenance: Maintenance
    published: list[RecordedEvent]

    def event_types(self, task_id: str) -> list[str]:
        """Types of the published events of one task, in order."""
        return [recorded.event.type.value for recorded in self.published if recorded.event.task_id == task_id]


def in_memory(handlers: Sequence[Handler] = (), *, lease: timedelta = timedelta(seconds=30)) -> InMemory:
    """A fresh service on in-memory ports with one public pool and a clock the test moves."""
    state, clock, blobs = MemoryState(), FakeClock(), MemoryBlobStore()
    hub = EventHub()
    published: list[RecordedEvent] = []
    hub.forward_to(published.extend)
    publisher = Publisher(NoTaskCache(), hub)
    pools = PoolRegistry([Pool(POOL_ID, "Default", "", Path("/nonexistent"), PoolPolicy())], POOL_ID)
    stores = BlobStoreRegistry({POOL_ID: blobs})
    file_store, outputs = MemoryFileStore(state), MemoryOutputStore(state)
    files = FileManager(file_store, pools, stores, clock, QUOTA)
    event_log = MemoryEventLog(state)

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
            blobs=stores,
            clock=clock,
            default_quota=QUOTA,
        )

    registered = {handler.task_type: handler for handler in handlers}
    secrets = SecretBox(MASTER_KEY)
    settings = WorkerSettings(concurrency=2, lease=lease, poll=timedelta(milliseconds=10))
    worker = Worker(
        MemoryWorkerStore(state), publisher, registered, clock, file_ops, discard_outputs, settings, secrets
    )
    tasks = TaskManager(
        MemoryTaskStore(state),
        NoTaskCache(),
        publisher,
        EventWatcher(hub, event_log),
        clock,
        managed_types=frozenset(registered),
        on_queued=worker.wake,
        on_abandoned=discard_outputs,
        secrets=secrets,
    )
    upload_store = MemoryUploadStore(state)
    limits = UploadLimits(CHUNK, 4 * CHUNK, QUOTA, MASTER_KEY)
    uploads = UploadManager(upload_store, file_store, pools, stores, publisher, clock, limits)
    maintenance = Maintenance(
        uploads=uploads,
        tasks=tasks,
        files=files,
        outputs=outputs,
        event_log=event_log,
        discard_outputs=discard_outputs,
        upload_store=upload_store,
        file_store=file_store,
        blobs=stores,
        pools=pools,
        clock=clock,
        policy=MaintenancePolicy(timedelta(hours=24), timedelta(days=30), timedelta(hours=24)),
    )
    return InMemory(state, clock, blobs, tasks, uploads, files, worker, maintenance, published)


class Echo:
    """Runs CUSTOM tasks: returns its parameters as results; ``fail`` raises that many times first
    (a crash the worker retries), ``invalid`` fails the task for good."""

    task_type = TaskType.CUSTOM

    def __init__(self) -> None:
        self.runs = 0

    async def run(self, ctx: TaskContext) -> dict[str, Any]:
        self.runs += 1
        if ctx.parameters.get("invalid"):
            raise TaskFailed("invalid parameters")
        if self.runs <= int(ctx.parameters.get("fail", 0)):
            raise RuntimeError("the handler crashed")
        await ctx.report(50.0, "half way", {"step": 1})
        return dict(ctx.parameters)

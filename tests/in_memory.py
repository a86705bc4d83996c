"""The service as ``bootstrap.build`` wires it, on the in-memory stores: unit tests of the use
cases that need no database, disk or network."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from drive_service.bootstrap import Stores, build
from drive_service.config import Settings
from drive_service.domain.events import RecordedEvent
from drive_service.domain.tasks import TaskType
from drive_service.errors import TaskFailed
from drive_service.services.files import FileManager
from drive_service.services.handlers import Handler, TaskContext
from drive_service.services.maintenance import Maintenance
from drive_service.services.tasks import TaskManager
from drive_service.services.uploads import UploadManager
from drive_service.services.worker import Worker
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
from tests.support import FakeClock

CHUNK = 256 * 1024
QUOTA = 64 * 1024 * 1024


@dataclass
class InMemory:
    """The service as ``bootstrap.build`` wires it, on in-memory stores; ``published`` is every
    event the publisher delivered, in order."""

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


def in_memory(handlers: Sequence[Handler] = ()) -> InMemory:
    """A fresh service on in-memory stores and blobs, with one public pool and a clock the test
    moves; nothing is opened (no database connection, no file, no socket)."""
    state, clock, blobs = MemoryState(), FakeClock(), MemoryBlobStore()
    settings = Settings.from_env(
        {
            "DRIVE_DATA_DIR": "/nonexistent/in-memory",
            "DRIVE_JWT_SECRET": "in-memory-tests-secret-that-is-long-enough-0123456789",
            "DRIVE_MASTER_KEY": base64.b64encode(bytes(range(32))).decode(),
            "UPLOAD_DEFAULT_CHUNK_SIZE": str(CHUNK),
            "UPLOAD_MAX_CHUNK_SIZE": str(4 * CHUNK),
            "DRIVE_DEFAULT_QUOTA_BYTES": str(QUOTA),
            "DRIVE_WORKER_CONCURRENCY": "2",
        }
    )
    stores = Stores(
        tasks=MemoryTaskStore(state),
        worker=MemoryWorkerStore(state),
        uploads=MemoryUploadStore(state),
        files=MemoryFileStore(state),
        outputs=MemoryOutputStore(state),
        events=MemoryEventLog(state),
    )
    service = build(
        settings, clock=clock, stores=stores, blob_store=lambda _pool: blobs, handlers=list(handlers)
    )
    published: list[RecordedEvent] = []
    service.hub.forward_to(published.extend)
    return InMemory(
        state,
        clock,
        blobs,
        service.tasks,
        service.uploads,
        service.files,
        service.worker,
        service.maintenance,
        published,
    )


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

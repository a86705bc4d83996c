"""The maintenance loop: expiry of idle uploads, tasks and files, retention, garbage collection."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

from drive_service.pools import PoolRegistry
from drive_service.services.files import FileManager
from drive_service.services.ports import (
    BlobStore,
    BlobStores,
    Clock,
    EventLog,
    FileStore,
    OutputStore,
    UploadStore,
)
from drive_service.services.tasks import TaskManager
from drive_service.services.uploads import UploadManager

_log = logging.getLogger(__name__)
#: Blobs younger than this are never collected: a completion may be about to reference them.
BLOB_GRACE = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class MaintenancePolicy:
    """How long things may live."""

    stale_upload_after: timedelta
    task_retention: timedelta
    event_retention: timedelta = timedelta(hours=24)


@dataclass(slots=True)
class MaintenanceReport:
    """What one pass did."""

    uploads_expired: int = 0
    tasks_expired: int = 0
    files_expired: int = 0
    tasks_purged: int = 0
    events_pruned: int = 0
    staging_removed: int = 0
    outputs_discarded: int = 0
    blobs_removed: int = 0  # and leftovers of interrupted writes


class Maintenance:
    """One pass of every cleanup job; each job's failure is logged and the others still run."""

    def __init__(
        self,
        *,
        uploads: UploadManager,
        tasks: TaskManager,
        files: FileManager,
        outputs: OutputStore,
        event_log: EventLog,
        discard_outputs: Callable[[str], Awaitable[object]],
        upload_store: UploadStore,
        file_store: FileStore,
        blobs: BlobStores,
        pools: PoolRegistry,
        clock: Clock,
        policy: MaintenancePolicy,
    ) -> None:
        self._uploads = uploads
        self._tasks = tasks
        self._files = files
        self._outputs = outputs
        self._event_log = event_log
        self._discard_outputs = discard_outputs
        self._upload_store = upload_store
        self._file_store = file_store
        self._blobs = blobs
        self._pools = pools
        self._clock = clock
        self._policy = policy

    async def run_once(self) -> MaintenanceReport:
        """Run every job once, in an order where earlier jobs feed later ones."""
        report = MaintenanceReport()
        jobs: list[tuple[str, Callable[[], Awaitable[int]]]] = [
            ("uploads_expired", lambda: self._uploads.expire_stale(self._policy.stale_upload_after)),
            ("tasks_expired", self._tasks.expire_overdue),
            ("files_expired", self._files.expire_files),
            ("tasks_purged", lambda: self._tasks.purge_terminal(self._policy.task_retention)),
            ("events_pruned", lambda: self._event_log.prune(self._clock() - self._policy.event_retention)),
            ("staging_removed", self._collect_staging),
            ("outputs_discarded", self._collect_outputs),
            ("blobs_removed", self._collect_blobs),
        ]
        for name, job in jobs:
            try:
                setattr(report, name, await job())
            except Exception:
                _log.exception("maintenance job failed", extra={"job": name})
        return report

    async def run_forever(self, interval: timedelta) -> None:
        """Run a pass every ``interval`` until cancelled."""
        while True:
            await asyncio.sleep(interval.total_seconds())
            report = await self.run_once()
            _log.info("maintenance pass", extra=dataclasses.asdict(report))

    async def _collect_outputs(self) -> int:
        """Hidden outputs of tasks that ended without completing (a crash between the end and the
        clean-up, for instance) are deleted here."""
        abandoned = await self._outputs.abandoned_output_tasks(100)
        for task_id in abandoned:
            await self._discard_outputs(task_id)
        return len(abandoned)

    async def _collect_staging(self) -> int:
        async def collect(pool_id: str, store: BlobStore) -> int:
            staged = await store.staging_ids()
            keep = await self._upload_store.staged_task_ids(staged) if staged else set()
            for task_id in staged:
                if task_id not in keep:
                    await store.discard_staging(task_id)
            return len(staged) - len(keep)

        return await self._each_store(collect)

    async def _collect_blobs(self) -> int:
        """Blobs no file references, and the leftovers of interrupted writes, once older than
        BLOB_GRACE. Bytes a store keeps where an upload staged them are named by the task's id:
        while that upload is in progress (its completion may be hashing them), they stay."""
        older_than = self._clock() - BLOB_GRACE

        async def collect(pool_id: str, store: BlobStore) -> int:
            removed = await store.sweep(older_than)
            candidates = await store.blob_keys(older_than)
            known = await self._file_store.known_blobs(pool_id, candidates) if candidates else set()
            unknown = [key for key in candidates if key not in known]
            staged = await self._upload_store.staged_task_ids(unknown) if unknown else set()
            for key in unknown:
                if key not in staged:
                    await store.delete_blob(key)
                    removed += 1
            return removed

        return await self._each_store(collect)

    async def _each_store(self, job: Callable[[str, BlobStore], Awaitable[int]]) -> int:
        """Run ``job`` on each pool's store, summing its counts; a store that fails (its bucket
        unreachable, say) is logged and the other pools are still served."""
        total = 0
        for pool in self._pools.all():
            try:
                total += await job(pool.id, self._blobs.of(pool.id))
            except Exception:
                _log.exception("maintenance of a pool's store failed", extra={"pool_id": pool.id})
        return total

"""In-memory UploadStore over a MemoryState, with its chunk and use-case units."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from drive_service.domain.events import Event
from drive_service.domain.files import Bundle, StoredFile, Upload, Usage
from drive_service.domain.tasks import Task, TaskStatus, TaskType
from drive_service.domain.uploads import ChunkReceipt, UploadStats
from drive_service.errors import ChunkAlreadyUploaded, TaskNotFound
from drive_service.services.ports import Changes, UploadChange
from drive_service.storage.memory.files import add_reference, find_live, usage
from drive_service.storage.memory.state import MemoryState, Tx
from drive_service.storage.memory.tasks import store_change

_SORT: dict[str, Callable[[tuple[Task, Upload]], Any]] = {
    "filename": lambda pair: pair[1].file_name,
    "filesize": lambda pair: pair[1].file_size,
    "created": lambda pair: pair[0].created_at,
    "updated": lambda pair: pair[0].updated_at,
    "lastActivity": lambda pair: pair[0].last_activity,
}
_FINISHED = {TaskStatus.FAILED, TaskStatus.EXPIRED, TaskStatus.CANCELLED}


def _apply(tx: Tx, current: tuple[Task, Upload], change: UploadChange) -> tuple[Task, Upload]:
    task, upload = current
    new_task, new_upload, events = change(task, upload)
    if new_upload != upload:
        tx.put(tx.state.uploads, upload.task_id, new_upload)
    store_change(tx, task, new_task, events)
    return new_task, new_upload


class MemoryUploadStore:
    """UploadStore in memory."""

    def __init__(self, state: MemoryState) -> None:
        self._state = state

    async def get(self, account_id: str, task_id: str) -> tuple[Task, Upload] | None:
        upload: Upload | None = self._state.uploads.get(task_id)
        if upload is None or upload.account_id != account_id:
            return None
        return self._state.tasks[task_id], upload

    async def find(
        self,
        account_id: str,
        status: TaskStatus | None,
        sort_by: str,
        descending: bool,
        offset: int,
        limit: int,
    ) -> tuple[list[tuple[Task, Upload]], int]:
        pairs = [
            (self._state.tasks[upload.task_id], upload)
            for upload in self._state.uploads.values()
            if upload.account_id == account_id
            and (status is None or self._state.tasks[upload.task_id].status is status)
        ]
        key = _SORT[sort_by]
        pairs.sort(key=lambda pair: (key(pair), pair[0].task_id), reverse=descending)
        return pairs[offset : offset + limit], len(pairs)

    async def uploaded_chunks(self, task_id: str) -> list[int]:
        return sorted(index for owner, index in self._state.receipts if owner == task_id)

    async def chunk_activity(self, task_id: str, since: datetime) -> list[tuple[datetime, int]]:
        return [
            (moment, self._state.receipt_sizes[key])
            for key, moment in self._state.receipts.items()
            if key[0] == task_id and moment >= since
        ]

    @asynccontextmanager
    async def receiving(self, account_id: str, task_id: str) -> AsyncIterator[MemoryChunkUnit]:
        async with self._state.write() as tx:
            found = await self.get(account_id, task_id)
            if found is None:
                raise TaskNotFound(task_id)
            yield MemoryChunkUnit(tx, *found)

    @asynccontextmanager
    async def unit(self, account_id: str) -> AsyncIterator[MemoryUploadUnit]:
        async with self._state.write() as tx:
            yield MemoryUploadUnit(tx, self, account_id)

    async def change(
        self, account_id: str, task_id: str, change: UploadChange
    ) -> tuple[Task, Upload, Changes]:
        async with self._state.write() as tx:
            found = await self.get(account_id, task_id)
            if found is None:
                raise TaskNotFound(task_id)
            task, upload = _apply(tx, found, change)
        return task, upload, tx.changes

    async def stats(self, account_id: str) -> UploadStats:
        pairs, _ = await self.find(account_id, None, "created", False, 0, len(self._state.uploads) + 1)
        by_status: dict[TaskStatus, int] = {}
        for task, _upload in pairs:
            by_status[task.status] = by_status.get(task.status, 0) + 1
        running = [task.progress for task, _ in pairs if task.status is TaskStatus.IN_PROGRESS]
        average = sum(running) / len(running) if running else 0.0
        return UploadStats(by_status, sum(upload.bytes_uploaded for _, upload in pairs), average)

    async def stale(self, idle_before: datetime, limit: int) -> list[tuple[str, str]]:
        idle = [
            (task.account_id, task.task_id)
            for task in (self._state.tasks[task_id] for task_id in self._state.uploads)
            if task.status is TaskStatus.IN_PROGRESS and task.last_activity < idle_before
        ]
        return idle[:limit]

    async def delete_finished(self, account_id: str) -> tuple[list[str], Changes]:
        async with self._state.write() as tx:
            gone = [
                task.task_id
                for task in self._state.tasks.values()
                if task.account_id == account_id
                and task.type is TaskType.FILE_UPLOAD
                and task.status in _FINISHED
            ]
            for task_id in gone:
                tx.drop(self._state.tasks, task_id)
                tx.drop(self._state.uploads, task_id)
            tx.touch(*gone)
        return gone, tx.changes

    async def staged_task_ids(self, task_ids: Sequence[str]) -> set[str]:
        return {
            task_id
            for task_id in task_ids
            if task_id in self._state.tasks
            and self._state.tasks[task_id].status in {TaskStatus.IN_PROGRESS, TaskStatus.PAUSED}
        }


class MemoryChunkUnit:
    """ChunkUnit in memory."""

    def __init__(self, tx: Tx, task: Task, upload: Upload) -> None:
        self.task = task
        self.upload = upload
        self.changes = tx.changes
        self._tx = tx

    async def claim(self, receipt: ChunkReceipt) -> None:
        key = (self.task.task_id, receipt.index)
        if key in self._tx.state.receipts:
            raise ChunkAlreadyUploaded(self.task.task_id, receipt.index)
        self._tx.put(self._tx.state.receipts, key, receipt.created_at)
        self._tx.put(self._tx.state.receipt_sizes, key, receipt.size)

    async def apply(self, change: UploadChange) -> tuple[Task, Upload]:
        self.task, self.upload = _apply(self._tx, (self.task, self.upload), change)
        return self.task, self.upload


class MemoryUploadUnit:
    """UploadUnit in memory."""

    def __init__(self, tx: Tx, store: MemoryUploadStore, account_id: str) -> None:
        self.changes = tx.changes
        self._tx = tx
        self._store = store
        self._account_id = account_id

    async def usage(self, multipliers: dict[str, float], default_quota: int) -> Usage:
        return usage(self._tx.state, self._account_id, multipliers, default_quota)

    async def find_file(self, sha256: str, size: int, now: datetime) -> StoredFile | None:
        return find_live(self._tx.state, self._account_id, sha256, size, now)

    async def bundle(self, bundle_id: str) -> Bundle | None:
        bundle: Bundle | None = self._tx.state.bundles.get(bundle_id)
        return bundle if bundle is not None and bundle.account_id == self._account_id else None

    async def insert(self, task: Task, upload: Upload, events: Sequence[Event]) -> None:
        self._tx.put(self._tx.state.tasks, task.task_id, task)
        self._tx.put(self._tx.state.uploads, task.task_id, upload)
        self._tx.record(task.updated_at, events)

    async def lock(self, task_id: str) -> tuple[Task, Upload] | None:
        return await self._store.get(self._account_id, task_id)

    async def uploaded_chunks(self, task_id: str) -> list[int]:
        return await self._store.uploaded_chunks(task_id)

    async def reference_blob(self, file: StoredFile) -> bool:
        return add_reference(self._tx, file)

    async def insert_file(self, file: StoredFile) -> None:
        self._tx.put(self._tx.state.files, file.id, file)

    async def apply(self, task_id: str, change: UploadChange) -> tuple[Task, Upload]:
        found = await self.lock(task_id)
        if found is None:
            raise TaskNotFound(task_id)
        return _apply(self._tx, found, change)

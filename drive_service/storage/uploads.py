"""UploadStore on SQLAlchemy Core: upload rows, chunk receipts and the completion transaction."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from drive_service.domain.events import Event, RecordedEvent
from drive_service.domain.files import StoredFile, Upload
from drive_service.domain.tasks import Task, TaskStatus, TaskType
from drive_service.errors import AlreadyExists, TaskNotFound
from drive_service.storage import outbox
from drive_service.storage.db import Database
from drive_service.storage.files import insert_file
from drive_service.storage.models import blobs, chunk_receipts, tasks, uploads
from drive_service.storage.tasks import task_from_row, task_row

#: A pure change of a locked upload: new task, new upload and the events describing the change.
UploadChange = Callable[[Task, Upload], tuple[Task, Upload, Sequence[Event]]]

_UPLOAD_FIELDS = [field.name for field in dataclasses.fields(Upload)]
_FILE_FIELDS = [field.name for field in dataclasses.fields(StoredFile)]
_SORT_COLUMNS = {
    "filename": uploads.c.file_name,
    "filesize": uploads.c.file_size,
    "created": tasks.c.created_at,
    "updated": tasks.c.updated_at,
    "lastActivity": tasks.c.last_activity,
}


@dataclasses.dataclass(frozen=True, slots=True)
class UploadStats:
    """An account's upload counts by status, bytes received and mean running progress."""

    by_status: dict[TaskStatus, int]
    uploaded_bytes: int
    average_progress: float


class SqlUploadStore:
    """Uploads joined with their tasks; every change is committed with its events."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(self, task: Task, upload: Upload, events: Sequence[Event]) -> list[RecordedEvent]:
        """Store the task, its upload row and its events in one transaction."""
        async with self._db.write() as conn:
            await conn.execute(insert(tasks).values(**task_row(task)))
            await conn.execute(insert(uploads).values(**_upload_row(upload)))
            return await outbox.record(conn, task.updated_at, events)

    async def get(self, account_id: str, task_id: str) -> tuple[Task, Upload] | None:
        """The caller's upload, or None."""
        async with self._db.read() as conn:
            return await _select(conn, account_id, task_id, lock=False)

    async def find(
        self,
        account_id: str,
        status: TaskStatus | None,
        sort_by: str,
        descending: bool,
        offset: int,
        limit: int,
    ) -> tuple[list[tuple[Task, Upload]], int]:
        """A page of the caller's uploads and the total matching ``status``."""
        condition: ColumnElement[bool] = uploads.c.account_id == account_id
        if status is not None:
            condition = and_(condition, tasks.c.status == status.value)
        column = _SORT_COLUMNS[sort_by]
        order = (column.desc(), tasks.c.task_id.desc()) if descending else (column, tasks.c.task_id)
        joined = tasks.join(uploads, uploads.c.task_id == tasks.c.task_id)
        page = (
            (select(tasks, *_upload_columns()).select_from(joined).where(condition).order_by(*order))
            .offset(offset)
            .limit(limit)
        )
        count = select(func.count()).select_from(joined).where(condition)
        async with self._db.read() as conn:
            rows = (await conn.execute(page)).mappings().all()
            total = (await conn.execute(count)).scalar_one()
        return [_pair(row) for row in rows], int(total)

    async def uploaded_chunks(self, task_id: str) -> list[int]:
        """Indexes of the stored chunks, ascending."""
        query = (
            select(chunk_receipts.c.chunk_index)
            .where(chunk_receipts.c.task_id == task_id)
            .order_by(chunk_receipts.c.chunk_index)
        )
        async with self._db.read() as conn:
            return list((await conn.execute(query)).scalars())

    async def chunk_activity(self, task_id: str, since: datetime) -> list[tuple[datetime, int]]:
        """(time, size) of the chunks received since ``since``."""
        query = select(chunk_receipts.c.created_at, chunk_receipts.c.size).where(
            chunk_receipts.c.task_id == task_id, chunk_receipts.c.created_at >= since
        )
        async with self._db.read() as conn:
            return [(row.created_at, row.size) for row in await conn.execute(query)]

    async def record_chunk(
        self,
        account_id: str,
        task_id: str,
        receipt: tuple[int, int, int | None],
        now: datetime,
        write: Callable[[], Awaitable[None]],
        change: UploadChange,
    ) -> tuple[Task, Upload, list[RecordedEvent]]:
        """Claim chunk ``receipt`` = (index, size, crc32c), write its bytes, count it; one transaction.

        The receipt row is inserted first: of two writers of one chunk exactly one gets it (the
        other waits on the unique key, then sees the conflict), and only the winner writes bytes.
        ``write`` must make the bytes durable before returning, so a committed receipt always
        names durable bytes; any exception rolls the claim back.

        Raises:
            AlreadyExists: CHUNK_ALREADY_UPLOADED.
        """
        index, size, crc = receipt
        async with self._db.write() as conn:
            dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
            claim = (
                dialect.insert(chunk_receipts)
                .values(task_id=task_id, chunk_index=index, size=size, crc32c=crc, created_at=now)
                .on_conflict_do_nothing()
                .returning(chunk_receipts.c.chunk_index)
            )
            if (await conn.execute(claim)).first() is None:
                raise AlreadyExists(
                    f"Chunk {index} of task {task_id} is already uploaded.",
                    reason="CHUNK_ALREADY_UPLOADED",
                    task_id=task_id,
                    chunk_index=index,
                )
            await write()
            return await _apply(conn, account_id, task_id, change)

    async def change(
        self, account_id: str, task_id: str, change: UploadChange
    ) -> tuple[Task, Upload, list[RecordedEvent]]:
        """Lock the caller's upload, apply ``change`` and store the result with its events."""
        async with self._db.write() as conn:
            return await _apply(conn, account_id, task_id, change)

    async def complete(
        self,
        account_id: str,
        task_id: str,
        file: StoredFile,
        place: Callable[[bool], Awaitable[None]],
        change: UploadChange,
    ) -> tuple[Task, Upload, list[RecordedEvent]]:
        """Reference the file's blob, create the file row and finish the task in one transaction.

        ``place(existed)`` puts the bytes in place while the blob row is locked; ``existed`` tells
        whether another file already holds this content.
        """
        async with self._db.write() as conn:
            await insert_file(conn, file, place)
            return await _apply(conn, account_id, task_id, change)

    async def stats(self, account_id: str) -> UploadStats:
        """Counts by status, bytes received and the mean progress of running uploads, in SQL."""
        joined = tasks.join(uploads, uploads.c.task_id == tasks.c.task_id)
        mine = uploads.c.account_id == account_id
        counts = select(tasks.c.status, func.count()).select_from(joined).where(mine).group_by(tasks.c.status)
        totals = (
            select(
                func.coalesce(func.sum(uploads.c.bytes_uploaded), 0),
                func.avg(tasks.c.progress).filter(tasks.c.status == TaskStatus.IN_PROGRESS.value),
            )
            .select_from(joined)
            .where(mine)
        )
        async with self._db.read() as conn:
            by_status = {TaskStatus(status): count for status, count in await conn.execute(counts)}
            uploaded, average = (await conn.execute(totals)).one()
        return UploadStats(by_status, int(uploaded), float(average or 0.0))

    async def stale(self, idle_before: datetime, limit: int) -> list[tuple[str, str]]:
        """(account_id, task_id) of running uploads idle since before ``idle_before``."""
        query = (
            select(uploads.c.account_id, uploads.c.task_id)
            .select_from(tasks.join(uploads, uploads.c.task_id == tasks.c.task_id))
            .where(tasks.c.status == TaskStatus.IN_PROGRESS.value, tasks.c.last_activity < idle_before)
            .limit(limit)
        )
        async with self._db.read() as conn:
            return [(row.account_id, row.task_id) for row in await conn.execute(query)]

    async def delete_finished(self, account_id: str) -> list[str]:
        """Delete the caller's failed, expired and cancelled uploads; return their task ids."""
        finished = [TaskStatus.FAILED.value, TaskStatus.EXPIRED.value, TaskStatus.CANCELLED.value]
        query = (
            select(tasks.c.task_id)
            .where(
                tasks.c.account_id == account_id,
                tasks.c.type == TaskType.FILE_UPLOAD.value,
                tasks.c.status.in_(finished),
            )
            .with_for_update()
        )
        async with self._db.write() as conn:
            task_ids = list((await conn.execute(query)).scalars())
            if task_ids:
                await conn.execute(delete(tasks).where(tasks.c.task_id.in_(task_ids)))
        return task_ids

    async def known_blobs(self, pool_id: str, keys: Sequence[str]) -> set[str]:
        """Which of ``keys`` have a blob row in the pool (are referenced by files)."""
        query = select(blobs.c.key).where(blobs.c.pool_id == pool_id, blobs.c.key.in_(list(keys)))
        async with self._db.read() as conn:
            return set((await conn.execute(query)).scalars())

    async def staged_task_ids(self, task_ids: Sequence[str]) -> set[str]:
        """Which of ``task_ids`` are uploads still in progress (their staging must stay)."""
        query = select(tasks.c.task_id).where(
            tasks.c.task_id.in_(list(task_ids)),
            tasks.c.status.in_([TaskStatus.IN_PROGRESS.value, TaskStatus.PAUSED.value]),
        )
        async with self._db.read() as conn:
            return set((await conn.execute(query)).scalars())


async def _apply(
    conn: AsyncConnection, account_id: str, task_id: str, change: UploadChange
) -> tuple[Task, Upload, list[RecordedEvent]]:
    current = await _select(conn, account_id, task_id, lock=True)
    if current is None:
        raise TaskNotFound(task_id)
    task, upload = current
    new_task, new_upload, events = change(task, upload)
    if new_task != task:
        values = task_row(new_task)
        del values["task_id"], values["account_id"]
        await conn.execute(update(tasks).where(tasks.c.task_id == task_id).values(**values))
    if new_upload != upload:
        values = _upload_row(new_upload)
        del values["task_id"], values["account_id"]
        await conn.execute(update(uploads).where(uploads.c.task_id == task_id).values(**values))
    recorded = await outbox.record(conn, new_task.updated_at, events) if events else []
    return new_task, new_upload, recorded


async def _select(
    conn: AsyncConnection, account_id: str, task_id: str, *, lock: bool
) -> tuple[Task, Upload] | None:
    query = (
        select(tasks, *_upload_columns())
        .select_from(tasks.join(uploads, uploads.c.task_id == tasks.c.task_id))
        .where(tasks.c.task_id == task_id, tasks.c.account_id == account_id)
    )
    if lock:
        # FOR NO KEY UPDATE: it does not conflict with the KEY SHARE lock that inserting a row
        # referencing this task (a chunk receipt) takes, so concurrent chunk writers cannot deadlock.
        query = query.with_for_update(key_share=True)
    row = (await conn.execute(query)).mappings().one_or_none()
    return None if row is None else _pair(row)


def _upload_columns() -> list[Any]:
    return [uploads.c[name].label(f"u_{name}") for name in _UPLOAD_FIELDS]


def _pair(row: Any) -> tuple[Task, Upload]:
    upload = Upload(**{name: row[f"u_{name}"] for name in _UPLOAD_FIELDS})
    return task_from_row(row), upload


def _upload_row(upload: Upload) -> dict[str, Any]:
    return {name: getattr(upload, name) for name in _UPLOAD_FIELDS}

"""UploadStore on SQLAlchemy Core: upload rows, chunk receipts and the completion transaction."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, bindparam, delete, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from drive_service.domain.events import Event, RecordedEvent
from drive_service.domain.files import Bundle, StoredFile, Upload, Usage
from drive_service.domain.tasks import Task, TaskStatus, TaskType
from drive_service.errors import (
    ChunkAlreadyUploaded,
    TaskNotFound,
)
from drive_service.storage import outbox
from drive_service.storage.db import Database, touch_tasks
from drive_service.storage.files import account_usage, find_bundle, find_live_file, insert_file
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
class ChunkReceipt:
    """A chunk about to be recorded: its receipt row and how to write its bytes durably."""

    index: int
    size: int
    crc32c: int | None
    created_at: datetime
    write: Callable[[], Awaitable[None]]


#: Checks a chunk against its upload as it stands and says how to record it (raises to refuse).
ChunkCheck = Callable[[Task, Upload], ChunkReceipt]


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
        self, account_id: str, task_id: str, check: ChunkCheck, change: UploadChange
    ) -> tuple[Task, Upload, list[RecordedEvent]]:
        """Claim a chunk, write its bytes and count it, in one transaction.

        ``check(task, upload)`` sees the upload as it stands and returns the chunk's receipt. The
        receipt row is inserted first: of two writers of one chunk exactly one gets it (the other
        waits on the unique key, then sees the conflict), and only the winner writes bytes. Its
        ``write`` must make the bytes durable before returning; it runs while ``change`` updates
        the upload, and the transaction commits only after both, so a committed receipt always
        names durable bytes. Any exception rolls everything back, once the write has ended.

        Raises:
            TaskNotFound: no such upload for this account.
            AlreadyExists: CHUNK_ALREADY_UPLOADED.
        """
        async with self._db.write() as conn:
            current = await _select(conn, account_id, task_id, lock=False)
            if current is None:
                raise TaskNotFound(task_id)
            receipt = check(*current)
            row = {
                "task_id": task_id,
                "chunk_index": receipt.index,
                "size": receipt.size,
                "crc32c": receipt.crc32c,
                "created_at": receipt.created_at,
            }
            if (await conn.execute(_CLAIMS[conn.dialect.name], row)).first() is None:
                raise ChunkAlreadyUploaded(task_id, receipt.index)
            writing = asyncio.ensure_future(receipt.write())
            try:
                # SQLite: BEGIN IMMEDIATE took the database lock, so the row read above is current.
                known = current if conn.dialect.name == "sqlite" else None
                result = await _apply(conn, account_id, task_id, change, known)
                await asyncio.shield(writing)
            except BaseException:
                # Not before the bytes have landed: once the claim rolls back another writer may
                # win this chunk, and these bytes must not overwrite theirs.
                await _settle(writing)
                raise
            return result

    async def change(
        self, account_id: str, task_id: str, change: UploadChange
    ) -> tuple[Task, Upload, list[RecordedEvent]]:
        """Lock the caller's upload, apply ``change`` and store the result with its events."""
        async with self._db.write() as conn:
            return await _apply(conn, account_id, task_id, change)

    @contextlib.asynccontextmanager
    async def unit(self, account_id: str) -> AsyncIterator[UploadUnit]:
        """One write transaction for several steps of one use case (create, complete).

        It commits when the block ends normally, once the file work it started has succeeded
        (see ``UploadUnit.insert_file``), and rolls back on any exception, once that work ended.
        """
        async with self._db.write() as conn:
            unit = UploadUnit(conn, account_id)
            try:
                yield unit
            except BaseException:
                await unit.settle(quietly=True)
                raise
            await unit.settle()

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
                touch_tasks(*task_ids)
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


class UploadUnit:
    """The steps available inside ``SqlUploadStore.unit``: reads see the unit's own writes."""

    def __init__(self, conn: AsyncConnection, account_id: str) -> None:
        self._conn = conn
        self._account_id = account_id
        self._current: dict[str, tuple[Task, Upload]] = {}
        self._pending: list[asyncio.Future[None]] = []

    async def usage(self, multipliers: dict[str, float], default_quota: int) -> Usage:
        """The account's quota position (see FileStore.usage)."""
        return await account_usage(self._conn, self._account_id, multipliers, default_quota)

    async def find_file(self, sha256: str, size: int, now: datetime) -> StoredFile | None:
        """The account's live, unencrypted file with this content (see FileStore.find_file)."""
        return await find_live_file(self._conn, self._account_id, sha256, size, now)

    async def bundle(self, bundle_id: str) -> Bundle | None:
        """The account's bundle, or None."""
        return await find_bundle(self._conn, self._account_id, bundle_id)

    async def insert(self, task: Task, upload: Upload, events: Sequence[Event]) -> list[RecordedEvent]:
        """Store a new task, its upload row and its events."""
        await self._conn.execute(_INSERT_TASK, task_row(task))
        await self._conn.execute(_INSERT_UPLOAD, _upload_row(upload))
        return await outbox.record(self._conn, task.updated_at, events)

    async def lock(self, task_id: str) -> tuple[Task, Upload] | None:
        """The account's upload, locked until the unit ends, or None."""
        found = await _select(self._conn, self._account_id, task_id, lock=True)
        if found is not None:
            self._current[task_id] = found
        return found

    async def uploaded_chunks(self, task_id: str) -> list[int]:
        """Indexes of the stored chunks, ascending."""
        query = (
            select(chunk_receipts.c.chunk_index)
            .where(chunk_receipts.c.task_id == task_id)
            .order_by(chunk_receipts.c.chunk_index)
        )
        return list((await self._conn.execute(query)).scalars())

    async def insert_file(self, file: StoredFile, place: Callable[[bool], Awaitable[None]]) -> None:
        """Reference the file's blob and insert its row (see storage.files.insert_file).

        ``place(existed)`` starts once the blob row is locked and runs while the unit's next
        statements do; the unit commits only after it succeeded.
        """

        async def start(existed: bool) -> None:
            self._pending.append(asyncio.ensure_future(place(existed)))

        await insert_file(self._conn, file, start)

    async def settle(self, *, quietly: bool = False) -> None:
        """Wait for the work started by ``insert_file``; raise its failure unless ``quietly``."""
        pending, self._pending = self._pending, []
        try:
            if not quietly:
                for work in pending:
                    await asyncio.shield(work)
        finally:
            for work in pending:
                await _settle(work)

    async def apply(self, task_id: str, change: UploadChange) -> tuple[Task, Upload, list[RecordedEvent]]:
        """Apply ``change`` to the upload (as ``lock`` returned it) and store it with its events."""
        result = await _apply(self._conn, self._account_id, task_id, change, self._current.get(task_id))
        self._current[task_id] = result[:2]
        return result


async def _settle(work: asyncio.Future[None]) -> None:
    """Wait until ``work`` has ended, even when cancelled meanwhile; its outcome is dropped."""
    while not work.done():
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait([work])
    if not work.cancelled():
        work.exception()


async def _apply(
    conn: AsyncConnection,
    account_id: str,
    task_id: str,
    change: UploadChange,
    current: tuple[Task, Upload] | None = None,
) -> tuple[Task, Upload, list[RecordedEvent]]:
    """Apply ``change`` to the locked upload; ``current``: the row as this transaction last saw it
    under a lock that is still held (else it is read and locked now). Only changed columns are
    written."""
    if current is None:
        current = await _select(conn, account_id, task_id, lock=True)
    if current is None:
        raise TaskNotFound(task_id)
    task, upload = current
    new_task, new_upload, events = change(task, upload)
    if new_task != task:
        await conn.execute(_UPDATE_TASK, _changed(task_row(task), task_row(new_task), task_id))
        touch_tasks(task_id)
    if new_upload != upload:
        await conn.execute(_UPDATE_UPLOAD, _changed(_upload_row(upload), _upload_row(new_upload), task_id))
    recorded = await outbox.record(conn, new_task.updated_at, events) if events else []
    return new_task, new_upload, recorded


def _changed(old: dict[str, Any], new: dict[str, Any], task_id: str) -> dict[str, Any]:
    """Parameters of _UPDATE_TASK/_UPLOAD: the columns whose values differ, and the key."""
    values = {name: value for name, value in new.items() if old[name] != value}
    values["b_task_id"] = task_id
    return values


async def _select(
    conn: AsyncConnection, account_id: str, task_id: str, *, lock: bool
) -> tuple[Task, Upload] | None:
    query = _SELECT_LOCKED if lock else _SELECT
    row = (await conn.execute(query, {"b_task_id": task_id, "b_account_id": account_id})).mappings().first()
    return None if row is None else _pair(row)


def _upload_columns() -> list[Any]:
    return [uploads.c[name].label(f"u_{name}") for name in _UPLOAD_FIELDS]


def _pair(row: Any) -> tuple[Task, Upload]:
    upload = Upload(**{name: row[f"u_{name}"] for name in _UPLOAD_FIELDS})
    return task_from_row(row), upload


def _upload_row(upload: Upload) -> dict[str, Any]:
    return {name: getattr(upload, name) for name in _UPLOAD_FIELDS}


# Hot statements are built once, with bound parameters: building and keying a statement of this
# width costs more than SQLite takes to run it.
_SELECT = (
    select(tasks, *_upload_columns())
    .select_from(tasks.join(uploads, uploads.c.task_id == tasks.c.task_id))
    .where(tasks.c.task_id == bindparam("b_task_id"), tasks.c.account_id == bindparam("b_account_id"))
)
# FOR NO KEY UPDATE: it does not conflict with the KEY SHARE lock that inserting a row referencing
# this task (a chunk receipt) takes, so concurrent chunk writers cannot deadlock.
_SELECT_LOCKED = _SELECT.with_for_update(key_share=True)
# The SET clause comes from the parameters given (the changed columns).
_UPDATE_TASK = update(tasks).where(tasks.c.task_id == bindparam("b_task_id"))
_UPDATE_UPLOAD = update(uploads).where(uploads.c.task_id == bindparam("b_task_id"))
_INSERT_TASK = insert(tasks)
_INSERT_UPLOAD = insert(uploads)
_CLAIMS = {
    name: dialect.insert(chunk_receipts).on_conflict_do_nothing().returning(chunk_receipts.c.chunk_index)
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
}

"""UploadStore on SQLAlchemy Core: upload rows, chunk receipts and the upload use cases' transactions."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, bindparam, delete, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from drive_service.domain.events import Event
from drive_service.domain.files import Bundle, StoredFile, Upload, Usage
from drive_service.domain.tasks import Task, TaskStatus, TaskType
from drive_service.domain.uploads import ChunkReceipt, UploadLookup, UploadQuery, UploadStats
from drive_service.domain.validation import request_id_reused
from drive_service.errors import ChunkAlreadyUploaded, TaskNotFound
from drive_service.services.ports import Changes, UploadChange
from drive_service.storage.db import Database, Transaction
from drive_service.storage.file_rows import (
    account_usage,
    add_reference,
    find_bundle,
    find_live_file,
    insert_file_row,
)
from drive_service.storage.models import chunk_receipts, tasks, uploads
from drive_service.storage.task_rows import insert_task, store_change, task_from_row

_UPLOAD_FIELDS = [field.name for field in dataclasses.fields(Upload)]
_SORT_COLUMNS = {
    "filename": uploads.c.file_name,
    "filesize": uploads.c.file_size,
    "created": tasks.c.created_at,
    "updated": tasks.c.updated_at,
    "lastActivity": tasks.c.last_activity,
}
_JOINED = tasks.join(uploads, uploads.c.task_id == tasks.c.task_id)


class SqlUploadStore:
    """Uploads joined with their tasks; every change is committed with its events."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, account_id: str, task_id: str) -> tuple[Task, Upload] | None:
        async with self._db.read() as conn:
            row = (await conn.execute(_SELECT, _key(account_id, task_id))).mappings().first()
        return None if row is None else _pair(row)

    async def find(self, account_id: str, query: UploadQuery) -> tuple[list[tuple[Task, Upload]], int]:
        condition: ColumnElement[bool] = uploads.c.account_id == account_id
        if query.status is not None:
            condition = and_(condition, tasks.c.status == query.status.value)
        column = _SORT_COLUMNS[query.sort_by]
        order = (column.desc(), tasks.c.task_id.desc()) if query.descending else (column, tasks.c.task_id)
        page = (
            select(tasks, *_upload_columns())
            .select_from(_JOINED)
            .where(condition)
            .order_by(*order)
            .offset(query.offset)
            .limit(query.limit)
        )
        count = select(func.count()).select_from(_JOINED).where(condition)
        async with self._db.read() as conn:
            rows = (await conn.execute(page)).mappings().all()
            total = (await conn.execute(count)).scalar_one()
        return [_pair(row) for row in rows], int(total)

    async def uploaded_chunks(self, task_id: str) -> list[int]:
        async with self._db.read() as conn:
            return list((await conn.execute(_UPLOADED, {"b_task_id": task_id})).scalars())

    async def part_tags(self, task_id: str) -> list[str]:
        query = (
            select(chunk_receipts.c.tag)
            .where(chunk_receipts.c.task_id == task_id)
            .order_by(chunk_receipts.c.chunk_index)
        )
        async with self._db.read() as conn:
            return [tag or "" for tag in (await conn.execute(query)).scalars()]

    async def chunk_activity(self, task_id: str, since: datetime) -> list[tuple[datetime, int]]:
        query = select(chunk_receipts.c.created_at, chunk_receipts.c.size).where(
            chunk_receipts.c.task_id == task_id, chunk_receipts.c.created_at >= since
        )
        async with self._db.read() as conn:
            return [(row.created_at, row.size) for row in await conn.execute(query)]

    @asynccontextmanager
    async def receiving(self, account_id: str, task_id: str) -> AsyncIterator[SqlChunkUnit]:
        async with self._db.write() as tx:
            # Not locked: the receipt insert decides between writers of one chunk, and ``apply``
            # locks the row only to count (SQLite's BEGIN IMMEDIATE already holds the database).
            row = (await tx.conn.execute(_SELECT, _key(account_id, task_id))).mappings().first()
            if row is None:
                raise TaskNotFound(task_id)
            yield SqlChunkUnit(tx, *_pair(row), locked=tx.conn.dialect.name == "sqlite")

    @asynccontextmanager
    async def unit(self, account_id: str) -> AsyncIterator[SqlUploadUnit]:
        async with self._db.write() as tx:
            yield SqlUploadUnit(tx, account_id)

    async def change(
        self, account_id: str, task_id: str, change: UploadChange
    ) -> tuple[Task, Upload, Changes]:
        async with self._db.write() as tx:
            current = await _locked(tx, account_id, task_id)
            if current is None:
                raise TaskNotFound(task_id)
            task, upload = await _apply(tx, current, change)
        return task, upload, tx.changes

    async def stats(self, account_id: str) -> UploadStats:
        mine = uploads.c.account_id == account_id
        counts = (
            select(tasks.c.status, func.count()).select_from(_JOINED).where(mine).group_by(tasks.c.status)
        )
        totals = (
            select(
                func.coalesce(func.sum(uploads.c.bytes_uploaded), 0),
                func.avg(tasks.c.progress).filter(tasks.c.status == TaskStatus.IN_PROGRESS.value),
            )
            .select_from(_JOINED)
            .where(mine)
        )
        async with self._db.read() as conn:
            by_status = {TaskStatus(status): count for status, count in await conn.execute(counts)}
            uploaded, average = (await conn.execute(totals)).one()
        return UploadStats(by_status, int(uploaded), float(average or 0.0))

    async def stale(self, idle_before: datetime, limit: int) -> list[tuple[str, str]]:
        query = (
            select(uploads.c.account_id, uploads.c.task_id)
            .select_from(_JOINED)
            .where(tasks.c.status == TaskStatus.IN_PROGRESS.value, tasks.c.last_activity < idle_before)
            .limit(limit)
        )
        async with self._db.read() as conn:
            return [(row.account_id, row.task_id) for row in await conn.execute(query)]

    async def delete_finished(self, account_id: str) -> tuple[list[str], Changes]:
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
        async with self._db.write() as tx:
            task_ids = list((await tx.conn.execute(query)).scalars())
            if task_ids:
                await tx.conn.execute(delete(tasks).where(tasks.c.task_id.in_(task_ids)))
                tx.touch(*task_ids)
        return task_ids, tx.changes

    async def staged_task_ids(self, task_ids: Sequence[str]) -> set[str]:
        query = select(tasks.c.task_id).where(
            tasks.c.task_id.in_(list(task_ids)),
            tasks.c.status.in_([TaskStatus.IN_PROGRESS.value, TaskStatus.PAUSED.value]),
        )
        async with self._db.read() as conn:
            return set((await conn.execute(query)).scalars())


class SqlChunkUnit:
    """ChunkUnit in one write transaction; ``task`` and ``upload`` as read when it began."""

    def __init__(self, tx: Transaction, task: Task, upload: Upload, *, locked: bool) -> None:
        self.task = task
        self.upload = upload
        self.changes = tx.changes
        self._tx = tx
        self._locked = locked  # the row read above is current until the end (SQLite)

    async def claim(self, receipt: ChunkReceipt) -> None:
        # Of two writers of one chunk exactly one inserts the row; the other waits on the unique
        # key until the first ends, then sees the conflict (or, after a rollback, wins itself).
        row = {
            "task_id": self.task.task_id,
            "chunk_index": receipt.index,
            "size": receipt.size,
            "crc32c": receipt.crc32c,
            "created_at": receipt.created_at,
        }
        if (await self._tx.conn.execute(_CLAIMS[self._tx.conn.dialect.name], row)).first() is None:
            raise ChunkAlreadyUploaded(self.task.task_id, receipt.index)

    async def tag(self, index: int, tag: str) -> None:
        await self._tx.conn.execute(
            _TAG_RECEIPT, {"b_task_id": self.task.task_id, "b_index": index, "tag": tag}
        )

    async def apply(self, change: UploadChange) -> tuple[Task, Upload]:
        current = (self.task, self.upload) if self._locked else None
        if current is None:
            current = await _locked(self._tx, self.task.account_id, self.task.task_id)
            if current is None:
                raise TaskNotFound(self.task.task_id)
        self.task, self.upload = await _apply(self._tx, current, change)
        self._locked = True
        return self.task, self.upload


class SqlUploadUnit:
    """UploadUnit in one write transaction of one account."""

    def __init__(self, tx: Transaction, account_id: str) -> None:
        self.changes = tx.changes
        self._tx = tx
        self._account_id = account_id
        self._current: dict[str, tuple[Task, Upload]] = {}

    async def usage(self, multipliers: dict[str, float], default_quota: int) -> Usage:
        return await account_usage(self._tx.conn, self._account_id, multipliers, default_quota)

    async def find_file(self, sha256: str, size: int, now: datetime) -> StoredFile | None:
        return await find_live_file(self._tx.conn, self._account_id, sha256, size, now)

    async def bundle(self, bundle_id: str) -> Bundle | None:
        return await find_bundle(self._tx.conn, self._account_id, bundle_id)

    async def insert(self, task: Task, upload: Upload, events: Sequence[Event]) -> tuple[Task, Upload]:
        stored = await insert_task(self._tx, task, events)
        if stored is not task:  # a concurrent create with the same request id won
            found = await _select(self._tx, self._account_id, stored.task_id)
            if found is None:  # that request id named a task of another kind
                raise request_id_reused()
            return found
        await self._tx.conn.execute(_INSERT_UPLOAD, _upload_row(upload))
        return task, upload

    async def find_upload(self, lookup: UploadLookup) -> tuple[Task, Upload] | None:
        mine = tasks.c.account_id == self._account_id
        if lookup.request_id is not None:
            query = _BY_REQUEST.where(mine, tasks.c.request_id == lookup.request_id)
            row = (await self._tx.conn.execute(query)).mappings().first()
            if row is not None:
                return _pair(row)
        if not lookup.sha256:
            return None
        query = _BY_REQUEST.where(
            mine,
            uploads.c.hash == lookup.sha256,
            uploads.c.file_size == lookup.size,
            uploads.c.file_name == lookup.name,
            uploads.c.pool_id == lookup.pool_id,
            uploads.c.bundle_id.is_(None)
            if lookup.bundle_id is None
            else uploads.c.bundle_id == lookup.bundle_id,
            uploads.c.encrypted.is_(False),
            tasks.c.status == TaskStatus.IN_PROGRESS.value,
        ).order_by(tasks.c.created_at.desc())
        row = (await self._tx.conn.execute(query.limit(1))).mappings().first()
        return None if row is None else _pair(row)

    async def lock(self, task_id: str) -> tuple[Task, Upload] | None:
        found = await _locked(self._tx, self._account_id, task_id)
        if found is not None:
            self._current[task_id] = found
        return found

    async def uploaded_chunks(self, task_id: str) -> list[int]:
        return list((await self._tx.conn.execute(_UPLOADED, {"b_task_id": task_id})).scalars())

    async def reference_blob(self, file: StoredFile) -> bool:
        return await add_reference(self._tx.conn, file)

    async def insert_file(self, file: StoredFile) -> None:
        await insert_file_row(self._tx.conn, file)

    async def apply(self, task_id: str, change: UploadChange) -> tuple[Task, Upload]:
        current = self._current.get(task_id) or await self.lock(task_id)
        if current is None:
            raise TaskNotFound(task_id)
        result = self._current[task_id] = await _apply(self._tx, current, change)
        return result


async def _select(tx: Transaction, account_id: str, task_id: str) -> tuple[Task, Upload] | None:
    row = (await tx.conn.execute(_SELECT, _key(account_id, task_id))).mappings().first()
    return None if row is None else _pair(row)


async def _locked(tx: Transaction, account_id: str, task_id: str) -> tuple[Task, Upload] | None:
    row = (await tx.conn.execute(_SELECT_LOCKED, _key(account_id, task_id))).mappings().first()
    return None if row is None else _pair(row)


async def _apply(tx: Transaction, current: tuple[Task, Upload], change: UploadChange) -> tuple[Task, Upload]:
    """Apply ``change`` to the upload as ``tx`` locked it; only changed columns are written."""
    task, upload = current
    new_task, new_upload, events = change(task, upload)
    if new_upload != upload:
        old = _upload_row(upload)
        values = {name: value for name, value in _upload_row(new_upload).items() if old[name] != value}
        await tx.conn.execute(_UPDATE_UPLOAD, {**values, "b_task_id": task.task_id})
    await store_change(tx, task, new_task, events)
    return new_task, new_upload


def _key(account_id: str, task_id: str) -> dict[str, str]:
    return {"b_task_id": task_id, "b_account_id": account_id}


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
    .select_from(_JOINED)
    .where(tasks.c.task_id == bindparam("b_task_id"), tasks.c.account_id == bindparam("b_account_id"))
)
_BY_REQUEST = select(tasks, *_upload_columns()).select_from(_JOINED)
# FOR NO KEY UPDATE: it does not conflict with the KEY SHARE lock that inserting a row referencing
# this task (a chunk receipt) takes, so concurrent chunk writers cannot deadlock.
_SELECT_LOCKED = _SELECT.with_for_update(key_share=True)
_UPLOADED = (
    select(chunk_receipts.c.chunk_index)
    .where(chunk_receipts.c.task_id == bindparam("b_task_id"))
    .order_by(chunk_receipts.c.chunk_index)
)
# The SET clause comes from the parameters given (the changed columns).
_UPDATE_UPLOAD = update(uploads).where(uploads.c.task_id == bindparam("b_task_id"))
_INSERT_UPLOAD = insert(uploads)
_TAG_RECEIPT = update(chunk_receipts).where(
    chunk_receipts.c.task_id == bindparam("b_task_id"), chunk_receipts.c.chunk_index == bindparam("b_index")
)
_CLAIMS = {
    name: dialect.insert(chunk_receipts).on_conflict_do_nothing().returning(chunk_receipts.c.chunk_index)
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
}

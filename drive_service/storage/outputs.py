"""OutputStore on SQLAlchemy Core: files written by task handlers (hidden outputs tied to a
lease, relocations between pools, expiry changes)."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Select, delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from drive_service.domain.files import StoredFile
from drive_service.domain.tasks import TaskStatus
from drive_service.errors import FileNotFound, LeaseLost
from drive_service.services.ports import BlobRelease
from drive_service.storage.db import Database
from drive_service.storage.file_rows import (
    add_reference,
    drop_reference,
    file_from_row,
    insert_file,
    select_files,
)
from drive_service.storage.models import files, tasks


class SqlOutputStore:
    """Writes by task handlers: outputs tied to a lease, relocations, expiry changes."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def add_output(
        self, file: StoredFile, task_id: str, lease_token: str, place: Callable[[bool], Awaitable[None]]
    ) -> None:
        async with self._db.write() as tx:
            await _require_lease(tx.conn, task_id, lease_token)
            await insert_file(tx.conn, file, place, attempt_token=task_id)

    async def discard_stray_outputs(
        self, task_id: str, lease_token: str, keep: frozenset[str], release: BlobRelease
    ) -> int:
        stray = select(files.c.id, files.c.pool_id, files.c.blob_key).where(files.c.attempt_token == task_id)
        if keep:
            stray = stray.where(files.c.id.not_in(sorted(keep)))
        async with self._db.write() as tx:
            await _require_lease(tx.conn, task_id, lease_token)
            return await _discard(tx.conn, stray, release)

    async def abandoned_output_tasks(self, limit: int) -> list[str]:
        """Tasks whose hidden outputs can never be published: finished without completing, or gone."""
        unfinished = [TaskStatus.PENDING.value, TaskStatus.IN_PROGRESS.value, TaskStatus.PAUSED.value]
        live = select(tasks.c.task_id).where(
            tasks.c.task_id == files.c.attempt_token, tasks.c.status.in_(unfinished)
        )
        query = (
            select(files.c.attempt_token)
            .where(files.c.attempt_token.is_not(None), ~live.exists())
            .distinct()
            .limit(limit)
        )
        async with self._db.read() as conn:
            return [token for token in (await conn.execute(query)).scalars() if token]

    async def discard_outputs(self, task_id: str, release: BlobRelease) -> int:
        outputs = select(files.c.id, files.c.pool_id, files.c.blob_key)
        async with self._db.write() as tx:
            return await _discard(tx.conn, outputs.where(files.c.attempt_token == task_id), release)

    async def pending_outputs(self, task_id: str) -> list[str]:
        query = select(files.c.id).where(files.c.attempt_token == task_id)
        async with self._db.read() as conn:
            return list((await conn.execute(query)).scalars())

    async def relocate(
        self,
        account_id: str,
        file_id: str,
        pool_id: str,
        bundle_id: str | None,
        place: Callable[[bool], Awaitable[None]],
        release: BlobRelease,
    ) -> StoredFile:
        """Move a file to another pool and/or bundle.

        A new pool gets its own reference to the blob (``place`` copies the bytes when the pool
        does not hold them yet) before the old reference is dropped, in one transaction.

        Raises:
            NotFound: FILE_NOT_FOUND.
        """
        async with self._db.write() as tx:
            conn = tx.conn
            query = select_files().where(files.c.id == file_id, files.c.account_id == account_id)
            row = (await conn.execute(query.with_for_update(of=files))).mappings().one_or_none()
            if row is None:
                raise FileNotFound(file_id)
            current = file_from_row(row)
            moved = dataclasses.replace(current, pool_id=pool_id, bundle_id=bundle_id)
            if pool_id != current.pool_id:
                await place(await add_reference(conn, moved))
            await conn.execute(
                update(files).where(files.c.id == file_id).values(pool_id=pool_id, bundle_id=bundle_id)
            )
            if pool_id != current.pool_id:
                await drop_reference(conn, current.pool_id, current.blob_key, release)
            return moved

    async def set_expiry(self, account_id: str, file_id: str, expired_at: datetime | None) -> None:
        """Change a file's own expiry.

        Raises:
            NotFound: FILE_NOT_FOUND.
        """
        statement = (
            update(files)
            .where(files.c.id == file_id, files.c.account_id == account_id, files.c.attempt_token.is_(None))
            .values(expired_at=expired_at)
        )
        async with self._db.write() as tx:
            if (await tx.conn.execute(statement)).rowcount == 0:
                raise FileNotFound(file_id)

    async def file_ids_in_pool(self, account_id: str, pool_id: str, after: str, limit: int) -> list[str]:
        """Ids of the account's visible files in the pool with ids after ``after``, ascending."""
        query = (
            select(files.c.id)
            .where(
                files.c.account_id == account_id,
                files.c.pool_id == pool_id,
                files.c.id > after,
                files.c.attempt_token.is_(None),
            )
            .order_by(files.c.id)
            .limit(limit)
        )
        async with self._db.read() as conn:
            return list((await conn.execute(query)).scalars())


async def _require_lease(conn: AsyncConnection, task_id: str, lease_token: str) -> None:
    """Lock the task (KEY SHARE) if ``lease_token`` holds it, so a worker that lost its task can
    never add or drop its outputs. Raises LeaseLost otherwise."""
    holder = (
        select(tasks.c.task_id)
        .where(
            tasks.c.task_id == task_id,
            tasks.c.lease_token == lease_token,
            tasks.c.status == TaskStatus.IN_PROGRESS.value,
        )
        .with_for_update(key_share=True)
    )
    if (await conn.execute(holder)).first() is None:
        raise LeaseLost(task_id, "not held by this attempt")


async def _discard(conn: AsyncConnection, outputs: Select[Any], release: BlobRelease) -> int:
    """Delete the files ``outputs`` selects (id, pool_id, blob_key) and drop their references."""
    rows = (await conn.execute(outputs)).all()
    for file_id, pool_id, key in rows:
        await conn.execute(delete(files).where(files.c.id == file_id))
        await drop_reference(conn, pool_id, key, release)
    return len(rows)

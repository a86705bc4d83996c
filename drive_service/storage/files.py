"""FileStore on SQLAlchemy Core: files, blob references, bundles and quotas (all their SQL)."""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    String,
    and_,
    bindparam,
    delete,
    func,
    insert,
    literal,
    null,
    or_,
    select,
    union,
    union_all,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from drive_service.domain.files import Bundle, StoredFile, Usage, effective_expiry
from drive_service.domain.tasks import TaskStatus
from drive_service.errors import (
    BundleNotFound,
    FailedPrecondition,
    FileNotFound,
)
from drive_service.services.ports import BlobRelease
from drive_service.storage.db import Database
from drive_service.storage.models import blobs, bundles, files, quotas, tasks, uploads

_log = logging.getLogger(__name__)
_FILE_FIELDS = [field.name for field in dataclasses.fields(StoredFile)]
_BUNDLE_FIELDS = [field.name for field in dataclasses.fields(Bundle)]
#: Uploads in these states hold a quota reservation (a paused upload may still resume).
_RESERVING = [TaskStatus.IN_PROGRESS.value, TaskStatus.PAUSED.value]
_WITH_BUNDLE = files.outerjoin(
    bundles, and_(bundles.c.id == files.c.bundle_id, bundles.c.account_id == files.c.account_id)
)


class SqlFileStore:
    """FileStore over the ``files``, ``blobs``, ``bundles`` and ``quotas`` tables.

    Files read from here carry their *effective* expiry in ``expired_at``: the earlier of their
    own and their bundle's, since a bundle's expiry applies to its files. Reads given ``now``
    hide files whose effective expiry has passed (they wait for the sweep to be deleted).
    """

    def __init__(self, db: Database) -> None:
        self._db = db

    async def get_file(self, account_id: str, file_id: str, now: datetime | None = None) -> StoredFile | None:
        query = _select_files().where(files.c.id == file_id, files.c.account_id == account_id)
        if now is not None:
            query = query.where(_live(now))
        async with self._db.read() as conn:
            row = (await conn.execute(query)).mappings().one_or_none()
        return None if row is None else _file(row)

    async def find_file(self, account_id: str, sha256: str, size: int, now: datetime) -> StoredFile | None:
        async with self._db.read() as conn:
            return await find_live_file(conn, account_id, sha256, size, now)

    async def list_files(
        self,
        account_id: str,
        pool_id: str | None,
        bundle_id: str | None,
        offset: int,
        limit: int,
        now: datetime | None = None,
    ) -> tuple[list[StoredFile], int]:
        conditions = [files.c.account_id == account_id, files.c.attempt_token.is_(None)]
        if pool_id:
            conditions.append(files.c.pool_id == pool_id)
        if bundle_id:
            conditions.append(files.c.bundle_id == bundle_id)
        if now is not None:
            conditions.append(_live(now))
        page = (
            _select_files()
            .where(*conditions)
            .order_by(files.c.created_at.desc(), files.c.id.desc())
            .offset(offset)
            .limit(limit)
        )
        count = select(func.count()).select_from(_WITH_BUNDLE).where(*conditions)
        async with self._db.read() as conn:
            rows = (await conn.execute(page)).mappings().all()
            total = (await conn.execute(count)).scalar_one()
        return [_file(row) for row in rows], int(total)

    async def delete_file(self, account_id: str, file_id: str, release: BlobRelease) -> StoredFile:
        async with self._db.write() as conn:
            query = _select_files().where(files.c.id == file_id, files.c.account_id == account_id)
            row = (await conn.execute(query.with_for_update(of=files))).mappings().one_or_none()
            if row is None:
                raise FileNotFound(file_id)
            file = _file(row)
            await conn.execute(delete(files).where(files.c.id == file_id))
            await _drop_reference(conn, file.pool_id, file.blob_key, release)
            return file

    async def expired_files(self, now: datetime, limit: int) -> list[tuple[str, str]]:
        # Two branches so each can use its own index (files.expired_at; the bundle join).
        own = select(files.c.account_id, files.c.id).where(files.c.expired_at <= now)
        by_bundle = (
            select(files.c.account_id, files.c.id)
            .select_from(_WITH_BUNDLE)
            .where(bundles.c.expired_at <= now)
        )
        async with self._db.read() as conn:
            rows = await conn.execute(union(own, by_bundle).limit(limit))
            return [(account_id, file_id) for account_id, file_id in rows]

    async def usage(self, account_id: str, multipliers: dict[str, float], default_quota: int) -> Usage:
        async with self._db.read() as conn:
            return await account_usage(conn, account_id, multipliers, default_quota)

    async def set_quota(self, account_id: str, quota_bytes: int | None) -> None:
        async with self._db.write() as conn:
            if quota_bytes is None:
                await conn.execute(delete(quotas).where(quotas.c.account_id == account_id))
                return
            dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
            await conn.execute(
                dialect.insert(quotas)
                .values(account_id=account_id, quota_bytes=quota_bytes)
                .on_conflict_do_update(
                    index_elements=[quotas.c.account_id], set_={"quota_bytes": quota_bytes}
                )
            )

    async def create_bundle(self, bundle: Bundle) -> None:
        async with self._db.write() as conn:
            await conn.execute(
                bundles.insert().values(**{name: getattr(bundle, name) for name in _BUNDLE_FIELDS})
            )

    async def get_bundle(self, account_id: str, bundle_id: str) -> Bundle | None:
        async with self._db.read() as conn:
            return await find_bundle(conn, account_id, bundle_id)

    async def list_bundles(self, account_id: str, offset: int, limit: int) -> tuple[list[Bundle], int]:
        mine = bundles.c.account_id == account_id
        page = (
            select(bundles)
            .where(mine)
            .order_by(bundles.c.created_at.desc(), bundles.c.id.desc())
            .offset(offset)
            .limit(limit)
        )
        count = select(func.count()).select_from(bundles).where(mine)
        async with self._db.read() as conn:
            rows = (await conn.execute(page)).mappings().all()
            total = (await conn.execute(count)).scalar_one()
        return [Bundle(**{name: row[name] for name in _BUNDLE_FIELDS}) for row in rows], int(total)

    async def delete_bundle(self, account_id: str, bundle_id: str) -> None:
        async with self._db.write() as conn:
            mine = and_(bundles.c.id == bundle_id, bundles.c.account_id == account_id)
            found = (await conn.execute(select(bundles.c.id).where(mine).with_for_update())).first()
            if found is None:
                raise BundleNotFound(bundle_id)
            await conn.execute(
                update(files)
                .where(files.c.bundle_id == bundle_id, files.c.account_id == account_id)
                .values(bundle_id=None)
            )
            await conn.execute(delete(bundles).where(mine))


class OutputStore:
    """Writes by task handlers: outputs tied to a lease, relocations, expiry changes."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def add_output(
        self, file: StoredFile, place: Callable[[bool], Awaitable[None]], task_id: str, lease_token: str
    ) -> None:
        """Insert a hidden output of the task's running attempt.

        Raises:
            FailedPrecondition: LEASE_LOST when ``lease_token`` no longer holds the task, so a
                worker that lost its task can never add outputs to it.
        """
        holder = (
            select(tasks.c.task_id)
            .where(
                tasks.c.task_id == task_id,
                tasks.c.lease_token == lease_token,
                tasks.c.status == TaskStatus.IN_PROGRESS.value,
            )
            .with_for_update(key_share=True)
        )
        async with self._db.write() as conn:
            if (await conn.execute(holder)).first() is None:
                raise FailedPrecondition(
                    f"Task {task_id} is no longer leased to this attempt.",
                    reason="LEASE_LOST",
                    task_id=task_id,
                )
            await insert_file(conn, file, place, attempt_token=task_id)

    async def discard_stray_outputs(
        self, task_id: str, lease_token: str, keep: frozenset[str], release: BlobRelease
    ) -> int:
        """Delete the task's hidden outputs not in ``keep``, while ``lease_token`` holds the task.

        Raises:
            FailedPrecondition: LEASE_LOST.
        """
        holder = (
            select(tasks.c.task_id)
            .where(
                tasks.c.task_id == task_id,
                tasks.c.lease_token == lease_token,
                tasks.c.status == TaskStatus.IN_PROGRESS.value,
            )
            .with_for_update(key_share=True)
        )
        stray = select(files.c.id, files.c.pool_id, files.c.blob_key).where(files.c.attempt_token == task_id)
        if keep:
            stray = stray.where(files.c.id.not_in(sorted(keep)))
        async with self._db.write() as conn:
            if (await conn.execute(holder)).first() is None:
                raise FailedPrecondition(
                    f"Task {task_id} is no longer leased to this attempt.",
                    reason="LEASE_LOST",
                    task_id=task_id,
                )
            rows = (await conn.execute(stray)).all()
            for file_id, pool_id, key in rows:
                await conn.execute(delete(files).where(files.c.id == file_id))
                await _drop_reference(conn, pool_id, key, release)
        return len(rows)

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
        """Delete the task's hidden outputs and drop their blob references."""
        async with self._db.write() as conn:
            rows = (
                await conn.execute(
                    select(files.c.id, files.c.pool_id, files.c.blob_key).where(
                        files.c.attempt_token == task_id
                    )
                )
            ).all()
            for file_id, pool_id, key in rows:
                await conn.execute(delete(files).where(files.c.id == file_id))
                await _drop_reference(conn, pool_id, key, release)
        return len(rows)

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
        async with self._db.write() as conn:
            query = _select_files().where(files.c.id == file_id, files.c.account_id == account_id)
            row = (await conn.execute(query.with_for_update(of=files))).mappings().one_or_none()
            if row is None:
                raise FileNotFound(file_id)
            current = _file(row)
            moved = dataclasses.replace(current, pool_id=pool_id, bundle_id=bundle_id)
            if pool_id != current.pool_id:
                await place(await _add_reference(conn, moved))
            await conn.execute(
                update(files).where(files.c.id == file_id).values(pool_id=pool_id, bundle_id=bundle_id)
            )
            if pool_id != current.pool_id:
                await _drop_reference(conn, current.pool_id, current.blob_key, release)
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
        async with self._db.write() as conn:
            if (await conn.execute(statement)).rowcount == 0:
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


async def find_live_file(
    conn: AsyncConnection, account_id: str, sha256: str, size: int, now: datetime
) -> StoredFile | None:
    """The account's newest live, unencrypted file with this content (dedup), in ``conn``'s transaction."""
    parameters = {"b_account_id": account_id, "b_hash": sha256, "b_size": size, "b_now": now}
    row = (await conn.execute(_LIVE_FILE, parameters)).mappings().first()
    return None if row is None else _file(row)


async def account_usage(
    conn: AsyncConnection, account_id: str, multipliers: dict[str, float], default_quota: int
) -> Usage:
    """The account's stored and reserved bytes (weighted by pool cost) and quota, in one statement."""
    totals: dict[str, list[tuple[str, int]]] = {"stored": [], "reserved": [], "quota": []}
    for kind, pool_id, total in await conn.execute(_USAGE, {"b_account_id": account_id}):
        totals[kind].append((pool_id, int(total)))
    override = totals["quota"][0][1] if totals["quota"] else None
    return Usage(
        quota_bytes=default_quota if override is None else override,
        used_bytes=_weighted(totals["stored"], multipliers),
        reserved_bytes=_weighted(totals["reserved"], multipliers),
    )


async def find_bundle(conn: AsyncConnection, account_id: str, bundle_id: str) -> Bundle | None:
    """The account's bundle, in ``conn``'s transaction."""
    query = select(bundles).where(bundles.c.id == bundle_id, bundles.c.account_id == account_id)
    row = (await conn.execute(query)).mappings().one_or_none()
    return None if row is None else Bundle(**{name: row[name] for name in _BUNDLE_FIELDS})


async def insert_file(
    conn: AsyncConnection,
    file: StoredFile,
    place: Callable[[bool], Awaitable[None]],
    attempt_token: str | None = None,
) -> None:
    """Reference the file's blob and insert its row, inside the caller's transaction.

    ``place(existed)`` puts the bytes in place while the blob row is locked; ``existed`` tells
    whether another file already holds this content. A file with an ``attempt_token`` stays
    hidden until that task attempt completes.
    """
    await place(await _add_reference(conn, file))
    values = {name: getattr(file, name) for name in _FILE_FIELDS}
    await conn.execute(_INSERT_FILE, {**values, "attempt_token": attempt_token})


async def _add_reference(conn: AsyncConnection, file: StoredFile) -> bool:
    """Count one more reference to the file's blob in its pool (locking the blob row); True when
    the blob was already referenced, so its bytes are already in place."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    reference = (
        dialect.insert(blobs)
        .values(
            pool_id=file.pool_id,
            key=file.blob_key,
            size=file.stored_size,
            refcount=1,
            created_at=file.created_at,
        )
        .on_conflict_do_update(
            index_elements=[blobs.c.pool_id, blobs.c.key], set_={"refcount": blobs.c.refcount + 1}
        )
        .returning(blobs.c.refcount)
    )
    return bool((await conn.execute(reference)).scalar_one() > 1)


async def _drop_reference(conn: AsyncConnection, pool_id: str, key: str, release: BlobRelease) -> None:
    """Decrement the blob's count; at zero delete its row and its bytes, still under the row lock."""
    which = and_(blobs.c.pool_id == pool_id, blobs.c.key == key)
    refcount = (
        await conn.execute(select(blobs.c.refcount).where(which).with_for_update())
    ).scalar_one_or_none()
    if refcount is None:
        # A file without a blob row is a bookkeeping bug; the file row goes, the bytes stay for
        # the orphan collector rather than risking another file's content.
        _log.warning("file blob has no reference row", extra={"pool_id": pool_id, "key": key})
        return
    if refcount > 1:
        await conn.execute(update(blobs).where(which).values(refcount=blobs.c.refcount - 1))
        return
    await conn.execute(delete(blobs).where(which))
    await release(pool_id, key)


def _select_files() -> Select[Any]:
    """Files as the account sees them: outputs of a running task attempt stay hidden."""
    return (
        select(files, bundles.c.expired_at.label("bundle_expired_at"))
        .select_from(_WITH_BUNDLE)
        .where(files.c.attempt_token.is_(None))
    )


def _live(now: datetime | ColumnElement[Any]) -> ColumnElement[bool]:
    """Neither the file's own expiry nor its bundle's has passed."""
    return and_(
        or_(files.c.expired_at.is_(None), files.c.expired_at > now),
        or_(bundles.c.expired_at.is_(None), bundles.c.expired_at > now),
    )


def _file(row: Any) -> StoredFile:
    values = {name: row[name] for name in _FILE_FIELDS}
    values["expired_at"] = effective_expiry(row["expired_at"], None, row["bundle_expired_at"])
    return StoredFile(**values)


def _weighted(totals: Any, multipliers: dict[str, float]) -> int:
    """Sum of bytes per pool times the pool's cost, rounded up (an unknown pool costs 1.0)."""
    return sum(math.ceil(int(total) * multipliers.get(pool_id, 1.0)) for pool_id, total in totals)


# Statements of the upload path, built once with bound parameters (building and keying them
# per call costs more than running them).
_LIVE_FILE = (
    _select_files()
    .where(
        files.c.account_id == bindparam("b_account_id"),
        files.c.hash == bindparam("b_hash"),
        files.c.size == bindparam("b_size"),
        files.c.encrypted.is_(False),
        _live(bindparam("b_now", type_=files.c.created_at.type)),
    )
    .order_by(files.c.created_at.desc(), files.c.id.desc())
    .limit(1)
)
_USAGE = union_all(
    select(literal("stored"), files.c.pool_id, func.sum(files.c.size))
    .where(files.c.account_id == bindparam("b_account_id"))
    .group_by(files.c.pool_id),
    select(literal("reserved"), uploads.c.pool_id, func.sum(uploads.c.file_size))
    .select_from(uploads.join(tasks, tasks.c.task_id == uploads.c.task_id))
    .where(uploads.c.account_id == bindparam("b_account_id"), tasks.c.status.in_(_RESERVING))
    .group_by(uploads.c.pool_id),
    select(literal("quota"), null().cast(String), quotas.c.quota_bytes).where(
        quotas.c.account_id == bindparam("b_account_id")
    ),
)
_INSERT_FILE = insert(files)

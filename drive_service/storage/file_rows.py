"""File rows and blob references: the SQL shared by files, uploads and task outputs."""

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
    union_all,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from drive_service.domain.files import Bundle, StoredFile, Usage, effective_expiry
from drive_service.domain.tasks import TaskStatus
from drive_service.services.ports import BlobRelease
from drive_service.storage.models import blobs, bundles, files, quotas, tasks, uploads

_log = logging.getLogger(__name__)
FILE_FIELDS = [field.name for field in dataclasses.fields(StoredFile)]
BUNDLE_FIELDS = [field.name for field in dataclasses.fields(Bundle)]
#: Uploads in these states hold a quota reservation (a paused upload may still resume).
_RESERVING = [TaskStatus.IN_PROGRESS.value, TaskStatus.PAUSED.value]
WITH_BUNDLE = files.outerjoin(
    bundles, and_(bundles.c.id == files.c.bundle_id, bundles.c.account_id == files.c.account_id)
)


async def find_live_file(
    conn: AsyncConnection, account_id: str, sha256: str, size: int, now: datetime
) -> StoredFile | None:
    """The account's newest live, unencrypted file with this content (dedup), in ``conn``'s transaction."""
    parameters = {"b_account_id": account_id, "b_hash": sha256, "b_size": size, "b_now": now}
    row = (await conn.execute(_LIVE_FILE, parameters)).mappings().first()
    return None if row is None else file_from_row(row)


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
    return None if row is None else Bundle(**{name: row[name] for name in BUNDLE_FIELDS})


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
    await place(await add_reference(conn, file))
    await insert_file_row(conn, file, attempt_token)


async def insert_file_row(conn: AsyncConnection, file: StoredFile, attempt_token: str | None = None) -> None:
    """Insert the file's row (its blob referenced already); an ``attempt_token`` hides it until
    that task attempt completes."""
    values = {name: getattr(file, name) for name in FILE_FIELDS}
    await conn.execute(_INSERT_FILE, {**values, "attempt_token": attempt_token})


async def add_reference(conn: AsyncConnection, file: StoredFile) -> bool:
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


async def drop_reference(conn: AsyncConnection, pool_id: str, key: str, release: BlobRelease) -> None:
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


def select_files() -> Select[Any]:
    """Files as the account sees them: outputs of a running task attempt stay hidden."""
    return (
        select(files, bundles.c.expired_at.label("bundle_expired_at"))
        .select_from(WITH_BUNDLE)
        .where(files.c.attempt_token.is_(None))
    )


def live(now: datetime | ColumnElement[Any]) -> ColumnElement[bool]:
    """Neither the file's own expiry nor its bundle's has passed."""
    return and_(
        or_(files.c.expired_at.is_(None), files.c.expired_at > now),
        or_(bundles.c.expired_at.is_(None), bundles.c.expired_at > now),
    )


def file_from_row(row: Any) -> StoredFile:
    values = {name: row[name] for name in FILE_FIELDS}
    values["expired_at"] = effective_expiry(row["expired_at"], None, row["bundle_expired_at"])
    return StoredFile(**values)


def _weighted(totals: Any, multipliers: dict[str, float]) -> int:
    """Sum of bytes per pool times the pool's cost, rounded up (an unknown pool costs 1.0)."""
    return sum(math.ceil(int(total) * multipliers.get(pool_id, 1.0)) for pool_id, total in totals)


# Statements of the upload path, built once with bound parameters (building and keying them
# per call costs more than running them).
_LIVE_FILE = (
    select_files()
    .where(
        files.c.account_id == bindparam("b_account_id"),
        files.c.hash == bindparam("b_hash"),
        files.c.size == bindparam("b_size"),
        files.c.encrypted.is_(False),
        live(bindparam("b_now", type_=files.c.created_at.type)),
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

"""FileStore on SQLAlchemy Core: files, blob references, bundles and quotas."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, delete, func, select, union, update
from sqlalchemy.dialects import postgresql, sqlite

from drive_service.domain.files import Bundle, StoredFile, Usage
from drive_service.errors import BundleNotFound, FileNotFound
from drive_service.services.ports import BlobRelease
from drive_service.storage.db import Database
from drive_service.storage.file_rows import (
    BUNDLE_FIELDS,
    WITH_BUNDLE,
    account_usage,
    drop_reference,
    file_from_row,
    find_bundle,
    find_live_file,
    live,
    select_files,
)
from drive_service.storage.models import blobs, bundles, files, quotas


class SqlFileStore:
    """FileStore over the ``files``, ``blobs``, ``bundles`` and ``quotas`` tables.

    Files read from here carry their *effective* expiry in ``expired_at``: the earlier of their
    own and their bundle's, since a bundle's expiry applies to its files. Reads given ``now``
    hide files whose effective expiry has passed (they wait for the sweep to be deleted).
    """

    def __init__(self, db: Database) -> None:
        self._db = db

    async def get_file(self, account_id: str, file_id: str, now: datetime | None = None) -> StoredFile | None:
        query = select_files().where(files.c.id == file_id, files.c.account_id == account_id)
        if now is not None:
            query = query.where(live(now))
        async with self._db.read() as conn:
            row = (await conn.execute(query)).mappings().one_or_none()
        return None if row is None else file_from_row(row)

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
            conditions.append(live(now))
        page = (
            select_files()
            .where(*conditions)
            .order_by(files.c.created_at.desc(), files.c.id.desc())
            .offset(offset)
            .limit(limit)
        )
        count = select(func.count()).select_from(WITH_BUNDLE).where(*conditions)
        async with self._db.read() as conn:
            rows = (await conn.execute(page)).mappings().all()
            total = (await conn.execute(count)).scalar_one()
        return [file_from_row(row) for row in rows], int(total)

    async def delete_file(self, account_id: str, file_id: str, release: BlobRelease) -> StoredFile:
        async with self._db.write() as tx:
            conn = tx.conn
            query = select_files().where(files.c.id == file_id, files.c.account_id == account_id)
            row = (await conn.execute(query.with_for_update(of=files))).mappings().one_or_none()
            if row is None:
                raise FileNotFound(file_id)
            file = file_from_row(row)
            await conn.execute(delete(files).where(files.c.id == file_id))
            await drop_reference(conn, file.pool_id, file.blob_key, release)
            return file

    async def expired_files(self, now: datetime, limit: int) -> list[tuple[str, str]]:
        # Two branches so each can use its own index (files.expired_at; the bundle join).
        own = select(files.c.account_id, files.c.id).where(files.c.expired_at <= now)
        by_bundle = (
            select(files.c.account_id, files.c.id).select_from(WITH_BUNDLE).where(bundles.c.expired_at <= now)
        )
        async with self._db.read() as conn:
            rows = await conn.execute(union(own, by_bundle).limit(limit))
            return [(account_id, file_id) for account_id, file_id in rows]

    async def usage(self, account_id: str, multipliers: dict[str, float], default_quota: int) -> Usage:
        async with self._db.read() as conn:
            return await account_usage(conn, account_id, multipliers, default_quota)

    async def set_quota(self, account_id: str, quota_bytes: int | None) -> None:
        async with self._db.write() as tx:
            conn = tx.conn
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

    async def known_blobs(self, pool_id: str, keys: Sequence[str]) -> set[str]:
        query = select(blobs.c.key).where(blobs.c.pool_id == pool_id, blobs.c.key.in_(list(keys)))
        async with self._db.read() as conn:
            return set((await conn.execute(query)).scalars())

    async def create_bundle(self, bundle: Bundle) -> None:
        async with self._db.write() as tx:
            conn = tx.conn
            await conn.execute(
                bundles.insert().values(**{name: getattr(bundle, name) for name in BUNDLE_FIELDS})
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
        return [Bundle(**{name: row[name] for name in BUNDLE_FIELDS}) for row in rows], int(total)

    async def delete_bundle(self, account_id: str, bundle_id: str) -> None:
        async with self._db.write() as tx:
            conn = tx.conn
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

"""SqlFileStore against SQLite and PostgreSQL: dedup lookup, expiry, blob references, quotas, bundles."""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert, select
from sqlalchemy.dialects import postgresql, sqlite

from drive_service.app import App
from drive_service.domain.files import Bundle, StoredFile
from drive_service.domain.ids import new_id
from drive_service.errors import NotFound, Unavailable
from drive_service.storage.files import SqlFileStore
from drive_service.storage.models import blobs, files
from tests.support import new_account

NOW = datetime.now(UTC)
POOL = "00000000-0000-4000-8000-00000000f11e"


async def insert_file(
    store_app: App,
    account_id: str,
    *,
    content: str | None = None,
    size: int = 10,
    encrypted: bool = False,
    bundle_id: str | None = None,
    expired_at: datetime | None = None,
) -> StoredFile:
    """A file row plus its counted blob row (no bytes: the store never touches them)."""
    digest = content or secrets.token_hex(32)
    file = StoredFile(
        id=new_id(),
        account_id=account_id,
        name="f",
        description="",
        mime_type="text/plain",
        size=size,
        hash=digest,
        pool_id=POOL,
        blob_key=secrets.token_hex(32) if encrypted else digest,
        stored_size=size,
        bundle_id=bundle_id,
        encrypted=encrypted,
        created_at=NOW,
        updated_at=NOW,
        uploaded_at=NOW,
        expired_at=expired_at,
    )
    async with store_app.service.db.write() as tx:
        conn = tx.conn
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        await conn.execute(
            dialect.insert(blobs)
            .values(pool_id=POOL, key=file.blob_key, size=size, refcount=1, created_at=NOW)
            .on_conflict_do_update(
                index_elements=[blobs.c.pool_id, blobs.c.key], set_={"refcount": blobs.c.refcount + 1}
            )
        )
        await conn.execute(insert(files).values(**dataclasses.asdict(file)))
    return file


async def new_bundle(store: SqlFileStore, account_id: str, expired_at: datetime | None = None) -> Bundle:
    bundle = Bundle(new_id(), account_id, "b", "", expired_at, NOW, NOW)
    await store.create_bundle(bundle)
    return bundle


async def test_find_file_returns_only_the_callers_live_plain_copy(server: App) -> None:
    store = SqlFileStore(server.service.db)
    me, other = new_account(), new_account()
    content = secrets.token_hex(32)
    stale = await new_bundle(store, me, NOW + timedelta(minutes=1))
    await insert_file(server, other, content=content)
    await insert_file(server, me, content=content, encrypted=True)
    await insert_file(server, me, content=content, expired_at=NOW + timedelta(minutes=1))
    await insert_file(server, me, content=content, bundle_id=stale.id)
    later = NOW + timedelta(minutes=2)
    assert await store.find_file(me, content, 10, later) is None
    live = await insert_file(server, me, content=content)
    assert (await store.find_file(me, content, 10, later)) == live
    assert await store.find_file(me, content, 11, later) is None


async def test_expired_files_by_own_or_bundle_expiry(server: App) -> None:
    store = SqlFileStore(server.service.db)
    me = new_account()
    far = NOW + timedelta(days=400)  # beyond any other test's expiry
    bundle = await new_bundle(store, me, far)
    own = await insert_file(server, me, expired_at=far)
    grouped = await insert_file(server, me, bundle_id=bundle.id)
    lasting = await insert_file(server, me)
    due = await store.expired_files(far + timedelta(seconds=1), 10_000)
    mine = {file_id for account_id, file_id in due if account_id == me}
    assert mine == {own.id, grouped.id}
    assert lasting.id not in mine
    assert len(await store.expired_files(far + timedelta(seconds=1), 1)) == 1
    shown = await store.get_file(me, grouped.id)
    assert shown is not None and shown.expired_at == far  # the bundle's expiry applies to its files


async def test_concurrent_deletes_release_a_shared_blob_once(server: App) -> None:
    store = SqlFileStore(server.service.db)
    content = secrets.token_hex(32)
    owners = [new_account() for _ in range(4)]
    made = [await insert_file(server, owner, content=content) for owner in owners]
    released: list[tuple[str, str]] = []

    async def release(pool_id: str, key: str) -> None:
        await asyncio.sleep(0.01)  # widen the window a racing delete would need
        released.append((pool_id, key))

    await asyncio.gather(*(store.delete_file(file.account_id, file.id, release) for file in made))
    assert released == [(POOL, content)]
    async with server.service.db.read() as conn:
        row = (await conn.execute(select(blobs).where(blobs.c.key == content))).first()
    assert row is None


async def test_failed_release_keeps_file_and_reference(server: App) -> None:
    store = SqlFileStore(server.service.db)
    me = new_account()
    file = await insert_file(server, me)

    async def broken(pool_id: str, key: str) -> None:
        raise Unavailable("disk gone")

    with pytest.raises(Unavailable):
        await store.delete_file(me, file.id, broken)
    assert await store.get_file(me, file.id) == file
    with pytest.raises(NotFound):
        await store.delete_file(new_account(), file.id, broken)


async def test_quota_override_and_unknown_pool_cost(server: App) -> None:
    store = SqlFileStore(server.service.db)
    me = new_account()
    await insert_file(server, me, size=1000)
    usage = await store.usage(me, {}, 5000)
    assert (usage.quota_bytes, usage.used_bytes, usage.reserved_bytes) == (5000, 1000, 0)
    assert (await store.usage(me, {POOL: 0.3333}, 5000)).used_bytes == 334  # rounded up
    await store.set_quota(me, 10)
    await store.set_quota(me, 20)
    assert (await store.usage(me, {}, 5000)).quota_bytes == 20
    await store.set_quota(me, None)
    await store.set_quota(me, None)
    assert (await store.usage(me, {}, 5000)).quota_bytes == 5000


async def test_delete_bundle_releases_only_its_files(server: App) -> None:
    store = SqlFileStore(server.service.db)
    me = new_account()
    gone, kept = await new_bundle(store, me), await new_bundle(store, me)
    inside = await insert_file(server, me, bundle_id=gone.id)
    elsewhere = await insert_file(server, me, bundle_id=kept.id)
    with pytest.raises(NotFound):
        await store.delete_bundle(new_account(), gone.id)
    await store.delete_bundle(me, gone.id)
    assert await store.get_bundle(me, gone.id) is None
    after_inside, after_elsewhere = (
        await store.get_file(me, inside.id),
        await store.get_file(me, elsewhere.id),
    )
    assert after_inside is not None and after_inside.bundle_id is None
    assert after_elsewhere is not None and after_elsewhere.bundle_id == kept.id
    bundles, total = await store.list_bundles(me, 0, 10)
    assert ([bundle.id for bundle in bundles], total) == ([kept.id], 1)

"""Servers and settings for tests: a started App, its settings, and the databases behind it."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from drive_service.app import App
from drive_service.bootstrap import build
from drive_service.config import Settings
from drive_service.pools import DEFAULT_POOL_ID

#: The shared PostgreSQL server's URL; without it the PostgreSQL cases are skipped.
PG_ENV = "DRIVE_TEST_DATABASE_URL"
#: The shared Redis server's URL; without it the Redis cases are skipped.
REDIS_ENV = "DRIVE_TEST_REDIS_URL"
#: The database backends a test parametrised by ``backend_name`` runs on.
BACKEND_NAMES = ["sqlite", "postgres"]


def settings_for(data_dir: Path, database_url: str | None = None, **env: str) -> Settings:
    """Settings for a test server: loopback port 0, a private data dir, short grace; ``env`` on top."""
    values = {
        "DRIVE_DATA_DIR": str(data_dir),
        "DRIVE_LISTEN": "127.0.0.1:0",
        "DRIVE_SHUTDOWN_GRACE_SECONDS": "1",
        "DRIVE_JWT_SECRET": "test-secret-that-is-long-enough-for-hs256-0123456789",
        **env,
    }
    if database_url:
        values["DATABASE_URL"] = database_url
    return Settings.from_env(values)


@asynccontextmanager
async def postgres_database() -> AsyncIterator[str]:
    """A fresh, empty PostgreSQL database on the server named by DRIVE_TEST_DATABASE_URL, dropped
    on exit."""
    base = make_url(os.environ[PG_ENV])
    name = f"drive_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(
        host=base.host,
        port=base.port or 5432,
        user=base.username or "postgres",
        password=base.password,
        database="postgres",
    )
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield base.set(drivername="postgresql+asyncpg", database=name).render_as_string(hide_password=False)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@asynccontextmanager
async def backend_database(backend_name: str) -> AsyncIterator[str | None]:
    """None for "sqlite" (the App keeps SQLite in its data dir), or the URL of a fresh PostgreSQL
    database for "postgres"; skips the test when DRIVE_TEST_DATABASE_URL is not set."""
    if backend_name == "sqlite":
        yield None
        return
    if not os.environ.get(PG_ENV):
        import pytest  # here, not above: benchmarks import tests.support without the test extras

        pytest.skip(f"{PG_ENV} is not set")
    async with postgres_database() as url:
        yield url


@asynccontextmanager
async def running_app(settings: Settings, *, serve_grpc: bool = True, **overrides: Any) -> AsyncIterator[App]:
    """A started App built with ``overrides`` (see ``bootstrap.build``), stopped on exit."""
    app = App(build(settings, **overrides), serve_grpc=serve_grpc)
    await app.start()
    try:
        yield app
    finally:
        await app.stop(grace=0.5)


def default_pool_root(settings: Settings) -> Path:
    """The root of the one local pool made when no pools file is given."""
    return settings.storage.data_dir / "pools" / DEFAULT_POOL_ID


def staging_dir(settings: Settings, task_id: str) -> Path:
    """Where a local pool keeps an upload's chunks until it completes."""
    return settings.storage.uploads_path / task_id


async def stored_bytes(app: App, account_id: str, file_id: str) -> bytes:
    """The bytes of a file's blob as its pool's store holds them (sealed, when encrypted)."""
    file = await app.service.files.get_file(account_id, file_id)
    blocks = app.service.blobs.of(file.pool_id).read(file.blob_key)
    return b"".join([block async for block in blocks])


async def is_staged(app: App, task_id: str, pool_id: str | None = None) -> bool:
    """Whether the pool's store (default: the default pool's) still holds staged bytes of the upload."""
    return task_id in await app.service.blobs.of(app.service.pools.get(pool_id).id).staging_ids()

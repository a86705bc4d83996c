"""Shared helpers for tests: settings, databases, servers, tokens and error inspection."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from sqlalchemy.engine import make_url

from drive_service.app import App
from drive_service.bootstrap import build
from drive_service.config import Settings
from drive_service.pools import DEFAULT_POOL_ID
from drive_service.services.tokens import mint

PG_ENV = "DRIVE_TEST_DATABASE_URL"


def settings_for(data_dir: Path, database_url: str | None = None, **env: str) -> Settings:
    """Settings for a test server: loopback port 0, a private data dir, short grace."""
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
    """A fresh, empty PostgreSQL database on the server named by DRIVE_TEST_DATABASE_URL."""
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
async def running_app(settings: Settings, *, serve_grpc: bool = True, **overrides: Any) -> AsyncIterator[App]:
    """A started App built with ``overrides`` (see ``bootstrap.build``), stopped on exit."""
    app = App(build(settings, **overrides), serve_grpc=serve_grpc)
    await app.start()
    try:
        yield app
    finally:
        await app.stop(grace=0.5)


def token_for(settings: Settings, account_id: str, ttl: timedelta = timedelta(hours=1)) -> str:
    """A valid bearer token for ``account_id``."""
    return mint(settings.jwt, account_id, ttl)


def auth(token: str) -> tuple[tuple[str, str], ...]:
    """Call metadata carrying ``token``."""
    return (("authorization", f"Bearer {token}"),)


def error_reason(error: grpc.aio.AioRpcError) -> tuple[grpc.StatusCode, str, dict[str, str]]:
    """The status code, ErrorInfo reason and metadata of a failed call."""
    status = rpc_status.from_call(error)
    assert status is not None, f"no rich status on {error.code()}: {error.details()}"
    infos = []
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            infos.append(info)
    assert len(infos) == 1, "exactly one ErrorInfo expected"
    assert infos[0].domain == "drive"
    return error.code(), infos[0].reason, dict(infos[0].metadata)


def retry_delay(error: grpc.aio.AioRpcError) -> float:
    """Seconds of the one RetryInfo a failed call carries."""
    status = rpc_status.from_call(error)
    assert status is not None, f"no rich status on {error.code()}: {error.details()}"
    delays = []
    for detail in status.details:
        if detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            info = error_details_pb2.RetryInfo()
            detail.Unpack(info)
            delays.append(info.retry_delay.ToTimedelta().total_seconds())
    assert len(delays) == 1, "a retryable error carries one RetryInfo"
    return delays[0]


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def new_account() -> str:
    """A fresh account UUID (tests isolate themselves by account)."""
    return str(uuid.uuid4())


def default_pool_root(settings: Settings) -> Path:
    """The root of the one local pool made when no pools file is given."""
    return settings.storage.data_dir / "pools" / DEFAULT_POOL_ID


def staging_dir(settings: Settings, task_id: str) -> Path:
    """Where a local pool keeps an upload's chunks until it completes."""
    return settings.storage.uploads_path / task_id

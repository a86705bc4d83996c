"""The async engine and transactions for SQLite (embedded default) and PostgreSQL (asyncpg)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from drive_service.errors import Unavailable
from drive_service.services.ports import Changes
from drive_service.storage import sqlite_driver

_WRITE = "drive_write"


@dataclass(slots=True)
class Transaction:
    """A write transaction's connection, and what it changed that others must hear of once it
    commits (the caller publishes ``changes`` after the commit)."""

    conn: AsyncConnection
    changes: Changes = field(default_factory=Changes)

    def touch(self, *task_ids: str) -> None:
        """Record that this transaction changes or deletes these tasks (their cached copies are
        stale once it commits)."""
        self.changes.touched_tasks.update(task_ids)


_BUSY_TIMEOUT_SECONDS = 30  # also SQLite's busy_timeout below


class Database:
    """Owns the engine; hands out read and write transactions.

    On SQLite a write transaction starts with ``BEGIN IMMEDIATE`` so that concurrent writers queue
    on the database lock instead of failing when a read lock is upgraded; on PostgreSQL row locks
    (``SELECT … FOR UPDATE``) serialise writers of the same row.
    """

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        options: dict[str, Any] = {}
        if not self.is_sqlite:
            # No pre-ping round trip per transaction: a dropped connection surfaces as Unavailable
            # (retryable) and the pool replaces it.
            options = {"pool_size": pool_size, "max_overflow": pool_size, "pool_recycle": 1800}
        else:
            # One thread hop per statement (see sqlite_driver). No rollback when a connection goes
            # back to the pool: every transaction here ends with its own commit or rollback.
            options = {"module": sqlite_driver.dbapi(), "pool_reset_on_return": None}
        self.engine: AsyncEngine = create_async_engine(url, **options)
        self._write_turn = asyncio.Lock()
        if self.is_sqlite:
            _configure_sqlite(self.engine)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A read-only transaction."""
        async with _translated(), self.engine.connect() as conn, conn.begin():
            yield conn

    @asynccontextmanager
    async def write(self) -> AsyncIterator[Transaction]:
        """A transaction that commits when the block ends normally and rolls back on any exception."""
        async with self._writer(), _translated(), self.engine.connect() as conn:
            conn = await conn.execution_options(**{_WRITE: True})
            async with conn.begin():
                yield Transaction(conn)

    @asynccontextmanager
    async def _writer(self) -> AsyncIterator[None]:
        """On SQLite, this process's writers take turns here before ``BEGIN IMMEDIATE``.

        SQLite has one writer at a time anyway, but a writer that finds the lock taken sleeps
        and polls (1, 2, 5, 10, 15, 20 ms...), so under contention a write waits far longer
        than the one before it takes; here they queue in order and wake at once. Writers in
        other processes still meet at SQLite's lock (busy_timeout). Waiting is bounded like
        busy_timeout.
        """
        if not self.is_sqlite:
            yield
            return
        try:
            async with asyncio.timeout(_BUSY_TIMEOUT_SECONDS):
                await self._write_turn.acquire()
        except TimeoutError:
            raise Unavailable("The database is busy; retry shortly.", retry_after=1.0) from None
        try:
            yield
        finally:
            self._write_turn.release()

    async def ping(self) -> None:
        """Round-trip to the database; raises Unavailable when it does not answer."""
        async with self.read() as conn:
            await conn.execute(text("SELECT 1"))

    async def close(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()


@asynccontextmanager
async def _translated() -> AsyncIterator[None]:
    """Turn connection-level failures into Unavailable (retryable), keeping other errors."""
    try:
        yield
    except (OperationalError, DBAPIError, OSError) as exc:
        if isinstance(exc, DBAPIError) and not _is_connection_error(exc):
            raise
        raise Unavailable("The database is unavailable; retry shortly.", retry_after=1.0) from exc


#: SQLSTATEs of transient conflicts (deadlock, serialization failure): retrying succeeds.
_TRANSIENT_STATES = {"40P01", "40001"}


def _is_connection_error(exc: DBAPIError) -> bool:
    if exc.connection_invalidated or isinstance(exc, OperationalError):
        return True
    if getattr(exc.orig, "sqlstate", None) in _TRANSIENT_STATES:
        return True
    name = type(exc.orig).__name__ if exc.orig is not None else ""
    return "Connection" in name or "CannotConnect" in name or "Shutdown" in name


def _configure_sqlite(engine: AsyncEngine) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the driver so that "begin" below decides.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_SECONDS * 1000}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        immediate = conn.get_execution_options().get(_WRITE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

"""Fault injection for upload tests: blob stores that fail like a disk does, and a killable server."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from drive_service.services.ports import Data, Staging
from drive_service.storage import blobs
from drive_service.storage.blobs import LocalBlobStore
from tests.support import PG_ENV, postgres_database

BACKEND_NAMES = ["sqlite", "postgres"]
JWT_SECRET = "failure-tests-secret-that-is-long-enough-for-hs256-42"
_START_TIMEOUT = 30.0


@asynccontextmanager
async def backend_database(backend_name: str) -> AsyncIterator[str | None]:
    """None (SQLite in the data dir) or the URL of a fresh PostgreSQL database; skips without one."""
    if backend_name == "sqlite":
        yield None
        return
    if not os.environ.get(PG_ENV):
        pytest.skip(f"{PG_ENV} is not set")
    async with postgres_database() as url:
        yield url


def _injected(operation: str) -> Callable[[], None]:
    def fail() -> None:
        raise OSError(errno.EIO, f"injected I/O error in {operation}")

    return fail


async def _disk_error(operation: str) -> None:
    """Raise an OSError from the store's I/O thread, exactly where a real disk error would surface."""
    await blobs._io(_injected(operation))


class FaultyBlobStore(LocalBlobStore):
    """A LocalBlobStore whose chosen operations fail once with an I/O error, then work again.

    ``fail_write_offsets``: a write at one of these staging offsets first writes half of its bytes
    (durably, a torn write), then fails. ``fail_hash``: hash_staging fails before reading.
    ``fail_adopt``: adopt_staging links the blob into place, then fails (as if the directory fsync
    failed), so a retry finds the blob file already there.
    """

    def __init__(
        self,
        staging_root: Path,
        pool_root: Path,
        *,
        fail_write_offsets: frozenset[int] = frozenset(),
        fail_hash: bool = False,
        fail_adopt: bool = False,
    ) -> None:
        super().__init__(staging_root, pool_root)
        self._pending_writes = set(fail_write_offsets)
        self._fail_hash = fail_hash
        self._fail_adopt = fail_adopt
        self.injected: list[str] = []

    async def write_chunk(self, staging: Staging, index: int, offset: int, data: Data) -> None:
        if offset in self._pending_writes:
            self._pending_writes.discard(offset)
            await super().write_chunk(staging, index, offset, data[: len(data) // 2])
            self.injected.append(f"write@{offset}")
            await _disk_error("write_chunk")
        await super().write_chunk(staging, index, offset, data)

    async def hash_staging(self, staging: Staging) -> tuple[str, int]:
        if self._fail_hash:
            self._fail_hash = False
            self.injected.append("hash")
            await _disk_error("hash_staging")
        return await super().hash_staging(staging)

    async def adopt_staging(self, staging: Staging, key: str) -> bool:
        if self._fail_adopt:
            self._fail_adopt = False
            await super().adopt_staging(staging, key)
            self.injected.append("adopt")
            await _disk_error("adopt_staging")
        return await super().adopt_staging(staging, key)


class CountingBlobStore(LocalBlobStore):
    """A LocalBlobStore that records the staging offset of every chunk write that started."""

    def __init__(self, staging_root: Path, pool_root: Path) -> None:
        super().__init__(staging_root, pool_root)
        self.writes: list[int] = []

    async def write_chunk(self, staging: Staging, index: int, offset: int, data: Data) -> None:
        self.writes.append(offset)
        # Give a racing writer of the same chunk every chance to slip in while this one writes.
        await asyncio.sleep(0.01)
        await super().write_chunk(staging, index, offset, data)


def server_env(data_dir: Path, database_url: str | None, **extra: str) -> dict[str, str]:
    """The environment of a `drive_service serve` child: nothing inherited from DRIVE_* variables."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DRIVE_", "DATABASE_URL", "STORAGE_", "UPLOAD_", "LOG_LEVEL"))
    }
    env.update(
        {
            "DRIVE_DATA_DIR": str(data_dir),
            "DRIVE_LISTEN": "127.0.0.1:0",
            "DRIVE_SHUTDOWN_GRACE_SECONDS": "1",
            "DRIVE_JWT_SECRET": JWT_SECRET,
            "LOG_LEVEL": "INFO",
        }
    )
    if database_url:
        env["DATABASE_URL"] = database_url
    env.update(extra)
    return env


class ServerProcess:
    """A real `python -m drive_service serve` child; its JSON stderr is drained in the background."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.lines: list[str] = []
        self._line_added = asyncio.Event()
        self._port: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._drain = asyncio.create_task(self._read_stderr())

    @property
    def pid(self) -> int:
        return self.process.pid

    async def port(self) -> int:
        """The port from the "serving" log line (bounded by a timeout)."""
        return await asyncio.wait_for(asyncio.shield(self._port), _START_TIMEOUT)

    async def kill(self) -> int:
        """SIGKILL, then the exit status (negative signal number)."""
        os.kill(self.process.pid, signal.SIGKILL)
        return await asyncio.wait_for(self.process.wait(), 10)

    async def close(self) -> None:
        if self.process.returncode is None:
            self.process.kill()
            await asyncio.wait_for(self.process.wait(), 10)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._drain, 5)
        if self._port.done():
            self._port.exception()  # retrieved: no "exception was never retrieved" noise

    async def logged(self, text: str) -> None:
        """Wait (bounded) until a log line contains ``text``."""
        async with asyncio.timeout(_START_TIMEOUT):
            while True:
                self._line_added.clear()
                if any(text in line for line in self.lines):
                    return
                await self._line_added.wait()

    def log(self) -> str:
        return "".join(self.lines[-40:])

    async def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        while line := await self.process.stderr.readline():
            text = line.decode(errors="replace")
            self.lines.append(text)
            self._line_added.set()
            if self._port.done():
                continue
            with contextlib.suppress(ValueError):
                record = json.loads(text)
                if isinstance(record, dict) and record.get("message") == "serving":
                    self._port.set_result(int(record["port"]))
        if not self._port.done():
            self._port.set_exception(AssertionError(f"the server exited before serving:\n{self.log()}"))


@asynccontextmanager
async def server_process(
    data_dir: Path, database_url: str | None, **extra_env: str
) -> AsyncIterator[ServerProcess]:
    """Start a server child process on a free port; killed on exit if still running."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "drive_service",
        "serve",
        env=server_env(data_dir, database_url, **extra_env),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    server = ServerProcess(process)
    try:
        yield server
    finally:
        await server.close()

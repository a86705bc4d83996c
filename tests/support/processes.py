"""A real ``python -m drive_service serve`` child process: listening on port 0, its JSON log
drained in the background, killed at will."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from tests.support.polling import eventually

#: The JWT secret of server processes started here (mint their tokens with ``settings_for(...,
#: DRIVE_JWT_SECRET=JWT_SECRET)``).
JWT_SECRET = "failure-tests-secret-that-is-long-enough-for-hs256-42"
_START_TIMEOUT = 30.0


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
        """Wait (at most 30 s) until a log line contains ``text``."""
        await eventually(
            lambda: any(text in line for line in self.lines),
            changed=self._line_added,
            within=_START_TIMEOUT,
            failure=lambda: f"the server never logged {text!r}:\n{self.log()}",
        )

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

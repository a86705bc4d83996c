"""Private PostgreSQL and Redis servers for tests that stop, restart or break them.

Each instance lives in its own folder under /tmp on a free loopback port and never touches the
shared servers. Without the binaries the test is skipped, except where CI is recognised (it sets
the shared servers' URLs): there a missing binary fails the test.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pwd
import shutil
import socket
import tempfile
from pathlib import Path
from types import TracebackType
from typing import NoReturn, Self

import pytest

from tests.support.polling import eventually
from tests.support.servers import PG_ENV, REDIS_ENV

_CI_VARIABLES = (PG_ENV, REDIS_ENV)
_COMMAND_TIMEOUT = 60.0  # initdb, pg_ctl start/stop (pg_ctl's own -t is below this)
_READY_TIMEOUT = 10.0
_POLL_INTERVAL = 0.02
_PG_USER = "postgres"


def free_port() -> int:
    """A loopback port nobody listens on right now (the kernel's pick)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _unavailable(reason: str) -> NoReturn:
    """Skip on a developer machine; fail in CI, where the binaries must exist."""
    if any(os.environ.get(name) for name in _CI_VARIABLES):
        pytest.fail(f"{reason} (required when {' or '.join(_CI_VARIABLES)} is set)")
    pytest.skip(reason)


def _private_dir(prefix: str, owner: str | None) -> Path:
    """A fresh folder directly under /tmp (reachable by ``owner``), owned by ``owner`` if given."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    if owner is not None:
        shutil.chown(path, owner, owner)
    return path


async def _run(*argv: str) -> None:
    """Run a command to completion within a time limit; raise with its output when it fails."""
    process = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        async with asyncio.timeout(_COMMAND_TIMEOUT):
            output, _ = await process.communicate()
    except TimeoutError:
        process.kill()
        await process.wait()
        raise RuntimeError(f"{argv[0]} did not finish within {_COMMAND_TIMEOUT} s: {argv}") from None
    if process.returncode != 0:
        raise RuntimeError(f"{argv} exited with {process.returncode}:\n{output.decode(errors='replace')}")


def _postgres_binaries() -> tuple[str, str]:
    """initdb and pg_ctl: Debian keeps them in /usr/lib/postgresql/<major>/bin, outside PATH."""
    folders = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda folder: int(folder.parent.name) if folder.parent.name.isdigit() else 0,
        reverse=True,
    )
    for folder in folders:
        if (folder / "initdb").is_file() and (folder / "pg_ctl").is_file():
            return str(folder / "initdb"), str(folder / "pg_ctl")
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if initdb is None or pg_ctl is None:
        _unavailable("PostgreSQL server binaries (initdb, pg_ctl) not found")
    return initdb, pg_ctl


class _PrivateServer:
    """A server of the test's own: prepared and started on entry, removed on exit (also when
    starting fails)."""

    async def prepare(self) -> None:
        """One-time set-up before the first start (nothing by default)."""

    async def start(self) -> None:
        raise NotImplementedError

    async def cleanup(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        try:
            await self.prepare()
            await self.start()
        except BaseException:
            await self.cleanup()
            raise
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self.cleanup()


class PrivatePostgres(_PrivateServer):
    """A throwaway PostgreSQL cluster (trust auth, user ``postgres``) on 127.0.0.1:``port``.

    ``async with`` creates it, starts it and, on exit, stops it and deletes its folder. ``stop``
    and ``start`` may be repeated: the port and the data stay the same. As root every command runs
    as the ``postgres`` user (PostgreSQL refuses root), which owns the folder.
    """

    def __init__(self) -> None:
        self._initdb, self._pg_ctl = _postgres_binaries()
        self._as_user: tuple[str, ...] = ()
        owner = None
        if os.geteuid() == 0:
            try:
                pwd.getpwnam(_PG_USER)
            except KeyError:
                _unavailable(f"running as root, but there is no {_PG_USER!r} user to run PostgreSQL")
            if shutil.which("runuser") is None:
                _unavailable("running as root, but runuser is missing")
            self._as_user = ("runuser", "-u", _PG_USER, "--")
            owner = _PG_USER
        self.port = free_port()
        self._root = _private_dir("drive-pg-", owner)
        self._data = self._root / "data"
        self.running = False

    @property
    def url(self) -> str:
        """The SQLAlchemy URL of the ``postgres`` database."""
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    async def prepare(self) -> None:
        await _run(
            *self._as_user, self._initdb, "-D", str(self._data), "-U", _PG_USER, "-A", "trust",
            "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions",
        )  # fmt: skip

    async def start(self) -> None:
        """Start on the same port and data; returns once it accepts connections."""
        # fsync off: only the server process is ever killed here, never the machine, so nothing
        # written is lost, and the tests run faster.
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self._root} -c fsync=off"
        await _run(
            *self._as_user, self._pg_ctl, "start", "-D", str(self._data), "-l", str(self._root / "log"),
            "-o", options, "-w", "-t", str(int(_READY_TIMEOUT * 3)),
        )  # fmt: skip
        self.running = True

    async def stop(self, mode: str = "immediate") -> None:
        """Stop (``immediate``: like a crash, with recovery at the next start; or ``fast``)."""
        await _run(*self._as_user, self._pg_ctl, "stop", "-D", str(self._data), "-m", mode, "-w")
        self.running = False

    async def cleanup(self) -> None:
        """Stop if running and delete the folder."""
        try:
            if self.running:
                await self.stop()
        finally:
            shutil.rmtree(self._root, ignore_errors=True)


class PrivateRedis(_PrivateServer):
    """A throwaway Redis without persistence on 127.0.0.1:``port``, run as a child process.

    ``async with`` starts it and, on exit, stops it and deletes its folder; ``stop`` and ``start``
    may be repeated on the same port (a restarted Redis is empty, as after a real crash).
    """

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            _unavailable("redis-server not found")
        self._binary = binary
        self.port = free_port()
        self._root = _private_dir("drive-redis-", None)
        self._process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        """The redis:// URL of database 0."""
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        """Start on the same port; returns once it answers PING."""
        assert self._process is None, "already running"
        self._process = await asyncio.create_subprocess_exec(
            self._binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--dir", str(self._root), "--daemonize", "no",
            "--logfile", str(self._root / "log"),
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        await eventually(
            self._answers,
            within=_READY_TIMEOUT,
            every=_POLL_INTERVAL,
            failure=lambda: f"redis-server never answered PING:\n{self._log_tail()}",
        )

    async def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL if it lingers) and wait until it is gone."""
        process, self._process = self._process, None
        if process is None or process.returncode is not None:
            return
        process.terminate()
        try:
            async with asyncio.timeout(_READY_TIMEOUT):
                await process.wait()
        except TimeoutError:
            process.kill()
            await process.wait()

    async def cleanup(self) -> None:
        """Stop if running and delete the folder."""
        try:
            await self.stop()
        finally:
            shutil.rmtree(self._root, ignore_errors=True)

    async def _answers(self) -> bool:
        """Whether it answers PING; fails the test if the process has exited."""
        assert self._process is not None
        if self._process.returncode is not None:
            raise AssertionError(f"redis-server exited:\n{self._log_tail()}")
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        except OSError:
            return False
        try:
            writer.write(b"PING\r\n")
            await writer.drain()
            return await reader.readline() == b"+PONG\r\n"
        except OSError:
            return False
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    def _log_tail(self) -> str:
        with contextlib.suppress(OSError):
            return (self._root / "log").read_text(errors="replace")[-2000:]
        return ""

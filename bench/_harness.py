"""Benchmark plumbing: the server as a child process, payload bytes, the raw-disk baseline, stats."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import math
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB
MB = 1_000_000  # throughput is reported in MB/s = 10^6 bytes per second

REPO = Path(__file__).resolve().parent.parent
#: Environment variables of the service that the benchmark never inherits from the caller's shell.
_SERVICE_PREFIXES = ("DRIVE_", "STORAGE_", "UPLOAD_", "TASK_")
_SERVICE_NAMES = {"DATABASE_URL", "REDIS_URL", "LOG_LEVEL"}
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def say(text: str) -> None:
    print(text, flush=True)


# ----------------------------------------------------------------------------------------------
# The server process
# ----------------------------------------------------------------------------------------------


class ServerError(RuntimeError):
    """The server did not start (its log tail is in the message)."""


@dataclass
class ServerProcess:
    """``python -m drive_service serve`` (or ``python -m <command>``) in its own session, on a private
    data dir and port 0.

    Its stderr (JSON log lines) goes to ``<data_dir>/../<data dir name>.server.log``; it has started
    when a line's ``message`` is ``ready`` (default ``serving``, whose line has the port). ``stop()``
    sends SIGTERM (SIGKILL after a timeout).
    """

    data_dir: Path
    database_url: str | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    command: list[str] = field(default_factory=lambda: ["drive_service", "serve"])  # python -m ...
    ready: str = "serving"  # the log message that says it started
    profile: Path | None = None  # run under ``python -m cProfile -o <profile>`` (written at SIGTERM)

    def env(self) -> dict[str, str]:
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(_SERVICE_PREFIXES) and key not in _SERVICE_NAMES
        }
        env.update(
            {
                "DRIVE_DATA_DIR": str(self.data_dir),
                "DRIVE_LISTEN": "127.0.0.1:0",
                "DRIVE_SHUTDOWN_GRACE_SECONDS": "2",
                # The benchmark uploads many GiB per account; the default 10 GiB quota is not under test.
                "DRIVE_DEFAULT_QUOTA_BYTES": str(1024 * GIB),
                # Keep the log quiet (per-call lines would cost the server time) but keep "serving".
                "LOG_LEVEL": "WARNING,drive_service.app:INFO",
                # One benchmark account calls far faster than the per-account defaults allow;
                # a figure that measures the limiter's cost sets DRIVE_RATE_LIMITS itself.
                "DRIVE_RATE_LIMITS": "off",
                **self.extra_env,
            }
        )
        if self.database_url:
            env["DATABASE_URL"] = self.database_url
        return env

    def argv(self) -> list[str]:
        profiler = ["-m", "cProfile", "-o", str(self.profile)] if self.profile else []
        return [sys.executable, *profiler, "-m", *self.command]

    def log_name(self) -> str:
        return f"{self.data_dir.name}.server.log"

    def label(self) -> str:
        """How errors name the process."""
        return "server"

    def start(self, timeout: float = 90.0) -> None:
        """Start it and wait until it logs ``ready`` (its port is read from that line, if any)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.data_dir.parent / self.log_name()
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                self.argv(),
                cwd=REPO,
                env=self.env(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,  # a Ctrl-C on the benchmark reaches us; we SIGTERM the server
            )
        _LIVE.add(self)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            entry = self.logged(self.ready)
            if entry is not None:
                self.port = int(entry.get("port") or 0)
                return
            if self.process.poll() is not None:
                raise ServerError(f"{self.label()} exited with {self.process.returncode}:\n{self.log_tail()}")
            time.sleep(0.05)
        raise ServerError(
            f"{self.label()} did not report {self.ready!r} within {timeout:.0f} s:\n{self.log_tail()}"
        )

    def wait_logged(self, message: str, timeout: float = 30.0) -> None:
        """Block until a JSON log line's ``message`` is ``message``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.logged(message) is not None:
                return
            time.sleep(0.05)
        raise ServerError(f"server did not log {message!r} within {timeout:.0f} s:\n{self.log_tail()}")

    def entries(self) -> Iterator[dict[str, Any]]:
        """The JSON log lines logged so far."""
        if self.log_path is None or not self.log_path.exists():
            return
        for line in self.log_path.read_text(errors="replace").splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if isinstance(entry, dict):
                yield entry

    def logged(self, message: str) -> dict[str, Any] | None:
        """The first log line whose ``message`` is ``message``, if any."""
        return next((entry for entry in self.entries() if entry.get("message") == message), None)

    def log_tail(self, lines: int = 20) -> str:
        if self.log_path is None or not self.log_path.exists():
            return "(no log)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def errors_logged(self) -> list[str]:
        """The server's ERROR/CRITICAL log messages (distinct, in order)."""
        seen: list[str] = []
        for entry in self.entries():
            if entry.get("level") in {"ERROR", "CRITICAL"}:
                text = str(entry.get("message"))
                exception = str(entry.get("exception", "")).strip().splitlines()
                if exception:
                    text += f" ({exception[-1]})"
                if text not in seen:
                    seen.append(text)
        return seen

    def token(self, account_id: str) -> str:
        """A bearer token minted by ``python -m drive_service token`` with the server's env."""
        result = subprocess.run(
            [sys.executable, "-m", "drive_service", "token", "--account", account_id, "--ttl", "2h"],
            cwd=REPO,
            env=self.env(),
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        return result.stdout.strip()

    def peak_rss(self) -> int:
        """The server's peak resident set size (VmHWM) in bytes."""
        assert self.process is not None
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * KIB
        raise RuntimeError("VmHWM not found")

    def cpu_seconds(self) -> float:
        assert self.process is not None
        return process_cpu(self.process.pid)

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM and wait; SIGKILL if it does not exit in ``timeout``. Returns the exit status."""
        process = self.process
        _LIVE.discard(self)
        if process is None or process.poll() is not None:
            return None if process is None else process.returncode
        return _terminate(process, timeout)

    def __hash__(self) -> int:
        return id(self)


def _terminate(process: subprocess.Popen[Any], timeout: float) -> int:
    """SIGTERM and wait; SIGKILL if it does not exit in ``timeout``. Returns the exit status."""
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait(10)


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of a process so far, from /proc (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS  # utime, stime (fields 14, 15)


@contextlib.asynccontextmanager
async def serving(servers: Sequence[ServerProcess]) -> AsyncIterator[None]:
    """``servers`` started one after the other. When the block (or a start) fails, the first errors
    each started server logged are printed; at the end each is stopped (SIGTERM; an unclean exit is
    printed with its log tail) and its data dir removed."""
    started: list[ServerProcess] = []
    try:
        for server in servers:
            started.append(server)
            await asyncio.to_thread(server.start)
        yield
    except BaseException:
        for server in started:
            for text in server.errors_logged()[:3]:
                say(f"    server {server.data_dir.name} logged: {text}")
        raise
    finally:
        for server in started:
            status = await asyncio.to_thread(server.stop)
            if status not in (0, None):
                say(
                    f"  (server for {server.data_dir.name} exited with status {status}; log tail:)\n"
                    f"{server.log_tail(5)}"
                )
            shutil.rmtree(server.data_dir, ignore_errors=True)


class PipeProcess:
    """``python -m <module> <arguments>`` in its own session; its stdout (and stdin with
    ``stdin=True``) a text pipe. ``stop()`` sends SIGTERM (SIGKILL after a timeout)."""

    def __init__(
        self, arguments: Sequence[str], env: dict[str, str] | None = None, stdin: bool = False
    ) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", *arguments],
            cwd=REPO,
            env=env,
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        _LIVE.add(self)

    def stop(self, timeout: float = 10.0) -> int | None:
        _LIVE.discard(self)
        if self.process.poll() is None:
            _terminate(self.process, timeout)
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()
        return self.process.returncode


class SinkProcess(PipeProcess):
    """``python -m bench._sink``: a do-nothing gRPC server (the transport floor)."""

    def __init__(self) -> None:
        super().__init__(["bench._sink"])
        assert self.process.stdout is not None
        line = self.process.stdout.readline().split()
        if len(line) != 2 or line[0] != "PORT":
            self.stop()
            raise ServerError(f"the sink did not start: {line}")
        self.port = int(line[1])


#: Child processes not yet stopped; stop_all() is the last-resort cleanup (atexit / signals).
_LIVE: set[ServerProcess | PipeProcess] = set()


def stop_all() -> None:
    for server in list(_LIVE):
        try:
            server.stop(timeout=10)
        except Exception as error:  # keep going: every server must get its signal
            print(f"warning: could not stop server: {error}", file=sys.stderr)


# ----------------------------------------------------------------------------------------------
# Payload bytes
# ----------------------------------------------------------------------------------------------

_PREFIX = 32


class PayloadSource:
    """Deterministic, non-repeating-enough content without generating GiBs of random bytes.

    64 MiB of ``os.urandom`` is drawn once. Block ``index`` of stream ``seed`` is a 32-byte prefix
    naming (run nonce, seed, index) followed by a window of the random pool whose start depends on
    seed and index, so no two blocks and no two uploads are byte-identical (no dedup hits), and
    each block can be produced piece by piece (one memcpy per byte).
    """

    def __init__(self, pool_size: int = 64 * MIB) -> None:
        self.pool = os.urandom(pool_size)
        self.nonce = secrets.token_bytes(8)

    def _start(self, seed: int, index: int, length: int) -> int:
        room = len(self.pool) - length
        if room <= 0:
            raise ValueError(f"block of {length} bytes does not fit the {len(self.pool)}-byte pool")
        mixed = hashlib.blake2b(f"{seed}:{index}".encode(), digest_size=8, key=self.nonce).digest()
        return int.from_bytes(mixed, "little") % room

    def pieces(self, seed: int, index: int, length: int, piece: int) -> Iterator[bytes]:
        """Block ``index`` of stream ``seed`` (``length`` bytes) as pieces of at most ``piece`` bytes."""
        prefix = (self.nonce + seed.to_bytes(8, "little") + index.to_bytes(8, "little")).ljust(_PREFIX, b"\0")
        prefix = prefix[:length]
        start = self._start(seed, index, length)
        position = 0  # offset inside the block
        while position < length:
            end = min(position + piece, length)
            if position < len(prefix):
                head = prefix[position:end]
                tail_start = start + len(prefix)
                tail = self.pool[tail_start : start + end] if end > len(prefix) else b""
                yield head + tail
            else:
                yield self.pool[start + position : start + end]
            position = end

    def block(self, seed: int, index: int, length: int) -> bytes:
        """Block ``index`` of stream ``seed`` in one piece."""
        return b"".join(self.pieces(seed, index, length, length))


@dataclass(frozen=True)
class FileSpec:
    """An upload's content: ``size`` bytes made of blocks of ``chunk_size`` from stream ``seed``."""

    seed: int
    size: int
    chunk_size: int

    @property
    def chunks(self) -> int:
        return (self.size + self.chunk_size - 1) // self.chunk_size

    def length(self, index: int) -> int:
        return min(self.chunk_size, self.size - index * self.chunk_size)


# ----------------------------------------------------------------------------------------------
# Raw-disk baseline
# ----------------------------------------------------------------------------------------------


@dataclass
class Baseline:
    """Seconds spent in pwrite + fsync + sha256 (payload generation excluded), and the hashes."""

    seconds: float = 0.0
    io_seconds: float = 0.0  # open + pwrite + fsync + close
    hash_seconds: float = 0.0
    bytes: int = 0
    runs: int = 1
    per_file: list[float] = field(default_factory=list)
    hashes: list[str] = field(default_factory=list)
    run_rates: list[float] = field(default_factory=list)

    @property
    def mb_per_s(self) -> float:
        return self.bytes / MB / self.seconds

    def __add__(self, other: Baseline) -> Baseline:
        """Two runs of the same files pooled (total bytes / total seconds); hashes must agree."""
        if other.hashes != self.hashes:
            raise AssertionError("the payload is not deterministic: baseline hashes differ between runs")
        return Baseline(
            seconds=self.seconds + other.seconds,
            io_seconds=self.io_seconds + other.io_seconds,
            hash_seconds=self.hash_seconds + other.hash_seconds,
            bytes=self.bytes + other.bytes,
            runs=self.runs + other.runs,
            per_file=self.per_file + other.per_file,
            hashes=self.hashes,
            run_rates=self.run_rates + other.run_rates,
        )


def raw_write(directory: Path, source: PayloadSource, specs: Sequence[FileSpec]) -> Baseline:
    """Write each file in its chunk size with os.pwrite + os.fsync per chunk, hashing with sha256.

    Each file is new (O_CREAT), as the server's staging file is; files are removed afterwards.
    """
    directory.mkdir(parents=True, exist_ok=True)
    result = Baseline()
    for number, spec in enumerate(specs):
        path = directory / f"baseline-{number}.bin"
        digest = hashlib.sha256()
        io = hashing = 0.0
        started = time.perf_counter()
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        io += time.perf_counter() - started
        try:
            for index in range(spec.chunks):
                data = source.block(spec.seed, index, spec.length(index))
                started = time.perf_counter()
                view, offset = memoryview(data), index * spec.chunk_size
                while view:
                    written = os.pwrite(descriptor, view, offset)
                    view, offset = view[written:], offset + written
                os.fsync(descriptor)
                written_at = time.perf_counter()
                digest.update(data)
                io += written_at - started
                hashing += time.perf_counter() - written_at
        finally:
            started = time.perf_counter()
            os.close(descriptor)
            io += time.perf_counter() - started
        path.unlink()
        result.io_seconds += io
        result.hash_seconds += hashing
        result.seconds += io + hashing
        result.bytes += spec.size
        result.per_file.append(io + hashing)
        result.hashes.append(digest.hexdigest())
    result.run_rates.append(result.mb_per_s)
    return result


def warm_up(directory: Path, size: int) -> None:
    """Write, fsync and delete ``size`` bytes, untimed.

    On this kind of VM, memory the guest freed a few seconds ago has been handed back to the host
    and is slow to touch again: writing 1 GiB into the page cache after a 5-10 s pause runs at
    300-450 MB/s, right after another such write at 650-800 MB/s. An upload writes right after the
    baseline's run (warm), so the baseline must not be the only one paying for the cold memory.
    """
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "warm-up.bin"
    block = os.urandom(8 * MIB)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for offset in range(0, size, len(block)):
            os.pwrite(descriptor, block, offset)
            os.fsync(descriptor)
    finally:
        os.close(descriptor)
        path.unlink()


# ----------------------------------------------------------------------------------------------
# Statistics
# ----------------------------------------------------------------------------------------------


def median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]

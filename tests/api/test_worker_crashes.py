"""The worker against real failures, with real processes on PostgreSQL: a worker killed (SIGKILL) or
frozen (SIGSTOP) mid-task is rescued by another one and the task completes exactly once; a frozen
worker's late completion is refused; a worker survives a PostgreSQL restart; two workers never run
one task at once.

The API server is a real ``drive-service serve`` process with ``DRIVE_WORKER=false``; the workers
are ``python -m tests.support.worker_process`` processes running its CUSTOM ``StepHandler``. The API process
gets the same handler through the ``drive_service.task_handlers`` entry point group (a throwaway
``.dist-info`` on its PYTHONPATH), as a deployment installs a handler plugin in every process: the
process that creates a task decides whether the built-in worker runs it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import grpc
import pytest
from sqlalchemy.engine import make_url

from drive.v1 import task_enums_pb2, tasks_pb2
from drive_service.storage import migrations
from drive_service.storage.db import Database
from tests.support import (
    PG_ENV,
    Client,
    auth,
    client_with,
    eventually,
    new_account,
    postgres_database,
    running_app,
    settings_for,
    token_for,
)
from tests.support.backends import PrivatePostgres
from tests.support.tasks import get_task
from tests.support.worker_process import LOG_ENV, StepHandler

pytestmark = pytest.mark.skipif(
    not os.environ.get(PG_ENV),
    reason=f"{PG_ENV} is not set: the worker crash tests need PostgreSQL (SKIP LOCKED, several processes)",
)

STATUS = task_enums_pb2.TaskStatus
ROOT = Path(__file__).resolve().parents[2]
LEASE_SECONDS = 2
WORKER_ENV = {"DRIVE_WORKER_LEASE_SECONDS": str(LEASE_SECONDS), "DRIVE_WORKER_POLL_MS": "20"}
PLUGIN_METADATA = "Metadata-Version: 2.1\nName: drive-service-crash-test-handler\nVersion: 0\n"
PLUGIN_ENTRY_POINTS = "[drive_service.task_handlers]\nstep = tests.support.worker_process:StepHandler\n"
WORKER_MODULE = ["-m", "tests.support.worker_process"]


# --- processes ------------------------------------------------------------------------------------


@dataclass
class Process:
    """A child process whose JSON log (stderr) goes to a file, so it never blocks on a full pipe."""

    name: str
    proc: asyncio.subprocess.Process
    log: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def records(self) -> list[dict[str, Any]]:
        records = []
        for line in self.log.read_text(errors="replace").splitlines():
            with contextlib.suppress(ValueError):
                records.append(json.loads(line))
        return records

    async def logged(self, message: str, seconds: float = 30) -> dict[str, Any]:
        """The first log record with ``message``, waiting for it at most ``seconds``; fails the
        test at once if the process exits without having logged it."""

        def found() -> dict[str, Any] | None:
            exited = self.proc.returncode is not None  # read first: its last lines are then in the file
            for record in self.records():
                if record.get("message") == message:
                    return record
            if exited:
                status = self.proc.returncode
                tail = self.tail()
                raise AssertionError(f"{self.name} exited ({status}) before logging {message!r}:\n{tail}")
            return None

        return await eventually(
            found,
            within=seconds,
            every=0.05,
            failure=lambda: f"{self.name} never logged {message!r}:\n{self.tail()}",
        )

    def tail(self) -> str:
        """The end of the log, for failure messages."""
        return self.log.read_text(errors="replace")[-3000:]

    def signal(self, signum: int) -> None:
        if self.proc.returncode is None:
            self.proc.send_signal(signum)

    async def stop(self) -> None:
        """SIGTERM (after SIGCONT, in case it is frozen), then SIGKILL if it does not exit in time."""
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGCONT)
                self.proc.terminate()
            try:
                await asyncio.wait_for(self.proc.wait(), 5)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    self.proc.kill()
                await self.proc.wait()


async def spawn(name: str, args: list[str], env: dict[str, str], log_dir: Path) -> Process:
    log = log_dir / f"{name}.log"
    with log.open("wb") as sink:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            *args,
            env=env,
            cwd=ROOT,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=sink,
            stderr=sink,
        )
    return Process(name, proc, log)


def process_env(data_dir: Path, database_url: str, secret: str, **extra: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DRIVE_", "DATABASE_URL", "REDIS_URL", LOG_ENV, "PYTHONPATH"))
    }
    env.update(
        {
            "DATABASE_URL": database_url,
            "DRIVE_DATA_DIR": str(data_dir),
            "DRIVE_JWT_SECRET": secret,
            "DRIVE_LISTEN": "127.0.0.1:0",
            "DRIVE_SHUTDOWN_GRACE_SECONDS": "1",
            **extra,
        }
    )
    return env


def plugin_path(folder: Path) -> Path:
    """A folder holding a distribution that installs StepHandler as a task handler plugin."""
    info = folder / "drive_service_crash_test_handler-0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(PLUGIN_METADATA)
    (info / "entry_points.txt").write_text(PLUGIN_ENTRY_POINTS)
    return folder


def make_client(channel: grpc.aio.Channel, secret: str, data_dir: Path) -> Client:
    """A client of a fresh account, with a token of ``secret`` (the processes' JWT secret)."""
    account = new_account()
    settings = settings_for(data_dir, DRIVE_JWT_SECRET=secret)
    return client_with(channel, account, auth(token_for(settings, account)))


@dataclass
class Cluster:
    """One API server process and worker processes sharing a database, a data dir and a task log."""

    api: Process
    workers: list[Process]
    client: Client
    task_log: Path
    database_url: str

    def worker(self, pid: int) -> Process:
        (found,) = [worker for worker in self.workers if worker.pid == pid]
        return found


@contextlib.asynccontextmanager
async def cluster(tmp_path: Path, workers: int = 2, **worker_env: str) -> AsyncIterator[Cluster]:
    data_dir = tmp_path / "data"
    task_log = tmp_path / "tasks.log"
    task_log.touch()
    secret = settings_for(data_dir).jwt.secret
    assert secret is not None
    processes: list[Process] = []
    async with postgres_database() as url:
        try:
            # Migrate once here, so the processes can start together: first-time migrations of
            # several processes on an empty database race each other (no lock around them).
            db = Database(url)
            try:
                await migrations.upgrade(db)
            finally:
                await db.close()
            api_env = process_env(data_dir, url, secret, DRIVE_WORKER="false")
            api_env["PYTHONPATH"] = str(plugin_path(tmp_path / "plugin"))
            processes.append(await spawn("api", ["-m", "drive_service", "serve"], api_env, tmp_path))
            env = process_env(data_dir, url, secret, **{**WORKER_ENV, **worker_env, LOG_ENV: str(task_log)})
            for index in range(workers):
                processes.append(await spawn(f"worker{index}", WORKER_MODULE, env, tmp_path))
            api, *started = processes
            serving, *_ = await asyncio.gather(
                api.logged("serving"), *(worker.logged("worker running") for worker in started)
            )
            port = int(serving["port"])
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                client = make_client(channel, secret, data_dir)
                yield Cluster(api, started, client, task_log, url)
        finally:
            await asyncio.gather(*(process.stop() for process in processes))


# --- tasks, the task log and the database ---------------------------------------------------------


async def create(client: Client, **parameters: Any) -> str:
    request = tasks_pb2.CreateTaskRequest(type=task_enums_pb2.TASK_TYPE_CUSTOM, name="crash test")
    request.parameters.update(parameters)
    return (await client.tasks.CreateTask(request, metadata=client.metadata)).task.task_id


async def progressed(client: Client, task_id: str, percent: float) -> tasks_pb2.Task:
    """The task once its progress reached ``percent``."""
    return await eventually(
        lambda: get_task(client, task_id),
        lambda task: task.progress >= percent,
        within=20,
        failure=f"task {task_id} never reached {percent} %",
    )


async def completed(client: Client, task_id: str) -> tasks_pb2.Task:
    """The task once it is COMPLETED (within 20 s)."""
    return await eventually(
        lambda: get_task(client, task_id),
        lambda task: task.status == STATUS.TASK_STATUS_COMPLETED,
        within=20,
        failure=f"task {task_id} never completed",
    )


def read_task_log(path: Path) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
    """(starts, finishes) as (task id, worker pid) in the order they were written."""
    starts, finishes, _ = read_task_events(path)
    return starts, finishes


def read_task_events(
    path: Path,
) -> tuple[list[tuple[str, int]], list[tuple[str, int]], list[tuple[str, int]]]:
    """(starts, finishes, stops) as (task id, worker pid) in the order they were written."""
    starts, finishes, stops = [], [], []
    for line in path.read_text().splitlines():
        parts = line.split()
        if parts[0] == "start":
            starts.append((parts[1], int(parts[2])))
        elif parts[0] == "stopped":
            stops.append((parts[1], int(parts[2])))
        else:
            finishes.append((parts[0], int(parts[1])))
    return starts, finishes, stops


async def started_by(path: Path, task_id: str, seconds: float = 5) -> int:
    """The pid of the worker that started ``task_id`` first."""

    def first_pid() -> int | None:
        pids = [pid for started, pid in read_task_log(path)[0] if started == task_id]
        return pids[0] if pids else None

    return await eventually(first_pid, within=seconds, failure=f"no worker started {task_id}")


@contextlib.asynccontextmanager
async def connect(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    url = make_url(database_url)
    conn = await asyncpg.connect(
        host=url.host,
        port=url.port or 5432,
        user=url.username or "postgres",
        password=url.password,
        database=url.database,
    )
    try:
        yield conn
    finally:
        await conn.close()


async def task_rows(database_url: str, task_ids: list[str]) -> dict[str, dict[str, Any]]:
    query = (
        "SELECT task_id, status, attempts, results, progress, completed_at, updated_at, lease_token"
        " FROM tasks WHERE task_id = ANY($1::text[])"
    )
    async with connect(database_url) as conn:
        rows = await conn.fetch(query, task_ids)
    return {row["task_id"]: {**dict(row), "results": json.loads(row["results"])} for row in rows}


def _unreachable(error: BaseException) -> bool:
    """A failure to reach the database (down or restarting): the poll tries again."""
    return isinstance(error, (OSError, asyncpg.PostgresError, asyncpg.InterfaceError))


async def all_completed(database_url: str, task_ids: list[str], seconds: float) -> dict[str, dict[str, Any]]:
    """The tasks' rows once every one is COMPLETED (connection failures are retried until then)."""
    seen: dict[str, dict[str, Any]] = {}

    async def rows() -> dict[str, dict[str, Any]]:
        found = await task_rows(database_url, task_ids)
        seen.clear()
        seen.update(found)  # the last rows read, for the failure message
        return found

    def every_one_completed(found: dict[str, dict[str, Any]]) -> bool:
        return len(found) == len(task_ids) and all(row["status"] == "Completed" for row in found.values())

    def states() -> str:
        return f"not every task completed: {dict(Counter(row['status'] for row in seen.values()))}"

    return await eventually(
        rows, every_one_completed, within=seconds, every=0.1, retrying=_unreachable, failure=states
    )


async def freeze(worker: Process, database_url: str) -> None:
    """SIGSTOP ``worker`` between transactions.

    A worker frozen inside a transaction keeps its row lock, and the rescue skips locked rows
    (``SqlWorkerStore.rescue``, ``SKIP LOCKED``), so the task would wait for the frozen worker to
    wake instead of being rescued. That is not what the test is about, so the freeze is retried
    until the worker holds no open transaction.
    """
    stuck = (
        "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND state LIKE 'idle in transaction%'"
        " AND state_change < now() - interval '200 milliseconds'"
    )
    database = make_url(database_url).database
    async with connect(database_url) as conn:

        async def frozen_between_transactions() -> bool:
            worker.signal(signal.SIGSTOP)
            # Only time tells a transaction left open by the stop from one that is just ending:
            # after 300 ms, one still open has been idle for longer than 200 ms.
            await asyncio.sleep(0.3)
            if await conn.fetchval(stuck, database) == 0:
                return True
            worker.signal(signal.SIGCONT)  # let it end that transaction; the next try stops it again
            return False

        await eventually(
            frozen_between_transactions,
            within=10,
            every=0.05,
            failure="could not freeze the worker outside a transaction",
        )


# --- tests ------------------------------------------------------------------------------------------


async def test_killed_worker_task_is_rescued_and_completed_once(tmp_path: Path) -> None:
    async with asyncio.timeout(45), cluster(tmp_path) as c:
        task_id = await create(c.client, steps=20, stepSeconds=0.1)
        await progressed(c.client, task_id, 10)  # two checkpoints saved
        victim = c.worker(await started_by(c.task_log, task_id))
        (rescuer,) = [worker for worker in c.workers if worker is not victim]
        victim.signal(signal.SIGKILL)
        assert await asyncio.wait_for(victim.proc.wait(), 5) == -signal.SIGKILL

        done = await completed(c.client, task_id)
        assert int(done.results["pid"]) == rescuer.pid
        assert done.results["resumedAt"] >= 2  # resumed from the killed attempt's checkpoint
        assert done.progress == 100.0
        starts, finishes = read_task_log(c.task_log)
        assert starts == [(task_id, victim.pid), (task_id, rescuer.pid)]
        assert finishes == [(task_id, rescuer.pid)]
        row = (await task_rows(c.database_url, [task_id]))[task_id]
        assert (row["status"], row["attempts"], row["lease_token"]) == ("Completed", 2, None)
        assert row["results"]["pid"] == rescuer.pid


async def test_frozen_worker_late_completion_is_refused(tmp_path: Path) -> None:
    async with asyncio.timeout(45), cluster(tmp_path) as c:
        task_id = await create(c.client, steps=20, stepSeconds=0.1)
        await progressed(c.client, task_id, 10)
        frozen = c.worker(await started_by(c.task_log, task_id))
        (rescuer,) = [worker for worker in c.workers if worker is not frozen]
        await freeze(frozen, c.database_url)
        # Lease (2 s) + rescue + backoff (2 s) + the remaining steps: well within the bound.
        done = await completed(c.client, task_id)
        assert int(done.results["pid"]) == rescuer.pid
        before = (await task_rows(c.database_url, [task_id]))[task_id]
        assert (before["status"], before["attempts"]) == ("Completed", 2)

        frozen.signal(signal.SIGCONT)
        # The woken attempt's next report is refused, or its heartbeat finds the lease lost: either
        # way its handler is stopped, and says so in the task log (no need to sleep and hope).
        await eventually(
            lambda: (task_id, frozen.pid) in read_task_events(c.task_log)[2],
            failure="the woken attempt was never stopped",
        )
        after = (await task_rows(c.database_url, [task_id]))[task_id]
        assert after == before
        assert frozen.proc.returncode is None  # it woke up and carries on
        starts, finishes = read_task_log(c.task_log)
        assert starts == [(task_id, frozen.pid), (task_id, rescuer.pid)]
        assert finishes == [(task_id, rescuer.pid)]  # the woken attempt stopped at its next report
        assert [record for record in frozen.records() if record.get("level") == "ERROR"] == []


async def test_two_workers_never_run_one_task_at_once(tmp_path: Path) -> None:
    async with asyncio.timeout(45), cluster(tmp_path, DRIVE_WORKER_CONCURRENCY="2") as c:
        task_ids = [await create(c.client, steps=3, stepSeconds=0.02) for _ in range(30)]
        rows = await all_completed(c.database_url, task_ids, seconds=30)
        assert {row["attempts"] for row in rows.values()} == {1}
        starts, finishes = read_task_log(c.task_log)
        assert Counter(task_id for task_id, _ in starts) == Counter(task_ids)
        assert Counter(task_id for task_id, _ in finishes) == Counter(task_ids)
        assert dict(starts) == dict(finishes)  # each task started and finished on the same worker
        assert {pid for _, pid in finishes} == {worker.pid for worker in c.workers}  # both took part
        for task_id, row in rows.items():
            assert row["results"]["pid"] == dict(finishes)[task_id]


async def test_worker_survives_a_postgres_restart(tmp_path: Path) -> None:
    async with asyncio.timeout(55), PrivatePostgres() as pg:
        admin = await asyncpg.connect(host="127.0.0.1", port=pg.port, user="postgres", database="postgres")
        try:
            await admin.execute("CREATE DATABASE drive")
        finally:
            await admin.close()
        url = make_url(pg.url).set(database="drive").render_as_string(hide_password=False)
        data_dir = tmp_path / "data"
        settings = settings_for(data_dir, url, DRIVE_WORKER="false")
        assert settings.jwt.secret is not None
        # An in-process API (it migrates, and creates CUSTOM tasks as managed) and a worker process.
        async with running_app(settings, handlers=[StepHandler()]) as app:
            task_log = tmp_path / "tasks.log"
            task_log.touch()
            env = process_env(data_dir, url, settings.jwt.secret, **WORKER_ENV, DRIVE_WORKER_CONCURRENCY="2")
            worker = await spawn("worker", WORKER_MODULE, {**env, LOG_ENV: str(task_log)}, tmp_path)
            try:
                await worker.logged("worker running")
                async with grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as channel:
                    client = make_client(channel, settings.jwt.secret, data_dir)
                    task_ids = [await create(client, steps=10, stepSeconds=0.1) for _ in range(6)]
                await started_by(task_log, task_ids[0])

                await pg.stop("fast")
                unfinished = set(task_ids) - {task_id for task_id, _ in read_task_log(task_log)[1]}
                assert unfinished, "every task finished before the restart: nothing was tested"
                # The outage is the subject, and its length matters: it lasts a whole lease, so the
                # leases of the attempts it cuts off run out before the database is back.
                await asyncio.sleep(LEASE_SECONDS)
                await eventually(
                    lambda: any(record.get("level") in ("WARNING", "ERROR") for record in worker.records()),
                    failure="the worker never noticed that the database was gone",
                )
                await pg.start()

                rows = await all_completed(url, task_ids, seconds=40)
                assert worker.proc.returncode is None
                assert all(row["lease_token"] is None for row in rows.values())
                # Tasks unfinished at the stop were finished by the same, reconnected worker.
                finished = {task_id for task_id, pid in read_task_log(task_log)[1] if pid == worker.pid}
                assert unfinished <= finished
            finally:
                await worker.stop()

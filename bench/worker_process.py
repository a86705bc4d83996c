"""A worker-only drive-service process with a no-op Custom handler, for the queue benchmark.

Run from the repository root (settings from the environment, as ``python -m drive_service``)::

    DATABASE_URL=postgresql+asyncpg://... .venv/bin/python -m bench.worker_process          # worker
    DATABASE_URL=postgresql+asyncpg://... .venv/bin/python -m bench.worker_process --serve  # + gRPC
    DATABASE_URL=postgresql+asyncpg://... .venv/bin/python -m bench.worker_process --raw    # baseline

Default mode: ``App(settings, serve_grpc=False, handlers=[NoopHandler()])``, i.e. the production
worker (claim with SKIP LOCKED, lease, heartbeat, leased completion with its outbox event) running
a handler that does nothing but return ``{"startedAt": time.time()}``. ``DRIVE_WORKER_CONCURRENCY``
and ``DRIVE_WORKER_POLL_MS`` apply as in production. It logs ``worker running`` (JSON, stderr) when
the loop has started and stops on SIGTERM/SIGINT.

``--serve``: the gRPC server with the same handler registry (``serve_grpc=True``), so that
``CreateTask`` of type Custom makes a *managed* task (one the worker claims). The stock
``python -m drive_service serve`` has no Custom handler, so it would create unmanaged Custom tasks
that no worker ever claims. ``DRIVE_WORKER`` decides whether this process also runs a worker.

``--raw``: the baseline, no drive-service code: ``DRIVE_WORKER_CONCURRENCY`` loops, each on its
own asyncpg connection, each claiming one row with ``UPDATE … WHERE task_id = (SELECT … FOR UPDATE
SKIP LOCKED LIMIT 1) RETURNING`` and completing it with one ``UPDATE`` (both autocommit), sleeping
``DRIVE_WORKER_POLL_MS`` when the queue is empty.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from drive_service.domain.tasks import TaskType
from drive_service.services.handlers import TaskContext


class NoopHandler:
    """Runs Custom tasks by doing nothing; the result records when the handler started."""

    task_type = TaskType.CUSTOM

    async def run(self, ctx: TaskContext) -> dict[str, Any]:
        return {"startedAt": time.time()}


async def _service(serve_grpc: bool) -> None:
    from drive_service.app import serve
    from drive_service.config import Settings

    await serve(Settings.from_env(), serve_grpc=serve_grpc, handlers=[NoopHandler()])


# ----------------------------------------------------------------------------------------------
# The raw baseline loop
# ----------------------------------------------------------------------------------------------

_CLAIM = """
UPDATE tasks
   SET status = 'InProgress', lease_token = $2, lease_expires_at = $3, attempts = attempts + 1,
       started_at = coalesce(started_at, $1), updated_at = $1, last_activity = $1
 WHERE task_id = (
        SELECT task_id FROM tasks
         WHERE status = 'Pending' AND managed AND type = ANY($4::varchar[])
           AND (run_after IS NULL OR run_after <= $1)
         ORDER BY priority DESC, created_at
         LIMIT 1
           FOR UPDATE SKIP LOCKED)
RETURNING task_id
"""

_COMPLETE = """
UPDATE tasks
   SET status = 'Completed', progress = 100, results = $3::jsonb, completed_at = $1, updated_at = $1,
       last_activity = $1, lease_token = NULL, lease_expires_at = NULL
 WHERE task_id = $2 AND lease_token = $4 AND status = 'InProgress'
"""


def _log(message: str, **extra: Any) -> None:
    entry = {"time": datetime.now(UTC).isoformat(), "level": "INFO", "message": message, **extra}
    print(json.dumps(entry), file=sys.stderr, flush=True)


class _RawLoop:
    """The baseline: per connection, claim one task with SKIP LOCKED, complete it, repeat."""

    def __init__(self) -> None:
        self._url = os.environ["DATABASE_URL"].replace("postgresql+asyncpg://", "postgresql://", 1)
        self._concurrency = int(os.environ.get("DRIVE_WORKER_CONCURRENCY", "4"))
        self._poll = float(os.environ.get("DRIVE_WORKER_POLL_MS", "100")) / 1000
        self._connections: list[Any] = []
        self._loops: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        import asyncpg

        self._connections = [await asyncpg.connect(self._url) for _ in range(self._concurrency)]
        self._loops = [asyncio.create_task(self._loop(n, c)) for n, c in enumerate(self._connections)]
        _log("worker running", concurrency=self._concurrency, mode="raw")

    async def stop(self) -> None:
        for task in self._loops:
            task.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
        for connection in self._connections:
            connection.terminate()

    async def _loop(self, number: int, connection: Any) -> None:
        lease = timedelta(seconds=30)
        types = [TaskType.CUSTOM.value]
        sequence = 0
        while True:
            now = datetime.now(UTC)
            token = f"raw-{os.getpid()}-{number}-{sequence}"
            sequence += 1
            task_id = await connection.fetchval(_CLAIM, now, token, now + lease, types)
            if task_id is None:
                await asyncio.sleep(self._poll)
                continue
            results = json.dumps({"startedAt": time.time()})
            await connection.execute(_COMPLETE, datetime.now(UTC), task_id, results, token)


async def _raw() -> None:
    from drive_service.app import run_until_signalled

    await run_until_signalled(_RawLoop())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.worker_process", description=__doc__.split("\n\n")[0]
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--serve", action="store_true", help="serve gRPC with the no-op Custom handler registered"
    )
    mode.add_argument("--raw", action="store_true", help="the baseline: a bare asyncpg SKIP LOCKED loop")
    args = parser.parse_args(argv)
    asyncio.run(_raw() if args.raw else _service(args.serve))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

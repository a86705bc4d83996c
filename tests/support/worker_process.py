"""A worker-only drive-service process with a test handler, for the crash tests.

``python -m tests.support.worker_process`` reads Settings from the environment, like
``drive-service worker``, and runs ``serve(settings, serve_grpc=False, handlers=[StepHandler()])``
until SIGTERM or SIGINT, logging JSON lines on stderr like the service ("worker running" once
started).

``StepHandler`` runs CUSTOM tasks: ``steps`` steps (default 1) of ``stepSeconds`` seconds each
(default 0), reporting progress with a checkpoint after every step, so a rescued attempt resumes
where the last one stopped. When ``WORKER_TEST_LOG`` names a file it appends one line per event,
each with a single ``write`` on an ``O_APPEND`` descriptor (so lines of concurrent processes never
interleave): ``start <task_id> <pid>`` when an attempt starts, ``<task_id> <pid>`` when the
handler finishes (before the worker records the completion, which a stale lease may refuse), and
``stopped <task_id> <pid>`` when the attempt is stopped instead (a report refused because the task
left it, or the worker cancelling it: a lost lease, shutdown). The results name the process and
the step the attempt started from. The handler writes nothing to the database except through
``ctx``.

``StepHandler`` is also a zero-argument factory, so it can be installed under the
``drive_service.task_handlers`` entry point group of an API process (to make CUSTOM tasks managed).
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from drive_service.app import serve
from drive_service.config import Settings
from drive_service.domain.tasks import TaskType
from drive_service.services.handlers import StopAttempt, TaskContext

LOG_ENV = "WORKER_TEST_LOG"


def _append(line: str) -> None:
    path = os.environ.get(LOG_ENV)
    if not path:
        return
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(descriptor, f"{line}\n".encode())
    finally:
        os.close(descriptor)


class StepHandler:
    """CUSTOM tasks of ``steps`` checkpointed steps of ``stepSeconds`` each."""

    task_type = TaskType.CUSTOM

    async def run(self, ctx: TaskContext) -> dict[str, Any]:
        pid = os.getpid()
        steps = int(ctx.parameters.get("steps", 1))
        pause = float(ctx.parameters.get("stepSeconds", 0))
        first = int(ctx.checkpoint.get("step", 0))
        _append(f"start {ctx.task.task_id} {pid}")
        try:
            for step in range(first, steps):
                await asyncio.sleep(pause)  # the work of one step: its length is a task parameter
                done = step + 1
                await ctx.report(100.0 * done / steps, f"step {done} of {steps}", {"step": done})
        except (StopAttempt, asyncio.CancelledError):
            _append(f"stopped {ctx.task.task_id} {pid}")
            raise
        _append(f"{ctx.task.task_id} {pid}")
        return {"steps": steps, "pid": pid, "resumedAt": first}


if __name__ == "__main__":
    asyncio.run(serve(Settings.from_env(), serve_grpc=False, handlers=[StepHandler()]))

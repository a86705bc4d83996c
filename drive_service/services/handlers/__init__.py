"""The handler contract of the built-in worker, and the registry of handlers by task type.

A handler runs one attempt of a task: it reads ``ctx.task.parameters`` (and ``ctx.task.checkpoint``
when an earlier attempt stopped part-way), reports progress with ``ctx.report`` (which also saves
a checkpoint and raises ``StopAttempt`` when the task was paused, cancelled or taken away), works
on the account's files through ``ctx.files``, and returns the results dict. Files it creates stay
invisible until the attempt completes. Raise ``TaskFailed`` for a permanent failure (bad input):
the task fails at once with that message; any other exception is retried with backoff.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from drive_service.domain.tasks import Task, TaskType
from drive_service.errors import StopAttempt, TaskFailed

if TYPE_CHECKING:
    from drive_service.services.file_ops import FileOps

__all__ = ["ENTRY_POINT_GROUP", "Handler", "StopAttempt", "TaskContext", "TaskFailed", "registry"]
_log = logging.getLogger(__name__)
ENTRY_POINT_GROUP = "drive_service.task_handlers"


Report = Callable[[float, str, dict[str, Any] | None], Awaitable[None]]


@dataclass(frozen=True)
class TaskContext:
    """What a handler gets for one attempt."""

    task: Task
    files: FileOps
    scratch: Path
    _report: Report

    async def report(
        self, progress: float, message: str = "", checkpoint: dict[str, Any] | None = None
    ) -> None:
        """Persist progress (0..100) and, if given, the checkpoint; extends the lease.

        Raises:
            StopAttempt: the attempt no longer holds the task; stop without further writes.
        """
        await self._report(min(max(progress, 0.0), 100.0), message, checkpoint)

    @property
    def parameters(self) -> dict[str, Any]:
        """The task's parameters (camelCase keys, as the seed)."""
        return self.task.parameters

    @property
    def checkpoint(self) -> dict[str, Any]:
        """Where the previous attempt stopped ({} for a fresh start)."""
        return self.task.checkpoint or {}


class Handler(Protocol):
    """Runs tasks of one type."""

    task_type: TaskType

    async def run(self, ctx: TaskContext) -> dict[str, Any]:
        """Do the work and return the task's results."""


def registry(builtin: Iterable[Handler]) -> dict[TaskType, Handler]:
    """The built-in handlers plus those installed under the ``drive_service.task_handlers`` entry
    point group (each entry point names a zero-argument factory returning a Handler); an
    installed handler replaces the built-in one of the same type."""
    handlers = {handler.task_type: handler for handler in builtin}
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        try:
            handler = entry.load()()
        except Exception:
            _log.exception("cannot load task handler", extra={"entry_point": entry.name})
            continue
        handlers[handler.task_type] = handler
    return handlers

"""TaskManager: the task use cases of TaskService, independent of transport and storage."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Any

from drive_service.domain import events as task_events
from drive_service.domain.events import Event, RecordedEvent
from drive_service.domain.ids import new_id
from drive_service.domain.tasks import Action, Task, TaskStats, TaskStatus, TaskType, next_status
from drive_service.domain.validation import NewTask, TaskQuery, deadline, request_id_reused
from drive_service.errors import FailedPrecondition, InvalidTaskState, TaskNotFound
from drive_service.services.events import EventWatcher
from drive_service.services.ports import Clock, EventPublisher, TaskCache, TaskStore
from drive_service.services.secrets import SecretBox


class TaskManager:
    """Creates, reads and moves tasks through their lifecycle, publishing events after commit."""

    def __init__(
        self,
        store: TaskStore,
        cache: TaskCache,
        events: EventPublisher,
        watcher: EventWatcher,
        clock: Clock,
        *,
        managed_types: frozenset[TaskType] = frozenset(),
        on_queued: Callable[[], None] = lambda: None,
        on_abandoned: Callable[[str], Awaitable[object]] | None = None,
        secrets: SecretBox | None = None,
    ) -> None:
        """``managed_types`` are run by the built-in worker: external executors may not report on
        them, and resuming one puts it back in the queue. ``on_queued`` wakes a local worker;
        ``on_abandoned(task_id)`` drops the hidden outputs of a task that will never complete."""
        self._store = store
        self._cache = cache
        self._events = events
        self._watcher = watcher
        self._clock = clock
        self._managed_types = managed_types
        self._on_queued = on_queued
        self._on_abandoned = on_abandoned
        self._secrets = secrets

    async def create(self, account_id: str, new: NewTask) -> Task:
        """Store a PENDING task and send ``task.created``; a retried create (the same request id)
        returns the task the first one stored.

        Raises:
            InvalidArgument: the deadline is not in the future.
        """
        now = self._clock()
        deadline(new.expired_at, now=now)
        parameters, sealed = new.parameters, None
        if self._secrets is not None:
            parameters, sealed = self._secrets.split(new.parameters)
        task = Task(
            task_id=new_id(),
            account_id=account_id,
            type=new.type,
            status=TaskStatus.PENDING,
            name=new.name,
            description=new.description,
            priority=new.priority,
            progress=0.0,
            status_message="",
            parameters=parameters,
            sealed_secrets=sealed,
            results={},
            error_message="",
            created_at=now,
            updated_at=now,
            last_activity=now,
            expired_at=new.expired_at,
            estimated_duration_seconds=new.estimated_duration_seconds,
            managed=new.type in self._managed_types,
            request_id=new.request_id,
        )
        stored, changes = await self._store.insert(task, [task_events.created(task)])
        if stored.type is not task.type:
            raise request_id_reused()
        await self._events.publish(changes)
        if stored is task and task.managed:
            self._on_queued()
        return stored

    async def get(self, account_id: str, task_id: str, *, fresh: bool = False) -> Task:
        """The caller's task (``fresh``: from the database, not a cached copy).

        Raises:
            TaskNotFound: unknown id or another account's task.
        """

        async def load() -> Task | None:
            return await self._store.get(account_id, task_id)

        task = await load() if fresh else await self._cache.read(task_id, load)
        # Ids are unique: a cached task of another account means "not yours".
        if task is None or task.account_id != account_id:
            raise TaskNotFound(task_id)
        return task

    async def list_tasks(self, account_id: str, query: TaskQuery) -> tuple[list[Task], int]:
        """A page of the caller's tasks and the total matching the filters."""
        return await self._store.find(account_id, query)

    async def report_progress(self, account_id: str, task_id: str, progress: float, message: str) -> Task:
        """Record progress (0..100) of a pending or running task; throttled ``task.progress``."""

        def change(task: Task) -> tuple[Task, Sequence[Event]]:
            _require_external(task)
            now = self._clock()
            status = next_status(task_id, task.status, Action.REPORT_PROGRESS)
            updated = dataclasses.replace(
                task,
                status=status,
                progress=progress,
                status_message=message or task.status_message,
                started_at=task.started_at or now,
                updated_at=now,
                last_activity=now,
            )
            return task_events.throttled_progress(updated, now)

        return await self._change(account_id, task_id, change)

    async def complete(self, account_id: str, task_id: str, results: dict[str, Any]) -> Task:
        """Mark the task COMPLETED at 100 % with ``results``; sends ``task.completed``."""

        def change(task: Task) -> tuple[Task, Sequence[Event]]:
            _require_external(task)
            now = self._clock()
            status = next_status(task_id, task.status, Action.COMPLETE)
            updated = dataclasses.replace(
                task,
                status=status,
                progress=100.0,
                results=results,
                started_at=task.started_at or now,
                completed_at=now,
                updated_at=now,
                last_activity=now,
            )
            progress_events = task_events.throttled_progress(updated, now)
            return progress_events[0], [*progress_events[1], task_events.completed(updated)]

        return await self._change(account_id, task_id, change)

    async def fail(self, account_id: str, task_id: str, error_message: str) -> Task:
        """Mark the task FAILED with ``error_message``; sends ``task.failed``."""

        def change(task: Task) -> tuple[Task, Sequence[Event]]:
            _require_external(task)
            now = self._clock()
            status = next_status(task_id, task.status, Action.FAIL)
            updated = dataclasses.replace(
                task,
                status=status,
                error_message=error_message,
                completed_at=now,
                updated_at=now,
                last_activity=now,
            )
            return updated, [task_events.failed(updated)]

        return await self._change(account_id, task_id, change)

    async def pause(self, account_id: str, task_id: str) -> Task:
        """IN_PROGRESS → PAUSED; sends ``task.paused``."""
        return await self._move(account_id, task_id, Action.PAUSE)

    async def resume(self, account_id: str, task_id: str) -> Task:
        """PAUSED → IN_PROGRESS; sends ``task.resumed``."""
        return await self._move(account_id, task_id, Action.RESUME)

    async def cancel(self, account_id: str, task_id: str) -> Task:
        """PENDING, IN_PROGRESS or PAUSED → CANCELLED; sends ``task.cancelled``."""
        return await self._move(account_id, task_id, Action.CANCEL)

    async def expire(self, account_id: str, task_id: str) -> Task:
        """Any unfinished status → EXPIRED; sends ``task.expired``."""
        return await self._move(account_id, task_id, Action.EXPIRE)

    async def expire_overdue(self, batch: int = 100) -> int:
        """Expire unfinished tasks whose deadline passed; return how many were expired."""
        expired = 0
        for account_id, task_id in await self._store.overdue(self._clock(), batch):
            try:
                await self.expire(account_id, task_id)
            except (TaskNotFound, InvalidTaskState):
                continue  # finished or deleted meanwhile
            expired += 1
        return expired

    async def cleanup(self, account_id: str, max_age: timedelta) -> int:
        """Delete the caller's terminal tasks last updated more than ``max_age`` ago."""
        deleted, changes = await self._store.delete_terminal(account_id, self._clock() - max_age)
        await self._events.publish(changes)
        return deleted

    async def purge_terminal(self, retention: timedelta) -> int:
        """Delete every account's terminal tasks last updated more than ``retention`` ago."""
        deleted, changes = await self._store.purge_terminal(self._clock() - retention)
        await self._events.publish(changes)
        return deleted

    async def stats(self, account_id: str) -> TaskStats:
        """The caller's counts by type and status, average progress and duration."""
        return await self._store.stats(account_id)

    async def wait(self, account_id: str, task_id: str, timeout: timedelta) -> tuple[Task, bool]:
        """Return the task once it is terminal, or as it is when ``timeout`` passes (read from
        the database after each of its events, never from a cache that may lag them).

        Returns:
            The task and whether the timeout passed first.
        """

        def about_task(recorded: RecordedEvent) -> bool:
            return recorded.event.task_id == task_id

        async with self._watcher.open(account_id, 0, about_task) as events:
            task = await self.get(account_id, task_id, fresh=True)
            try:
                async with asyncio.timeout(timeout.total_seconds()):
                    while not task.status.terminal:
                        await anext(events)
                        task = await self.get(account_id, task_id, fresh=True)
            except TimeoutError:
                return await self.get(account_id, task_id, fresh=True), True
            return task, False

    async def _move(self, account_id: str, task_id: str, action: Action) -> Task:
        def change(task: Task) -> tuple[Task, Sequence[Event]]:
            now = self._clock()
            status = next_status(task_id, task.status, action)
            requeued = action is Action.RESUME and task.managed
            updated = dataclasses.replace(
                task,
                # A worker task goes back to the queue and continues from its checkpoint.
                status=TaskStatus.PENDING if requeued else status,
                lease_token=None if requeued else task.lease_token,
                lease_expires_at=None if requeued else task.lease_expires_at,
                run_after=None if requeued else task.run_after,
                completed_at=now if status.terminal else task.completed_at,
                sealed_secrets=None if status.terminal else task.sealed_secrets,
                updated_at=now,
                last_activity=now,
            )
            return updated, [task_events.status_changed(updated, resumed=action is Action.RESUME)]

        task = await self._change(account_id, task_id, change)
        if task.managed and task.status is TaskStatus.PENDING:
            self._on_queued()
        if task.status.terminal and self._on_abandoned is not None:
            await self._on_abandoned(task_id)
        return task

    async def _change(
        self, account_id: str, task_id: str, change: Callable[[Task], tuple[Task, Sequence[Event]]]
    ) -> Task:
        task, changes = await self._store.change(account_id, task_id, change)
        await self._events.publish(changes)
        return task


def _require_external(task: Task) -> None:
    """Progress, completion and failure of worker tasks are reported by the worker alone."""
    if task.managed:
        raise FailedPrecondition(
            f"Task {task.task_id} is run by the built-in worker; it cannot be reported on.",
            reason="MANAGED_BY_WORKER",
            task_id=task.task_id,
        )

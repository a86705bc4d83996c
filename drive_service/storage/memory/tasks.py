"""In-memory TaskStore, WorkerStore and EventLog over a MemoryState."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from drive_service.domain.events import Event, RecordedEvent
from drive_service.domain.tasks import TERMINAL_STATUSES, Task, TaskStats, TaskStatus, TaskType
from drive_service.domain.validation import SortKey, TaskQuery
from drive_service.errors import LeaseLost, TaskNotFound
from drive_service.services.ports import Changes, TaskChange
from drive_service.storage.memory.state import MemoryState, Tx

_SORT: dict[SortKey, Callable[[Task], Any]] = {
    SortKey.NAME: lambda task: task.name,
    SortKey.TYPE: lambda task: task.type.value,
    SortKey.STATUS: lambda task: task.status.value,
    SortKey.PRIORITY: lambda task: task.priority,
    SortKey.CREATED: lambda task: task.created_at,
    SortKey.UPDATED: lambda task: task.updated_at,
    SortKey.LAST_ACTIVITY: lambda task: task.last_activity,
}


def store_change(tx: Tx, before: Task, after: Task, events: Sequence[Event]) -> None:
    """Save ``after`` when it differs from ``before`` and record ``events`` (as SQL does)."""
    if after != before:
        tx.put(tx.state.tasks, after.task_id, after)
        tx.touch(after.task_id)
    if events:
        tx.record(after.updated_at, events)


class MemoryTaskStore:
    """TaskStore in memory."""

    def __init__(self, state: MemoryState) -> None:
        self._state = state

    async def insert(self, task: Task, events: Sequence[Event]) -> Changes:
        async with self._state.write() as tx:
            tx.put(self._state.tasks, task.task_id, task)
            tx.record(task.updated_at, events)
        return tx.changes

    async def get(self, account_id: str, task_id: str) -> Task | None:
        task: Task | None = self._state.tasks.get(task_id)
        return task if task is not None and task.account_id == account_id else None

    async def change(self, account_id: str, task_id: str, change: TaskChange) -> tuple[Task, Changes]:
        async with self._state.write() as tx:
            current = await self.get(account_id, task_id)
            if current is None:
                raise TaskNotFound(task_id)
            updated, events = change(current)
            store_change(tx, current, updated, events)
        return updated, tx.changes

    async def find(self, account_id: str, query: TaskQuery) -> tuple[list[Task], int]:
        mine = [
            task
            for task in self._state.tasks.values()
            if task.account_id == account_id
            and (query.type is None or task.type is query.type)
            and (query.status is None or task.status is query.status)
        ]
        key = _SORT[query.sort_by]
        mine.sort(key=lambda task: (key(task), task.task_id), reverse=query.descending)
        return mine[query.offset : query.offset + query.limit], len(mine)

    async def delete_terminal(self, account_id: str, updated_before: datetime) -> tuple[int, Changes]:
        return await self._delete(
            lambda task: task.account_id == account_id and task.updated_at <= updated_before
        )

    async def purge_terminal(self, updated_before: datetime) -> tuple[int, Changes]:
        return await self._delete(lambda task: task.updated_at < updated_before)

    async def _delete(self, doomed: Callable[[Task], bool]) -> tuple[int, Changes]:
        async with self._state.write() as tx:
            gone = [
                task.task_id
                for task in self._state.tasks.values()
                if task.status in TERMINAL_STATUSES and doomed(task)
            ]
            for task_id in gone:
                tx.drop(self._state.tasks, task_id)
                tx.drop(self._state.uploads, task_id)
            tx.touch(*gone)
        return len(gone), tx.changes

    async def overdue(self, now: datetime, limit: int) -> list[tuple[str, str]]:
        due = [
            (task.account_id, task.task_id)
            for task in self._state.tasks.values()
            if task.expired_at is not None and task.expired_at <= now and not task.status.terminal
        ]
        return due[:limit]

    async def stats(self, account_id: str) -> TaskStats:
        mine = [task for task in self._state.tasks.values() if task.account_id == account_id]
        by_type: dict[TaskType, int] = {}
        by_status: dict[TaskStatus, int] = {}
        for task in mine:
            by_type[task.type] = by_type.get(task.type, 0) + 1
            by_status[task.status] = by_status.get(task.status, 0) + 1
        running = [task.progress for task in mine if task.status is TaskStatus.IN_PROGRESS]
        durations = [
            (task.completed_at - task.started_at).total_seconds()
            for task in mine
            if task.status is TaskStatus.COMPLETED and task.started_at and task.completed_at
        ]
        return TaskStats(
            total=len(mine),
            by_type=by_type,
            by_status=by_status,
            average_progress=sum(running) / len(running) if running else 0.0,
            average_duration_seconds=sum(durations) / len(durations) if durations else 0.0,
        )

    async def count_by_status(self) -> dict[TaskStatus, int]:
        counts: dict[TaskStatus, int] = {}
        for task in self._state.tasks.values():
            counts[task.status] = counts.get(task.status, 0) + 1
        return counts


class MemoryWorkerStore:
    """WorkerStore in memory: claims in priority-then-age order, lease-checked writes."""

    def __init__(self, state: MemoryState) -> None:
        self._state = state

    async def claim(
        self, types: Sequence[str], limit: int, now: datetime, lease: timedelta, token: str
    ) -> tuple[list[Task], Changes]:
        async with self._state.write() as tx:
            ready = sorted(
                (
                    task
                    for task in self._state.tasks.values()
                    if task.status is TaskStatus.PENDING
                    and task.managed
                    and task.type.value in types
                    and (task.run_after is None or task.run_after <= now)
                ),
                key=lambda task: (-task.priority, task.created_at),
            )[:limit]
            claimed = [
                dataclasses.replace(
                    task,
                    status=TaskStatus.IN_PROGRESS,
                    lease_token=token,
                    lease_expires_at=now + lease,
                    attempts=task.attempts + 1,
                    started_at=task.started_at or now,
                    updated_at=now,
                    last_activity=now,
                )
                for task in ready
            ]
            for task in claimed:
                store_change(tx, self._state.tasks[task.task_id], task, ())
        return claimed, tx.changes

    async def change_leased(self, task_id: str, token: str, change: TaskChange) -> tuple[Task, Changes]:
        async with self._state.write() as tx:
            task: Task | None = self._state.tasks.get(task_id)
            if task is None or task.lease_token != token or task.status is not TaskStatus.IN_PROGRESS:
                raise LeaseLost(task_id, task.status.value if task else "deleted")
            updated, events = change(task)
            store_change(tx, task, updated, events)
            if updated.status is TaskStatus.COMPLETED:
                for file_id in [f for f, owner in self._state.hidden.items() if owner == task_id]:
                    tx.drop(self._state.hidden, file_id)
        return updated, tx.changes

    async def rescue(self, task_id: str, change: TaskChange) -> tuple[Task, Changes] | None:
        async with self._state.write() as tx:
            task: Task | None = self._state.tasks.get(task_id)
            if task is None:
                return None
            updated, events = change(task)
            store_change(tx, task, updated, events)
        return updated, tx.changes

    async def expired_leases(self, now: datetime, limit: int) -> list[str]:
        lapsed = [
            task.task_id
            for task in self._state.tasks.values()
            if task.status is TaskStatus.IN_PROGRESS
            and task.managed
            and task.lease_expires_at is not None
            and task.lease_expires_at < now
        ]
        return lapsed[:limit]

    async def status(self, task_id: str) -> TaskStatus | None:
        task: Task | None = self._state.tasks.get(task_id)
        return None if task is None else task.status


class MemoryEventLog:
    """EventLog in memory."""

    def __init__(self, state: MemoryState) -> None:
        self._state = state

    async def after(self, account_id: str, sequence: int, limit: int) -> list[RecordedEvent]:
        mine = [e for e in self._state.events if e.event.account_id == account_id and e.sequence > sequence]
        return mine[:limit]

    async def last_sequence(self, account_id: str) -> int:
        return self._state.sequences.get(account_id, 0)

    async def newest(self, account_ids: Sequence[str]) -> dict[str, int]:
        return {a: self._state.sequences[a] for a in account_ids if a in self._state.sequences}

    async def prune(self, recorded_before: datetime) -> int:
        kept = [e for e in self._state.events if e.created_at >= recorded_before]
        removed = len(self._state.events) - len(kept)
        self._state.events[:] = kept
        return removed

"""Interfaces the services need from storage; ``storage/`` implements them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Protocol

from drive_service.domain.events import Event, RecordedEvent
from drive_service.domain.tasks import Task, TaskStats, TaskStatus
from drive_service.domain.validation import TaskQuery

#: A pure change of a locked task: the updated task and the events describing the change.
TaskChange = Callable[[Task], tuple[Task, Sequence[Event]]]


class TaskStore(Protocol):
    """Persistent tasks, each write committed together with its events (the outbox)."""

    async def insert(self, task: Task, events: Sequence[Event]) -> list[RecordedEvent]:
        """Store a new task and its events in one transaction."""

    async def get(self, account_id: str, task_id: str) -> Task | None:
        """The caller's task, or None when it does not exist or belongs to someone else."""

    async def change(
        self, account_id: str, task_id: str, change: TaskChange
    ) -> tuple[Task, list[RecordedEvent]]:
        """Lock the caller's task, apply ``change`` and store the result with its events.

        Raises:
            TaskNotFound: no such task for this account.
            DriveError: whatever ``change`` raises; nothing is written then.
        """

    async def find(self, account_id: str, query: TaskQuery) -> tuple[list[Task], int]:
        """One page of the caller's tasks and the total number matching the filters."""

    async def delete_terminal(self, account_id: str, updated_before: datetime) -> int:
        """Delete the caller's terminal tasks last updated before the given time; return how many."""

    async def overdue(self, now: datetime, limit: int) -> list[tuple[str, str]]:
        """(account_id, task_id) of unfinished tasks whose ``expired_at`` has passed."""

    async def stats(self, account_id: str) -> TaskStats:
        """Counts by type and status and averages, computed in SQL."""

    async def count_by_status(self) -> dict[TaskStatus, int]:
        """Task counts of all accounts by status (for health and queue depth)."""


class EventLog(Protocol):
    """Read side of the outbox."""

    async def after(self, account_id: str, sequence: int, limit: int) -> list[RecordedEvent]:
        """The account's events with a sequence greater than ``sequence``, oldest first."""

    async def last_sequence(self, account_id: str) -> int:
        """The newest sequence handed out to the account (0 when none)."""

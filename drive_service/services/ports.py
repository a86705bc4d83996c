"""Interfaces the services need from storage; ``storage/`` implements them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Protocol

from drive_service.domain.events import Event, RecordedEvent
from drive_service.domain.files import Bundle, StoredFile, Usage
from drive_service.domain.tasks import Task, TaskStats, TaskStatus
from drive_service.domain.validation import TaskQuery

#: Deletes the bytes of a blob that no file references any more: (pool_id, key).
BlobRelease = Callable[[str, str], Awaitable[None]]

#: A pure change of a locked task: the updated task and the events describing the change.
TaskChange = Callable[[Task], tuple[Task, Sequence[Event]]]


class TaskStore(Protocol):
    """Persistent tasks, each write committed together with its events (the outbox)."""

    async def insert(self, task: Task, events: Sequence[Event]) -> list[RecordedEvent]:
        """Store a new task and its events in one transaction."""

    async def get(self, account_id: str, task_id: str, *, fresh: bool = False) -> Task | None:
        """The caller's task, or None when it does not exist or belongs to someone else;
        ``fresh`` reads the database even when a cached copy exists."""

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

    async def newest(self, account_ids: Sequence[str]) -> dict[str, int]:
        """The newest sequence of each of these accounts that has any."""


class FileStore(Protocol):
    """Files, bundles, blob references and quotas of accounts."""

    async def get_file(self, account_id: str, file_id: str, now: datetime | None = None) -> StoredFile | None:
        """The caller's file with its effective expiry, or None when unknown, another account's,
        or expired at ``now`` (None shows every stored file)."""

    async def find_file(self, account_id: str, sha256: str, size: int, now: datetime) -> StoredFile | None:
        """The caller's live, unencrypted file with this content (for dedup), or None."""

    async def list_files(
        self,
        account_id: str,
        pool_id: str | None,
        bundle_id: str | None,
        offset: int,
        limit: int,
        now: datetime | None = None,
    ) -> tuple[list[StoredFile], int]:
        """A page of the caller's files live at ``now`` (newest first) and the matching total."""

    async def delete_file(self, account_id: str, file_id: str, release: BlobRelease) -> StoredFile:
        """Delete the caller's file and drop its blob reference.

        A blob whose count reaches 0 loses its row, and ``release(pool_id, key)`` deletes its
        bytes inside the same transaction, while the row lock keeps a concurrent upload of the
        same content waiting (it then stores the bytes anew).

        Raises:
            NotFound: FILE_NOT_FOUND.
        """

    async def expired_files(self, now: datetime, limit: int) -> list[tuple[str, str]]:
        """(account_id, file_id) of files whose expiry has passed (own or their bundle's)."""

    async def usage(self, account_id: str, multipliers: dict[str, float], default_quota: int) -> Usage:
        """Weighted stored bytes, bytes reserved by in-flight uploads, and the account's quota."""

    async def set_quota(self, account_id: str, quota_bytes: int | None) -> None:
        """Override the account's quota (None removes the override)."""

    async def create_bundle(self, bundle: Bundle) -> None:
        """Store a new bundle."""

    async def get_bundle(self, account_id: str, bundle_id: str) -> Bundle | None:
        """The caller's bundle, or None."""

    async def list_bundles(self, account_id: str, offset: int, limit: int) -> tuple[list[Bundle], int]:
        """A page of the caller's bundles and their total."""

    async def delete_bundle(self, account_id: str, bundle_id: str) -> None:
        """Delete the caller's bundle; its files stay and lose their bundle_id.

        Raises:
            NotFound: BUNDLE_NOT_FOUND.
        """

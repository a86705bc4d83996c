"""The task queue on SQL: claim with SKIP LOCKED, leased changes, rescue of expired leases."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select, text, update

from drive_service.domain.tasks import Task, TaskStatus
from drive_service.errors import LeaseLost
from drive_service.services.ports import Changes, TaskChange
from drive_service.storage.db import Database
from drive_service.storage.models import files, tasks
from drive_service.storage.task_rows import locked_task, store_change, task_from_row

_RUNNING = TaskStatus.IN_PROGRESS.value
# Literal conditions, word for word those of the partial indexes, so the planner uses them.
_CLAIMABLE = text("status = 'Pending' AND managed")
_LEASED = text("status = 'InProgress' AND managed")


class SqlWorkerStore:
    """Queue operations over the ``tasks`` table; every leased write checks the attempt's token."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def claim(
        self, types: Sequence[str], limit: int, now: datetime, lease: timedelta, token: str
    ) -> tuple[list[Task], Changes]:
        """Lease up to ``limit`` claimable tasks, highest priority first, oldest first among equals.

        PostgreSQL skips rows another worker is claiming (``FOR UPDATE SKIP LOCKED``), so workers
        never wait on each other; SQLite serialises writers, so the clause is dropped there. The
        attempt is counted here, at claim, so a task that kills its worker still uses up attempts.
        """
        head = (
            select(tasks.c.task_id)
            .where(
                _CLAIMABLE,
                tasks.c.type.in_(list(types)),
                or_(tasks.c.run_after.is_(None), tasks.c.run_after <= now),
            )
            .order_by(tasks.c.priority.desc(), tasks.c.created_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        statement = (
            update(tasks)
            .where(tasks.c.task_id.in_(head.scalar_subquery()))
            .values(
                status=_RUNNING,
                lease_token=token,
                lease_expires_at=now + lease,
                attempts=tasks.c.attempts + 1,
                started_at=func.coalesce(tasks.c.started_at, now),
                updated_at=now,
                last_activity=now,
            )
            .returning(*tasks.c)
        )
        async with self._db.write() as tx:
            rows = (await tx.conn.execute(statement)).mappings().all()
            tx.touch(*(row["task_id"] for row in rows))
        claimed = [task_from_row(row) for row in rows]
        return sorted(claimed, key=lambda task: (-task.priority, task.created_at)), tx.changes

    async def change_leased(self, task_id: str, token: str, change: TaskChange) -> tuple[Task, Changes]:
        """Apply ``change`` to a task this attempt still holds.

        Raises:
            LeaseLost: the token does not hold the task any more (nothing is written).
        """
        async with self._db.write() as tx:
            task = await locked_task(tx, task_id)
            if task is None or task.lease_token != token or task.status is not TaskStatus.IN_PROGRESS:
                raise LeaseLost(task_id, task.status.value if task else "deleted")
            updated, events = change(task)
            await store_change(tx, task, updated, events)
            if updated.status is TaskStatus.COMPLETED:
                # The attempt's outputs become visible in the same transaction as its success.
                await tx.conn.execute(
                    update(files).where(files.c.attempt_token == task_id).values(attempt_token=None)
                )
        return updated, tx.changes

    async def rescue(self, task_id: str, change: TaskChange) -> tuple[Task, Changes] | None:
        """Apply ``change`` to a task whatever its lease; None when the task is gone or its row is
        locked by someone else (``SKIP LOCKED``: a frozen transaction never stalls the reaper)."""
        async with self._db.write() as tx:
            task = await locked_task(tx, task_id, skip_locked=True)
            if task is None:
                return None
            updated, events = change(task)
            await store_change(tx, task, updated, events)
        return updated, tx.changes

    async def expired_leases(self, now: datetime, limit: int) -> list[str]:
        """Ids of running managed tasks whose lease has run out."""
        query = select(tasks.c.task_id).where(_LEASED, tasks.c.lease_expires_at < now).limit(limit)
        async with self._db.read() as conn:
            return list((await conn.execute(query)).scalars())

    async def status(self, task_id: str) -> TaskStatus | None:
        """The task's status, or None when it was deleted."""
        query = select(tasks.c.status).where(tasks.c.task_id == task_id)
        async with self._db.read() as conn:
            value = (await conn.execute(query)).scalar_one_or_none()
        return None if value is None else TaskStatus(value)

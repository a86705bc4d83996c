"""TaskStore on SQLAlchemy Core: every query about tasks lives here."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Delete, and_, delete, func, select

from drive_service.domain.events import Event
from drive_service.domain.tasks import TERMINAL_STATUSES, Task, TaskStats, TaskStatus, TaskType
from drive_service.domain.validation import SortKey, TaskQuery
from drive_service.services.ports import Changes, TaskChange
from drive_service.storage.db import Database
from drive_service.storage.models import tasks
from drive_service.storage.task_rows import change_task, insert_task, task_from_row

_SORT_COLUMNS = {
    SortKey.NAME: tasks.c.name,
    SortKey.TYPE: tasks.c.type,
    SortKey.STATUS: tasks.c.status,
    SortKey.PRIORITY: tasks.c.priority,
    SortKey.CREATED: tasks.c.created_at,
    SortKey.UPDATED: tasks.c.updated_at,
    SortKey.LAST_ACTIVITY: tasks.c.last_activity,
}
_TERMINAL = [status.value for status in TERMINAL_STATUSES]


class SqlTaskStore:
    """TaskStore over the ``tasks`` table, with events written through the outbox."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def insert(self, task: Task, events: Sequence[Event]) -> tuple[Task, Changes]:
        async with self._db.write() as tx:
            stored = await insert_task(tx, task, events)
        return stored, tx.changes

    async def get(self, account_id: str, task_id: str) -> Task | None:
        query = select(tasks).where(tasks.c.task_id == task_id, tasks.c.account_id == account_id)
        async with self._db.read() as conn:
            row = (await conn.execute(query)).mappings().one_or_none()
        return None if row is None else task_from_row(row)

    async def change(self, account_id: str, task_id: str, change: TaskChange) -> tuple[Task, Changes]:
        async with self._db.write() as tx:
            task = await change_task(tx, task_id, account_id, change)
        return task, tx.changes

    async def find(self, account_id: str, query: TaskQuery) -> tuple[list[Task], int]:
        condition = _filters(account_id, query)
        column = _SORT_COLUMNS[query.sort_by]
        order = (column.desc(), tasks.c.task_id.desc()) if query.descending else (column, tasks.c.task_id)
        page = select(tasks).where(condition).order_by(*order).offset(query.offset).limit(query.limit)
        count = select(func.count()).select_from(tasks).where(condition)

        async def read_page() -> list[Any]:
            async with self._db.read() as conn:
                return list((await conn.execute(page)).mappings().all())

        async def read_total() -> int:
            async with self._db.read() as conn:
                return int((await conn.execute(count)).scalar_one())

        # On two connections at once: a page costs the slower of the two queries, not their sum
        # (the total may then count a change the page just missed, as any later call could).
        try:
            async with asyncio.TaskGroup() as group:
                rows, total = group.create_task(read_page()), group.create_task(read_total())
        except ExceptionGroup as failed:
            raise failed.exceptions[0] from None  # e.g. Unavailable, as a single read raises it
        return [task_from_row(row) for row in rows.result()], total.result()

    async def delete_terminal(self, account_id: str, updated_before: datetime) -> tuple[int, Changes]:
        statement = delete(tasks).where(
            tasks.c.account_id == account_id,
            tasks.c.status.in_(_TERMINAL),
            tasks.c.updated_at <= updated_before,
        )
        return await self._delete(statement)

    async def purge_terminal(self, updated_before: datetime) -> tuple[int, Changes]:
        statement = delete(tasks).where(tasks.c.status.in_(_TERMINAL), tasks.c.updated_at < updated_before)
        return await self._delete(statement)

    async def _delete(self, statement: Delete) -> tuple[int, Changes]:
        async with self._db.write() as tx:
            deleted = list((await tx.conn.execute(statement.returning(tasks.c.task_id))).scalars())
            tx.touch(*deleted)
        return len(deleted), tx.changes

    async def overdue(self, now: datetime, limit: int) -> list[tuple[str, str]]:
        query = (
            select(tasks.c.account_id, tasks.c.task_id)
            .where(tasks.c.expired_at <= now, tasks.c.status.not_in(_TERMINAL))
            .limit(limit)
        )
        async with self._db.read() as conn:
            return [(row.account_id, row.task_id) for row in await conn.execute(query)]

    async def stats(self, account_id: str) -> TaskStats:
        mine = tasks.c.account_id == account_id
        by_type_status = (
            select(tasks.c.type, tasks.c.status, func.count())
            .where(mine)
            .group_by(tasks.c.type, tasks.c.status)
        )
        running = TaskStatus.IN_PROGRESS.value
        averages = select(
            func.avg(tasks.c.progress).filter(tasks.c.status == running),
            func.avg(_seconds_between(tasks.c.started_at, tasks.c.completed_at, self._db.is_sqlite)).filter(
                tasks.c.status == TaskStatus.COMPLETED.value, tasks.c.started_at.is_not(None)
            ),
        ).where(mine)
        async with self._db.read() as conn:
            groups = (await conn.execute(by_type_status)).all()
            average_progress, average_duration = (await conn.execute(averages)).one()
        by_type: dict[TaskType, int] = {}
        by_status: dict[TaskStatus, int] = {}
        for type_value, status_value, count in groups:
            by_type[TaskType(type_value)] = by_type.get(TaskType(type_value), 0) + count
            by_status[TaskStatus(status_value)] = by_status.get(TaskStatus(status_value), 0) + count
        return TaskStats(
            total=sum(by_type.values()),
            by_type=by_type,
            by_status=by_status,
            average_progress=float(average_progress or 0.0),
            average_duration_seconds=float(average_duration or 0.0),
        )

    async def count_by_status(self) -> dict[TaskStatus, int]:
        query = select(tasks.c.status, func.count()).group_by(tasks.c.status)
        async with self._db.read() as conn:
            return {TaskStatus(status): count for status, count in await conn.execute(query)}


def _seconds_between(start: Any, end: Any, is_sqlite: bool) -> Any:
    """Seconds from ``start`` to ``end`` in the dialect's own date arithmetic."""
    if is_sqlite:
        return (func.julianday(end) - func.julianday(start)) * 86400.0
    return func.extract("epoch", end - start)


def _filters(account_id: str, query: TaskQuery) -> ColumnElement[bool]:
    conditions = [tasks.c.account_id == account_id]
    if query.type is not None:
        conditions.append(tasks.c.type == query.type.value)
    if query.status is not None:
        conditions.append(tasks.c.status == query.status.value)
    return and_(*conditions)

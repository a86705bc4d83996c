"""Task rows: conversion, and the one way every writer stores a task change.

"Lock the row, apply the change, write what differs, mark the cached copy stale, record the
events" is the same whether a caller, the worker or an upload moves a task, so it lives here once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from drive_service.domain.events import Event
from drive_service.domain.tasks import Task, TaskStatus, TaskType
from drive_service.errors import TaskNotFound
from drive_service.services.ports import TaskChange
from drive_service.storage import outbox
from drive_service.storage.db import Transaction
from drive_service.storage.models import tasks

FIELDS = [field.name for field in dataclasses.fields(Task)]


async def insert_task(tx: Transaction, task: Task, events: Sequence[Event]) -> Task:
    """Insert a new task with its events, and return it; when the account already created a task
    with the same ``request_id``, return that one instead and write nothing (a retried create)."""
    if task.request_id is None:
        await tx.conn.execute(_INSERT, task_row(task))
    else:
        inserted = (await tx.conn.execute(_INSERT_ONCE[tx.conn.dialect.name], task_row(task))).first()
        if inserted is None:
            query = select(tasks).where(
                tasks.c.account_id == task.account_id, tasks.c.request_id == task.request_id
            )
            return task_from_row((await tx.conn.execute(query)).mappings().one())
    await outbox.record(tx, task.updated_at, events)
    return task


async def locked_task(
    tx: Transaction, task_id: str, account_id: str | None = None, *, skip_locked: bool = False
) -> Task | None:
    """The task locked until ``tx`` ends (of ``account_id`` when given), or None.

    ``FOR NO KEY UPDATE``: it does not conflict with the KEY SHARE lock that inserting a row that
    references the task (a chunk receipt) takes, so concurrent chunk writers cannot deadlock.
    ``skip_locked``: None as well when another transaction holds the row.
    """
    query = select(tasks).where(tasks.c.task_id == task_id)
    if account_id is not None:
        query = query.where(tasks.c.account_id == account_id)
    query = query.with_for_update(key_share=True, skip_locked=skip_locked)
    row = (await tx.conn.execute(query)).mappings().one_or_none()
    return None if row is None else task_from_row(row)


async def change_task(tx: Transaction, task_id: str, account_id: str | None, change: TaskChange) -> Task:
    """Lock the task, apply ``change`` and store the result with its events.

    Raises:
        TaskNotFound: no such task (for this account, when given).
        DriveError: whatever ``change`` raises; nothing is written then.
    """
    current = await locked_task(tx, task_id, account_id)
    if current is None:
        raise TaskNotFound(task_id)
    updated, events = change(current)
    await store_change(tx, current, updated, events)
    return updated


async def store_change(tx: Transaction, before: Task, after: Task, events: Sequence[Event]) -> None:
    """Write the columns of ``after`` that differ from ``before`` (the row as ``tx`` locked it),
    mark the task's cached copies stale, and record ``events``."""
    old = task_row(before)
    values = {name: value for name, value in task_row(after).items() if value != old[name]}
    if values:
        await tx.conn.execute(_UPDATE, {**values, "b_task_id": after.task_id})
        tx.touch(after.task_id)
    if events:
        await outbox.record(tx, after.updated_at, events)


def task_row(task: Task) -> dict[str, Any]:
    """The ``tasks`` row of a task."""
    values = {name: getattr(task, name) for name in FIELDS}
    values["type"] = task.type.value
    values["status"] = task.status.value
    return values


def task_from_row(row: Any) -> Task:
    """The task of a ``tasks`` row (a mapping with every column)."""
    values = {name: row[name] for name in FIELDS}
    values["type"] = TaskType(row["type"])
    values["status"] = TaskStatus(row["status"])
    return Task(**values)


# Built once: the SET clause comes from the parameters given (the changed columns).
_INSERT = insert(tasks)
_INSERT_ONCE = {
    name: dialect.insert(tasks)
    .on_conflict_do_nothing(
        index_elements=[tasks.c.account_id, tasks.c.request_id], index_where=tasks.c.request_id.is_not(None)
    )
    .returning(tasks.c.task_id)
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
}
_UPDATE = update(tasks).where(tasks.c.task_id == bindparam("b_task_id"))

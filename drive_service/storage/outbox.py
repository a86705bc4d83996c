"""The event outbox: per-account sequences, event rows and the read side for replay."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from drive_service.domain.events import Event, EventType, RecordedEvent
from drive_service.domain.tasks import TaskType
from drive_service.storage.db import Database, Transaction
from drive_service.storage.models import account_sequences, events


async def record(tx: Transaction, recorded_at: datetime, batch: Sequence[Event]) -> list[RecordedEvent]:
    """Append ``batch`` to the outbox inside the caller's transaction and to ``tx.changes`` (the
    caller publishes them once it commits).

    Sequences come from one counter row per account, incremented with an upsert; its row lock
    makes an account's events commit in sequence order, so a reader that sees sequence N has
    already been able to see every smaller one.
    """
    recorded: list[RecordedEvent] = []
    for account_id in dict.fromkeys(event.account_id for event in batch):
        mine = [event for event in batch if event.account_id == account_id]
        last = await _advance(tx.conn, account_id, len(mine))
        first = last - len(mine) + 1
        rows = [
            {
                "account_id": account_id,
                "sequence": first + offset,
                "task_id": event.task_id,
                "task_type": event.task_type.value,
                "type": event.type.value,
                "data": event.data,
                "created_at": recorded_at,
            }
            for offset, event in enumerate(mine)
        ]
        await tx.conn.execute(insert(events), rows)
        recorded += [RecordedEvent(first + offset, recorded_at, event) for offset, event in enumerate(mine)]
    tx.changes.events += recorded
    return recorded


async def _advance(conn: AsyncConnection, account_id: str, count: int) -> int:
    # Most accounts have their row already: a plain UPDATE is cached by SQLAlchemy, while the
    # dialect-specific upsert below is compiled again on every call.
    parameters = {"b_account_id": account_id, "b_count": count}
    last = (await conn.execute(_ADVANCE, parameters)).scalar_one_or_none()
    if last is not None:
        return int(last)
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(account_sequences).values(account_id=account_id, last_sequence=count)
    statement = statement.on_conflict_do_update(
        index_elements=[account_sequences.c.account_id],
        set_={"last_sequence": account_sequences.c.last_sequence + count},
    ).returning(account_sequences.c.last_sequence)
    return int((await conn.execute(statement)).scalar_one())


_ADVANCE = (
    update(account_sequences)
    .where(account_sequences.c.account_id == bindparam("b_account_id"))
    .values(last_sequence=account_sequences.c.last_sequence + bindparam("b_count"))
    .returning(account_sequences.c.last_sequence)
)


class SqlEventLog:
    """EventLog over the ``events`` table."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def after(self, account_id: str, sequence: int, limit: int) -> list[RecordedEvent]:
        query = (
            select(events)
            .where(events.c.account_id == account_id, events.c.sequence > sequence)
            .order_by(events.c.sequence)
            .limit(limit)
        )
        async with self._db.read() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [_recorded(row) for row in rows]

    async def prune(self, recorded_before: datetime, batch: int = 5000) -> int:
        """Delete events recorded before ``recorded_before`` (the replay window), in batches so
        no transaction holds many rows; returns how many went."""
        removed = 0
        while True:
            oldest = select(events.c.id).where(events.c.created_at < recorded_before).limit(batch)
            async with self._db.write() as tx:
                count = (await tx.conn.execute(delete(events).where(events.c.id.in_(oldest)))).rowcount
            removed += count
            if count < batch:
                return removed

    async def newest(self, account_ids: Sequence[str]) -> dict[str, int]:
        query = select(account_sequences.c.account_id, account_sequences.c.last_sequence).where(
            account_sequences.c.account_id.in_(list(account_ids))
        )
        async with self._db.read() as conn:
            rows = (await conn.execute(query)).all()
        return {row.account_id: int(row.last_sequence) for row in rows}

    async def last_sequence(self, account_id: str) -> int:
        query = select(account_sequences.c.last_sequence).where(account_sequences.c.account_id == account_id)
        async with self._db.read() as conn:
            value = (await conn.execute(query)).scalar_one_or_none()
        return int(value or 0)


def _recorded(row: Any) -> RecordedEvent:
    event = Event(
        type=EventType(row["type"]),
        account_id=row["account_id"],
        task_id=row["task_id"],
        task_type=TaskType(row["task_type"]),
        data=row["data"],
    )
    return RecordedEvent(row["sequence"], row["created_at"], event)

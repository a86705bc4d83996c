"""The shared state of the in-memory stores: tables as dicts, and transactions that roll back.

Writers take turns (one transaction at a time, like SQLite) and every change goes through
``put``/``drop``, which remember the old value, so an exception inside ``write()`` undoes the
transaction's changes exactly as a database rollback would.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from drive_service.domain.events import Event, RecordedEvent
from drive_service.services.ports import Changes

_MISSING = object()


@dataclass
class MemoryState:
    """Every table the SQL stores have, as dicts keyed like their primary keys."""

    tasks: dict[str, Any] = field(default_factory=dict)
    uploads: dict[str, Any] = field(default_factory=dict)
    receipts: dict[tuple[str, int], datetime] = field(default_factory=dict)
    receipt_sizes: dict[tuple[str, int], int] = field(default_factory=dict)
    files: dict[str, Any] = field(default_factory=dict)
    #: Task id of the attempt that created a still hidden output, by file id.
    hidden: dict[str, str] = field(default_factory=dict)
    blobs: dict[tuple[str, str], int] = field(default_factory=dict)
    bundles: dict[str, Any] = field(default_factory=dict)
    quotas: dict[str, int] = field(default_factory=dict)
    events: list[RecordedEvent] = field(default_factory=list)
    sequences: dict[str, int] = field(default_factory=dict)
    turn: asyncio.Lock = field(default_factory=asyncio.Lock)

    @asynccontextmanager
    async def write(self) -> AsyncIterator[Tx]:
        """One transaction: committed when the block ends normally, undone on any exception."""
        async with self.turn:
            tx = Tx(self)
            try:
                yield tx
            except BaseException:
                tx.undo()
                raise


class Tx:
    """The changes of one transaction, with what it takes to undo them."""

    def __init__(self, state: MemoryState) -> None:
        self.state = state
        self.changes = Changes()
        self._undo: list[tuple[dict[Any, Any], Any, Any]] = []
        self._events_before = len(state.events)
        self._sequences_before = dict(state.sequences)

    def put(self, table: dict[Any, Any], key: Any, value: Any) -> None:
        """Set ``table[key]``."""
        self._undo.append((table, key, table.get(key, _MISSING)))
        table[key] = value

    def drop(self, table: dict[Any, Any], key: Any) -> None:
        """Delete ``table[key]`` if present."""
        if key in table:
            self._undo.append((table, key, table[key]))
            del table[key]

    def touch(self, *task_ids: str) -> None:
        """The tasks' cached copies are stale once this commits."""
        self.changes.touched_tasks.update(task_ids)

    def record(self, recorded_at: datetime, batch: Sequence[Event]) -> None:
        """Append events to the outbox with the next sequences of their accounts."""
        for event in batch:
            sequence = self.state.sequences.get(event.account_id, 0) + 1
            self.state.sequences[event.account_id] = sequence
            recorded = RecordedEvent(sequence, recorded_at, event)
            self.state.events.append(recorded)
            self.changes.events.append(recorded)

    def undo(self) -> None:
        for table, key, old in reversed(self._undo):
            if old is _MISSING:
                table.pop(key, None)
            else:
                table[key] = old
        del self.state.events[self._events_before :]
        self.state.sequences.clear()
        self.state.sequences.update(self._sequences_before)

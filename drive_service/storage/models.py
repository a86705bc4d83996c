"""SQLAlchemy table definitions shared by the repositories and the migrations; no rules here."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Dialect,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every dialect (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


Json: Any = JSON().with_variant(JSONB(), "postgresql")
Id = BigInteger().with_variant(Integer(), "sqlite")

metadata = MetaData()

tasks = Table(
    "tasks",
    metadata,
    Column("task_id", String(32), primary_key=True),
    Column("account_id", String(36), nullable=False),
    Column("type", String(24), nullable=False),
    Column("status", String(16), nullable=False),
    Column("name", String(256), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("priority", Integer, nullable=False, default=0),
    Column("progress", Float, nullable=False, default=0.0),
    Column("status_message", Text, nullable=False, default=""),
    Column("parameters", Json, nullable=False),
    Column("results", Json, nullable=False),
    Column("error_message", Text, nullable=False, default=""),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("last_activity", UtcDateTime, nullable=False),
    Column("started_at", UtcDateTime),
    Column("completed_at", UtcDateTime),
    Column("expired_at", UtcDateTime),
    Column("estimated_duration_seconds", BigInteger),
    Column("notified_progress", Float, nullable=False, default=0.0),
    Column("notified_at", UtcDateTime),
    Index("ix_tasks_account_type_status", "account_id", "type", "status"),
    Index("ix_tasks_account_last_activity", "account_id", "last_activity"),
    Index("ix_tasks_status_updated", "status", "updated_at"),
)

#: The outbox: every event, written in the transaction of the change it describes.
events = Table(
    "events",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("account_id", String(36), nullable=False),
    Column("sequence", BigInteger, nullable=False),
    Column("task_id", String(32), nullable=False),
    Column("task_type", String(24), nullable=False),
    Column("type", String(32), nullable=False),
    Column("data", Json, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    UniqueConstraint("account_id", "sequence", name="uq_events_account_sequence"),
    Index("ix_events_created_at", "created_at"),
)

#: The last event sequence handed out per account; its row lock orders an account's events.
account_sequences = Table(
    "account_sequences",
    metadata,
    Column("account_id", String(36), primary_key=True),
    Column("last_sequence", BigInteger, nullable=False),
)

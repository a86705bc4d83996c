"""Tasks, the event outbox and per-account event sequences.

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from drive_service.storage.models import Id, Json, UtcDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tasks",
        sa.Column("task_id", sa.String(32), primary_key=True),
        sa.Column("account_id", sa.String(36), nullable=False),
        sa.Column("type", sa.String(24), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("priority", sa.Integer, nullable=False),
        sa.Column("progress", sa.Float, nullable=False),
        sa.Column("status_message", sa.Text, nullable=False),
        sa.Column("parameters", Json, nullable=False),
        sa.Column("results", Json, nullable=False),
        sa.Column("error_message", sa.Text, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.Column("last_activity", UtcDateTime, nullable=False),
        sa.Column("started_at", UtcDateTime),
        sa.Column("completed_at", UtcDateTime),
        sa.Column("expired_at", UtcDateTime),
        sa.Column("estimated_duration_seconds", sa.BigInteger),
        sa.Column("notified_progress", sa.Float, nullable=False),
        sa.Column("notified_at", UtcDateTime),
    )
    op.create_index("ix_tasks_account_type_status", "tasks", ["account_id", "type", "status"])
    op.create_index("ix_tasks_account_last_activity", "tasks", ["account_id", "last_activity"])
    op.create_index("ix_tasks_status_updated", "tasks", ["status", "updated_at"])
    op.create_table(
        "events",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("account_id", sa.String(36), nullable=False),
        sa.Column("sequence", sa.BigInteger, nullable=False),
        sa.Column("task_id", sa.String(32), nullable=False),
        sa.Column("task_type", sa.String(24), nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("data", Json, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.UniqueConstraint("account_id", "sequence", name="uq_events_account_sequence"),
    )
    op.create_index("ix_events_created_at", "events", ["created_at"])
    op.create_table(
        "account_sequences",
        sa.Column("account_id", sa.String(36), primary_key=True),
        sa.Column("last_sequence", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("account_sequences")
    op.drop_index("ix_events_created_at", "events")
    op.drop_table("events")
    op.drop_index("ix_tasks_status_updated", "tasks")
    op.drop_index("ix_tasks_account_last_activity", "tasks")
    op.drop_index("ix_tasks_account_type_status", "tasks")
    op.drop_table("tasks")

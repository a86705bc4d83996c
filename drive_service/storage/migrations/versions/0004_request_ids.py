"""Idempotency keys (AIP-155): the request id a task was created with, unique per account.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_GIVEN = "request_id IS NOT NULL"


def upgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("request_id", sa.String(64)))
    op.create_index(
        "uq_tasks_account_request",
        "tasks",
        ["account_id", "request_id"],
        unique=True,
        postgresql_where=sa.text(_GIVEN),
        sqlite_where=sa.text(_GIVEN),
    )


def downgrade() -> None:
    op.drop_index("uq_tasks_account_request", "tasks")
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("request_id")

"""Worker leases, attempts, backoff and checkpoints on tasks; attempt-scoped output files.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from drive_service.storage.models import Json, UtcDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_CLAIMABLE = "status = 'Pending' AND managed"
_LEASED = "status = 'InProgress' AND managed"


def upgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("managed", sa.Boolean, nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("attempts", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("max_attempts", sa.Integer, nullable=False, server_default="3"))
        batch.add_column(sa.Column("lease_token", sa.String(32)))
        batch.add_column(sa.Column("lease_expires_at", UtcDateTime))
        batch.add_column(sa.Column("run_after", UtcDateTime))
        batch.add_column(sa.Column("checkpoint", Json))
        batch.add_column(sa.Column("sealed_secrets", sa.LargeBinary))
    op.create_index(
        "ix_tasks_claim",
        "tasks",
        [sa.text("priority DESC"), "created_at"],
        postgresql_where=sa.text(_CLAIMABLE),
        sqlite_where=sa.text(_CLAIMABLE),
    )
    op.create_index(
        "ix_tasks_leases",
        "tasks",
        ["lease_expires_at"],
        postgresql_where=sa.text(_LEASED),
        sqlite_where=sa.text(_LEASED),
    )
    with op.batch_alter_table("files") as batch:
        batch.add_column(sa.Column("attempt_token", sa.String(32)))
    op.create_index(
        "ix_files_attempt_token",
        "files",
        ["attempt_token"],
        postgresql_where=sa.text("attempt_token IS NOT NULL"),
        sqlite_where=sa.text("attempt_token IS NOT NULL"),
    )
    op.create_index(
        "ix_tasks_account_activity_id",
        "tasks",
        ["account_id", sa.text("last_activity DESC"), sa.text("task_id DESC")],
    )


def downgrade() -> None:
    op.drop_index("ix_tasks_account_activity_id", "tasks")
    op.drop_index("ix_files_attempt_token", "files")
    with op.batch_alter_table("files") as batch:
        batch.drop_column("attempt_token")
    op.drop_index("ix_tasks_leases", "tasks")
    op.drop_index("ix_tasks_claim", "tasks")
    with op.batch_alter_table("tasks") as batch:
        for column in (
            "sealed_secrets",
            "checkpoint",
            "run_after",
            "lease_expires_at",
            "lease_token",
            "max_attempts",
            "attempts",
            "managed",
        ):
            batch.drop_column(column)

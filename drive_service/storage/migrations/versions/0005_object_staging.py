"""Object-storage staging: the store's handle of an upload's staging (an S3 multipart upload) and
the tag of each stored chunk (the part's ETag), so any instance may receive chunks and complete.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("uploads") as batch:
        batch.add_column(sa.Column("staging_ref", sa.String(1024)))
    with op.batch_alter_table("chunk_receipts") as batch:
        batch.add_column(sa.Column("tag", sa.String(255)))


def downgrade() -> None:
    with op.batch_alter_table("chunk_receipts") as batch:
        batch.drop_column("tag")
    with op.batch_alter_table("uploads") as batch:
        batch.drop_column("staging_ref")

"""Uploads, chunk receipts, blobs, files, bundles and quotas.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from drive_service.storage.models import UtcDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "uploads",
        sa.Column(
            "task_id", sa.String(32), sa.ForeignKey("tasks.task_id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("account_id", sa.String(36), nullable=False),
        sa.Column("file_name", sa.String(255), nullable=False),
        sa.Column("file_size", sa.BigInteger, nullable=False),
        sa.Column("content_type", sa.String(255), nullable=False),
        sa.Column("chunk_size", sa.BigInteger, nullable=False),
        sa.Column("chunks_count", sa.Integer, nullable=False),
        sa.Column("chunks_uploaded", sa.Integer, nullable=False),
        sa.Column("bytes_uploaded", sa.BigInteger, nullable=False),
        sa.Column("pool_id", sa.String(36), nullable=False),
        sa.Column("bundle_id", sa.String(32)),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("encrypted", sa.Boolean, nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary),
        sa.Column("key_salt", sa.LargeBinary),
        sa.Column("file_expired_at", UtcDateTime),
        sa.Column("file_id", sa.String(32)),
        sa.Column("completion_token", sa.String(32)),
        sa.Column("completion_started_at", UtcDateTime),
    )
    op.create_index("ix_uploads_account_hash", "uploads", ["account_id", "hash"])
    op.create_table(
        "chunk_receipts",
        sa.Column(
            "task_id", sa.String(32), sa.ForeignKey("tasks.task_id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("chunk_index", sa.Integer, nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("crc32c", sa.BigInteger),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("task_id", "chunk_index", name="pk_chunk_receipts"),
    )
    op.create_table(
        "blobs",
        sa.Column("pool_id", sa.String(36), nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("refcount", sa.Integer, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("pool_id", "key", name="pk_blobs"),
    )
    op.create_table(
        "files",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("account_id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("mime_type", sa.String(255), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("pool_id", sa.String(36), nullable=False),
        sa.Column("blob_key", sa.String(64), nullable=False),
        sa.Column("stored_size", sa.BigInteger, nullable=False),
        sa.Column("bundle_id", sa.String(32)),
        sa.Column("encrypted", sa.Boolean, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.Column("uploaded_at", UtcDateTime, nullable=False),
        sa.Column("expired_at", UtcDateTime),
    )
    op.create_index("ix_files_account_hash_size", "files", ["account_id", "hash", "size"])
    op.create_index("ix_files_account_created", "files", ["account_id", "created_at"])
    op.create_index("ix_files_expired_at", "files", ["expired_at"])
    op.create_table(
        "bundles",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("account_id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("expired_at", UtcDateTime),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
    )
    op.create_index("ix_bundles_account", "bundles", ["account_id"])
    op.create_table(
        "quotas",
        sa.Column("account_id", sa.String(36), primary_key=True),
        sa.Column("quota_bytes", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    for table in ("quotas", "bundles", "files", "blobs", "chunk_receipts", "uploads"):
        op.drop_table(table)

"""SQLAlchemy table definitions shared by the repositories and the migrations; no rules here."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
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
    Column("managed", Boolean, nullable=False, default=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("max_attempts", Integer, nullable=False, default=3),
    Column("lease_token", String(32)),
    Column("lease_expires_at", UtcDateTime),
    Column("run_after", UtcDateTime),
    Column("checkpoint", Json),
    Column("sealed_secrets", LargeBinary),
    #: The idempotency key (AIP-155) the task was created with, unique per account.
    Column("request_id", String(64)),
    Index("ix_tasks_account_type_status", "account_id", "type", "status"),
    Index("ix_tasks_account_last_activity", "account_id", "last_activity"),
    # ListTasks' default order, with the tie-breaker, so a page is an index range.
    Index("ix_tasks_account_activity_id", "account_id", text("last_activity DESC"), text("task_id DESC")),
    Index("ix_tasks_status_updated", "status", "updated_at"),
    # Exactly the claim's condition and order, so a claim reads the queue's head only.
    Index(
        "ix_tasks_claim",
        text("priority DESC"),
        "created_at",
        postgresql_where=text("status = 'Pending' AND managed"),
        sqlite_where=text("status = 'Pending' AND managed"),
    ),
    Index(
        "uq_tasks_account_request",
        "account_id",
        "request_id",
        unique=True,
        postgresql_where=text("request_id IS NOT NULL"),
        sqlite_where=text("request_id IS NOT NULL"),
    ),
    Index(
        "ix_tasks_leases",
        "lease_expires_at",
        postgresql_where=text("status = 'InProgress' AND managed"),
        sqlite_where=text("status = 'InProgress' AND managed"),
    ),
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


#: Upload-specific columns of a FileUpload task (one row per upload task).
uploads = Table(
    "uploads",
    metadata,
    Column("task_id", String(32), ForeignKey("tasks.task_id", ondelete="CASCADE"), primary_key=True),
    Column("account_id", String(36), nullable=False),
    Column("file_name", String(255), nullable=False),
    Column("file_size", BigInteger, nullable=False),
    Column("content_type", String(255), nullable=False),
    Column("chunk_size", BigInteger, nullable=False),
    Column("chunks_count", Integer, nullable=False),
    Column("chunks_uploaded", Integer, nullable=False),
    Column("bytes_uploaded", BigInteger, nullable=False),
    Column("pool_id", String(36), nullable=False),
    Column("bundle_id", String(32)),
    Column("hash", String(64), nullable=False),
    Column("encrypted", Boolean, nullable=False),
    #: The file key, derived from the password and wrapped with the server's master key.
    Column("wrapped_key", LargeBinary),
    Column("key_salt", LargeBinary),
    Column("file_expired_at", UtcDateTime),
    Column("file_id", String(32)),
    #: Holder and start time of an in-flight completion (one completer at a time).
    Column("completion_token", String(32)),
    Column("completion_started_at", UtcDateTime),
    #: The blob store's handle of the staging (an S3 multipart upload's key and id).
    Column("staging_ref", String(1024)),
    Index("ix_uploads_account_hash", "account_id", "hash"),
)

#: One row per stored chunk: the receipt that makes a chunk exist.
chunk_receipts = Table(
    "chunk_receipts",
    metadata,
    Column("task_id", String(32), ForeignKey("tasks.task_id", ondelete="CASCADE"), nullable=False),
    Column("chunk_index", Integer, nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("crc32c", BigInteger),
    #: The blob store's tag of the stored bytes (an S3 part's ETag), when it gives one.
    Column("tag", String(255)),
    Column("created_at", UtcDateTime, nullable=False),
    PrimaryKeyConstraint("task_id", "chunk_index", name="pk_chunk_receipts"),
)

#: Stored bytes, shared by every file with the same content in a pool: the key is the SHA-256
#: of plain content, or a random key for encrypted content (unique per file by its salt).
blobs = Table(
    "blobs",
    metadata,
    Column("pool_id", String(36), nullable=False),
    Column("key", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("refcount", Integer, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    PrimaryKeyConstraint("pool_id", "key", name="pk_blobs"),
)

files = Table(
    "files",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("account_id", String(36), nullable=False),
    Column("name", String(255), nullable=False),
    Column("description", Text, nullable=False),
    Column("mime_type", String(255), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("hash", String(64), nullable=False),
    Column("pool_id", String(36), nullable=False),
    Column("blob_key", String(64), nullable=False),
    Column("stored_size", BigInteger, nullable=False),
    Column("bundle_id", String(32)),
    Column("encrypted", Boolean, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("uploaded_at", UtcDateTime, nullable=False),
    Column("expired_at", UtcDateTime),
    #: Set while the file is an output of a running task attempt: invisible until it completes.
    Column("attempt_token", String(32)),
    Index("ix_files_account_hash_size", "account_id", "hash", "size"),
    Index("ix_files_account_created", "account_id", "created_at"),
    Index("ix_files_expired_at", "expired_at"),
    Index(
        "ix_files_attempt_token",
        "attempt_token",
        postgresql_where=text("attempt_token IS NOT NULL"),
        sqlite_where=text("attempt_token IS NOT NULL"),
    ),
)

bundles = Table(
    "bundles",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("account_id", String(36), nullable=False),
    Column("name", String(255), nullable=False),
    Column("description", Text, nullable=False),
    Column("expired_at", UtcDateTime),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Index("ix_bundles_account", "account_id"),
)

#: Per-account quota overrides; accounts without a row get DRIVE_DEFAULT_QUOTA_BYTES.
quotas = Table(
    "quotas",
    metadata,
    Column("account_id", String(36), primary_key=True),
    Column("quota_bytes", BigInteger, nullable=False),
)

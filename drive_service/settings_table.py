"""Every environment variable of the service, documented once.

``config.py`` reads only variables listed here (it refuses any other name), the README's
configuration tables are generated from this list (``python -m drive_service.settings_table``)
and a test keeps them equal, and ``drive-service serve --help`` prints the first group.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Variable:
    """One setting: its environment variable, its default as users read it, and its meaning."""

    name: str
    default: str
    meaning: str


#: Groups in the order users need them: the first is what matters to start a server.
GROUPS: dict[str, tuple[Variable, ...]] = {
    "Server": (
        Variable("DRIVE_LISTEN", "`127.0.0.1:50051`", "gRPC listen address (`HOST:PORT`, port 0 = any free port)"),
        Variable("DATABASE_URL", "SQLite in `DRIVE_DATA_DIR/drive.db`", "`postgresql+asyncpg://user@host/db` (or `postgresql://`) for production"),
        Variable("DRIVE_DATA_DIR", "`./var`", "embedded data: SQLite file, development JWT secret and master key, staging"),
        Variable("REDIS_URL", "unset", "`redis://host:6379/0`; unset = no cross-instance events (the outbox check still finds other processes' events within a second), no task cache, in-process rate limits"),
        Variable("LOG_LEVEL", "`INFO`", "root level and/or `logger:LEVEL` pairs, comma-separated (`WARNING,drive_service.api:DEBUG`)"),
        Variable("DRIVE_SHUTDOWN_GRACE_SECONDS", "`10`", "how long in-flight calls may finish on SIGTERM/SIGINT"),
        Variable("DRIVE_METRICS_LISTEN", "unset (no endpoint)", "`HOST:PORT` of the Prometheus `/metrics` endpoint (port 0 = any free port)"),
        Variable("DRIVE_METRICS_REFRESH_SECONDS", "`15`", "how often the task gauges are counted in the database"),
        Variable("DRIVE_AUDIT_LOG", "unset (with the other logs on stderr)", "file the audit trail (logger `drive_service.audit`, one JSON line per record) is appended to instead"),
        Variable("DRIVE_AUDIT_READS", "`false`", "also audit calls that only read (Get, List, Wait, Watch, Read)"),
    ),
    "Authentication": (
        Variable("DRIVE_JWT_SECRET", "generated once in `DRIVE_DATA_DIR/jwt-secret`", "HS256 shared secret"),
        Variable("DRIVE_JWT_PUBLIC_KEY", "unset", "PEM text or path; verifies RS256/ES256 tokens instead of a secret"),
        Variable("DRIVE_JWT_ALGORITHMS", "`HS256` (or `RS256,ES256` with a key)", "accepted algorithms"),
        Variable("DRIVE_JWT_ISSUER", "unset", "required `iss` claim when set"),
        Variable("DRIVE_JWT_AUDIENCE", "unset", "required `aud` claim when set"),
    ),
    "Storage": (
        Variable("STORAGE_UPLOADS_PATH", "`DRIVE_DATA_DIR/uploads`", "staging for chunks of local pools (checked writable by the health report)"),
        Variable("STORAGE_PREFERRED_REMOTE", "first pool", "id of the default pool"),
        Variable("DRIVE_POOLS_FILE", "unset (one public local pool under `DRIVE_DATA_DIR/pools`)", "pools file, TOML or JSON (below)"),
        Variable("DRIVE_DEFAULT_QUOTA_BYTES", "`10737418240`", "per-account quota unless overridden with `SetAccountQuota`"),
        Variable("DRIVE_MASTER_KEY", "generated once in `DRIVE_DATA_DIR/master-key`", "base64 of 32 bytes; wraps the keys of in-flight encrypted uploads and sealed task secrets"),
    ),
    "Uploads": (
        Variable("UPLOAD_DEFAULT_CHUNK_SIZE", "`5242880`", "bytes (uploads)"),
        Variable("UPLOAD_MAX_CHUNK_SIZE", "`16777216`", "bytes; also sets the gRPC message limit (+1 MiB)"),
        Variable("UPLOAD_MAX_FILE_SIZE", "`1099511627776` (1 TiB)", "largest file an upload may declare, in bytes (pools may set a smaller `max_file_size`)"),
        Variable("DRIVE_MAX_BUFFERED_CHUNKS", "`8`", "chunk buffers `UploadChunks`/`UploadFile` streams may gather or write at once, process-wide (bounds memory: about this many times the chunk size); a stream waiting for one reads no more messages"),
        Variable("DRIVE_MAX_BUFFERED_CHUNKS_PER_ACCOUNT", "half of `DRIVE_MAX_BUFFERED_CHUNKS`", "of those buffers, how many the streams of one account may hold at once (so one account's idle or slow streams never hold them all); streams waiting for a buffer are served in turn across accounts"),
        Variable("DRIVE_STREAM_IDLE_SECONDS", "`30`", "a `UploadChunks`/`UploadFile` stream holding one of those buffers that sends nothing for this long is ended with `DEADLINE_EXCEEDED` (`STREAM_IDLE`); its stored chunks are kept"),
        Variable("DRIVE_UPLOAD_EVENTS", "`true`", "also send the legacy `upload.progress/completed/failed` events"),
        Variable("UPLOAD_STALE_THRESHOLD_HOURS", "`24`", "idle uploads expire after this"),
        Variable("UPLOAD_CLEANUP_INTERVAL_MINUTES", "`60`", "maintenance interval"),
    ),
    "Tasks and events": (
        Variable("UPLOAD_CACHE_DURATION_MINUTES", "`30`", "lifetime of a cached task (GetTask and the reads behind WaitTask); changes invalidate it at once"),
        Variable("DRIVE_EXPIRY_SWEEP_SECONDS", "`10`", "how often tasks past their `expired_at` are marked EXPIRED"),
        Variable("TASK_RETENTION_DAYS", "`30`", "terminal tasks are removed after this (maintenance)"),
        Variable("DRIVE_EVENT_RETENTION_HOURS", "`24`", "the replay window: events older than this are pruned by maintenance"),
        Variable("DRIVE_REDIS_PREFIX", "`drive`", "prefix of every Redis key and of the event channel (`<prefix>:events`); give services sharing one Redis different prefixes (pub/sub channels ignore the database number)"),
        Variable("DRIVE_RATE_LIMITS", "`read=200/400,write=100/200,upload_bytes=268435456/536870912`", "per-account token buckets, `CLASS=PER_SECOND/BURST` (classes left out keep their default; `off` disables); see below"),
    ),
    "Worker": (
        Variable("DRIVE_WORKER", "`true`", "run the worker inside `serve`"),
        Variable("DRIVE_WORKER_CONCURRENCY", "`4`", "attempts one worker process runs at once"),
        Variable("DRIVE_WORKER_LEASE_SECONDS", "`30`", "lease of an attempt; heartbeats renew it every third of it"),
        Variable("DRIVE_WORKER_POLL_MS", "`100`", "how often an idle worker looks for work (a local enqueue wakes it at once)"),
    ),
    "Ring sink": (
        Variable("RING_SERVICE_ADDRESS", "unset (no sink)", "Ring's gRPC address, `HOST:PORT`"),
        Variable("RING_NOTIFICATION_TOPIC", "`drive.tasks`", "topic of every push notification"),
        Variable("RING_TASK_FAILED_TITLE", "`Task failed`", "title of the notification sent when a task fails"),
        Variable("RING_TASK_FAILED_BODY", "`{name}: {errorMessage}`", "its body; `{field}` is a field of the event's data (missing ones render empty)"),
        Variable("RING_UPLOAD_COMPLETED_TITLE", "`Upload complete`", "title of the notification sent when an upload completes"),
        Variable("RING_UPLOAD_COMPLETED_BODY", "`{fileName} is ready`", "its body, as above"),
        Variable("RING_UPLOAD_FAILED_TITLE", "`Upload failed`", "title of the notification sent when an upload fails"),
        Variable("RING_UPLOAD_FAILED_BODY", "`{fileName}: {errorMessage}`", "its body, as above"),
        Variable("RING_QUEUE_SIZE", "`10000`", "deliveries held (queued or being sent); more are dropped"),
        Variable("RING_MAX_ATTEMPTS", "`5`", "attempts per delivery before it is dropped"),
        Variable("RING_RETRY_BASE_MS", "`200`", "first retry ceiling, doubled per attempt (full jitter)"),
        Variable("RING_RETRY_MAX_MS", "`30000`", "largest retry ceiling"),
        Variable("RING_CALL_TIMEOUT_MS", "`5000`", "deadline of each Ring call"),
    ),
}

#: Every variable by name.
VARIABLES: dict[str, Variable] = {variable.name: variable for group in GROUPS.values() for variable in group}


def markdown() -> str:
    """The README's configuration tables: one per group, under a bold group name."""
    lines: list[str] = []
    for group, variables in GROUPS.items():
        lines += [f"**{group}**", "", "| variable | default | meaning |", "|---|---|---|"]
        lines += [f"| `{v.name}` | {v.default} | {v.meaning} |" for v in variables]
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def plain(group: str) -> str:
    """One group as plain text lines (for ``--help``)."""
    return "\n".join(f"  {v.name:<32} {v.default.replace('`', '')}: {v.meaning.replace('`', '')}" for v in GROUPS[group])


if __name__ == "__main__":
    sys.stdout.write(markdown())

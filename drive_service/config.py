"""Settings read once from the environment; a bad value stops start-up naming the variable."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from drive_service.domain.rate_limits import RateLimit
from drive_service.env_reader import ConfigError, EnvReader, embedded_secret

MIB = 1024 * 1024


@dataclass(frozen=True)
class JwtSettings:
    """How bearer tokens are verified (and, for ``drive-service token``, minted)."""

    secret: str | None
    public_key: str | None
    algorithms: tuple[str, ...]
    issuer: str | None
    audience: str | None


@dataclass(frozen=True)
class RingSettings:
    """Where and how events go to DysonNetwork's Ring service (``address`` None: nowhere).

    ``notifications`` maps an event type (``task.failed``, ``upload.completed``,
    ``upload.failed``) to its (title, body) templates; ``{name}``-style fields come from the
    event's ``data``. A failed delivery is retried after a random wait below
    ``retry_base_seconds`` doubled per attempt (at most ``retry_max_seconds``); each call has a
    deadline of ``call_timeout_seconds``.
    """

    address: str | None
    topic: str
    notifications: dict[str, tuple[str, str]]
    queue_size: int
    max_attempts: int
    retry_base_seconds: float
    retry_max_seconds: float
    call_timeout_seconds: float


_NOTIFICATIONS = {
    "task.failed": ("RING_TASK_FAILED", "Task failed", "{name}: {errorMessage}"),
    "upload.completed": ("RING_UPLOAD_COMPLETED", "Upload complete", "{fileName} is ready"),
    "upload.failed": ("RING_UPLOAD_FAILED", "Upload failed", "{fileName}: {errorMessage}"),
}


@dataclass(frozen=True)
class ServerSettings:
    """The process: where it listens, logs, drains and reports."""

    listen: str
    shutdown_grace_seconds: float
    log_levels: dict[str, int]
    metrics_listen: str | None
    metrics_refresh_seconds: float
    audit_log: Path | None
    audit_reads: bool


@dataclass(frozen=True)
class StorageSettings:
    """Where state and bytes live."""

    data_dir: Path
    database_url: str
    uploads_path: Path
    pools_file: Path | None
    preferred_pool: str | None
    default_quota_bytes: int
    master_key: bytes = field(repr=False)


@dataclass(frozen=True)
class UploadSettings:
    """How uploads are cut, buffered and expired."""

    default_chunk_size: int
    max_chunk_size: int
    max_file_size: int
    max_buffered_chunks: int
    max_buffered_chunks_per_account: int
    stream_idle_seconds: float
    upload_events: bool
    stale_threshold_hours: float
    cleanup_interval_minutes: float


@dataclass(frozen=True)
class TaskSettings:
    """Task caching, expiry, retention and the replay window of events."""

    cache_duration_minutes: float
    expiry_sweep_seconds: float
    retention_days: float
    event_retention_hours: float


@dataclass(frozen=True)
class RedisSettings:
    """The shared Redis (events, cache, rate limits), when configured."""

    url: str | None
    prefix: str


@dataclass(frozen=True)
class WorkerConfig:
    """The built-in worker of this process."""

    enabled: bool
    concurrency: int
    lease_seconds: float
    poll_ms: float


@dataclass(frozen=True)
class Settings:
    """Every setting of the service, by component (variables documented in ``settings_table``)."""

    server: ServerSettings
    storage: StorageSettings
    uploads: UploadSettings
    tasks: TaskSettings
    redis: RedisSettings
    worker: WorkerConfig
    rate_limits: dict[str, RateLimit]
    ring: RingSettings
    jwt: JwtSettings = field(repr=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read the settings from ``env`` (default ``os.environ``).

        Raises:
            ConfigError: a variable is present but unusable.
        """
        reader = EnvReader(os.environ if env is None else env)
        data_dir = Path(reader.text("DRIVE_DATA_DIR", "./var")).resolve()
        default_chunk = reader.integer("UPLOAD_DEFAULT_CHUNK_SIZE", 5 * MIB, minimum=1)
        max_chunk = reader.integer("UPLOAD_MAX_CHUNK_SIZE", 16 * MIB, minimum=256 * 1024)
        if default_chunk > max_chunk:
            raise ConfigError("UPLOAD_DEFAULT_CHUNK_SIZE", "must not exceed UPLOAD_MAX_CHUNK_SIZE")
        buffers = reader.integer("DRIVE_MAX_BUFFERED_CHUNKS", 8, minimum=1)
        return cls(
            server=ServerSettings(
                listen=reader.listen("DRIVE_LISTEN", "127.0.0.1:50051"),
                shutdown_grace_seconds=reader.number("DRIVE_SHUTDOWN_GRACE_SECONDS", 10),
                log_levels=reader.log_levels("LOG_LEVEL"),
                metrics_listen=reader.listen("DRIVE_METRICS_LISTEN", "") or None,
                metrics_refresh_seconds=reader.number("DRIVE_METRICS_REFRESH_SECONDS", 15),
                audit_log=Path(audit).resolve() if (audit := reader.raw("DRIVE_AUDIT_LOG")) else None,
                audit_reads=reader.flag("DRIVE_AUDIT_READS", False),
            ),
            storage=StorageSettings(
                data_dir=data_dir,
                database_url=reader.database_url(data_dir),
                uploads_path=Path(reader.text("STORAGE_UPLOADS_PATH", str(data_dir / "uploads"))).resolve(),
                pools_file=reader.existing_file("DRIVE_POOLS_FILE"),
                preferred_pool=reader.optional("STORAGE_PREFERRED_REMOTE"),
                default_quota_bytes=reader.integer("DRIVE_DEFAULT_QUOTA_BYTES", 10 * 1024 * MIB),
                master_key=reader.master_key(data_dir),
            ),
            uploads=UploadSettings(
                default_chunk_size=default_chunk,
                max_chunk_size=max_chunk,
                # 2^50 keeps every chunk count and offset far inside the columns' 64 bits.
                max_file_size=reader.integer("UPLOAD_MAX_FILE_SIZE", 1 << 40, minimum=1, maximum=1 << 50),
                max_buffered_chunks=buffers,
                max_buffered_chunks_per_account=reader.integer(
                    "DRIVE_MAX_BUFFERED_CHUNKS_PER_ACCOUNT", max(1, buffers // 2), minimum=1, maximum=buffers
                ),
                stream_idle_seconds=reader.number("DRIVE_STREAM_IDLE_SECONDS", 30),
                upload_events=reader.flag("DRIVE_UPLOAD_EVENTS", True),
                stale_threshold_hours=reader.number("UPLOAD_STALE_THRESHOLD_HOURS", 24),
                cleanup_interval_minutes=reader.number("UPLOAD_CLEANUP_INTERVAL_MINUTES", 60),
            ),
            tasks=TaskSettings(
                cache_duration_minutes=reader.number("UPLOAD_CACHE_DURATION_MINUTES", 30),
                expiry_sweep_seconds=reader.number("DRIVE_EXPIRY_SWEEP_SECONDS", 10),
                retention_days=reader.number("TASK_RETENTION_DAYS", 30),
                event_retention_hours=reader.number("DRIVE_EVENT_RETENTION_HOURS", 24),
            ),
            redis=RedisSettings(
                url=reader.optional("REDIS_URL", prefixes=("redis://", "rediss://", "unix://")),
                prefix=reader.name("DRIVE_REDIS_PREFIX", "drive"),
            ),
            worker=WorkerConfig(
                enabled=reader.flag("DRIVE_WORKER", True),
                concurrency=reader.integer("DRIVE_WORKER_CONCURRENCY", 4, minimum=1),
                lease_seconds=reader.number("DRIVE_WORKER_LEASE_SECONDS", 30),
                poll_ms=reader.number("DRIVE_WORKER_POLL_MS", 100),
            ),
            rate_limits=reader.rate_limits("DRIVE_RATE_LIMITS", max_chunk),
            ring=_ring(reader),
            jwt=_jwt(reader, data_dir),
        )


def _ring(reader: EnvReader) -> RingSettings:
    notifications = {
        event: (reader.template(f"{prefix}_TITLE", title), reader.template(f"{prefix}_BODY", body))
        for event, (prefix, title, body) in _NOTIFICATIONS.items()
    }
    retry_base = reader.number("RING_RETRY_BASE_MS", 200) / 1000
    retry_max = reader.number("RING_RETRY_MAX_MS", 30_000) / 1000
    if retry_max < retry_base:
        raise ConfigError("RING_RETRY_MAX_MS", "must not be less than RING_RETRY_BASE_MS")
    return RingSettings(
        address=reader.listen("RING_SERVICE_ADDRESS", "") or None,
        topic=reader.text("RING_NOTIFICATION_TOPIC", "drive.tasks"),
        notifications=notifications,
        queue_size=reader.integer("RING_QUEUE_SIZE", 10_000, minimum=1),
        max_attempts=reader.integer("RING_MAX_ATTEMPTS", 5, minimum=1),
        retry_base_seconds=retry_base,
        retry_max_seconds=retry_max,
        call_timeout_seconds=reader.number("RING_CALL_TIMEOUT_MS", 5_000) / 1000,
    )


def _jwt(reader: EnvReader, data_dir: Path) -> JwtSettings:
    secret = reader.raw("DRIVE_JWT_SECRET") or None
    key = reader.raw("DRIVE_JWT_PUBLIC_KEY") or None
    if key is not None and not key.startswith("-----BEGIN"):
        path = Path(key)
        if not path.is_file():
            raise ConfigError("DRIVE_JWT_PUBLIC_KEY", "must be a PEM key or the path of one")
        key = path.read_text()
    if secret is None and key is None:
        secret = embedded_secret(data_dir, "jwt-secret", lambda: secrets.token_urlsafe(48))
    default_algorithms = "RS256,ES256" if key else "HS256"
    algorithms = tuple(
        part.strip() for part in reader.text("DRIVE_JWT_ALGORITHMS", default_algorithms).split(",")
    )
    allowed = {"HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256", "ES384", "PS256"}
    if not algorithms or not set(algorithms) <= allowed:
        raise ConfigError("DRIVE_JWT_ALGORITHMS", f"must be a comma list of {sorted(allowed)}")
    return JwtSettings(
        secret=secret,
        public_key=key,
        algorithms=algorithms,
        issuer=reader.optional("DRIVE_JWT_ISSUER"),
        audience=reader.optional("DRIVE_JWT_AUDIENCE"),
    )

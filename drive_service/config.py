"""Settings read once from the environment; a bad value stops start-up naming the variable."""

from __future__ import annotations

import base64
import logging
import os
import re
import secrets
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from drive_service.domain.rate_limits import RateLimit

MIB = 1024 * 1024


class ConfigError(Exception):
    """A configuration variable has an unusable value."""

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable}: {problem}")
        self.variable = variable


@dataclass(frozen=True)
class JwtSettings:
    """How bearer tokens are verified (and, for ``drive-service token``, minted)."""

    secret: str | None
    public_key: str | None
    algorithms: tuple[str, ...]
    issuer: str | None
    audience: str | None


#: RPC classes with a per-account bucket; ``upload_bytes`` counts chunk bytes, not calls.
RATE_CLASSES = ("read", "write", "upload_bytes")
_DEFAULT_RATE_LIMITS = "read=200/400,write=100/200,upload_bytes=268435456/536870912"


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
class Settings:
    """Every setting of the service, with the seed's variable names where the seed has one."""

    data_dir: Path
    database_url: str
    redis_url: str | None
    redis_prefix: str
    listen: str
    uploads_path: Path
    preferred_pool: str | None
    default_chunk_size: int
    max_chunk_size: int
    stale_threshold_hours: float
    cleanup_interval_minutes: float
    cache_duration_minutes: float
    task_retention_days: float
    expiry_sweep_seconds: float
    shutdown_grace_seconds: float
    log_levels: dict[str, int]
    pools_file: Path | None
    default_quota_bytes: int
    upload_events: bool
    max_buffered_chunks: int
    stream_idle_seconds: float
    worker_enabled: bool
    worker_concurrency: int
    worker_lease_seconds: float
    worker_poll_ms: float
    event_retention_hours: float
    rate_limits: dict[str, RateLimit]
    metrics_listen: str | None
    metrics_refresh_seconds: float
    ring: RingSettings
    jwt: JwtSettings = field(repr=False)
    master_key: bytes = field(repr=False, default=b"")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read the settings from ``env`` (default ``os.environ``).

        Raises:
            ConfigError: a variable is present but unusable.
        """
        reader = _Reader(os.environ if env is None else env)
        data_dir = Path(reader.text("DRIVE_DATA_DIR", "./var")).resolve()
        default_chunk = reader.integer("UPLOAD_DEFAULT_CHUNK_SIZE", 5 * MIB, minimum=1)
        max_chunk = reader.integer("UPLOAD_MAX_CHUNK_SIZE", 16 * MIB, minimum=256 * 1024)
        if default_chunk > max_chunk:
            raise ConfigError("UPLOAD_DEFAULT_CHUNK_SIZE", "must not exceed UPLOAD_MAX_CHUNK_SIZE")
        return cls(
            data_dir=data_dir,
            database_url=reader.database_url(data_dir),
            redis_url=reader.optional("REDIS_URL", prefixes=("redis://", "rediss://", "unix://")),
            redis_prefix=reader.name("DRIVE_REDIS_PREFIX", "drive"),
            listen=reader.listen("DRIVE_LISTEN", "127.0.0.1:50051"),
            uploads_path=Path(reader.text("STORAGE_UPLOADS_PATH", str(data_dir / "uploads"))).resolve(),
            preferred_pool=reader.optional("STORAGE_PREFERRED_REMOTE"),
            default_chunk_size=default_chunk,
            max_chunk_size=max_chunk,
            stale_threshold_hours=reader.number("UPLOAD_STALE_THRESHOLD_HOURS", 24),
            cleanup_interval_minutes=reader.number("UPLOAD_CLEANUP_INTERVAL_MINUTES", 60),
            cache_duration_minutes=reader.number("UPLOAD_CACHE_DURATION_MINUTES", 30),
            task_retention_days=reader.number("TASK_RETENTION_DAYS", 30),
            expiry_sweep_seconds=reader.number("DRIVE_EXPIRY_SWEEP_SECONDS", 10),
            shutdown_grace_seconds=reader.number("DRIVE_SHUTDOWN_GRACE_SECONDS", 10),
            log_levels=reader.log_levels("LOG_LEVEL"),
            pools_file=reader.existing_file("DRIVE_POOLS_FILE"),
            default_quota_bytes=reader.integer("DRIVE_DEFAULT_QUOTA_BYTES", 10 * 1024 * MIB),
            upload_events=reader.flag("DRIVE_UPLOAD_EVENTS", True),
            max_buffered_chunks=reader.integer("DRIVE_MAX_BUFFERED_CHUNKS", 8, minimum=1),
            stream_idle_seconds=reader.number("DRIVE_STREAM_IDLE_SECONDS", 30),
            worker_enabled=reader.flag("DRIVE_WORKER", True),
            worker_concurrency=reader.integer("DRIVE_WORKER_CONCURRENCY", 4, minimum=1),
            worker_lease_seconds=reader.number("DRIVE_WORKER_LEASE_SECONDS", 30),
            worker_poll_ms=reader.number("DRIVE_WORKER_POLL_MS", 100),
            event_retention_hours=reader.number("DRIVE_EVENT_RETENTION_HOURS", 24),
            rate_limits=reader.rate_limits("DRIVE_RATE_LIMITS", max_chunk),
            metrics_listen=reader.listen("DRIVE_METRICS_LISTEN", "") or None,
            metrics_refresh_seconds=reader.number("DRIVE_METRICS_REFRESH_SECONDS", 15),
            ring=reader.ring(),
            jwt=reader.jwt(data_dir),
            master_key=reader.master_key(data_dir),
        )


class _Reader:
    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env

    def text(self, name: str, default: str) -> str:
        return self._env.get(name, "").strip() or default

    def optional(self, name: str, prefixes: tuple[str, ...] = ()) -> str | None:
        value = self._env.get(name, "").strip() or None
        if value is not None and prefixes and not value.startswith(prefixes):
            raise ConfigError(name, f"must start with one of {', '.join(prefixes)}")
        return value

    def integer(self, name: str, default: int, *, minimum: int = 0) -> int:
        raw = self._env.get(name, "").strip()
        if not raw:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError(name, f"must be an integer, got {raw!r}") from None
        if value < minimum:
            raise ConfigError(name, f"must be at least {minimum}, got {value}")
        return value

    def number(self, name: str, default: float) -> float:
        raw = self._env.get(name, "").strip()
        if not raw:
            return float(default)
        try:
            value = float(raw)
        except ValueError:
            raise ConfigError(name, f"must be a number, got {raw!r}") from None
        if not value > 0:
            raise ConfigError(name, f"must be greater than 0, got {raw}")
        return value

    def flag(self, name: str, default: bool) -> bool:
        raw = self._env.get(name, "").strip().lower()
        if not raw:
            return default
        if raw not in {"1", "0", "true", "false", "yes", "no", "on", "off"}:
            raise ConfigError(name, f"must be true or false, got {raw!r}")
        return raw in {"1", "true", "yes", "on"}

    def existing_file(self, name: str) -> Path | None:
        raw = self._env.get(name, "").strip()
        if not raw:
            return None
        path = Path(raw).resolve()
        if not path.is_file():
            raise ConfigError(name, f"no such file: {raw}")
        return path

    def master_key(self, data_dir: Path) -> bytes:
        """``DRIVE_MASTER_KEY`` (32 bytes, base64) or the embedded key kept beside the database."""
        raw = self._env.get("DRIVE_MASTER_KEY", "").strip()
        if not raw:
            return base64.b64decode(
                _embedded_secret(
                    data_dir, "master-key", lambda: base64.b64encode(secrets.token_bytes(32)).decode()
                )
            )
        try:
            key = base64.b64decode(raw, validate=True)
        except ValueError:
            key = b""
        if len(key) != 32:
            raise ConfigError("DRIVE_MASTER_KEY", "must be 32 bytes encoded in base64")
        return key

    def listen(self, name: str, default: str) -> str:
        value = self.text(name, default)
        if not value:
            return value
        host, _, port = value.rpartition(":")
        if not host or not port.isdigit() or not 0 <= int(port) <= 65535:
            raise ConfigError(name, f"must be HOST:PORT, got {value!r}")
        return value

    def name(self, name: str, default: str) -> str:
        """A short identifier: letters, digits, ``.``, ``_`` and ``-``."""
        value = self.text(name, default)
        if not re.fullmatch(r"[A-Za-z0-9._-]{1,64}", value):
            raise ConfigError(name, f"must be 1-64 letters, digits, '.', '_' or '-', got {value!r}")
        return value

    def rate_limits(self, name: str, max_chunk: int) -> dict[str, RateLimit]:
        """``read=200/400,write=100/200,upload_bytes=R/B`` (per second / burst), or ``off``.

        Classes left out keep their default; the byte bucket must hold a whole chunk.
        """
        raw = self.text(name, _DEFAULT_RATE_LIMITS)
        if raw.lower() == "off":
            return {}
        limits = _parse_rate_limits(name, _DEFAULT_RATE_LIMITS)
        limits.update(_parse_rate_limits(name, raw))
        if limits["upload_bytes"].burst < max_chunk:
            raise ConfigError(name, "the upload_bytes burst must be at least UPLOAD_MAX_CHUNK_SIZE")
        return limits

    def ring(self) -> RingSettings:
        notifications = {
            event: (self.template(f"{prefix}_TITLE", title), self.template(f"{prefix}_BODY", body))
            for event, (prefix, title, body) in _NOTIFICATIONS.items()
        }
        retry_base = self.number("RING_RETRY_BASE_MS", 200) / 1000
        retry_max = self.number("RING_RETRY_MAX_MS", 30_000) / 1000
        if retry_max < retry_base:
            raise ConfigError("RING_RETRY_MAX_MS", "must not be less than RING_RETRY_BASE_MS")
        return RingSettings(
            address=self.listen("RING_SERVICE_ADDRESS", "") or None,
            topic=self.text("RING_NOTIFICATION_TOPIC", "drive.tasks"),
            notifications=notifications,
            queue_size=self.integer("RING_QUEUE_SIZE", 10_000, minimum=1),
            max_attempts=self.integer("RING_MAX_ATTEMPTS", 5, minimum=1),
            retry_base_seconds=retry_base,
            retry_max_seconds=retry_max,
            call_timeout_seconds=self.number("RING_CALL_TIMEOUT_MS", 5_000) / 1000,
        )

    def template(self, name: str, default: str) -> str:
        """A ``str.format`` template (``{fileName} is ready``) whose braces are balanced."""
        value = self.text(name, default)
        try:
            list(string.Formatter().parse(value))
        except ValueError as error:
            raise ConfigError(name, f"bad template {value!r}: {error}") from None
        return value

    def database_url(self, data_dir: Path) -> str:
        value = self._env.get("DATABASE_URL", "").strip()
        if not value:
            return f"sqlite+aiosqlite:///{data_dir / 'drive.db'}"
        if value.startswith(("postgres://", "postgresql://")):
            value = "postgresql+asyncpg://" + value.split("://", 1)[1]
        if not value.startswith(("postgresql+asyncpg://", "sqlite+aiosqlite://")):
            raise ConfigError("DATABASE_URL", "must be a postgresql+asyncpg:// or sqlite+aiosqlite:// URL")
        return value

    def log_levels(self, name: str) -> dict[str, int]:
        """``INFO`` or ``WARNING,drive_service.storage:DEBUG`` (the seed's ``logger:Level``)."""
        levels: dict[str, int] = {"": logging.INFO}
        for item in filter(None, (part.strip() for part in self._env.get(name, "").split(","))):
            logger, _, level = item.rpartition(":")
            number = logging.getLevelName(level.strip().upper())
            if not isinstance(number, int):
                raise ConfigError(name, f"unknown level {level!r}")
            levels[logger.strip()] = number
        return levels

    def jwt(self, data_dir: Path) -> JwtSettings:
        secret = self._env.get("DRIVE_JWT_SECRET", "").strip() or None
        key = self._env.get("DRIVE_JWT_PUBLIC_KEY", "").strip() or None
        if key is not None and not key.startswith("-----BEGIN"):
            path = Path(key)
            if not path.is_file():
                raise ConfigError("DRIVE_JWT_PUBLIC_KEY", "must be a PEM key or the path of one")
            key = path.read_text()
        if secret is None and key is None:
            secret = _embedded_secret(data_dir, "jwt-secret", lambda: secrets.token_urlsafe(48))
        default_algorithms = "RS256,ES256" if key else "HS256"
        algorithms = tuple(
            part.strip() for part in self.text("DRIVE_JWT_ALGORITHMS", default_algorithms).split(",")
        )
        allowed = {"HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256", "ES384", "PS256"}
        if not algorithms or not set(algorithms) <= allowed:
            raise ConfigError("DRIVE_JWT_ALGORITHMS", f"must be a comma list of {sorted(allowed)}")
        return JwtSettings(
            secret=secret,
            public_key=key,
            algorithms=algorithms,
            issuer=self.optional("DRIVE_JWT_ISSUER"),
            audience=self.optional("DRIVE_JWT_AUDIENCE"),
        )


def _parse_rate_limits(name: str, raw: str) -> dict[str, RateLimit]:
    limits: dict[str, RateLimit] = {}
    for item in filter(None, (part.strip() for part in raw.split(","))):
        kind, _, spec = item.partition("=")
        rate, _, burst = spec.partition("/")
        try:
            limit = RateLimit(float(rate), float(burst or rate))
        except ValueError:
            limit = RateLimit(0, 0)
        if kind.strip() not in RATE_CLASSES or not (limit.rate > 0 and limit.burst >= 1):
            raise ConfigError(name, f"expected CLASS=RATE/BURST with CLASS in {RATE_CLASSES}, got {item!r}")
        limits[kind.strip()] = limit
    return limits


def _embedded_secret(data_dir: Path, name: str, generate: Callable[[], str]) -> str:
    """A secret kept beside the database, created once with mode 0600 (embedded default)."""
    path = data_dir / name
    if path.is_file():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    secret = generate()
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process created it first
        return path.read_text().strip()
    with os.fdopen(descriptor, "w") as handle:
        handle.write(secret)
    return secret

"""Reading environment variables into typed values; a bad value raises ConfigError naming it."""

from __future__ import annotations

import base64
import logging
import os
import re
import secrets
import string
from collections.abc import Callable, Mapping
from pathlib import Path

from drive_service.domain.rate_limits import RateLimit
from drive_service.settings_table import VARIABLES


class ConfigError(Exception):
    """A configuration variable has an unusable value."""

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable}: {problem}")
        self.variable = variable


#: RPC classes with a per-account bucket; ``upload_bytes`` counts chunk bytes, not calls.
RATE_CLASSES = ("read", "write", "upload_bytes")
_DEFAULT_RATE_LIMITS = "read=200/400,write=100/200,upload_bytes=268435456/536870912"


class EnvReader:
    """Reads documented variables only: a name missing from ``settings_table`` is a bug here."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = _Documented(env)

    def raw(self, name: str) -> str:
        """The variable's value with surrounding blanks removed ("" when unset)."""
        return self._env.get(name, "").strip()

    def text(self, name: str, default: str) -> str:
        return self._env.get(name, "").strip() or default

    def optional(self, name: str, prefixes: tuple[str, ...] = ()) -> str | None:
        value = self._env.get(name, "").strip() or None
        if value is not None and prefixes and not value.startswith(prefixes):
            raise ConfigError(name, f"must start with one of {', '.join(prefixes)}")
        return value

    def integer(self, name: str, default: int, *, minimum: int = 0, maximum: int = 1 << 62) -> int:
        raw = self._env.get(name, "").strip()
        if not raw:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError(name, f"must be an integer, got {raw!r}") from None
        if value < minimum:
            raise ConfigError(name, f"must be at least {minimum}, got {value}")
        if value > maximum:
            raise ConfigError(name, f"must be at most {maximum}, got {value}")
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
                embedded_secret(
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


def embedded_secret(data_dir: Path, name: str, generate: Callable[[], str]) -> str:
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


class _Documented:
    """``env`` restricted to the documented variables (reading another name fails loudly)."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env

    def get(self, name: str, default: str = "") -> str:
        if name not in VARIABLES:
            raise KeyError(f"{name} is not documented in drive_service.settings_table")
        return self._env.get(name, default)

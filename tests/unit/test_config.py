"""Settings from the environment: defaults, seed variables, and one clear error per bad value."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest

from drive_service.config import ConfigError, Settings
from drive_service.domain.rate_limits import RateLimit


def test_defaults(tmp_path: Path) -> None:
    settings = Settings.from_env({"DRIVE_DATA_DIR": str(tmp_path)})
    assert settings.storage.database_url == f"sqlite+aiosqlite:///{tmp_path / 'drive.db'}"
    assert settings.server.listen == "127.0.0.1:50051"
    assert (settings.uploads.default_chunk_size, settings.uploads.max_chunk_size) == (5 * 2**20, 16 * 2**20)
    assert settings.redis.url is None
    assert settings.server.log_levels == {"": logging.INFO}
    assert settings.uploads.max_buffered_chunks == 8
    # The embedded secret is created once and reused, so tokens survive restarts.
    assert settings.jwt.secret == Settings.from_env({"DRIVE_DATA_DIR": str(tmp_path)}).jwt.secret
    assert (tmp_path / "jwt-secret").stat().st_mode & 0o777 == 0o600


def test_seed_variables_and_log_pairs(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {
            "DRIVE_DATA_DIR": str(tmp_path),
            "UPLOAD_DEFAULT_CHUNK_SIZE": "1048576",
            "UPLOAD_MAX_CHUNK_SIZE": "8388608",
            "UPLOAD_STALE_THRESHOLD_HOURS": "2",
            "DRIVE_MAX_BUFFERED_CHUNKS": "3",
            "LOG_LEVEL": "WARNING, DysonNetwork.Drive.Storage:Debug",
            "DATABASE_URL": "postgresql://u@h/db",
        }
    )
    assert (settings.uploads.default_chunk_size, settings.uploads.max_chunk_size) == (2**20, 8 * 2**20)
    assert settings.uploads.stale_threshold_hours == 2
    assert settings.uploads.max_buffered_chunks == 3
    assert settings.server.log_levels == {"": logging.WARNING, "DysonNetwork.Drive.Storage": logging.DEBUG}
    assert settings.storage.database_url == "postgresql+asyncpg://u@h/db"


def test_rate_limits_override_defaults_per_class(tmp_path: Path) -> None:
    settings = Settings.from_env({"DRIVE_DATA_DIR": str(tmp_path), "DRIVE_RATE_LIMITS": "read=5/10, write=1"})
    assert settings.rate_limits["read"] == RateLimit(5, 10)
    assert settings.rate_limits["write"] == RateLimit(1, 1)  # no burst: the rate
    assert settings.rate_limits["upload_bytes"] == RateLimit(268435456, 536870912)
    off = Settings.from_env({"DRIVE_DATA_DIR": str(tmp_path), "DRIVE_RATE_LIMITS": "off"})
    assert off.rate_limits == {}
    assert (
        off.tasks.event_retention_hours == 24
        and off.server.metrics_listen is None
        and off.ring.address is None
    )


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"UPLOAD_MAX_CHUNK_SIZE": "lots"}, "UPLOAD_MAX_CHUNK_SIZE"),
        ({"UPLOAD_MAX_CHUNK_SIZE": "1024"}, "UPLOAD_MAX_CHUNK_SIZE"),
        ({"UPLOAD_DEFAULT_CHUNK_SIZE": "99999999"}, "UPLOAD_DEFAULT_CHUNK_SIZE"),
        ({"UPLOAD_STALE_THRESHOLD_HOURS": "-1"}, "UPLOAD_STALE_THRESHOLD_HOURS"),
        ({"DRIVE_LISTEN": "nowhere"}, "DRIVE_LISTEN"),
        ({"DRIVE_MAX_BUFFERED_CHUNKS": "0"}, "DRIVE_MAX_BUFFERED_CHUNKS"),
        ({"DATABASE_URL": "mysql://x"}, "DATABASE_URL"),
        ({"REDIS_URL": "http://x"}, "REDIS_URL"),
        ({"LOG_LEVEL": "app:LOUD"}, "LOG_LEVEL"),
        ({"DRIVE_JWT_PUBLIC_KEY": "/no/such/key.pem"}, "DRIVE_JWT_PUBLIC_KEY"),
        ({"DRIVE_JWT_ALGORITHMS": "none"}, "DRIVE_JWT_ALGORITHMS"),
        ({"DRIVE_RATE_LIMITS": "reads=5/10"}, "DRIVE_RATE_LIMITS"),
        ({"DRIVE_RATE_LIMITS": "read=0/10"}, "DRIVE_RATE_LIMITS"),
        ({"DRIVE_RATE_LIMITS": "read=fast"}, "DRIVE_RATE_LIMITS"),
        ({"DRIVE_RATE_LIMITS": "upload_bytes=1000000/1000000"}, "DRIVE_RATE_LIMITS"),
        ({"DRIVE_EVENT_RETENTION_HOURS": "0"}, "DRIVE_EVENT_RETENTION_HOURS"),
        ({"DRIVE_METRICS_LISTEN": "9090"}, "DRIVE_METRICS_LISTEN"),
        ({"RING_SERVICE_ADDRESS": "ring"}, "RING_SERVICE_ADDRESS"),
        ({"DRIVE_REDIS_PREFIX": "drive events"}, "DRIVE_REDIS_PREFIX"),
    ],
)
def test_bad_values_name_the_variable(tmp_path: Path, env: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"DRIVE_DATA_DIR": str(tmp_path), **env})
    assert caught.value.variable == variable


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("UPLOAD_MAX_CHUNK_SIZE", "huge"),
        ("DRIVE_POOLS_FILE", "pools.toml"),  # written below: a pool without an id
        ("DRIVE_POOLS_FILE", "missing.toml"),
    ],
)
def test_serve_refuses_bad_configuration_with_one_line(tmp_path: Path, variable: str, value: str) -> None:
    (tmp_path / "pools.toml").write_text('[[pools]]\nname = "no id"\n')
    if variable == "DRIVE_POOLS_FILE":
        value = str(tmp_path / value)
    result = subprocess.run(
        [sys.executable, "-m", "drive_service", "serve"],
        env={"DRIVE_DATA_DIR": str(tmp_path), variable: value, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert variable in lines[0]

"""Pools from ``DRIVE_POOLS_FILE`` (TOML or JSON), or one default local pool."""

from __future__ import annotations

import json
import tomllib
import uuid
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path
from typing import Any

from drive_service.domain.pools import S3_MIN_PART_SIZE, ObjectStorage, Pool, PoolPolicy
from drive_service.env_reader import ConfigError
from drive_service.errors import PoolNotFound

VARIABLE = "DRIVE_POOLS_FILE"
#: Id of the pool created when no pools file is given (unless STORAGE_PREFERRED_REMOTE names one).
DEFAULT_POOL_ID = "00000000-0000-4000-8000-000000000001"
#: The keys an s3 ``storage`` table may have.
_S3_KEYS = frozenset(
    {"kind", "bucket", "prefix", "endpoint", "region", "addressing", "min_part_size"}
    | {"access_key_id", "secret_access_key"}
)


class PoolRegistry:
    """The configured pools, by id, and the default one."""

    def __init__(self, pools: Iterable[Pool], default_id: str) -> None:
        self._pools = {pool.id: pool for pool in pools}
        if default_id not in self._pools:
            raise ConfigError("STORAGE_PREFERRED_REMOTE", f"names no configured pool ({default_id})")
        self.default_id = default_id

    def get(self, pool_id: str | None) -> Pool:
        """The pool with this id (empty = the default).

        Raises:
            NotFound: reason POOL_NOT_FOUND.
        """
        pool = self._pools.get(pool_id or self.default_id)
        if pool is None:
            raise PoolNotFound(pool_id)
        return pool

    def all(self) -> list[Pool]:
        """Every pool, in configuration order."""
        return list(self._pools.values())


def load_pools(path: Path | None, data_dir: Path, preferred: str | None) -> PoolRegistry:
    """Read the pools file, or make one public local pool under ``data_dir/pools``.

    Raises:
        ConfigError: the file is unreadable or a pool entry is invalid (names DRIVE_POOLS_FILE).
    """
    if path is None:
        pool_id = preferred or DEFAULT_POOL_ID
        default = Pool(pool_id, "Default", "Local disk pool", data_dir / "pools" / pool_id, PoolPolicy())
        return PoolRegistry([default], pool_id)
    try:
        text = path.read_text()
        document = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except (OSError, ValueError) as error:
        raise ConfigError(VARIABLE, f"cannot read {path}: {error}") from None
    entries = document.get("pools") if isinstance(document, dict) else None
    if not isinstance(entries, list) or not entries:
        raise ConfigError(VARIABLE, "must define a non-empty list `pools`")
    pools = [_pool(entry, index, path.parent, data_dir) for index, entry in enumerate(entries)]
    if len({pool.id for pool in pools}) != len(pools):
        raise ConfigError(VARIABLE, "pool ids must be unique")
    return PoolRegistry(pools, preferred or pools[0].id)


def _object_storage(storage: dict[str, Any]) -> ObjectStorage:
    """An s3 ``storage`` table. Only its shape is checked here: a bucket that cannot be used is
    reported by the pool's health, not at start."""
    unknown = sorted(set(storage) - _S3_KEYS)
    if unknown:
        raise ValueError(f"unknown storage keys {unknown}")

    def text(name: str) -> str | None:
        value = storage.get(name)
        if value is not None and not isinstance(value, str):
            raise ValueError(f"storage.{name} must be a string")
        return value

    return ObjectStorage(
        bucket=str(storage["bucket"]),
        prefix=text("prefix") or "",
        endpoint=text("endpoint"),
        region=text("region"),
        access_key_id=text("access_key_id"),
        secret_access_key=text("secret_access_key"),
        addressing=text("addressing"),
        min_part_size=int(storage.get("min_part_size", S3_MIN_PART_SIZE)),
    )


def _pool(entry: Any, index: int, base: Path, data_dir: Path) -> Pool:
    where = f"pools[{index}]"
    try:
        pool_id = str(uuid.UUID(str(entry["id"])))
        storage = entry.get("storage", {})
        kind = storage.get("kind", "local")
        if kind not in ("local", "s3"):
            raise ValueError(f"storage.kind must be 'local' or 's3', not {kind!r}")
        remote = _object_storage(storage) if kind == "s3" else None
        root = base / str(storage["path"]) if remote is None else data_dir / "pools" / pool_id
        policy = entry.get("policy", {})
        expiry_days = policy.get("default_expiry_days")
        owner = entry.get("owner")
        return Pool(
            id=pool_id,
            name=str(entry.get("name", pool_id)),
            description=str(entry.get("description", "")),
            root=root.resolve(),
            policy=PoolPolicy(
                max_file_size=int(policy.get("max_file_size", 0)),
                accept_types=tuple(str(item) for item in policy.get("accept_types", ())),
                allow_encryption=bool(policy.get("allow_encryption", True)),
                require_privilege=int(policy.get("require_privilege", 0)),
                public_usable=bool(policy.get("public_usable", True)),
                hidden=bool(policy.get("hidden", False)),
                default_expiry=None if expiry_days is None else timedelta(days=float(expiry_days)),
            ),
            cost_multiplier=float(entry.get("billing", {}).get("cost_multiplier", 1.0)),
            owner_account_id=None if owner is None else str(uuid.UUID(str(owner))),
            remote=remote,
        )
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise ConfigError(VARIABLE, f"{where} is invalid: {error}") from None

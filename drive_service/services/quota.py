"""The quota rule, shared by upload creation, completion and task outputs."""

from __future__ import annotations

from drive_service.domain.files import Usage
from drive_service.errors import QuotaExceeded
from drive_service.pools import PoolRegistry
from drive_service.services.ports import FileStore


async def check_quota(
    files: FileStore, pools: PoolRegistry, account_id: str, additional: float, default_quota: int
) -> None:
    """Stored bytes times pool cost plus in-flight reservations plus ``additional`` must fit the quota.

    Raises:
        PermissionDenied: QUOTA_EXCEEDED, with the figures in the ErrorInfo metadata.
    """
    require_quota(await files.usage(account_id, cost_multipliers(pools), default_quota), additional)


def cost_multipliers(pools: PoolRegistry) -> dict[str, float]:
    """Each pool's cost multiplier, by pool id."""
    return {pool.id: pool.cost_multiplier for pool in pools.all()}


def require_quota(usage: Usage, additional: float) -> None:
    """The quota rule on an account's ``usage`` already read.

    Raises:
        PermissionDenied: QUOTA_EXCEEDED, with the figures in the ErrorInfo metadata.
    """
    if not usage.check(int(additional)):
        raise QuotaExceeded(usage.quota_bytes, usage.used_bytes, usage.reserved_bytes)

"""The quota rule of DESIGN §4, shared by upload creation and completion."""

from __future__ import annotations

from drive_service.errors import PermissionDenied
from drive_service.pools import PoolRegistry
from drive_service.services.ports import FileStore


async def check_quota(
    files: FileStore, pools: PoolRegistry, account_id: str, additional: float, default_quota: int
) -> None:
    """Stored bytes times pool cost plus in-flight reservations plus ``additional`` must fit the quota.

    Raises:
        PermissionDenied: QUOTA_EXCEEDED, with the figures in the ErrorInfo metadata.
    """
    multipliers = {pool.id: pool.cost_multiplier for pool in pools.all()}
    usage = await files.usage(account_id, multipliers, default_quota)
    if not usage.check(int(additional)):
        raise PermissionDenied(
            "The upload would exceed the account's quota.",
            reason="QUOTA_EXCEEDED",
            quota_bytes=usage.quota_bytes,
            used_bytes=usage.used_bytes,
            reserved_bytes=usage.reserved_bytes,
        )

"""FileMove: the account's files to another pool and/or bundle; plus the helpers every file handler
shares (parameter parsing, destination checks).

Parameters: ``fileIds`` (1..10,000 ids), ``targetPoolId`` and/or ``targetBundleId`` (at least one).
Results: ``filesProcessed``, ``movedFileIds``. Every file is checked before the first one moves, so
bad input fails the task with nothing moved. A move is idempotent (a file already in the target
stays where it is), so the checkpoint ``{"index": n}`` (files before ``n`` are done) is enough.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING, Any, Protocol, cast

from drive_service.domain.files import Bundle
from drive_service.domain.pools import Pool
from drive_service.domain.tasks import TaskType
from drive_service.errors import PermissionDenied
from drive_service.services.handlers import TaskContext, TaskFailed

if TYPE_CHECKING:
    from drive_service.services.file_ops import FileOps

#: Most ids a task may name (FileMove, BulkOperation, FileEncrypt, FileDecrypt).
MAX_ITEMS = 10_000
#: Longest id accepted; longer strings are no id we issued and are not echoed back.
MAX_ID_LENGTH = 64


class Lookups(Protocol):
    """FileOps methods the file handlers need beyond ``get``/``create``/``move`` (see each doc)."""

    def pool(self, pool_id: str) -> Pool:
        """The configured pool. Raises TaskFailed when no pool has this id."""

    async def bundle(self, bundle_id: str) -> Bundle:
        """The account's bundle. Raises TaskFailed when unknown or another account's."""

    async def discard_outputs_except(self, keep: Collection[str]) -> int:
        """Delete this task's hidden outputs not in ``keep`` (made by an attempt that stopped before
        recording them); lease-checked like ``create``. Returns how many were deleted."""


def lookups(files: FileOps) -> Lookups:
    """``files`` seen through :class:`Lookups`."""
    return cast(Lookups, files)


def id_list(parameters: dict[str, Any], key: str, *, limit: int = MAX_ITEMS) -> list[str]:
    """The ids under ``key``: a non-empty list of id strings, duplicates dropped, order kept."""
    value = parameters.get(key)
    if not isinstance(value, list) or not value:
        raise TaskFailed(f"{key} must be a non-empty list of file ids.")
    if len(value) > limit:
        raise TaskFailed(f"{key} holds {len(value)} ids; at most {limit} are allowed.")
    if not all(isinstance(item, str) and 0 < len(item) <= MAX_ID_LENGTH for item in value):
        raise TaskFailed(f"{key} must hold only file ids (strings of 1 to {MAX_ID_LENGTH} characters).")
    return list(dict.fromkeys(value))


def optional_id(parameters: dict[str, Any], key: str) -> str | None:
    """The id under ``key``, or None when absent, null or empty."""
    value = parameters.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > MAX_ID_LENGTH:
        raise TaskFailed(f"{key} must be an id (a string of 1 to {MAX_ID_LENGTH} characters).")
    return value


def flag(parameters: dict[str, Any], key: str, default: bool) -> bool:
    """The boolean under ``key`` (``default`` when absent or null)."""
    value = parameters.get(key)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise TaskFailed(f"{key} must be true or false.")
    return value


def position(checkpoint: dict[str, Any], key: str, total: int) -> int:
    """A count saved in the checkpoint, 0 when absent or out of ``[0, total]``."""
    value = checkpoint.get(key)
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= total:
        return int(value)
    return 0


def usable_pool(files: FileOps, pool_id: str) -> Pool:
    """A pool the account may place files into (public or its own).

    Tasks do not know the caller's privilege tier, so a pool requiring one is refused rather
    than risk letting anyone in.

    Raises:
        TaskFailed: unknown pool, another account's private pool, a pool requiring privilege.
    """
    pool = lookups(files).pool(pool_id)
    if not (pool.policy.public_usable or pool.owner_account_id == files.account_id):
        raise TaskFailed(f"Pool {pool.id} is not available to this account.")
    if pool.policy.require_privilege > 0:
        raise TaskFailed(
            f"Pool {pool.id} requires privilege tier {pool.policy.require_privilege}, "
            "which background tasks cannot verify."
        )
    return pool


def check_placement(pool: Pool, account_id: str, *, size: int, mime_type: str, encrypted: bool) -> None:
    """Apply the pool's content rules (encryption, types, size) to a file placed into it.

    Who may use the pool is :func:`usable_pool`'s concern (or, for a file's own pool, settled
    when it was uploaded).

    Raises:
        TaskFailed: the pool's policy refuses the file.
    """
    try:
        pool.check_upload(
            # Usability is settled; these two only get past check_upload's own usability test.
            account_id=pool.owner_account_id or account_id,
            tier=pool.policy.require_privilege,
            size=size,
            content_type=mime_type,
            encrypted=encrypted,
        )
    except PermissionDenied as refusal:
        raise TaskFailed(refusal.message) from None


class FileMoveHandler:
    """Runs FileMove tasks (see the module docstring for the contract)."""

    task_type = TaskType.FILE_MOVE

    async def run(self, ctx: TaskContext) -> dict[str, Any]:
        """Move every file, reporting and checkpointing after each.

        Raises:
            TaskFailed: bad parameters, a missing file, an unknown or unusable pool or bundle, or
                a file the target pool's policy refuses (all found before anything moves).
        """
        file_ids = id_list(ctx.parameters, "fileIds")
        pool_id = optional_id(ctx.parameters, "targetPoolId")
        bundle_id = optional_id(ctx.parameters, "targetBundleId")
        if pool_id is None and bundle_id is None:
            raise TaskFailed("Give targetPoolId, targetBundleId or both.")
        target = usable_pool(ctx.files, pool_id) if pool_id is not None else None
        if bundle_id is not None:
            await lookups(ctx.files).bundle(bundle_id)
        total = len(file_ids)
        start = position(ctx.checkpoint, "index", total)
        pending = [await ctx.files.get(file_id) for file_id in file_ids[start:]]
        if target is not None:
            for file in pending:
                if file.pool_id != target.id:
                    check_placement(
                        target,
                        ctx.files.account_id,
                        size=file.size,
                        mime_type=file.mime_type,
                        encrypted=file.encrypted,
                    )
        for done, file in enumerate(pending, start=start + 1):
            await ctx.files.move(file.id, pool_id, bundle_id)
            await ctx.report(done / total * 100, f"Moved {done} of {total} files", {"index": done})
        return {"filesProcessed": total, "movedFileIds": file_ids}

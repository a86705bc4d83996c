"""StorageMigration: every file of the task's account in one pool moved to another, resumably.

Parameters: ``sourcePoolId``, ``targetPoolId`` (both configured and different; the target must be
usable by the account). Results: ``filesMigrated``, ``bytesMigrated`` (the files' sizes),
``filesSkipped`` and ``skipped`` (the first 100 as ``[{"id", "reason"}]``: files the target pool's
policy refuses stay where they are).

Only the account's own files move: ``ctx.files`` is scoped to it, so other accounts' files in the
same pool (even sharing a blob with ours) are never touched. Files are visited in ascending id
order, a page at a time (``FileOps.list_ids``); a moved file leaves the source pool, so a resumed
attempt never copies it again. Before moving a file the handler checkpoints ``{"after": last settled
id, "moving": id, "filesMigrated", "bytesMigrated", "filesSkipped", "skipped"}``; a resumed attempt
counts ``moving`` as migrated when it finds that file in the target pool.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from drive_service.domain.files import StoredFile
from drive_service.domain.pools import Pool
from drive_service.domain.tasks import TaskType
from drive_service.services.handlers import TaskContext, TaskFailed
from drive_service.services.handlers.move import check_placement, lookups, optional_id, usable_pool

#: Files listed per query while migrating, and while counting what is left.
BATCH = 100
COUNT_BATCH = 1000
#: Skipped files named in the results (all are counted).
LISTED_SKIPS = 100


@dataclass
class _State:
    """Where the migration stands; saved as the checkpoint."""

    after: str = ""
    migrated: int = 0
    migrated_bytes: int = 0
    skipped_count: int = 0
    skipped: list[dict[str, str]] = field(default_factory=list)

    @classmethod
    def load(cls, saved: dict[str, Any]) -> _State:
        def number(key: str) -> int:
            value = saved.get(key)
            return int(value) if isinstance(value, int | float) and value >= 0 else 0

        after = saved.get("after")
        skipped = saved.get("skipped")
        return cls(
            after=after if isinstance(after, str) else "",
            migrated=number("filesMigrated"),
            migrated_bytes=number("bytesMigrated"),
            skipped_count=number("filesSkipped"),
            skipped=[entry for entry in skipped if isinstance(entry, dict)]
            if isinstance(skipped, list)
            else [],
        )

    def saved(self, moving: str | None = None) -> dict[str, Any]:
        return {
            "after": self.after,
            "moving": moving,
            "filesMigrated": self.migrated,
            "bytesMigrated": self.migrated_bytes,
            "filesSkipped": self.skipped_count,
            "skipped": list(self.skipped),
        }

    def count(self, file: StoredFile) -> None:
        self.migrated += 1
        self.migrated_bytes += file.size

    def skip(self, file_id: str, reason: str) -> None:
        self.skipped_count += 1
        if len(self.skipped) < LISTED_SKIPS:
            self.skipped.append({"id": file_id, "reason": reason})


class StorageMigrationHandler:
    """Runs StorageMigration tasks (see the module docstring for the contract)."""

    task_type = TaskType.STORAGE_MIGRATION

    async def run(self, ctx: TaskContext) -> dict[str, Any]:
        """Move the account's files of the source pool, page by page, checkpointing each.

        Raises:
            TaskFailed: a pool id missing, unknown or the same for both; the target not usable.
        """
        source_id = _required_pool(ctx.parameters, "sourcePoolId")
        target_id = _required_pool(ctx.parameters, "targetPoolId")
        if source_id == target_id:
            raise TaskFailed("sourcePoolId and targetPoolId must be different pools.")
        lookups(ctx.files).pool(source_id)
        target = usable_pool(ctx.files, target_id)
        state = _State.load(ctx.checkpoint)
        moving = ctx.checkpoint.get("moving")
        if isinstance(moving, str):
            await _settle(ctx, state, moving, target)
        total = state.migrated + state.skipped_count + await _remaining(ctx, source_id, state.after)
        while True:
            page = await ctx.files.list_ids(source_id, state.after, BATCH)
            for file_id in page:
                await _migrate(ctx, state, file_id, target, total)
                state.after = file_id
            if len(page) < BATCH:
                break
        await ctx.report(100.0, _message(state, total), state.saved())
        return {
            "filesMigrated": state.migrated,
            "bytesMigrated": state.migrated_bytes,
            "filesSkipped": state.skipped_count,
            "skipped": state.skipped,
        }


async def _migrate(ctx: TaskContext, state: _State, file_id: str, target: Pool, total: int) -> None:
    """Move one file (or skip it when the target refuses it, or let it go when it vanished)."""
    try:
        file = await ctx.files.get(file_id)
    except TaskFailed:
        return  # deleted or expired since it was listed
    try:
        check_placement(
            target, ctx.files.account_id, size=file.size, mime_type=file.mime_type, encrypted=file.encrypted
        )
    except TaskFailed as refusal:
        state.skip(file_id, str(refusal))
        return
    done = state.migrated + state.skipped_count
    await ctx.report(done / max(total, 1) * 100, _message(state, total), state.saved(moving=file_id))
    try:
        await ctx.files.move(file_id, target.id, None)
    except TaskFailed:
        return  # deleted since it was read
    state.count(file)


async def _settle(ctx: TaskContext, state: _State, file_id: str, target: Pool) -> None:
    """Count the file a stopped attempt was moving if it did arrive in the target pool."""
    try:
        file = await ctx.files.get(file_id)
    except TaskFailed:
        return
    if file.pool_id == target.id:
        state.count(file)


async def _remaining(ctx: TaskContext, pool_id: str, after: str) -> int:
    """How many of the account's files in the pool come after ``after`` (for progress)."""
    count = 0
    while True:
        page = await ctx.files.list_ids(pool_id, after, COUNT_BATCH)
        count += len(page)
        if len(page) < COUNT_BATCH:
            return count
        after = page[-1]


def _required_pool(parameters: dict[str, Any], key: str) -> str:
    value = optional_id(parameters, key)
    if value is None:
        raise TaskFailed(f"{key} is required.")
    return value


def _message(state: _State, total: int) -> str:
    return f"Migrated {state.migrated} of {total} files"

"""BulkOperation: delete, move or set the expiry of many files of the account, with a result per file.

Parameters: ``operationType`` ("delete" | "move" | "setExpiry"), ``targetIds`` (1..10,000 file ids),
``operationParameters`` (move: ``targetPoolId`` and/or ``targetBundleId``; setExpiry: ``expiredAt``,
an ISO-8601 time with a UTC offset in the future, or null to clear the file's own expiry).
Results: ``operationType``, ``succeeded`` (ids), ``failed`` (``[{"id", "reason"}]``),
``succeededCount``, ``failedCount``.

A file that is missing, expired or another account's, or that the target pool's policy refuses,
fails on its own; bad parameters (unknown operation, unknown or unusable pool or bundle, bad time)
fail the task before any file is touched.

Resuming: before changing file ``i`` the handler checkpoints ``{"index": i, "failed": [...],
"inFlight": true}`` (files before ``i`` are settled, ``i`` was seen to exist); a missing file is
settled at once with ``{"index": i + 1, ...}``. A resumed attempt redoes the in-flight file: a
move or expiry change again is harmless, and a delete that finds it gone counts as done.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from drive_service.domain.files import StoredFile
from drive_service.domain.pools import Pool
from drive_service.domain.tasks import TaskType
from drive_service.domain.validation import deadline
from drive_service.errors import InvalidArgument
from drive_service.services.handlers import TaskContext, TaskFailed
from drive_service.services.handlers.move import (
    check_placement,
    id_list,
    lookups,
    optional_id,
    position,
    usable_pool,
)

OPERATIONS = ("delete", "move", "setExpiry")


@dataclass(frozen=True, slots=True)
class _Plan:
    """The validated operation."""

    operation: str
    pool_id: str | None = None
    bundle_id: str | None = None
    target: Pool | None = None
    expired_at: datetime | None = None


class BulkOperationHandler:
    """Runs BulkOperation tasks (see the module docstring for the contract)."""

    task_type = TaskType.BULK_OPERATION

    async def run(self, ctx: TaskContext) -> dict[str, Any]:
        """Apply the operation to each file in order, checkpointing before each change.

        Raises:
            TaskFailed: bad parameters (never a single file's failure).
        """
        ids = id_list(ctx.parameters, "targetIds")
        plan = await _plan(ctx)
        total = len(ids)
        start = position(ctx.checkpoint, "index", total)
        failed = _failures(ctx.checkpoint.get("failed")) if start else []
        in_flight = ctx.checkpoint.get("inFlight") is True
        for index in range(start, total):
            file_id = ids[index]
            try:
                file = await ctx.files.get(file_id)
            except TaskFailed as missing:
                if not (plan.operation == "delete" and in_flight and index == start):
                    failed.append({"id": file_id, "reason": str(missing)})
                # else: the stopped attempt deleted it after checkpointing that it existed.
                await ctx.report(
                    (index + 1) / total * 100, _message(plan, index + 1, total), _saved(index + 1, failed)
                )
                continue
            await ctx.report(index / total * 100, _message(plan, index, total), _saved(index, failed, True))
            try:
                await _apply(ctx, plan, file)
            except TaskFailed as refusal:
                failed.append({"id": file_id, "reason": str(refusal)})
        await ctx.report(100.0, _message(plan, total, total), _saved(total, failed))
        failed_ids = {failure["id"] for failure in failed}
        succeeded = [file_id for file_id in ids if file_id not in failed_ids]
        return {
            "operationType": plan.operation,
            "succeeded": succeeded,
            "failed": failed,
            "succeededCount": len(succeeded),
            "failedCount": len(failed),
        }


async def _plan(ctx: TaskContext) -> _Plan:
    """Validate ``operationType`` and ``operationParameters``.

    Raises:
        TaskFailed: unknown operation, missing or unusable target, malformed or past time.
    """
    operation = ctx.parameters.get("operationType")
    if not isinstance(operation, str) or operation not in OPERATIONS:
        shown = repr(operation)[:40] if isinstance(operation, str) else "missing or not a string"
        raise TaskFailed(f"Unknown operationType {shown}; use one of: {', '.join(OPERATIONS)}.")
    options = ctx.parameters.get("operationParameters")
    if options is None:
        options = {}
    if not isinstance(options, dict):
        raise TaskFailed("operationParameters must be an object.")
    if operation == "move":
        pool_id = optional_id(options, "targetPoolId")
        bundle_id = optional_id(options, "targetBundleId")
        if pool_id is None and bundle_id is None:
            raise TaskFailed("A move needs operationParameters.targetPoolId, targetBundleId or both.")
        target = usable_pool(ctx.files, pool_id) if pool_id is not None else None
        if bundle_id is not None:
            await lookups(ctx.files).bundle(bundle_id)
        return _Plan(operation, pool_id, bundle_id, target)
    if operation == "setExpiry":
        if "expiredAt" not in options:
            raise TaskFailed("setExpiry needs operationParameters.expiredAt (a time, or null to clear).")
        return _Plan(operation, expired_at=_expiry(options["expiredAt"]))
    return _Plan(operation)


def _expiry(value: object) -> datetime | None:
    """An ISO-8601 time with an offset, in the future (wall clock) and within 100 years, or None."""
    if value is None:
        return None
    problem = "operationParameters.expiredAt must be an ISO-8601 time with a UTC offset, or null."
    out_of_range = "operationParameters.expiredAt must be in the future, and within 100 years."
    if not isinstance(value, str) or len(value) > 64:
        raise TaskFailed(problem)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise TaskFailed(problem) from None
    if moment.tzinfo is None:
        raise TaskFailed(problem)
    try:
        return deadline(moment.astimezone(UTC), now=datetime.now(UTC))
    except (OverflowError, InvalidArgument):  # beyond what a datetime holds in UTC, or too far
        raise TaskFailed(out_of_range) from None


async def _apply(ctx: TaskContext, plan: _Plan, file: StoredFile) -> None:
    """Change one file. Raises TaskFailed for this file only."""
    if plan.operation == "delete":
        await ctx.files.delete(file.id)
    elif plan.operation == "move":
        if plan.target is not None and file.pool_id != plan.target.id:
            check_placement(
                plan.target,
                ctx.files.account_id,
                size=file.size,
                mime_type=file.mime_type,
                encrypted=file.encrypted,
            )
        await ctx.files.move(file.id, plan.pool_id, plan.bundle_id)
    else:
        await ctx.files.set_expiry(file.id, plan.expired_at)


def _failures(saved: object) -> list[dict[str, str]]:
    """The per-file failures of a checkpoint (malformed entries dropped)."""
    if not isinstance(saved, list):
        return []
    return [
        {"id": entry["id"], "reason": entry["reason"]}
        for entry in saved
        if isinstance(entry, dict)
        and isinstance(entry.get("id"), str)
        and isinstance(entry.get("reason"), str)
    ]


def _saved(index: int, failed: list[dict[str, str]], in_flight: bool = False) -> dict[str, Any]:
    return {"index": index, "failed": list(failed), "inFlight": in_flight}


def _message(plan: _Plan, done: int, total: int) -> str:
    verb = {"delete": "Deleted", "move": "Moved", "setExpiry": "Updated"}[plan.operation]
    return f"{verb} {done} of {total} files"

"""FileEncrypt and FileDecrypt: a new encrypted (or plain) copy of each file, same at-rest format as
uploads.

Parameters: ``fileIds`` (1..10,000 ids), ``password`` (required; never written to results,
messages, checkpoints or logs), ``deleteOriginal`` (default false). Results: ``resultFileIds`` (in
the order of ``fileIds``), ``filesProcessed``.

Each copy keeps the original's name, type, pool and bundle, and its content is checked against the
original's SHA-256 before the task can complete. Encrypting an encrypted file, decrypting a plain
one, a wrong password, a missing file or a pool whose policy refuses the copy fails the task; the
copies made so far are never shown (outputs stay hidden until the task completes).

Originals are deleted, when asked, only after every copy exists. Checkpoint: ``{"outputs": [ids of
the copies made], "phase": "copy" | "delete"}``; a resumed attempt first discards copies a stopped
attempt made but did not record, then continues with the next file (or the deletions).
"""

from __future__ import annotations

from typing import Any

from drive_service.domain.files import StoredFile
from drive_service.domain.tasks import TaskType
from drive_service.services.handlers import TaskContext, TaskFailed
from drive_service.services.handlers.move import check_placement, flag, id_list, lookups


class _CopyHandler:
    """The common run of both handlers; ``encrypt`` says which way."""

    task_type: TaskType
    encrypt: bool

    async def run(self, ctx: TaskContext) -> dict[str, Any]:
        """Copy each file through the cipher, then delete the originals when asked.

        Raises:
            TaskFailed: bad parameters, a missing file, a file already in the wanted state,
                a wrong password, a policy or quota refusal, or content that fails its hash.
        """
        file_ids = id_list(ctx.parameters, "fileIds")
        password = ctx.parameters.get("password")
        if not isinstance(password, str) or not password:
            raise TaskFailed("password is required.")
        delete_original = flag(ctx.parameters, "deleteOriginal", False)
        outputs = _outputs(ctx.checkpoint.get("outputs"), len(file_ids))
        await lookups(ctx.files).discard_outputs_except(outputs)
        total = len(file_ids)
        if ctx.checkpoint.get("phase") != "delete":
            pending = [await ctx.files.get(file_id) for file_id in file_ids[len(outputs) :]]
            for file in pending:
                self._check(ctx, file)
            for file in pending:
                await ctx.report(
                    len(outputs) / total * 100, self._message(len(outputs), total), _saved(outputs, "copy")
                )
                outputs.append(await self._copy(ctx, file, password, len(outputs)))
        if delete_original:
            await ctx.report(99.0, "Deleting the originals", _saved(outputs, "delete"))
            for file_id in file_ids:
                try:
                    await ctx.files.delete(file_id)
                except TaskFailed:
                    continue  # deleted already (by an earlier attempt or its owner)
        await ctx.report(100.0, self._message(total, total), _saved(outputs, "done"))
        return {"resultFileIds": outputs, "filesProcessed": total}

    def _check(self, ctx: TaskContext, file: StoredFile) -> None:
        """Refuse a file already in the wanted state or whose pool would refuse the copy."""
        if self.encrypt and file.encrypted:
            raise TaskFailed(f"File {file.id} is already encrypted.")
        if not self.encrypt and not file.encrypted:
            raise TaskFailed(f"File {file.id} is not encrypted.")
        check_placement(
            lookups(ctx.files).pool(file.pool_id),
            ctx.files.account_id,
            size=file.size,
            mime_type=file.mime_type,
            encrypted=self.encrypt,
        )

    async def _copy(self, ctx: TaskContext, file: StoredFile, password: str, index: int) -> str:
        """Store the transformed copy of ``file`` (hidden until completion); return its id."""
        # A fresh name per file: a plain copy's blob may be a hard link to this path, so the path
        # must never be written again.
        plain = ctx.scratch / f"{index}.plain"
        try:
            await ctx.files.plain_copy(file, plain, None if self.encrypt else password)
            copy = await ctx.files.create(
                plain,
                file.name,
                file.mime_type,
                pool_id=file.pool_id,
                bundle_id=file.bundle_id,
                password=password if self.encrypt else None,
            )
        finally:
            plain.unlink(missing_ok=True)  # plaintext does not linger in scratch
        if (copy.hash, copy.size) != (file.hash, file.size):
            raise TaskFailed(f"The content of file {file.id} does not match its recorded hash.")
        return copy.id

    def _message(self, done: int, total: int) -> str:
        return f"{'Encrypted' if self.encrypt else 'Decrypted'} {done} of {total} files"


class FileEncryptHandler(_CopyHandler):
    """Runs FileEncrypt tasks: an encrypted copy of each plain file."""

    task_type = TaskType.FILE_ENCRYPT
    encrypt = True


class FileDecryptHandler(_CopyHandler):
    """Runs FileDecrypt tasks: a plain copy of each encrypted file."""

    task_type = TaskType.FILE_DECRYPT
    encrypt = False


def _outputs(saved: object, total: int) -> list[str]:
    """The copies a checkpoint records (none when it is malformed)."""
    if isinstance(saved, list) and len(saved) <= total and all(isinstance(item, str) for item in saved):
        return list(saved)
    return []


def _saved(outputs: list[str], phase: str) -> dict[str, Any]:
    return {"outputs": list(outputs), "phase": phase}

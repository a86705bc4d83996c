"""Completion of an upload: verify, store as a file, finish the task; one completer at a time."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import NoReturn

from drive_service import crypto
from drive_service.domain import events as ev
from drive_service.domain.events import Event
from drive_service.domain.files import StoredFile, Upload, new_file
from drive_service.domain.ids import new_id
from drive_service.domain.pools import Pool
from drive_service.domain.tasks import Action, Task, TaskStatus, next_status, require_in_progress
from drive_service.errors import (
    ChunksMissing,
    FailedPrecondition,
    FileNotFound,
    HashMismatch,
    InvalidArgument,
    TaskNotFound,
)
from drive_service.pools import PoolRegistry
from drive_service.services.digests import PrefixDigests
from drive_service.services.ports import (
    BlobStores,
    Clock,
    EventPublisher,
    FileStore,
    Staging,
    UploadStore,
    UploadUnit,
)
from drive_service.services.quota import cost_multipliers, require_quota
from drive_service.services.sealing import Sealing

#: How long a completion claim holds before another call may take over a crashed completer.
_COMPLETION_LEASE = timedelta(minutes=10)


@dataclass(frozen=True, slots=True)
class _Attempt:
    """How a completion attempt's first transaction ended."""

    file_id: str | None = None  # completed before: this file
    busy: bool = False  # another call is completing it
    mismatch: bool = False  # the known digest differs from the declared one
    claimed: tuple[Task, Upload] | None = None  # claimed for a completion that reads the bytes back
    done: StoredFile | None = None  # completed in the transaction


class UploadCompleter:
    """Turns a fully received upload into a file.

    When this process received every chunk of an unencrypted upload in order, their digest is
    known (PrefixDigests) and the whole completion is one transaction that keeps the upload row
    locked, so concurrent calls wait for its outcome. Otherwise the bytes must be read back (to
    hash or encrypt them), which takes long: the upload is first claimed with a token (a row
    update), so concurrent calls wait for one outcome instead of racing, and a crashed
    completer's claim lapses after a lease.
    """

    def __init__(
        self,
        store: UploadStore,
        files: FileStore,
        pools: PoolRegistry,
        blobs: BlobStores,
        events: EventPublisher,
        clock: Clock,
        *,
        master_key: bytes,
        default_quota: int,
        upload_events: bool,
        digests: PrefixDigests,
    ) -> None:
        self._store = store
        self._files = files
        self._pools = pools
        self._blobs = blobs
        self._events = events
        self._clock = clock
        self._master_key = master_key
        self._default_quota = default_quota
        self._upload_events = upload_events
        self._digests = digests

    async def complete(self, account_id: str, task_id: str, declared: str = "") -> StoredFile:
        """Verify and store the upload as a file; idempotent, and one file for concurrent calls.
        ``declared`` is the whole file's SHA-256 when the create left it empty (else it may repeat it).

        Raises:
            InvalidArgument: HASH_REQUIRED (no SHA-256 given at create or now), HASH_CONFLICT
                (another SHA-256 than the one given at create).
            FailedPrecondition: CHUNKS_MISSING, or INVALID_TASK_STATE.
            DataLoss: HASH_MISMATCH (the task is then Failed and its staging removed).
            PermissionDenied: QUOTA_EXCEEDED on the real size (the task stays retryable).
            Unavailable: storage or database trouble (the task stays retryable).
        """
        token = new_id()
        while True:
            attempt = await self._attempt(account_id, task_id, token, declared)
            if attempt.file_id is not None:
                return await self._file(account_id, attempt.file_id)
            if attempt.mismatch:
                await self._mismatch(account_id, task_id)
            if attempt.done is not None:
                return attempt.done
            if attempt.claimed is not None:
                break
            await asyncio.sleep(0.05)  # another call is completing it; its outcome is ours
        task, upload = attempt.claimed
        try:
            return await self._finish(task, upload, token)
        except BaseException:
            await self._release_completion(account_id, task_id, token)
            raise

    async def _attempt(self, account_id: str, task_id: str, token: str, declared: str) -> _Attempt:
        """Check the upload; complete it at once when its digest is known, else claim it."""
        async with self._store.unit(account_id) as unit:
            found = await unit.lock(task_id)
            if found is None:
                raise TaskNotFound(task_id)
            task, upload = found
            if task.status is TaskStatus.COMPLETED and upload.file_id:
                return _Attempt(file_id=upload.file_id)
            attempt = await self._check(unit, task, _with_hash(upload, declared), token)
        await self._events.publish(unit.changes)
        if attempt.done is not None:
            await self._finished(attempt.done.pool_id, task_id, adopted=True)
        return attempt

    async def _check(self, unit: UploadUnit, task: Task, upload: Upload, token: str) -> _Attempt:
        require_in_progress(task, "complete")
        now = self._clock()
        started = upload.completion_started_at
        if upload.completion_token is not None and started is not None and started > now - _COMPLETION_LEASE:
            return _Attempt(busy=True)
        # chunks_uploaded is counted in each receipt's own transaction: it is the receipt count.
        if upload.chunks_uploaded != upload.chunks_count:
            present = set(await unit.uploaded_chunks(task.task_id))
            raise ChunksMissing(task.task_id, [i for i in range(upload.chunks_count) if i not in present])
        known = None if upload.encrypted else self._digests.digest(task.task_id, upload.chunks_count)
        if known is None:
            claimed = dataclasses.replace(upload, completion_token=token, completion_started_at=now)
            await unit.apply(task.task_id, lambda task, _: (task, claimed, []))
            return _Attempt(claimed=(task, claimed))
        if known != (upload.hash, upload.file_size):
            return _Attempt(mismatch=True)
        pool = self._pools.get(upload.pool_id)
        staging = await self._staging(upload)
        sha256, size = known
        blob_key = self._blobs.of(pool.id).staged_key(staging, sha256)
        file = await self._store_file(unit, task, upload, pool, staging, blob_key, size, None)
        return _Attempt(done=file)

    async def _finish(self, task: Task, upload: Upload, token: str) -> StoredFile:
        """Complete a claimed upload by reading its bytes back: hash them, or encrypt them."""
        pool = self._pools.get(upload.pool_id)
        store = self._blobs.of(pool.id)
        staging = await self._staging(upload)
        if upload.encrypted:
            assert upload.wrapped_key is not None and upload.key_salt is not None
            key = crypto.unwrap_key(self._master_key, upload.wrapped_key)
            sealing = Sealing(store.read_staging(staging), key, upload.key_salt)
            blob_key, stored_size = await store.write_blob(sealing)
            sha256, size = sealing.sha256, sealing.size
        else:
            sha256, size = await store.hash_staging(staging)
            blob_key, stored_size = store.staged_key(staging, sha256), size
        if sha256 != upload.hash or size != upload.file_size:
            if upload.encrypted:
                await store.delete_blob(blob_key)
            await self._mismatch(task.account_id, task.task_id)
        async with self._store.unit(task.account_id) as unit:
            if await unit.lock(task.task_id) is None:
                raise TaskNotFound(task.task_id)
            file = await self._store_file(unit, task, upload, pool, staging, blob_key, stored_size, token)
        await self._events.publish(unit.changes)
        await self._finished(pool.id, task.task_id, adopted=not upload.encrypted)
        return file

    async def _store_file(
        self,
        unit: UploadUnit,
        task: Task,
        upload: Upload,
        pool: Pool,
        staging: Staging,
        blob_key: str,
        stored_size: int,
        token: str | None,
    ) -> StoredFile:
        """Re-check the quota, create the file row and finish the task, in ``unit``'s transaction.

        ``token``: the claim this completion holds (None: the unit holds the row lock throughout).
        """
        require_quota(await unit.usage(cost_multipliers(self._pools), self._default_quota), 0.0)
        bundle = await unit.bundle(upload.bundle_id) if upload.bundle_id is not None else None
        file = new_file(
            upload, pool.id, pool.policy.default_expiry, blob_key, stored_size, bundle, self._clock()
        )
        # The blob row stays locked until the commit: a concurrent deletion of the same content
        # waits, and a first reference puts the bytes in place meanwhile.
        if not await unit.reference_blob(file) and not upload.encrypted:
            await self._blobs.of(pool.id).adopt_staging(staging, blob_key)
        await unit.insert_file(file)

        def finish(task: Task, current: Upload) -> tuple[Task, Upload, Sequence[Event]]:
            if token is not None and current.completion_token != token:
                raise FailedPrecondition("Another call completed this upload.", reason="COMPLETION_CONFLICT")
            now = file.created_at
            done = dataclasses.replace(
                task,
                status=next_status(task.task_id, task.status, Action.COMPLETE),
                progress=100.0,
                results={
                    "fileId": file.id,
                    "fileName": file.name,
                    "fileSize": file.size,
                    "mimeType": file.mime_type,
                },
                completed_at=now,
                updated_at=now,
                last_activity=now,
            )
            done, events = ev.throttled_progress(done, now)
            events.append(ev.completed(done))
            if self._upload_events:
                events.append(ev.upload_completed(done, current, file.id))
            finished = dataclasses.replace(
                current,
                hash=upload.hash,  # given at completion, when the create left it empty
                file_id=file.id,
                completion_token=None,
                completion_started_at=None,
                wrapped_key=None,
            )
            return done, finished, events

        await unit.apply(task.task_id, finish)
        return file

    async def _staging(self, upload: Upload) -> Staging:
        """The upload's staging as its store needs it to finish: with each chunk's tag, if any."""
        if upload.staging_ref is None:
            return Staging(upload.task_id)
        tags = await self._store.part_tags(upload.task_id)
        return Staging(upload.task_id, upload.staging_ref, tuple(tags))

    async def _finished(self, pool_id: str, task_id: str, *, adopted: bool) -> None:
        self._digests.discard(task_id)
        await self._blobs.of(pool_id).discard_staging(task_id, adopted=adopted)

    async def _mismatch(self, account_id: str, task_id: str) -> NoReturn:
        """Fail the task (its staging goes) and raise HASH_MISMATCH."""

        def fail(task: Task, upload: Upload) -> tuple[Task, Upload, Sequence[Event]]:
            now = self._clock()
            done = dataclasses.replace(
                task,
                status=next_status(task_id, task.status, Action.FAIL),
                error_message="The uploaded data does not match the declared SHA-256.",
                completed_at=now,
                updated_at=now,
                last_activity=now,
            )
            events: list[Event] = [ev.failed(done)]
            if self._upload_events:
                events.append(ev.upload_failed(done, upload))
            released = dataclasses.replace(
                upload, wrapped_key=None, completion_token=None, completion_started_at=None
            )
            return done, released, events

        _, upload, changes = await self._store.change(account_id, task_id, fail)
        await self._events.publish(changes)
        await self._finished(upload.pool_id, task_id, adopted=False)
        raise HashMismatch(task_id)

    async def _release_completion(self, account_id: str, task_id: str, token: str) -> None:
        def release(task: Task, upload: Upload) -> tuple[Task, Upload, Sequence[Event]]:
            if upload.completion_token != token:
                return task, upload, []
            return task, dataclasses.replace(upload, completion_token=None, completion_started_at=None), []

        try:
            await self._store.change(account_id, task_id, release)
        except Exception:
            return

    async def _file(self, account_id: str, file_id: str) -> StoredFile:
        file = await self._files.get_file(account_id, file_id)
        if file is None:
            raise FileNotFound(file_id)
        return file


def _with_hash(upload: Upload, declared: str) -> Upload:
    """The upload with the SHA-256 its content must have: the create's, or ``declared``.

    Raises:
        InvalidArgument: HASH_REQUIRED when neither gave one, HASH_CONFLICT when they differ.
    """
    if upload.hash and declared and declared != upload.hash:
        raise InvalidArgument(
            "The SHA-256 differs from the one given when the upload was created.",
            reason="HASH_CONFLICT",
            field="hash",
            task_id=upload.task_id,
        )
    if not upload.hash and not declared:
        raise InvalidArgument(
            "The upload was created without a SHA-256: give it with CompleteUpload.",
            reason="HASH_REQUIRED",
            field="hash",
            task_id=upload.task_id,
        )
    return upload if upload.hash else dataclasses.replace(upload, hash=declared)

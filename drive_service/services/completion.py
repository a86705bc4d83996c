"""Completion of an upload: verify, store as a file, finish the task; one completer at a time."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from drive_service.domain import events as ev
from drive_service.domain.events import Event
from drive_service.domain.files import StoredFile, Upload, effective_expiry
from drive_service.domain.ids import new_id
from drive_service.domain.pools import Pool
from drive_service.domain.tasks import Action, Task, TaskStatus, next_status, require_in_progress
from drive_service.errors import DataLoss, FailedPrecondition, NotFound, TaskNotFound
from drive_service.pools import PoolRegistry
from drive_service.services.events import EventHub
from drive_service.services.ports import FileStore
from drive_service.services.quota import check_quota
from drive_service.storage import encryption
from drive_service.storage.blobs import LocalBlobStore
from drive_service.storage.uploads import SqlUploadStore

#: How long a completion claim holds before another call may take over a crashed completer.
_COMPLETION_LEASE = timedelta(minutes=10)
_MISSING_SHOWN = 50


class UploadCompleter:
    """Turns a fully received upload into a file.

    A completion first claims the upload with a token (a row update), so concurrent calls wait
    for one outcome instead of racing; a crashed completer's claim lapses after a lease.
    """

    def __init__(
        self,
        store: SqlUploadStore,
        files: FileStore,
        pools: PoolRegistry,
        blobs: LocalBlobStore,
        hub: EventHub,
        clock: Callable[[], datetime],
        *,
        master_key: bytes,
        default_quota: int,
        upload_events: bool,
    ) -> None:
        self._store = store
        self._files = files
        self._pools = pools
        self._blobs = blobs
        self._hub = hub
        self._clock = clock
        self._master_key = master_key
        self._default_quota = default_quota
        self._upload_events = upload_events

    async def complete(self, account_id: str, task_id: str) -> StoredFile:
        """Verify and store the upload as a file; idempotent, and one file for concurrent calls.

        Raises:
            FailedPrecondition: CHUNKS_MISSING, or INVALID_TASK_STATE.
            DataLoss: HASH_MISMATCH (the task is then Failed and its staging removed).
            PermissionDenied: QUOTA_EXCEEDED on the real size (the task stays retryable).
            Unavailable: storage or database trouble (the task stays retryable).
        """
        token = new_id()
        while True:
            found = await self._store.get(account_id, task_id)
            if found is None:
                raise TaskNotFound(task_id)
            task, upload = found
            if task.status is TaskStatus.COMPLETED and upload.file_id:
                return await self._file(account_id, upload.file_id)
            require_in_progress(task, "complete")
            if await self._claim_completion(account_id, task_id, token):
                break
            await asyncio.sleep(0.05)  # another call is completing it; its outcome is ours
        try:
            return await self._finish(task, upload, token)
        except BaseException:
            await self._release_completion(account_id, task_id, token)
            raise

    async def _finish(self, task: Task, upload: Upload, token: str) -> StoredFile:
        uploaded = await self._store.uploaded_chunks(task.task_id)
        if len(uploaded) != upload.chunks_count:
            present = set(uploaded)
            missing = [index for index in range(upload.chunks_count) if index not in present]
            raise FailedPrecondition(
                f"{len(missing)} chunks are missing.",
                reason="CHUNKS_MISSING",
                task_id=task.task_id,
                missing_count=len(missing),
                missing_chunks=",".join(map(str, missing[:_MISSING_SHOWN])),
            )
        pool = self._pools.get(upload.pool_id)
        staging = self._blobs.staging_file(task.task_id)
        if upload.encrypted:
            assert upload.wrapped_key is not None and upload.key_salt is not None
            key = encryption.unwrap_key(self._master_key, upload.wrapped_key)
            salt = upload.key_salt
            blob_key, (sha256, stored_size) = await self._blobs.write_blob(
                pool.root, lambda target: encryption.encrypt_file(staging, target, key=key, salt=salt)
            )
            # Every chunk had its exact length, so the staging file holds exactly file_size bytes.
            size = upload.file_size
        else:
            sha256, size = await self._blobs.hash_staging(task.task_id)
            blob_key, stored_size = sha256, size
        if sha256 != upload.hash or size != upload.file_size:
            if upload.encrypted:
                await self._blobs.delete_blob(pool.root, blob_key)
            await self._fail(
                task.account_id, task.task_id, "The uploaded data does not match the declared SHA-256."
            )
            raise DataLoss(
                "The uploaded data does not match the declared SHA-256 hash.",
                reason="HASH_MISMATCH",
                task_id=task.task_id,
            )
        await check_quota(self._files, self._pools, task.account_id, 0.0, self._default_quota)
        file = await self._new_file(task, upload, pool, blob_key, stored_size)

        async def place(existed: bool) -> None:
            if not upload.encrypted and not existed:
                await self._blobs.adopt_staging(task.task_id, pool.root, blob_key)

        def finish(task: Task, current: Upload) -> tuple[Task, Upload, Sequence[Event]]:
            if current.completion_token != token:
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
                current, file_id=file.id, completion_token=None, completion_started_at=None, wrapped_key=None
            )
            return done, finished, events

        _, _, recorded = await self._store.complete(task.account_id, task.task_id, file, place, finish)
        self._hub.publish(recorded)
        await self._blobs.discard_staging(task.task_id)
        return file

    async def _new_file(
        self, task: Task, upload: Upload, pool: Pool, blob_key: str, stored_size: int
    ) -> StoredFile:
        now = self._clock()
        bundle_expiry = None
        if upload.bundle_id is not None:
            bundle = await self._files.get_bundle(task.account_id, upload.bundle_id)
            bundle_expiry = bundle.expired_at if bundle is not None else None
        pool_expiry = now + pool.policy.default_expiry if pool.policy.default_expiry else None
        return StoredFile(
            id=new_id(),
            account_id=task.account_id,
            name=upload.file_name,
            description="",
            mime_type=upload.content_type,
            size=upload.file_size,
            hash=upload.hash,
            pool_id=pool.id,
            blob_key=blob_key,
            stored_size=stored_size,
            bundle_id=upload.bundle_id,
            encrypted=upload.encrypted,
            created_at=now,
            updated_at=now,
            uploaded_at=now,
            expired_at=effective_expiry(upload.file_expired_at, pool_expiry, bundle_expiry),
        )

    async def _fail(self, account_id: str, task_id: str, message: str) -> None:
        def fail(task: Task, upload: Upload) -> tuple[Task, Upload, Sequence[Event]]:
            now = self._clock()
            status = next_status(task_id, task.status, Action.FAIL)
            done = dataclasses.replace(
                task,
                status=status,
                error_message=message,
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

        _, _, recorded = await self._store.change(account_id, task_id, fail)
        self._hub.publish(recorded)
        await self._blobs.discard_staging(task_id)

    async def _claim_completion(self, account_id: str, task_id: str, token: str) -> bool:
        now = self._clock()
        claimed = False

        def claim(task: Task, upload: Upload) -> tuple[Task, Upload, Sequence[Event]]:
            nonlocal claimed
            busy = (
                upload.completion_started_at is not None
                and upload.completion_started_at > now - _COMPLETION_LEASE
            )
            if (upload.completion_token is not None and busy) or task.status is not TaskStatus.IN_PROGRESS:
                return task, upload, []
            claimed = True
            return task, dataclasses.replace(upload, completion_token=token, completion_started_at=now), []

        await self._store.change(account_id, task_id, claim)
        return claimed

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
            raise NotFound(f"File {file_id} was not found.", reason="FILE_NOT_FOUND", file_id=file_id)
        return file

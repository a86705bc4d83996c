"""UploadManager: create, receive chunks, complete, and manage resumable uploads."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta

import google_crc32c

from drive_service import crypto
from drive_service.domain import events as ev
from drive_service.domain import uploads as rules
from drive_service.domain import validation as valid
from drive_service.domain.events import Event
from drive_service.domain.files import Bundle, StoredFile, Upload
from drive_service.domain.ids import new_id
from drive_service.domain.pools import Pool
from drive_service.domain.tasks import Action, Task, TaskStatus, next_status
from drive_service.domain.uploads import UploadStats
from drive_service.errors import BundleNotFound, DriveError, InvalidTaskState, TaskNotFound
from drive_service.pools import PoolRegistry
from drive_service.services.buffers import FairBuffers
from drive_service.services.completion import UploadCompleter
from drive_service.services.digests import Feed, PrefixDigests
from drive_service.services.ports import BlobStores, Clock, Data, EventPublisher, FileStore, UploadStore
from drive_service.services.quota import check_quota, cost_multipliers, require_quota
from drive_service.services.receiving import Piece, StreamReceiver, StreamResult, split_file
from drive_service.services.tokens import Caller

_SPEED_WINDOW = timedelta(seconds=60)


@dataclass(frozen=True, slots=True)
class UploadLimits:
    """Settings that shape uploads."""

    default_chunk_size: int
    max_chunk_size: int
    default_quota: int
    master_key: bytes
    #: Largest file an upload may declare (UPLOAD_MAX_FILE_SIZE).
    max_file_size: int = 1 << 40
    upload_events: bool = True
    #: Chunk buffers that UploadChunks streams may gather or write at once (process-wide), and
    #: of those, what the streams of one account may hold.
    max_buffered_chunks: int = 8
    max_buffered_chunks_per_account: int = 4


@dataclass(frozen=True, slots=True)
class Created:
    """CreateUploadTask's answer: an existing file (dedup) or a new task."""

    file: StoredFile | None = None
    task: Task | None = None
    upload: Upload | None = None


class UploadManager:
    """The use cases of UploadService; each write's events are published right after its commit."""

    def __init__(
        self,
        store: UploadStore,
        files: FileStore,
        pools: PoolRegistry,
        blobs: BlobStores,
        events: EventPublisher,
        clock: Clock,
        limits: UploadLimits,
    ) -> None:
        self._store = store
        self._files = files
        self._pools = pools
        self._blobs = blobs
        self._events = events
        self._clock = clock
        self._limits = limits
        self._buffers = FairBuffers(limits.max_buffered_chunks, limits.max_buffered_chunks_per_account)
        self._digests = PrefixDigests()
        self._completer = UploadCompleter(
            store,
            files,
            pools,
            blobs,
            events,
            clock,
            master_key=limits.master_key,
            default_quota=limits.default_quota,
            upload_events=limits.upload_events,
            digests=self._digests,
        )

    async def create(self, caller: Caller, request: rules.UploadRequest) -> Created:
        """Check the request (shape, pool, policy, bundle, quota), answer a dedup hit, or start
        an upload (an IN_PROGRESS task; ``task.created`` is sent)."""
        name = rules.file_name(request.file_name)
        size = rules.file_size(request.file_size, self._limits.max_file_size)
        content_type = rules.content_type(request.content_type)
        sha256 = rules.sha256_hex(request.hash)
        plan = rules.chunk_plan(
            size,
            request.chunk_size,
            default=self._limits.default_chunk_size,
            maximum=self._limits.max_chunk_size,
        )
        now = self._clock()
        valid.deadline(request.expired_at, now=now)
        pool = self._pools.get(request.pool_id or None)
        encrypted = bool(rules.password(request.encrypt_password))
        pool.check_upload(
            account_id=caller.account_id,
            tier=caller.tier,
            size=size,
            content_type=content_type,
            encrypted=encrypted,
        )
        bundle_id = valid.bundle_id(request.bundle_id) if request.bundle_id else None
        cost = size * pool.cost_multiplier
        wrapped_key = salt = None
        if encrypted:
            # Checked before the deliberately slow key derivation, and again when stored.
            if bundle_id is not None and await self._files.get_bundle(caller.account_id, bundle_id) is None:
                raise BundleNotFound(bundle_id)
            await check_quota(self._files, self._pools, caller.account_id, cost, self._limits.default_quota)
            salt = crypto.new_salt()
            key = await asyncio.to_thread(crypto.derive_key, request.encrypt_password, salt)
            wrapped_key = crypto.wrap_key(self._limits.master_key, key)
        task, upload = rules.new_upload(
            task_id=new_id(),
            account_id=caller.account_id,
            name=name,
            size=size,
            content_type=content_type,
            plan=plan,
            pool_id=pool.id,
            bundle_id=bundle_id,
            sha256=sha256,
            wrapped_key=wrapped_key,
            salt=salt,
            file_expired_at=request.expired_at,
            now=now,
        )
        # Bundle, quota, dedup and the new rows in one transaction.
        async with self._store.unit(caller.account_id) as unit:
            if bundle_id is not None and await unit.bundle(bundle_id) is None:
                raise BundleNotFound(bundle_id)
            require_quota(await unit.usage(cost_multipliers(self._pools), self._limits.default_quota), cost)
            existing = None if encrypted else await unit.find_file(sha256, size, now)
            if existing is None:
                await unit.insert(task, upload, [ev.created(task)])
        if existing is not None:
            return Created(file=existing)
        await self._events.publish(unit.changes)
        return Created(task=task, upload=upload)

    async def get(self, account_id: str, task_id: str) -> tuple[Task, Upload]:
        """The caller's upload. Raises TaskNotFound."""
        found = await self._store.get(account_id, task_id)
        if found is None:
            raise TaskNotFound(task_id)
        return found

    async def upload_chunk(
        self,
        account_id: str,
        task_id: str,
        index: int,
        data: Data,
        crc: int | None,
        computed: int | None = None,
    ) -> tuple[Task, Upload]:
        """Store one whole chunk; acknowledged only once its bytes are durable and its receipt is
        committed. ``computed`` is its CRC32C when the caller already knows it.

        Raises:
            InvalidArgument: INVALID_CHUNK_INDEX, CHUNK_SIZE_MISMATCH, CHECKSUM_MISMATCH.
            ChunkAlreadyUploaded: another call stored this chunk (its bytes are kept).
            FailedPrecondition: INVALID_TASK_STATE when the upload is not in progress.
        """
        actual = None if crc is None else computed if computed is not None else _crc32c(data)
        feed: Feed | None = None
        try:
            async with self._store.receiving(account_id, task_id) as unit:
                # Claim the receipt: of two racing writers of this chunk exactly one goes on.
                receipt = rules.chunk_receipt(
                    unit.task, unit.upload, index, len(data), crc, actual, self._clock()
                )
                await unit.claim(receipt)
                # In-order chunks of plain uploads are hashed while their bytes are written, so
                # completion need not read them back.
                feed = None if unit.upload.encrypted else self._digests.begin(task_id, index, data)
                # Durable before the commit; a cancelled caller still waits for the write to end.
                await self._blobs.of(unit.upload.pool_id).write_chunk(task_id, receipt.offset, data)
                count = functools.partial(
                    rules.counted, receipt=receipt, upload_events=self._limits.upload_events
                )
                task, upload = await unit.apply(count)
        except BaseException:
            if feed is not None:
                feed.abandon()
            raise
        await self._events.publish(unit.changes)
        if feed is not None:
            await feed.commit()
        return task, upload

    async def receive_stream(self, account_id: str, pieces: AsyncIterator[Piece]) -> StreamResult:
        """Store the chunks of an UploadChunks stream; already stored chunks are skipped.

        Pieces of a chunk are gathered until its expected length, then written while the next
        chunk arrives; at most ``max_buffered_chunks`` chunk buffers exist in the process at once
        (see StreamReceiver). Chunks stored before an error stay stored (the upload is resumable).
        """
        receiver = StreamReceiver(self._buffers, account_id, functools.partial(self.upload_chunk, account_id))
        return await receiver.receive(pieces, lambda task_id: self.get(account_id, task_id))

    async def upload_file(
        self,
        caller: Caller,
        request: rules.UploadRequest,
        data: AsyncIterator[Data],
        started: Callable[[str], Awaitable[None]],
    ) -> tuple[StoredFile, str | None]:
        """UploadFile: create the upload, receive ``data`` (the file's bytes in order, cut at
        chunk boundaries here), then complete it. ``started(task_id)`` runs once the task exists,
        before any byte is read, so a client whose stream breaks learns where to resume.

        Returns:
            The file, and the id of the upload task that stored it (None: the caller owned the
            content already, and no byte was read).

        Raises:
            DriveError: those of create, receive_stream and complete; once the task exists, they
                carry its id in their metadata.
        """
        created = await self.create(caller, request)
        if created.file is not None:
            return created.file, None
        assert created.task is not None and created.upload is not None
        task_id = created.task.task_id
        await started(task_id)
        plan = rules.ChunkPlan(created.upload.file_size, created.upload.chunk_size)
        try:
            await self.receive_stream(caller.account_id, split_file(task_id, plan, data))
            return await self.complete(caller.account_id, task_id), task_id
        except DriveError as error:
            error.metadata.setdefault("taskId", task_id)
            raise

    async def complete(self, account_id: str, task_id: str) -> StoredFile:
        """Verify and store the upload as a file (see UploadCompleter.complete)."""
        return await self._completer.complete(account_id, task_id)

    async def cancel(self, account_id: str, task_id: str) -> tuple[Task, Upload]:
        """Mark the upload Cancelled and remove its staging."""

        def cancel(task: Task, upload: Upload) -> tuple[Task, Upload, Sequence[Event]]:
            now = self._clock()
            status = next_status(task_id, task.status, Action.CANCEL)
            done = dataclasses.replace(
                task, status=status, completed_at=now, updated_at=now, last_activity=now
            )
            return done, dataclasses.replace(upload, wrapped_key=None), [ev.status_changed(done)]

        task, upload, changes = await self._store.change(account_id, task_id, cancel)
        await self._events.publish(changes)
        await self._drop_staging(upload)
        return task, upload

    async def expire(self, account_id: str, task_id: str) -> None:
        """Mark an idle upload Expired, send task.expired and upload.failed, drop its staging."""

        def expire(task: Task, upload: Upload) -> tuple[Task, Upload, Sequence[Event]]:
            now = self._clock()
            status = next_status(task_id, task.status, Action.EXPIRE)
            message = "The upload expired after being idle too long."
            done = dataclasses.replace(
                task, status=status, error_message=message, completed_at=now, updated_at=now
            )
            events: list[Event] = [ev.status_changed(done)]
            if self._limits.upload_events:
                events.append(ev.upload_failed(done, upload))
            return done, dataclasses.replace(upload, wrapped_key=None), events

        _, upload, changes = await self._store.change(account_id, task_id, expire)
        await self._events.publish(changes)
        await self._drop_staging(upload)

    async def expire_stale(self, idle: timedelta, batch: int = 100) -> int:
        """Expire running uploads idle for longer than ``idle``; returns how many."""
        expired = 0
        for account_id, task_id in await self._store.stale(self._clock() - idle, batch):
            try:
                await self.expire(account_id, task_id)
            except (TaskNotFound, InvalidTaskState):
                continue  # finished meanwhile
            expired += 1
        return expired

    async def resume_info(self, account_id: str, task_id: str) -> tuple[Task, Upload, list[int]]:
        """The upload and the indexes of its stored chunks."""
        task, upload = await self.get(account_id, task_id)
        return task, upload, await self._store.uploaded_chunks(task_id)

    async def details(
        self, account_id: str, task_id: str
    ) -> tuple[Task, Upload, Pool, Bundle | None, float, float | None]:
        """Task, pool, bundle, speed over the last minute (bytes/s) and ETA (s) while running."""
        task, upload = await self.get(account_id, task_id)
        pool = self._pools.get(upload.pool_id)
        bundle = await self._files.get_bundle(account_id, upload.bundle_id) if upload.bundle_id else None
        now = self._clock()
        activity = await self._store.chunk_activity(task_id, now - _SPEED_WINDOW)
        speed = rules.recent_speed(activity, now)
        remaining = upload.file_size - upload.bytes_uploaded
        eta = remaining / speed if speed > 0 and task.status is TaskStatus.IN_PROGRESS else None
        return task, upload, pool, bundle, speed, eta

    async def list_uploads(
        self,
        account_id: str,
        status: TaskStatus | None,
        sort_by: str,
        descending: bool,
        offset: int,
        limit: int,
    ) -> tuple[list[tuple[Task, Upload]], int]:
        """A page of the caller's uploads and the total."""
        return await self._store.find(account_id, status, sort_by, descending, offset, limit)

    async def cleanup(self, account_id: str) -> int:
        """Delete the caller's failed, expired and cancelled uploads and their staging."""
        removed, changes = await self._store.delete_finished(account_id)
        await self._events.publish(changes)
        for task_id in removed:
            self._digests.discard(task_id)
            await self._discard_staging(task_id)
        return len(removed)

    async def stats(self, account_id: str) -> tuple[UploadStats, list[tuple[Task, Upload]]]:
        """Counts, bytes, average progress and the five most recently active uploads."""
        recent, _ = await self._store.find(account_id, None, "lastActivity", True, 0, 5)
        return await self._store.stats(account_id), recent

    async def _drop_staging(self, upload: Upload) -> None:
        self._digests.discard(upload.task_id)
        await self._blobs.of(upload.pool_id).discard_staging(upload.task_id)

    async def _discard_staging(self, task_id: str) -> None:
        """Remove a deleted upload's staging from whichever pool holds it."""
        for pool in self._pools.all():
            await self._blobs.of(pool.id).discard_staging(task_id)


def _crc32c(data: Data) -> int:
    # google_crc32c takes only immutable buffers: a bytearray or memoryview is copied first.
    return int(google_crc32c.value(data if isinstance(data, bytes) else bytes(data)))

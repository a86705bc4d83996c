"""UploadManager: create, receive chunks, complete, and manage resumable uploads."""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import timedelta

import google_crc32c

from drive_service.domain import chunks
from drive_service.domain import events as ev
from drive_service.domain import uploads as rules
from drive_service.domain.events import Event
from drive_service.domain.files import Bundle, StoredFile, Upload
from drive_service.domain.pools import Pool
from drive_service.domain.speed import recent_speed
from drive_service.domain.tasks import Action, Task, TaskStatus, next_status
from drive_service.domain.uploads import UploadQuery, UploadStats
from drive_service.errors import DriveError, InvalidTaskState, TaskNotFound, Unavailable
from drive_service.pools import PoolRegistry
from drive_service.services.buffers import FairBuffers
from drive_service.services.completion import UploadCompleter
from drive_service.services.creation import Created, UploadCreator
from drive_service.services.digests import Feed, PrefixDigests
from drive_service.services.ports import (
    BlobStores,
    Clock,
    Data,
    EventPublisher,
    FileStore,
    Staging,
    UploadStore,
)
from drive_service.services.receiving import Piece, StreamReceiver, StreamResult, split_file
from drive_service.services.tokens import Caller

_SPEED_WINDOW = timedelta(seconds=60)
_log = logging.getLogger(__name__)


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
        limits: rules.UploadLimits,
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
        self._creator = UploadCreator(store, files, pools, blobs, events, clock, limits=limits)

    async def create(self, caller: Caller, request: rules.UploadRequest) -> Created:
        """Start an upload, resume the caller's upload of the same file, or answer a dedup hit
        (see UploadCreator.create)."""
        return await self._creator.create(caller, request)

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
                staging = Staging(task_id, unit.upload.staging_ref)
                store = self._blobs.of(unit.upload.pool_id)
                tag = await store.write_chunk(staging, index, receipt.offset, data)
                if tag is not None:
                    await unit.tag(index, tag)
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
        *,
        first: bytes = b"",
        declared_hash: Callable[[], str] = lambda: "",
    ) -> tuple[StoredFile, str | None]:
        """UploadFile: create the upload, receive its bytes (``first``, then ``data``, in order and
        cut at chunk boundaries here), then complete it. ``started(task_id)`` runs once the task
        exists, before any further byte is read, so a client whose stream breaks learns where to
        resume; ``declared_hash()`` is the SHA-256 the stream gave by its end, if the create
        gave none. A file of one chunk whose bytes all came in ``first`` is stored in one
        transaction (no staging, no second round trip).

        Returns:
            The file, and the id of the upload task that stored it (None: the caller owned the
            content already, and no byte was read).

        Raises:
            DriveError: those of create, receive_stream and complete; once the task exists, they
                carry its id in their metadata.
        """
        size = request.file_size
        if first and len(first) == size <= self._limits.default_chunk_size and not request.encrypt_password:
            whole = dataclasses.replace(request, hash=request.hash or declared_hash())
            return await self._creator.store_small_file(caller, whole, first)
        created = await self.create(caller, request)
        if created.file is not None:
            return created.file, None
        assert created.task is not None and created.upload is not None
        task_id = created.task.task_id
        await started(task_id)
        plan = chunks.ChunkPlan(created.upload.file_size, created.upload.chunk_size)
        try:
            await self.receive_stream(caller.account_id, split_file(task_id, plan, _chained(first, data)))
            return await self.complete(caller.account_id, task_id, declared_hash()), task_id
        except DriveError as error:
            error.metadata.setdefault("taskId", task_id)
            raise

    async def complete(self, account_id: str, task_id: str, sha256: str = "") -> StoredFile:
        """Verify and store the upload as a file (see UploadCompleter.complete); ``sha256`` is the
        whole file's hash when the create did not give it."""
        return await self._completer.complete(account_id, task_id, rules.sha256_hex(sha256, optional=True))

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
        speed = recent_speed(activity, now)
        remaining = upload.file_size - upload.bytes_uploaded
        eta = remaining / speed if speed > 0 and task.status is TaskStatus.IN_PROGRESS else None
        return task, upload, pool, bundle, speed, eta

    async def list_uploads(
        self, account_id: str, query: UploadQuery
    ) -> tuple[list[tuple[Task, Upload]], int]:
        """A page of the caller's uploads and the total."""
        return await self._store.find(account_id, query)

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
        recent, _ = await self._store.find(account_id, UploadQuery(limit=5))
        return await self._store.stats(account_id), recent

    async def _drop_staging(self, upload: Upload) -> None:
        self._digests.discard(upload.task_id)
        await self._blobs.of(upload.pool_id).discard_staging(upload.task_id)

    async def _discard_staging(self, task_id: str) -> None:
        """Remove a deleted upload's staging from whichever pool holds it. A store that cannot
        answer now (an unreachable bucket) is left to maintenance: the rows are gone already."""
        for pool in self._pools.all():
            try:
                await self._blobs.of(pool.id).discard_staging(task_id)
            except Unavailable:
                _log.warning("staging left to maintenance", extra={"pool_id": pool.id, "task_id": task_id})


def _crc32c(data: Data) -> int:
    # google_crc32c takes only immutable buffers: a bytearray or memoryview is copied first.
    return int(google_crc32c.value(data if isinstance(data, bytes) else bytes(data)))


async def _chained(first: bytes, rest: AsyncIterator[Data]) -> AsyncIterator[Data]:
    if first:
        yield first
    async for block in rest:
        yield block

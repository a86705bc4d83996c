"""UploadManager: create, receive chunks, complete, and manage resumable uploads."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import google_crc32c

from drive_service import crypto
from drive_service.domain import events as ev
from drive_service.domain import uploads as rules
from drive_service.domain.events import Event
from drive_service.domain.files import Bundle, StoredFile, Upload
from drive_service.domain.ids import new_id
from drive_service.domain.pools import Pool
from drive_service.domain.tasks import Action, Task, TaskStatus, TaskType, next_status, require_in_progress
from drive_service.errors import (
    BundleNotFound,
    InvalidArgument,
    InvalidTaskState,
    TaskNotFound,
)
from drive_service.pools import PoolRegistry
from drive_service.services.completion import UploadCompleter
from drive_service.services.digests import Feed, PrefixDigests
from drive_service.services.ports import FileStore
from drive_service.services.quota import check_quota, cost_multipliers, require_quota
from drive_service.services.receiving import Data, Piece, StreamReceiver, StreamResult, size_mismatch
from drive_service.services.tokens import Caller
from drive_service.storage.blobs import LocalBlobStore
from drive_service.storage.uploads import ChunkReceipt, SqlUploadStore, UploadStats

Clock = Callable[[], datetime]
_COMPLETION_LEASE = timedelta(minutes=10)
_SPEED_WINDOW = timedelta(seconds=60)
_MISSING_SHOWN = 50


@dataclass(frozen=True, slots=True)
class UploadLimits:
    """Settings that shape uploads."""

    default_chunk_size: int
    max_chunk_size: int
    default_quota: int
    master_key: bytes
    upload_events: bool = True
    #: Chunk buffers that UploadChunks streams may gather or write at once (process-wide).
    max_buffered_chunks: int = 8


@dataclass(frozen=True, slots=True)
class Created:
    """CreateUploadTask's answer: an existing file (dedup) or a new task."""

    file: StoredFile | None = None
    task: Task | None = None
    upload: Upload | None = None


class UploadManager:
    """The use cases of UploadService; events are published after each commit."""

    def __init__(
        self,
        store: SqlUploadStore,
        files: FileStore,
        pools: PoolRegistry,
        blobs: LocalBlobStore,
        clock: Clock,
        limits: UploadLimits,
    ) -> None:
        self._store = store
        self._files = files
        self._pools = pools
        self._blobs = blobs
        self._clock = clock
        self._limits = limits
        self._buffers = asyncio.Semaphore(limits.max_buffered_chunks)
        self._digests = PrefixDigests()
        self._completer = UploadCompleter(
            store,
            files,
            pools,
            blobs,
            clock,
            master_key=limits.master_key,
            default_quota=limits.default_quota,
            upload_events=limits.upload_events,
            digests=self._digests,
        )

    async def create(self, caller: Caller, request: rules.UploadRequest) -> Created:
        """Check the request in DESIGN §4's order, answer a dedup hit, or start an upload."""
        name = rules.file_name(request.file_name)
        size = rules.file_size(request.file_size)
        content_type = rules.content_type(request.content_type)
        sha256 = rules.sha256_hex(request.hash)
        plan = rules.chunk_plan(
            size,
            request.chunk_size,
            default=self._limits.default_chunk_size,
            maximum=self._limits.max_chunk_size,
        )
        now = self._clock()
        if request.expired_at is not None and request.expired_at <= now:
            raise InvalidArgument(
                "The expiry must be in the future.", reason="INVALID_EXPIRY", field="expired_at"
            )
        pool = self._pools.get(request.pool_id or None)
        encrypted = bool(request.encrypt_password)
        pool.check_upload(
            account_id=caller.account_id,
            tier=caller.tier,
            size=size,
            content_type=content_type,
            encrypted=encrypted,
        )
        bundle_id = request.bundle_id or None
        cost = size * pool.cost_multiplier
        wrapped_key = salt = None
        if encrypted:
            # Checked before the deliberately slow key derivation, and again when stored.
            await self._check_bundle(caller.account_id, bundle_id)
            await check_quota(self._files, self._pools, caller.account_id, cost, self._limits.default_quota)
            salt = crypto.new_salt()
            key = await asyncio.to_thread(crypto.derive_key, request.encrypt_password, salt)
            wrapped_key = crypto.wrap_key(self._limits.master_key, key)
        task = Task(
            task_id=new_id(),
            account_id=caller.account_id,
            type=TaskType.FILE_UPLOAD,
            status=TaskStatus.IN_PROGRESS,
            name="File Upload",
            description=name,
            priority=0,
            progress=0.0,
            status_message="",
            parameters={
                "fileName": name,
                "fileSize": size,
                "contentType": content_type,
                "poolId": pool.id,
                "bundleId": bundle_id,
                "chunkSize": plan.chunk_size,
                "chunksCount": plan.chunks_count,
                "hash": sha256,
                "encrypted": encrypted,
            },
            results={},
            error_message="",
            created_at=now,
            updated_at=now,
            last_activity=now,
            started_at=now,
        )
        upload = Upload(
            task_id=task.task_id,
            account_id=caller.account_id,
            file_name=name,
            file_size=size,
            content_type=content_type,
            chunk_size=plan.chunk_size,
            chunks_count=plan.chunks_count,
            chunks_uploaded=0,
            bytes_uploaded=0,
            pool_id=pool.id,
            bundle_id=bundle_id,
            hash=sha256,
            encrypted=encrypted,
            wrapped_key=wrapped_key,
            key_salt=salt,
            file_expired_at=request.expired_at,
        )
        # Bundle, quota, dedup and the new rows in one transaction.
        async with self._store.unit(caller.account_id) as unit:
            if bundle_id is not None and await unit.bundle(bundle_id) is None:
                raise BundleNotFound(bundle_id)
            multipliers = cost_multipliers(self._pools)
            require_quota(await unit.usage(multipliers, self._limits.default_quota), cost)
            if not encrypted and (existing := await unit.find_file(sha256, size, now)) is not None:
                return Created(file=existing)
            await unit.insert(task, upload, [ev.created(task)])
        return Created(task=task, upload=upload)

    async def _check_bundle(self, account_id: str, bundle_id: str | None) -> None:
        if bundle_id is not None and await self._files.get_bundle(account_id, bundle_id) is None:
            raise BundleNotFound(bundle_id)

    async def get(self, account_id: str, task_id: str) -> tuple[Task, Upload]:
        """The caller's upload. Raises TaskNotFound."""
        found = await self._store.get(account_id, task_id)
        if found is None:
            raise TaskNotFound(task_id)
        return found

    async def upload_chunk(
        self, account_id: str, task_id: str, index: int, data: bytes, crc: int | None
    ) -> tuple[Task, Upload]:
        """Store one whole chunk; acknowledged only once durable and recorded.

        Raises:
            InvalidArgument: INVALID_CHUNK_INDEX, CHUNK_SIZE_MISMATCH, CRC32C_MISMATCH.
            AlreadyExists: CHUNK_ALREADY_UPLOADED.
            FailedPrecondition: INVALID_TASK_STATE when the upload is not in progress.
        """
        return await self._store_chunk(account_id, task_id, index, data, crc, None)

    async def receive_stream(self, account_id: str, pieces: AsyncIterator[Piece]) -> StreamResult:
        """Store the chunks of an UploadChunks stream; already stored chunks are skipped.

        Pieces of a chunk are gathered until its expected length, then written while the next
        chunk arrives; at most ``max_buffered_chunks`` chunk buffers exist in the process at once
        (see StreamReceiver). Chunks stored before an error stay stored (the upload is resumable).
        """
        receiver = StreamReceiver(self._buffers, functools.partial(self._store_chunk, account_id))
        return await receiver.receive(pieces, lambda task_id: self.get(account_id, task_id))

    async def _store_chunk(
        self, account_id: str, task_id: str, index: int, data: Data, crc: int | None, computed: int | None
    ) -> tuple[Task, Upload]:
        """Store a whole chunk; ``computed`` is its CRC32C when the caller already knows it."""
        actual = None if crc is None else computed if computed is not None else _crc32c(data)
        now = self._clock()
        feeds: list[Feed] = []

        def check(task: Task, upload: Upload) -> ChunkReceipt:
            require_in_progress(task, "accept chunks")
            plan = rules.ChunkPlan(upload.file_size, upload.chunk_size)
            expected = plan.expected_length(index)
            if len(data) != expected:
                raise size_mismatch(index, len(data), expected)
            if actual != crc:
                raise InvalidArgument(
                    f"Chunk {index} does not match its CRC32C.",
                    reason="CRC32C_MISMATCH",
                    field="crc32c",
                    chunk_index=index,
                )
            # Unencrypted chunks in order are hashed on the way in (while their bytes are
            # written), so completion need not read them back.
            feed = None if upload.encrypted else self._digests.begin(task_id, index, data)
            if feed is not None:
                feeds.append(feed)
            offset = plan.offset(index)
            return ChunkReceipt(
                index, len(data), crc, now, lambda: self._blobs.write_chunk(task_id, offset, data)
            )

        def count(task: Task, upload: Upload) -> tuple[Task, Upload, Sequence[Event]]:
            require_in_progress(task, "accept chunks")
            chunks = upload.chunks_uploaded + 1
            upload = dataclasses.replace(
                upload, chunks_uploaded=chunks, bytes_uploaded=upload.bytes_uploaded + len(data)
            )
            moved = dataclasses.replace(
                task, progress=rules.progress(chunks, upload.chunks_count), updated_at=now, last_activity=now
            )
            moved, events = ev.throttled_progress(moved, now)
            if events and self._limits.upload_events:
                events.append(ev.upload_progressed(moved, upload))
            return moved, upload, events

        try:
            task, upload, _ = await self._store.record_chunk(account_id, task_id, check, count)
        except BaseException:
            for feed in feeds:
                feed.abandon()
            raise
        for feed in feeds:
            await feed.commit()
        return task, upload

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

        task, upload, _ = await self._store.change(account_id, task_id, cancel)
        self._digests.discard(task_id)
        await self._blobs.discard_staging(task_id)
        return task, upload

    async def expire(self, account_id: str, task_id: str) -> None:
        """Mark an idle upload Expired, send task.expired and upload.failed, drop its staging."""

        def expire(task: Task, upload: Upload) -> tuple[Task, Upload, Sequence[Event]]:
            now = self._clock()
            status = next_status(task_id, task.status, Action.EXPIRE)
            done = dataclasses.replace(
                task,
                status=status,
                error_message="The upload expired after being idle too long.",
                completed_at=now,
                updated_at=now,
            )
            events: list[Event] = [ev.status_changed(done)]
            if self._limits.upload_events:
                events.append(ev.upload_failed(done, upload))
            return done, dataclasses.replace(upload, wrapped_key=None), events

        await self._store.change(account_id, task_id, expire)
        self._digests.discard(task_id)
        await self._blobs.discard_staging(task_id)

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
        removed = await self._store.delete_finished(account_id)
        for task_id in removed:
            self._digests.discard(task_id)
            await self._blobs.discard_staging(task_id)
        return len(removed)

    async def stats(self, account_id: str) -> tuple[UploadStats, list[tuple[Task, Upload]]]:
        """Counts, bytes, average progress and the five most recently active uploads."""
        recent, _ = await self._store.find(account_id, None, "lastActivity", True, 0, 5)
        return await self._store.stats(account_id), recent


def _crc32c(data: Data) -> int:
    # google_crc32c takes only immutable buffers: a bytearray or memoryview is copied first.
    return int(google_crc32c.value(data if isinstance(data, bytes) else bytes(data)))


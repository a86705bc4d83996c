"""Starting an upload: the checks, dedup, resuming an upload already in flight, and storing a
small file whole in one transaction."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from drive_service import crypto
from drive_service.domain import chunks
from drive_service.domain import events as ev
from drive_service.domain import uploads as rules
from drive_service.domain import validation as valid
from drive_service.domain.files import Bundle, StoredFile, Upload, new_file
from drive_service.domain.ids import new_id
from drive_service.domain.pools import Pool
from drive_service.domain.tasks import Action, Task, next_status
from drive_service.errors import BundleNotFound, DataLoss
from drive_service.pools import PoolRegistry
from drive_service.services.ports import BlobStores, Clock, EventPublisher, FileStore, UploadStore, UploadUnit
from drive_service.services.quota import check_quota, cost_multipliers, require_quota
from drive_service.services.tokens import Caller


@dataclass(frozen=True, slots=True)
class Created:
    """CreateUploadTask's answer: an existing file (dedup), or the upload to send chunks to (new,
    or ``resumed`` when it was already in flight) with the chunks it still lacks."""

    file: StoredFile | None = None
    task: Task | None = None
    upload: Upload | None = None
    resumed: bool = False
    missing: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class _Checked:
    """A create request that passed every check that needs no database."""

    task: Task
    upload: Upload
    pool: Pool
    cost: float
    lookup: rules.UploadLookup


class UploadCreator:
    """The create half of UploadManager (see its ``create`` and ``upload_file``)."""

    def __init__(
        self,
        store: UploadStore,
        files: FileStore,
        pools: PoolRegistry,
        blobs: BlobStores,
        events: EventPublisher,
        clock: Clock,
        *,
        limits: rules.UploadLimits,
    ) -> None:
        self._store = store
        self._files = files
        self._pools = pools
        self._blobs = blobs
        self._events = events
        self._clock = clock
        self._limits = limits

    async def create(self, caller: Caller, request: rules.UploadRequest) -> Created:
        """Check the request (shape, pool, policy, bundle, quota); then answer a dedup hit,
        resume the caller's upload of the same file (or of the same request id), or start one
        (an IN_PROGRESS task; ``task.created`` is sent). A resumed upload reserves nothing twice."""
        checked = await self._check(caller, request)
        task, upload = checked.task, checked.upload
        async with self._store.unit(caller.account_id) as unit:
            found = await self._resumable(unit, checked)
            if found is not None:
                return found
            if upload.hash and not upload.encrypted:
                existing = await unit.find_file(upload.hash, upload.file_size, task.created_at)
                if existing is not None:
                    return Created(file=existing)
            await self._require_room(unit, checked)
            # A staging opened for a create that then rolls back is collected by maintenance.
            staging_ref = await self._blobs.of(upload.pool_id).open_staging(task.task_id)
            upload = dataclasses.replace(upload, staging_ref=staging_ref)
            stored, stored_upload = await unit.insert(task, upload, [ev.created(task)])
        await self._events.publish(unit.changes)
        if stored is not task:  # a concurrent retry of the same request won
            return Created(task=stored, upload=stored_upload, resumed=True)
        return Created(task=task, upload=upload)

    async def store_small_file(
        self, caller: Caller, request: rules.UploadRequest, data: bytes
    ) -> tuple[StoredFile, str | None]:
        """UploadFile's one-round-trip path: a file of one chunk, sent whole with its metadata, is
        checked, stored and recorded as a completed upload in one transaction. Returns the file
        and its upload task's id (None: dedup, the caller owned this content already).

        Raises:
            DataLoss: HASH_MISMATCH when the bytes do not match the declared SHA-256.
        """
        checked = await self._check(caller, dataclasses.replace(request, request_id=""))
        sha256 = hashlib.sha256(data).hexdigest()
        task, upload, pool = checked.task, checked.upload, checked.pool
        if len(data) != upload.file_size or (upload.hash and upload.hash != sha256):
            raise DataLoss(
                "The data does not match the declared size and SHA-256.",
                reason="HASH_MISMATCH",
                file_size=len(data),
            )
        now = task.created_at
        async with self._store.unit(caller.account_id) as unit:
            existing = await unit.find_file(sha256, len(data), now)
            if existing is not None:
                return existing, None
            bundle = await self._require_room(unit, checked)
            known = dataclasses.replace(upload, hash=sha256)
            file = new_file(known, pool.id, pool.policy.default_expiry, sha256, len(data), bundle, now)
            if not await unit.reference_blob(file):
                await self._blobs.of(pool.id).put(sha256, _once(data))
            await unit.insert_file(file)
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
                notified_progress=100.0,
                notified_at=now,
            )
            stored = dataclasses.replace(
                upload, hash=sha256, chunks_uploaded=1, bytes_uploaded=len(data), file_id=file.id
            )
            events = [ev.created(task), ev.completed(done)]
            if self._limits.upload_events:
                events.append(ev.upload_completed(done, stored, file.id))
            await unit.insert(done, stored, events)
        await self._events.publish(unit.changes)
        return file, task.task_id

    async def _check(self, caller: Caller, request: rules.UploadRequest) -> _Checked:
        limits = self._limits
        name = rules.file_name(request.file_name)
        size = rules.file_size(request.file_size, limits.max_file_size)
        content_type = rules.content_type(request.content_type)
        sha256 = rules.sha256_hex(request.hash, optional=True)
        now = self._clock()
        valid.deadline(request.expired_at, now=now)
        pool = self._pools.get(request.pool_id or None)
        store = self._blobs.of(pool.id)
        # A caller who leaves the chunk size to us gets one the pool's store can take.
        maximum = limits.max_chunk_size
        default_chunk = min(max(limits.default_chunk_size, store.min_chunk_size), maximum)
        plan = chunks.chunk_plan(size, request.chunk_size, default=default_chunk, maximum=maximum)
        encrypted = bool(rules.password(request.encrypt_password))
        pool.check_upload(
            account_id=caller.account_id,
            tier=caller.tier,
            size=size,
            content_type=content_type,
            encrypted=encrypted,
        )
        chunks.require_stageable(plan, min_chunk_size=store.min_chunk_size, max_chunks=store.max_chunks)
        bundle_id = valid.bundle_id(request.bundle_id) if request.bundle_id else None
        cost = size * pool.cost_multiplier
        wrapped_key = salt = None
        if encrypted:
            # Checked before the deliberately slow key derivation, and again when stored.
            if bundle_id is not None and await self._files.get_bundle(caller.account_id, bundle_id) is None:
                raise BundleNotFound(bundle_id)
            await check_quota(self._files, self._pools, caller.account_id, cost, limits.default_quota)
            salt = crypto.new_salt()
            key = await asyncio.to_thread(crypto.derive_key, request.encrypt_password, salt)
            wrapped_key = crypto.wrap_key(limits.master_key, key)
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
        request_id = valid.request_id(request.request_id)
        task = dataclasses.replace(task, request_id=request_id)
        lookup = rules.UploadLookup(
            request_id, sha256 if not encrypted else "", size, name, pool.id, bundle_id
        )
        return _Checked(task, upload, pool, cost, lookup)

    async def _resumable(self, unit: UploadUnit, checked: _Checked) -> Created | None:
        """The caller's upload this create repeats (same request id, or same file in flight)."""
        found = await unit.find_upload(checked.lookup)
        if found is None:
            return None
        task, upload = found
        present = set(await unit.uploaded_chunks(task.task_id))
        missing = tuple(index for index in range(upload.chunks_count) if index not in present)
        return Created(task=task, upload=upload, resumed=True, missing=missing)

    async def _require_room(self, unit: UploadUnit, checked: _Checked) -> Bundle | None:
        """The upload's bundle (it must exist), once the quota is known to hold the new upload
        (in the unit's transaction)."""
        bundle_id = checked.upload.bundle_id
        bundle = None if bundle_id is None else await unit.bundle(bundle_id)
        if bundle_id is not None and bundle is None:
            raise BundleNotFound(bundle_id)
        usage = await unit.usage(cost_multipliers(self._pools), self._limits.default_quota)
        require_quota(usage, checked.cost)
        return bundle


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data

"""In-memory FileStore and OutputStore over a MemoryState, and the file rules both share."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

from drive_service.domain.files import Bundle, StoredFile, Usage, effective_expiry
from drive_service.domain.tasks import TaskStatus
from drive_service.errors import BundleNotFound, FileNotFound, LeaseLost
from drive_service.services.ports import BlobRelease
from drive_service.storage.memory.state import MemoryState, Tx

_RESERVING = {TaskStatus.IN_PROGRESS, TaskStatus.PAUSED}
_UNFINISHED = {TaskStatus.PENDING, TaskStatus.IN_PROGRESS, TaskStatus.PAUSED}


def visible(state: MemoryState, file: StoredFile) -> StoredFile:
    """The file as readers see it: its effective expiry (the bundle's applies too)."""
    bundle: Bundle | None = state.bundles.get(file.bundle_id) if file.bundle_id else None
    expiry = effective_expiry(file.expired_at, None, bundle.expired_at if bundle else None)
    return dataclasses.replace(file, expired_at=expiry)


def live_files(state: MemoryState, account_id: str, now: datetime | None) -> list[StoredFile]:
    """The account's visible (not hidden) files, alive at ``now`` (every one when None)."""
    shown = [
        visible(state, file)
        for file in state.files.values()
        if file.account_id == account_id and file.id not in state.hidden
    ]
    return [file for file in shown if now is None or file.expired_at is None or file.expired_at > now]


def usage(state: MemoryState, account_id: str, multipliers: dict[str, float], default_quota: int) -> Usage:
    """Stored bytes and reservations of in-flight uploads, weighted by pool cost."""

    def weighted(pairs: list[tuple[str, int]]) -> int:
        totals: dict[str, int] = {}
        for pool_id, size in pairs:
            totals[pool_id] = totals.get(pool_id, 0) + size
        return sum(math.ceil(size * multipliers.get(pool_id, 1.0)) for pool_id, size in totals.items())

    stored = [(f.pool_id, f.size) for f in state.files.values() if f.account_id == account_id]
    reserved = [
        (upload.pool_id, upload.file_size)
        for upload in state.uploads.values()
        if upload.account_id == account_id and state.tasks[upload.task_id].status in _RESERVING
    ]
    return Usage(state.quotas.get(account_id, default_quota), weighted(stored), weighted(reserved))


def find_live(
    state: MemoryState, account_id: str, sha256: str, size: int, now: datetime
) -> StoredFile | None:
    """The account's newest live, unencrypted file with this content (dedup)."""
    matches = [
        file
        for file in live_files(state, account_id, now)
        if file.hash == sha256 and file.size == size and not file.encrypted
    ]
    return max(matches, key=lambda file: (file.created_at, file.id), default=None)


def add_reference(tx: Tx, file: StoredFile) -> bool:
    """One more reference to the file's blob; True when it was referenced already."""
    key = (file.pool_id, file.blob_key)
    count = tx.state.blobs.get(key, 0)
    tx.put(tx.state.blobs, key, count + 1)
    return count > 0


async def drop_reference(tx: Tx, pool_id: str, key: str, release: BlobRelease) -> None:
    """One reference fewer; the last one releases the blob's bytes."""
    count = tx.state.blobs.get((pool_id, key), 0)
    if count > 1:
        tx.put(tx.state.blobs, (pool_id, key), count - 1)
        return
    tx.drop(tx.state.blobs, (pool_id, key))
    await release(pool_id, key)


class MemoryFileStore:
    """FileStore in memory."""

    def __init__(self, state: MemoryState) -> None:
        self._state = state

    async def get_file(self, account_id: str, file_id: str, now: datetime | None = None) -> StoredFile | None:
        return next((f for f in live_files(self._state, account_id, now) if f.id == file_id), None)

    async def find_file(self, account_id: str, sha256: str, size: int, now: datetime) -> StoredFile | None:
        return find_live(self._state, account_id, sha256, size, now)

    async def list_files(
        self,
        account_id: str,
        pool_id: str | None,
        bundle_id: str | None,
        offset: int,
        limit: int,
        now: datetime | None = None,
    ) -> tuple[list[StoredFile], int]:
        found = [
            file
            for file in live_files(self._state, account_id, now)
            if (not pool_id or file.pool_id == pool_id) and (not bundle_id or file.bundle_id == bundle_id)
        ]
        found.sort(key=lambda file: (file.created_at, file.id), reverse=True)
        return found[offset : offset + limit], len(found)

    async def delete_file(self, account_id: str, file_id: str, release: BlobRelease) -> StoredFile:
        async with self._state.write() as tx:
            file = await self.get_file(account_id, file_id)
            if file is None:
                raise FileNotFound(file_id)
            tx.drop(self._state.files, file_id)
            await drop_reference(tx, file.pool_id, file.blob_key, release)
        return file

    async def expired_files(self, now: datetime, limit: int) -> list[tuple[str, str]]:
        due = [
            (file.account_id, file.id)
            for file in map(lambda f: visible(self._state, f), self._state.files.values())
            if file.expired_at is not None and file.expired_at <= now
        ]
        return due[:limit]

    async def usage(self, account_id: str, multipliers: dict[str, float], default_quota: int) -> Usage:
        return usage(self._state, account_id, multipliers, default_quota)

    async def set_quota(self, account_id: str, quota_bytes: int | None) -> None:
        async with self._state.write() as tx:
            if quota_bytes is None:
                tx.drop(self._state.quotas, account_id)
            else:
                tx.put(self._state.quotas, account_id, quota_bytes)

    async def known_blobs(self, pool_id: str, keys: Sequence[str]) -> set[str]:
        return {key for key in keys if (pool_id, key) in self._state.blobs}

    async def create_bundle(self, bundle: Bundle) -> None:
        async with self._state.write() as tx:
            tx.put(self._state.bundles, bundle.id, bundle)

    async def get_bundle(self, account_id: str, bundle_id: str) -> Bundle | None:
        bundle: Bundle | None = self._state.bundles.get(bundle_id)
        return bundle if bundle is not None and bundle.account_id == account_id else None

    async def list_bundles(self, account_id: str, offset: int, limit: int) -> tuple[list[Bundle], int]:
        mine = [bundle for bundle in self._state.bundles.values() if bundle.account_id == account_id]
        mine.sort(key=lambda bundle: (bundle.created_at, bundle.id), reverse=True)
        return mine[offset : offset + limit], len(mine)

    async def delete_bundle(self, account_id: str, bundle_id: str) -> None:
        async with self._state.write() as tx:
            if await self.get_bundle(account_id, bundle_id) is None:
                raise BundleNotFound(bundle_id)
            for file in list(self._state.files.values()):
                if file.bundle_id == bundle_id:
                    tx.put(self._state.files, file.id, dataclasses.replace(file, bundle_id=None))
            tx.drop(self._state.bundles, bundle_id)


class MemoryOutputStore:
    """OutputStore in memory."""

    def __init__(self, state: MemoryState) -> None:
        self._state = state

    async def add_output(
        self, file: StoredFile, task_id: str, lease_token: str, place: Callable[[bool], Awaitable[None]]
    ) -> None:
        async with self._state.write() as tx:
            self._require_lease(task_id, lease_token)
            await place(add_reference(tx, file))
            tx.put(self._state.files, file.id, file)
            tx.put(self._state.hidden, file.id, task_id)

    async def discard_stray_outputs(
        self, task_id: str, lease_token: str, keep: frozenset[str], release: BlobRelease
    ) -> int:
        async with self._state.write() as tx:
            self._require_lease(task_id, lease_token)
            return await self._discard(tx, task_id, keep, release)

    async def discard_outputs(self, task_id: str, release: BlobRelease) -> int:
        async with self._state.write() as tx:
            return await self._discard(tx, task_id, frozenset(), release)

    async def abandoned_output_tasks(self, limit: int) -> list[str]:
        owners = dict.fromkeys(self._state.hidden.values())
        gone = [
            t for t in owners if (task := self._state.tasks.get(t)) is None or task.status not in _UNFINISHED
        ]
        return gone[:limit]

    async def relocate(
        self,
        account_id: str,
        file_id: str,
        pool_id: str,
        bundle_id: str | None,
        place: Callable[[bool], Awaitable[None]],
        release: BlobRelease,
    ) -> StoredFile:
        async with self._state.write() as tx:
            current: StoredFile | None = self._state.files.get(file_id)
            if current is None or current.account_id != account_id or file_id in self._state.hidden:
                raise FileNotFound(file_id)
            moved = dataclasses.replace(current, pool_id=pool_id, bundle_id=bundle_id)
            if pool_id != current.pool_id:
                await place(add_reference(tx, moved))
            tx.put(self._state.files, file_id, moved)
            if pool_id != current.pool_id:
                await drop_reference(tx, current.pool_id, current.blob_key, release)
        return moved

    async def set_expiry(self, account_id: str, file_id: str, expired_at: datetime | None) -> None:
        async with self._state.write() as tx:
            file: StoredFile | None = self._state.files.get(file_id)
            if file is None or file.account_id != account_id or file_id in self._state.hidden:
                raise FileNotFound(file_id)
            tx.put(self._state.files, file_id, dataclasses.replace(file, expired_at=expired_at))

    async def file_ids_in_pool(self, account_id: str, pool_id: str, after: str, limit: int) -> list[str]:
        ids = sorted(
            file.id
            for file in self._state.files.values()
            if file.account_id == account_id
            and file.pool_id == pool_id
            and file.id > after
            and file.id not in self._state.hidden
        )
        return ids[:limit]

    async def pending_outputs(self, task_id: str) -> list[str]:
        return [file_id for file_id, owner in self._state.hidden.items() if owner == task_id]

    def _require_lease(self, task_id: str, lease_token: str) -> None:
        task = self._state.tasks.get(task_id)
        if task is None or task.lease_token != lease_token or task.status is not TaskStatus.IN_PROGRESS:
            raise LeaseLost(task_id, "not held by this attempt")

    async def _discard(self, tx: Tx, task_id: str, keep: frozenset[str], release: BlobRelease) -> int:
        doomed = [f for f, owner in self._state.hidden.items() if owner == task_id and f not in keep]
        for file_id in doomed:
            file = self._state.files[file_id]
            tx.drop(self._state.files, file_id)
            tx.drop(self._state.hidden, file_id)
            await drop_reference(tx, file.pool_id, file.blob_key, release)
        return len(doomed)

"""File operations available to task handlers, scoped to the task's account and attempt."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Collection
from datetime import datetime
from pathlib import Path

from drive_service import crypto
from drive_service.domain.files import Bundle, StoredFile
from drive_service.domain.ids import new_id
from drive_service.domain.pools import Pool
from drive_service.errors import (
    InvalidArgument,
    LeaseLost,
    NotFound,
    PermissionDenied,
    StopAttempt,
    TaskFailed,
)
from drive_service.pools import PoolRegistry
from drive_service.services.files import FileManager
from drive_service.services.ports import BlobMissing, BlobStores, Clock, FileStore, OutputStore
from drive_service.services.quota import check_quota
from drive_service.services.sealing import Sealing, opened

_BLOCK = 1024 * 1024


class FileOps:
    """The account's files as a handler sees them; failures a user can fix become TaskFailed."""

    def __init__(
        self,
        *,
        account_id: str,
        task_id: str,
        lease_token: str,
        files: FileManager,
        file_store: FileStore,
        outputs: OutputStore,
        pools: PoolRegistry,
        blobs: BlobStores,
        clock: Clock,
        default_quota: int,
    ) -> None:
        self.account_id = account_id
        self._task_id = task_id
        self._token = lease_token
        self._files = files
        self._file_store = file_store
        self._outputs = outputs
        self._pools = pools
        self._blobs = blobs
        self._clock = clock
        self._default_quota = default_quota

    async def get(self, file_id: str) -> StoredFile:
        """The account's file. Raises TaskFailed when it is unknown or another account's."""
        try:
            return await self._files.get_file(self.account_id, str(file_id))
        except (InvalidArgument, NotFound):
            raise TaskFailed(f"File {file_id} was not found.") from None

    async def plain_copy(self, file: StoredFile, target: Path, password: str | None = None) -> Path:
        """Write the file's plaintext to ``target`` (decrypting with ``password`` when encrypted).

        Raises:
            TaskFailed: encrypted without a password, a wrong password, or corrupt content.
        """
        store = self._blobs.of(file.pool_id)
        if not file.encrypted:
            pieces = store.read(file.blob_key)
        elif not password:
            raise TaskFailed(f"File {file.id} is encrypted; a password is required.")
        else:
            pieces = opened(store, file.blob_key, file.stored_size, password, 0, None)
        try:
            await _write_file(target, pieces)
        except crypto.WrongPassword:
            raise TaskFailed(f"The password does not open file {file.id}.") from None
        except (crypto.CorruptData, BlobMissing):
            raise TaskFailed(f"File {file.id} is corrupt.") from None
        return target

    async def create(
        self,
        source: Path,
        name: str,
        mime_type: str,
        *,
        pool_id: str | None = None,
        bundle_id: str | None = None,
        password: str | None = None,
    ) -> StoredFile:
        """Store ``source`` as a new file of the account, hidden until the attempt completes.

        Raises:
            TaskFailed: unknown pool or bundle, policy refusal or quota exceeded.
        """
        try:
            pool = self._pools.get(pool_id)
            if bundle_id is not None:
                await self._files.get_bundle(self.account_id, bundle_id)
            size = (await asyncio.to_thread(source.stat)).st_size
            # Tasks carry no privilege tier: pools that require one are refused.
            pool.check_upload(
                account_id=self.account_id,
                tier=0,
                size=size,
                content_type=mime_type,
                encrypted=bool(password),
            )
            await check_quota(
                self._file_store,
                self._pools,
                self.account_id,
                size * pool.cost_multiplier,
                self._default_quota,
            )
        except (InvalidArgument, NotFound, PermissionDenied) as error:
            raise TaskFailed(error.message) from None
        store = self._blobs.of(pool.id)
        if password:
            salt = crypto.new_salt()
            key = await asyncio.to_thread(crypto.derive_key, password, salt)
            sealing = Sealing(_read_file(source), key, salt)
            blob_key, stored_size = await store.write_blob(sealing)
            sha256 = sealing.sha256
        else:
            sha256, stored_size = await asyncio.to_thread(_hash_file, source)
            blob_key = sha256
        now = self._clock()
        file = StoredFile(
            id=new_id(),
            account_id=self.account_id,
            name=name,
            description="",
            mime_type=mime_type,
            size=size,
            hash=sha256,
            pool_id=pool.id,
            blob_key=blob_key,
            stored_size=stored_size,
            bundle_id=bundle_id,
            encrypted=bool(password),
            created_at=now,
            updated_at=now,
            uploaded_at=now,
            expired_at=None,
        )

        async def place(existed: bool) -> None:
            if not password and not existed:
                await store.adopt(source, blob_key)

        try:
            await self._outputs.add_output(file, self._task_id, self._token, place)
        except LeaseLost:
            raise StopAttempt("the task left this attempt") from None
        return file

    async def delete(self, file_id: str) -> None:
        """Delete the account's file. Raises TaskFailed when it is not there."""
        try:
            await self._files.delete_file(self.account_id, str(file_id))
        except NotFound:
            raise TaskFailed(f"File {file_id} was not found.") from None

    async def move(self, file_id: str, pool_id: str | None, bundle_id: str | None) -> StoredFile:
        """Move the account's file to another pool (bytes copied, then the old reference dropped)
        and/or bundle (None keeps the current pool or bundle).

        Raises:
            TaskFailed: unknown file, pool or bundle.
        """
        file = await self.get(file_id)
        try:
            target = self._pools.get(pool_id or file.pool_id)
            if bundle_id is not None:
                await self._files.get_bundle(self.account_id, bundle_id)
        except NotFound as error:
            raise TaskFailed(error.message) from None
        source = self._blobs.of(file.pool_id)

        async def place(existed: bool) -> None:
            if not existed:
                await self._blobs.of(target.id).put(file.blob_key, source.read(file.blob_key))

        return await self._outputs.relocate(
            self.account_id,
            file.id,
            target.id,
            bundle_id if bundle_id is not None else file.bundle_id,
            place,
            self._files.release_blob,
        )

    async def list_ids(self, pool_id: str, after: str, limit: int) -> list[str]:
        """The account's visible file ids in the pool greater than ``after``, ascending."""
        return await self._outputs.file_ids_in_pool(self.account_id, pool_id, after, limit)

    def pool(self, pool_id: str) -> Pool:
        """The configured pool ``pool_id`` (empty: the default). Raises TaskFailed when unknown."""
        try:
            return self._pools.get(pool_id)
        except NotFound as error:
            raise TaskFailed(error.message) from None

    async def bundle(self, bundle_id: str) -> Bundle:
        """The account's bundle. Raises TaskFailed when empty, malformed, unknown or another account's."""
        try:
            return await self._files.get_bundle(self.account_id, bundle_id)
        except (InvalidArgument, NotFound) as error:
            raise TaskFailed(error.message) from None

    async def discard_outputs_except(self, keep: Collection[str]) -> int:
        """Delete this task's hidden outputs whose ids are not in ``keep``: files an earlier attempt
        created but stopped before recording in its checkpoint. Returns how many were deleted.

        Raises:
            StopAttempt: this attempt no longer holds the task.
        """
        try:
            return await self._outputs.discard_stray_outputs(
                self._task_id, self._token, frozenset(keep), self._files.release_blob
            )
        except LeaseLost:
            raise StopAttempt("the task left this attempt") from None

    async def set_expiry(self, file_id: str, expired_at: datetime | None) -> None:
        """Change the account's file's own expiry. Raises TaskFailed when it is not there."""
        try:
            await self._outputs.set_expiry(self.account_id, str(file_id), expired_at)
        except NotFound:
            raise TaskFailed(f"File {file_id} was not found.") from None


async def _read_file(path: Path) -> AsyncIterator[bytes]:
    """The bytes of a local file, in 1 MiB blocks read in a thread."""
    handle = await asyncio.to_thread(path.open, "rb")
    try:
        while block := await asyncio.to_thread(handle.read, _BLOCK):
            yield block
    finally:
        handle.close()


async def _write_file(path: Path, pieces: AsyncIterator[bytes]) -> None:
    """Write ``pieces`` to a new local file."""
    handle = await asyncio.to_thread(path.open, "wb")
    try:
        async for piece in pieces:
            await asyncio.to_thread(handle.write, piece)
    finally:
        handle.close()


def _hash_file(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while block := handle.read(4 * _BLOCK):
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size

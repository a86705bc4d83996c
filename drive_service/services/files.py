"""FileManager: the FileService use cases (files, reads, pools, bundles, quotas, expiry)."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from datetime import datetime

from drive_service import crypto
from drive_service.domain import validation as valid
from drive_service.domain.files import Bundle, StoredFile, Usage
from drive_service.domain.ids import is_well_formed, new_id
from drive_service.domain.pools import Pool
from drive_service.errors import (
    BundleNotFound,
    CorruptData,
    FileNotFound,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    PoolNotFound,
)
from drive_service.pools import PoolRegistry
from drive_service.services.ports import BlobMissing, BlobStore, BlobStores, Clock, FileStore
from drive_service.services.sealing import opened
from drive_service.services.tokens import Caller

_log = logging.getLogger(__name__)
MAX_BUNDLE_NAME = 255
MAX_BUNDLE_DESCRIPTION = 1024


class FileManager:
    """Reads and deletes the caller's files, manages bundles and quotas, and sweeps expired files.

    Every method is scoped to one account: another account's file or bundle is NOT_FOUND, as is
    an id that we could never have issued.
    """

    def __init__(
        self,
        store: FileStore,
        pools: PoolRegistry,
        blobs: BlobStores,
        clock: Clock,
        default_quota: int,
    ) -> None:
        self._store = store
        self._pools = pools
        self._blobs = blobs
        self._clock = clock
        self._default_quota = default_quota

    async def get_file(self, account_id: str, file_id: str) -> StoredFile:
        """The caller's live file.

        Raises:
            InvalidArgument: FILE_ID_REQUIRED when ``file_id`` is empty.
            NotFound: FILE_NOT_FOUND (unknown, malformed, expired or another account's).
        """
        file = await self._store.get_file(account_id, _file_id(file_id), now=self._clock())
        if file is None:
            raise FileNotFound(file_id)
        return file

    async def list_files(
        self, account_id: str, pool_id: str | None, bundle_id: str | None, offset: int, limit: int | None
    ) -> tuple[list[StoredFile], int]:
        """A page of the caller's live files, newest first, and the total matching the filters.

        Raises:
            InvalidArgument: INVALID_OFFSET or INVALID_LIMIT (``limit`` None means 50).
            NotFound: POOL_NOT_FOUND or BUNDLE_NOT_FOUND for a filter naming no pool or bundle.
        """
        offset, limit = valid.page(offset, limit)
        if pool_id:
            self._pools.get(pool_id)  # PoolNotFound: nothing can match an unknown pool
        if bundle_id:
            valid.bundle_id(bundle_id)
        return await self._store.list_files(account_id, pool_id, bundle_id, offset, limit, now=self._clock())

    async def delete_file(self, account_id: str, file_id: str) -> StoredFile:
        """Delete the caller's file; its blob's bytes go when no other file references them.

        Raises:
            InvalidArgument: FILE_ID_REQUIRED.
            NotFound: FILE_NOT_FOUND.
        """
        file = await self._store.delete_file(account_id, _file_id(file_id), self.release_blob)
        _log.info("file deleted", extra={"file_id": file.id, "account_id": account_id})
        return file

    async def read_file(
        self, account_id: str, file_id: str, offset: int, length: int | None, password: str | None
    ) -> tuple[StoredFile, AsyncGenerator[bytes, None]]:
        """The caller's file and its content bytes ``[offset, offset + length)``, clipped to its size.

        Every check that can fail before the first byte runs before this returns: range, password
        (the first encrypted segment is decrypted here; each later one is authenticated before it
        is sent). A plain file's content hash is checked too: a whole-file read hashes the pieces
        as they go and holds the last one back until the hash matched (so a reader never gets a
        complete file that fails its check: the stream ends with CORRUPT_DATA instead); a ranged
        read hashes the whole blob before its first byte. Pieces are at most one encryption
        segment or 1 MiB long; ``length`` None reads to the end.

        Raises:
            InvalidArgument: FILE_ID_REQUIRED, INVALID_RANGE (negative offset or length, offset
                beyond the size), PASSWORD_REQUIRED (encrypted file, no password).
            NotFound: FILE_NOT_FOUND.
            PermissionDenied: WRONG_PASSWORD.
            DataLoss: CORRUPT_DATA when stored bytes are missing or fail their check (also raised
                from the iterator for later encrypted segments).
        """
        if offset < 0 or (length is not None and length < 0):
            field = "offset" if offset < 0 else "length"
            raise InvalidArgument(
                "The offset and length must not be negative.", reason="INVALID_RANGE", field=field
            )
        file = await self.get_file(account_id, file_id)
        if offset > file.size:
            raise InvalidArgument(
                f"The offset {offset} is beyond the file's size {file.size}.",
                reason="INVALID_RANGE",
                field="offset",
                offset=offset,
                size=file.size,
            )
        expected = file.size - offset if length is None else min(length, file.size - offset)
        store = self._blobs.of(file.pool_id)
        if file.encrypted:
            if not password:
                raise InvalidArgument(
                    "The file is encrypted; a password is required.",
                    reason="PASSWORD_REQUIRED",
                    field="password",
                    file_id=file.id,
                )
            pieces = opened(store, file.blob_key, file.stored_size, password, offset, length)
            first = await _checked_piece(file, pieces)  # derives the key and checks the password
            pieces = _chained(first, pieces)
        elif expected == file.size:
            pieces = _verified_as_sent(file, store.read(file.blob_key))
        else:
            await self._verify(file, store)
            pieces = store.read(file.blob_key, offset, length)
        return file, _counted(file, pieces, expected)

    def list_pools(self, account_id: str, tier: int) -> list[Pool]:
        """Pools the caller may upload into and see (not hidden unless owned), ordered by name."""
        visible = [pool for pool in self._pools.all() if pool.visible_to(account_id, tier)]
        return sorted(visible, key=lambda pool: (pool.name.casefold(), pool.id))

    async def create_bundle(
        self, account_id: str, name: str, description: str, expired_at: datetime | None
    ) -> Bundle:
        """Store a new bundle of the caller.

        Raises:
            InvalidArgument: INVALID_NAME (1..255 printable characters after trimming),
                TEXT_TOO_LONG (description over 1024), INVALID_EXPIRY (not in the future).
        """
        name = name.strip()
        if not name or len(name) > MAX_BUNDLE_NAME or not name.isprintable():
            raise InvalidArgument(
                f"The name must be 1 to {MAX_BUNDLE_NAME} printable characters.",
                reason="INVALID_NAME",
                field="name",
            )
        description = valid.text(description, field="description", limit=MAX_BUNDLE_DESCRIPTION)
        now = self._clock()
        valid.deadline(expired_at, now=now)
        bundle = Bundle(new_id(), account_id, name, description, expired_at, now, now)
        await self._store.create_bundle(bundle)
        return bundle

    async def get_bundle(self, account_id: str, bundle_id: str) -> Bundle:
        """The caller's bundle.

        Raises:
            InvalidArgument: BUNDLE_ID_REQUIRED.
            NotFound: BUNDLE_NOT_FOUND.
        """
        bundle = await self._store.get_bundle(account_id, _bundle_id(bundle_id))
        if bundle is None:
            raise BundleNotFound(bundle_id)
        return bundle

    async def list_bundles(self, account_id: str, offset: int, limit: int | None) -> tuple[list[Bundle], int]:
        """A page of the caller's bundles, newest first, and their total.

        Raises:
            InvalidArgument: INVALID_OFFSET or INVALID_LIMIT.
        """
        offset, limit = valid.page(offset, limit)
        return await self._store.list_bundles(account_id, offset, limit)

    async def delete_bundle(self, account_id: str, bundle_id: str) -> None:
        """Delete the caller's bundle; its files stay, outside any bundle.

        Raises:
            InvalidArgument: BUNDLE_ID_REQUIRED.
            NotFound: BUNDLE_NOT_FOUND.
        """
        await self._store.delete_bundle(account_id, _bundle_id(bundle_id))

    async def get_quota(self, account_id: str) -> Usage:
        """The caller's quota, weighted stored bytes and bytes reserved by in-flight uploads."""
        multipliers = {pool.id: pool.cost_multiplier for pool in self._pools.all()}
        return await self._store.usage(account_id, multipliers, self._default_quota)

    async def set_quota(self, caller: Caller, account_id: str, quota_bytes: int | None) -> tuple[str, int]:
        """Set (or with None reset to the default) any account's quota; admins only.

        Returns:
            The normalised account id and the quota now in effect.

        Raises:
            PermissionDenied: ADMIN_REQUIRED.
            InvalidArgument: INVALID_ACCOUNT_ID (not a UUID), INVALID_QUOTA (negative).
        """
        if not caller.is_admin:
            raise PermissionDenied(
                "Setting quotas needs the drive.admin permission.", reason="ADMIN_REQUIRED"
            )
        try:
            account_id = str(uuid.UUID(account_id))
        except ValueError:
            raise InvalidArgument(
                "The account id must be a UUID.", reason="INVALID_ACCOUNT_ID", field="account_id"
            ) from None
        if quota_bytes is not None and quota_bytes < 0:
            raise InvalidArgument(
                "The quota must not be negative.",
                reason="INVALID_QUOTA",
                field="quota_bytes",
                quota=quota_bytes,
            )
        await self._store.set_quota(account_id, quota_bytes)
        _log.info(
            "quota set", extra={"account_id": account_id, "quota_bytes": quota_bytes, "by": caller.account_id}
        )
        return account_id, self._default_quota if quota_bytes is None else quota_bytes

    async def expire_files(self, batch: int = 100) -> int:
        """Delete every file whose own or bundle's expiry has passed; return how many were deleted."""
        now = self._clock()
        deleted = 0
        while True:
            due = await self._store.expired_files(now, batch)
            for account_id, file_id in due:
                try:
                    await self._store.delete_file(account_id, file_id, self.release_blob)
                except NotFound:
                    continue  # deleted by its owner meanwhile
                deleted += 1
            if len(due) < batch:
                break
        if deleted:
            _log.info("expired files deleted", extra={"count": deleted})
        return deleted

    async def release_blob(self, pool_id: str, key: str) -> None:
        """Delete the bytes of a blob no file references any more (called inside the transaction)."""
        try:
            store = self._blobs.of(pool_id)
        except PoolNotFound:
            # The pool left the configuration: nothing here can reach its bytes.
            _log.warning("blob of an unknown pool not deleted", extra={"pool_id": pool_id, "key": key})
            return
        await store.delete_blob(key)

    async def _verify(self, file: StoredFile, store: BlobStore) -> None:
        """Hash the whole plain blob and compare with the file's size and SHA-256."""
        digest = hashlib.sha256()
        size = 0
        async for block in _translated(file, store.read(file.blob_key)):
            await asyncio.to_thread(digest.update, block)  # hashlib releases the GIL on big blocks
            size += len(block)
        if size != file.size or digest.hexdigest() != file.hash:
            raise CorruptData(file.id)


async def _checked_piece(file: StoredFile, pieces: AsyncIterator[bytes]) -> bytes | None:
    """The next piece of ``pieces`` (None at the end), with storage and crypto errors as DriveErrors."""
    try:
        return await anext(pieces, None)
    except crypto.WrongPassword:
        raise PermissionDenied(
            "The password does not decrypt the file.", reason="WRONG_PASSWORD", file_id=file.id
        ) from None
    except (crypto.CorruptData, BlobMissing):
        raise CorruptData(file.id) from None


async def _chained(first: bytes | None, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    if first is not None:
        yield first
    async for piece in rest:
        yield piece


async def _verified_as_sent(file: StoredFile, blob: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """The whole plain blob, hashed on the way; the last piece is yielded only once the size and
    SHA-256 matched the file's (else CORRUPT_DATA)."""
    digest = hashlib.sha256()
    size = 0
    held: bytes | None = None
    async for piece in _translated(file, blob):
        await asyncio.to_thread(digest.update, piece)  # hashlib releases the GIL on big blocks
        size += len(piece)
        if held is not None:
            yield held
        held = piece
    if size != file.size or digest.hexdigest() != file.hash:
        raise CorruptData(file.id)
    if held is not None:
        yield held


async def _translated(file: StoredFile, pieces: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """``pieces`` with storage and crypto errors as DriveErrors."""
    while (piece := await _checked_piece(file, pieces)) is not None:
        yield piece


async def _counted(
    file: StoredFile, pieces: AsyncIterator[bytes], expected: int
) -> AsyncGenerator[bytes, None]:
    """Pass ``pieces`` through, ending with CORRUPT_DATA when they are not exactly ``expected`` bytes."""
    sent = 0
    async for piece in _translated(file, pieces):
        sent += len(piece)
        if sent > expected:
            raise CorruptData(file.id)
        yield piece
    if sent != expected:
        raise CorruptData(file.id)


def _file_id(value: str) -> str:
    if not value:
        raise InvalidArgument("The file id is required.", reason="FILE_ID_REQUIRED", field="file_id")
    if not is_well_formed(value):
        raise FileNotFound(value[:64])
    return value


def _bundle_id(value: str) -> str:
    if not value:
        raise InvalidArgument("The bundle id is required.", reason="BUNDLE_ID_REQUIRED", field="bundle_id")
    return valid.bundle_id(value)

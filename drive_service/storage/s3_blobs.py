"""A pool's bytes in an S3-compatible bucket: each upload stages its chunks as the parts of one
multipart upload, so any instance may receive any chunk and any instance may complete it.

Layout under the pool's prefix: ``blobs/<key>``. A plain upload's multipart upload targets
``blobs/<task id>``: completing it puts the bytes where they stay, so a completed upload's blob
key is its task id (no copy, whatever the size). Content-addressed and random keys (64 hex
digits) come from whole-blob writes (``put``, ``write_blob``, ``adopt``).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import secrets
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import NoReturn, TypeVar

from drive_service.domain.ids import is_blob_key, is_well_formed
from drive_service.domain.pools import ObjectStorage
from drive_service.errors import FailedPrecondition, Unavailable
from drive_service.services.ports import BlobMissing, BlobStore, Data, Staging
from drive_service.storage.s3 import (
    MAX_PARTS,
    MIN_PART_SIZE,
    ObjectNotFound,
    Part,
    RangeNotSatisfiable,
    S3Config,
    S3Error,
    S3Store,
    UploadNotFound,
)
from drive_service.storage.shielded import to_the_end

_log = logging.getLogger(__name__)
_T = TypeVar("_T")
_BLOBS = "blobs/"
#: Bytes hashed per step off the event loop (the store's reads come in blocks of 1 MiB).
_HASH_BATCH = 8 * 1024 * 1024


class StorageMisconfigured(Exception):
    """The pool's storage settings cannot work (the detail is logged at start)."""


class S3BlobStore:
    """BlobStore on one bucket and prefix (see the module docstring for the layout).

    Every refusal of the store that is not "no such object" surfaces as ``Unavailable``: the
    caller keeps nothing of a chunk the store did not acknowledge, and retries.
    """

    max_chunks = MAX_PARTS

    def __init__(self, store: S3Store, *, min_chunk_size: int = MIN_PART_SIZE) -> None:
        self._s3 = store
        self.min_chunk_size = min_chunk_size

    async def aclose(self) -> None:
        """Close the client's connections."""
        await self._s3.aclose()

    async def open_staging(self, task_id: str) -> str:
        return await _guard(self._s3.create_multipart(_object(task_id)))

    async def write_chunk(self, staging: Staging, index: int, offset: int, data: Data) -> str:
        upload_id = _upload_id(staging)
        return await to_the_end(
            _guard(self._s3.upload_part(_object(staging.task_id), upload_id, index + 1, data))
        )

    async def hash_staging(self, staging: Staging) -> tuple[str, int]:
        await self._assemble(staging)
        digest = hashlib.sha256()
        size = batched = 0
        batch: list[bytes] = []
        async for block in self.read(staging.task_id):
            batch.append(block)
            batched += len(block)
            if batched >= _HASH_BATCH:
                await asyncio.to_thread(_update, digest, batch)
                size, batched, batch = size + batched, 0, []
        await asyncio.to_thread(_update, digest, batch)
        return digest.hexdigest(), size + batched

    async def read_staging(self, staging: Staging) -> AsyncIterator[bytes]:
        await self._assemble(staging)
        async for block in self.read(staging.task_id):
            yield block

    def staged_key(self, staging: Staging, sha256: str) -> str:
        return staging.task_id

    async def adopt_staging(self, staging: Staging, key: str) -> bool:
        if key != staging.task_id:
            raise ValueError("staged bytes stay under the upload's own key")
        await self._assemble(staging)
        return True

    async def discard_staging(self, task_id: str, *, adopted: bool = False) -> None:
        if adopted:
            return  # the multipart upload became the blob: nothing else was staged
        key = _object(task_id)
        async for upload in _guarded_iter(self._s3.list_multipart_uploads(key)):
            if upload.key == key:
                await _guard(self._s3.abort_multipart(key, upload.upload_id))
        # Bytes assembled for a completion that then failed, or the plain bytes of an
        # encrypted upload (its blob is the sealed copy): nothing references them.
        await _guard(self._s3.delete(key))

    async def staging_ids(self) -> list[str]:
        staged: list[str] = []
        async for upload in _guarded_iter(self._s3.list_multipart_uploads(_BLOBS)):
            name = upload.key.removeprefix(_BLOBS)
            if _is_staged(name):
                staged.append(name)
        return staged

    async def adopt(self, source: Path, key: str) -> bool:
        if await self._exists(key):
            return False
        await _guard(self._s3.put_file(_object(key), source))
        return True

    async def put(self, key: str, blocks: AsyncIterable[bytes]) -> bool:
        if await self._exists(key):
            return False
        await _guard(self._s3.put_stream(_object(key), blocks))
        return True

    async def write_blob(self, blocks: AsyncIterable[bytes]) -> tuple[str, int]:
        key = secrets.token_hex(32)
        result = await _guard(self._s3.put_stream(_object(key), blocks))
        return key, result.size

    async def read(self, key: str, offset: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
        with _translated():
            try:
                stream = await self._s3.open_range(_object(key), offset, length)
            except RangeNotSatisfiable:
                return  # past the end: nothing, as a file read there gives
        async with stream:
            async for block in _guarded_iter(stream):
                yield block

    async def delete_blob(self, key: str) -> None:
        await _guard(self._s3.delete(_object(key)))

    async def blob_keys(self, modified_before: datetime) -> list[str]:
        keys: list[str] = []
        async for info in _guarded_iter(self._s3.list_objects(_BLOBS)):
            name = info.key.removeprefix(_BLOBS)
            if info.last_modified < modified_before and is_blob_key(name):
                keys.append(name)
        return keys

    async def sweep(self, started_before: datetime) -> int:
        # Whole-blob writes abort their multipart upload when they fail; only a crash leaves one.
        swept = 0
        async for upload in _guarded_iter(self._s3.list_multipart_uploads(_BLOBS)):
            name = upload.key.removeprefix(_BLOBS)
            if not _is_staged(name) and upload.initiated < started_before:
                await _guard(self._s3.abort_multipart(upload.key, upload.upload_id))
                swept += 1
        return swept

    async def probe(self) -> None:
        await self._s3.probe()

    async def _exists(self, key: str) -> bool:
        try:
            await _guard(self._s3.head(_object(key)))
        except BlobMissing:
            return False
        return True

    async def _assemble(self, staging: Staging) -> None:
        """Complete the upload's multipart upload into ``blobs/<task id>`` unless that was done
        (by an earlier, interrupted completion on any instance)."""
        key = _object(staging.task_id)
        if await self._exists(staging.task_id):
            return
        upload_id = _upload_id(staging)
        parts = [Part(number, tag) for number, tag in enumerate(staging.tags, start=1)]
        try:
            await _guard(self._s3.complete_multipart(key, upload_id, parts))
        except _Gone:
            # Completed meanwhile by a concurrent completer, or aborted (expired): which one?
            if not await self._exists(staging.task_id):
                raise BlobMissing(staging.task_id) from None


class UnusableBlobStore:
    """The store of a pool whose storage settings cannot work: every call is Unavailable and the
    health probe names the problem's kind, so the service starts and the operator can see it."""

    min_chunk_size = MIN_PART_SIZE
    max_chunks = MAX_PARTS

    def __getattr__(self, name: str) -> Callable[..., NoReturn]:
        def refuse(*_: object, **__: object) -> NoReturn:
            raise Unavailable("This pool's storage is misconfigured; retry later.", retry_after=30.0)

        return refuse

    async def probe(self) -> None:
        raise StorageMisconfigured("see the service's start-up log")

    async def aclose(self) -> None:
        return None  # it never opened a connection


def s3_blob_store(pool_id: str, remote: ObjectStorage) -> BlobStore:
    """The store of an s3 pool: S3BlobStore, or UnusableBlobStore when the settings are invalid
    (logged once, without any credential)."""
    try:
        config = S3Config(
            bucket=remote.bucket,
            prefix=remote.prefix,
            endpoint=remote.endpoint,
            region=remote.region,
            access_key_id=remote.access_key_id,
            secret_access_key=remote.secret_access_key,
            addressing=remote.addressing,  # type: ignore[arg-type]  # checked by S3Config
        )
    except ValueError as error:
        _log.error("pool storage is misconfigured", extra={"pool_id": pool_id, "reason": str(error)})
        return UnusableBlobStore()
    return S3BlobStore(S3Store(config), min_chunk_size=remote.min_part_size)


class _Gone(Exception):
    """The store no longer knows a multipart upload (completed, aborted), or answered as moto
    does for an unknown upload id (an internal error)."""


def _object(key: str) -> str:
    if not is_blob_key(key):
        raise ValueError(f"bad blob key {key!r}")
    return _BLOBS + key


def _is_staged(name: str) -> bool:
    return len(name) != 64 and is_blob_key(name)


def _upload_id(staging: Staging) -> str:
    if staging.ref is None or not is_well_formed(staging.task_id):
        raise FailedPrecondition(
            "This upload began before its pool stored bytes in object storage; start it again.",
            reason="INVALID_TASK_STATE",
        )
    return staging.ref


def _update(digest: hashlib._Hash, blocks: list[bytes]) -> None:
    for block in blocks:
        digest.update(block)


async def _guard(call: Awaitable[_T]) -> _T:
    """Await a store call: a missing object is BlobMissing, a missing upload _Gone, any other
    refusal Unavailable (retryable; the message names the operation, never a credential)."""
    with _translated():
        return await call
    raise AssertionError("unreachable")  # pragma: no cover  # _translated re-raises


async def _guarded_iter(items: AsyncIterator[_T]) -> AsyncIterator[_T]:
    while True:
        with _translated():
            try:
                item = await anext(items)
            except StopAsyncIteration:
                return
        yield item


@contextlib.contextmanager
def _translated() -> Iterator[None]:
    try:
        yield
    except ObjectNotFound as error:
        raise BlobMissing(error.key or "") from None
    except UploadNotFound:
        raise _Gone() from None
    except S3Error as error:
        raise Unavailable(
            f"The object store refused {error.operation} ({error.code}); retry later.",
            retry_after=5.0,
            operation=error.operation,
        ) from None

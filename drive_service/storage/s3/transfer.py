"""Moving many bytes: multipart puts from blocks or files, bounded concurrency, abort on failure."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Awaitable, Iterable
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol

from drive_service.errors import Unavailable
from drive_service.storage.s3.config import MIN_PART_SIZE, Buffer, Part, PutResult, T
from drive_service.storage.s3.errors import S3Error

if TYPE_CHECKING:
    pass


log = logging.getLogger(__name__)


class Multipart(Protocol):
    """The store operations a multipart transfer uses (S3Store's)."""

    async def put_object(self, key: str, data: Buffer, *, content_type: str | None = None) -> str: ...
    async def create_multipart(self, key: str, *, content_type: str | None = None) -> str: ...
    async def upload_part(self, key: str, upload_id: str, number: int, data: Buffer) -> str: ...
    async def complete_multipart(self, key: str, upload_id: str, parts: Iterable[Part]) -> str: ...
    async def abort_multipart(self, key: str, upload_id: str) -> None: ...


class AbortOnFailure:
    """Abort the multipart upload when the block fails or is cancelled (best effort: an abort
    that fails too leaves the upload to garbage collection)."""

    def __init__(self, store: Multipart, key: str, upload_id: str) -> None:
        self._store, self._key, self._upload_id = store, key, upload_id

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if kind is None:
            return
        try:
            # Shielded: a cancelled put must still abort, or its parts stay billed until collected.
            await asyncio.shield(self._store.abort_multipart(self._key, self._upload_id))
        except (Unavailable, S3Error, asyncio.CancelledError):
            log.warning(
                "could not abort a failed multipart upload; garbage collection will", extra={"key": self._key}
            )


def body(data: Buffer) -> Any:
    """The SDK's Body: bytes-likes go to aiohttp as they are (it sends memoryviews without a copy);
    a non-byte memoryview is viewed as bytes, which copies nothing either."""
    if isinstance(data, memoryview) and (data.format != "B" or data.ndim != 1):
        return data.cast("B")
    return data


async def rechunk(blocks: AsyncIterable[Buffer], part_size: int) -> AsyncGenerator[Buffer, None]:
    """Blocks of any size -> buffers of exactly ``part_size`` bytes (the last may be shorter,
    never empty unless the whole stream is)."""
    buffer = bytearray()
    async for block in blocks:
        view = memoryview(block).cast("B")
        while view.nbytes:
            if not buffer and view.nbytes >= part_size and isinstance(block, bytes):
                # A whole part inside an immutable block: hand a view of it on, no copy. (A
                # bytearray or memoryview may be reused by its producer: those are copied.)
                yield view[:part_size]
                view = view[part_size:]
                continue
            take = min(part_size - len(buffer), view.nbytes)
            buffer += view[:take]
            view = view[take:]
            if len(buffer) == part_size:
                yield buffer
                buffer = bytearray()  # the yielded one may still be uploading
    if buffer:
        yield buffer


async def file_parts(path: Path, part_size: int) -> AsyncGenerator[Buffer, None]:
    """A local file as ``part_size`` buffers, each read in a thread straight into a new buffer."""
    handle = await asyncio.to_thread(path.open, "rb", buffering=0)
    try:
        while True:
            buffer = bytearray(part_size)
            count = await asyncio.to_thread(fill, handle, buffer)
            if count == 0:
                return
            yield buffer if count == part_size else memoryview(buffer)[:count]
            if count < part_size:
                return
    finally:
        await asyncio.to_thread(handle.close)


def fill(handle: Any, buffer: bytearray) -> int:
    """readinto until the buffer is full or the file ends (raw reads may return short)."""
    view = memoryview(buffer)
    total = 0
    while total < len(buffer):
        count = handle.readinto(view[total:])
        if not count:
            break
        total += count
    return total


async def bounded_gather(calls: AsyncIterator[Awaitable[T]], limit: int) -> list[T]:
    """Run the awaitables, at most ``limit`` at a time, pulling the next only when a slot frees
    (so a producer's buffers are not all created up front). Results in completion order. On the
    first failure the others are cancelled and awaited, and that failure is raised as it is."""
    running: set[asyncio.Task[T]] = set()
    results: list[T] = []

    async def settle(until: int) -> None:
        while len(running) > until:
            done, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                running.discard(task)
                results.append(task.result())  # raises the part's own error

    try:
        while True:
            await settle(limit - 1)
            # The next awaitable (and so the next part's buffer) is made only once a slot is free.
            call = await anext(calls, None)
            if call is None:
                break
            running.add(asyncio.ensure_future(call))
        await settle(0)
    except BaseException:
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        raise
    return results


async def put_parts(
    store: Multipart,
    key: str,
    parts: AsyncGenerator[Buffer, None],
    part_size: int,
    concurrency: int,
    content_type: str | None,
) -> PutResult:
    if part_size < MIN_PART_SIZE or concurrency < 1:
        raise ValueError("part_size must be at least 5 MiB and concurrency at least 1")
    try:
        first = await anext(parts, None)
        second = await anext(parts, None) if first is not None else None
        if first is None or second is None:  # fits one request
            data = first if first is not None else b""
            etag = await store.put_object(key, data, content_type=content_type)
            return PutResult(etag=etag, size=memoryview(data).nbytes, parts=0)
        head = (first, second)
        upload_id = await store.create_multipart(key, content_type=content_type)
        async with AbortOnFailure(store, key, upload_id):

            async def numbered() -> AsyncIterator[Awaitable[Part]]:
                for number, data in enumerate(head, 1):
                    yield _part(store, key, upload_id, number, data)
                number = 2
                async for data in parts:
                    number += 1
                    yield _part(store, key, upload_id, number, data)

            done = await bounded_gather(numbered(), concurrency)
            etag = await store.complete_multipart(key, upload_id, done)
            return PutResult(etag=etag, size=sum(part.size for part in done), parts=len(done))
    finally:
        await parts.aclose()  # a file being read is closed now, not when collected


async def _part(store: Multipart, key: str, upload_id: str, number: int, data: Buffer) -> Part:
    etag = await store.upload_part(key, upload_id, number, data)
    return Part(number=number, etag=etag, size=memoryview(data).nbytes)

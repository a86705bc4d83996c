"""Receiving an UploadChunks stream: pieces gathered into chunks, each written while the next arrives."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import google_crc32c

from drive_service.domain import uploads as rules
from drive_service.domain.files import Upload
from drive_service.domain.tasks import Task
from drive_service.errors import AlreadyExists, ChunksMissing, InvalidArgument
from drive_service.services.buffers import FairBuffers
from drive_service.services.ports import Data

#: Stores one whole chunk (durable and recorded) and returns the upload as it then stands; the
#: arguments are task id, index, data, the declared CRC32C and the CRC32C computed on the way.
StoreChunk = Callable[[str, int, Data, int | None, int | None], Awaitable[tuple[Task, Upload]]]


@dataclass(frozen=True, slots=True)
class Piece:
    """One UploadChunks message: a piece of chunk ``index`` (consecutive pieces append)."""

    task_id: str
    index: int
    data: Data
    crc32c: int | None


@dataclass(frozen=True, slots=True)
class StreamResult:
    """What one UploadChunks stream stored and skipped, and where the upload stands."""

    stored: int
    skipped: int
    task: Task
    upload: Upload


class _Chunk:
    """A chunk being gathered into a buffer of exactly its expected length."""

    __slots__ = ("buffer", "computed", "crc", "expected", "filled", "index")

    def __init__(self, index: int, expected: int) -> None:
        self.index = index
        self.expected = expected
        self.buffer: bytearray | None = None  # allocated with the first byte
        self.filled = 0
        self.crc: int | None = None  # declared
        # CRC32C of the bytes so far, kept while a CRC is declared (google_crc32c only takes
        # bytes, and a bytearray would need a copy); None when not followed.
        self.computed: int | None = 0

    def add(self, piece: Piece) -> bool:
        """Append the piece; True when the chunk is complete."""
        if piece.crc32c is not None:
            if self.crc is not None and self.crc != piece.crc32c:
                raise InvalidArgument(
                    f"The pieces of chunk {self.index} name different CRC32C values.",
                    reason="CHECKSUM_MISMATCH",
                    field="crc32c",
                    chunk_index=self.index,
                )
            self.crc = piece.crc32c
        size = len(piece.data)
        if self.filled + size > self.expected:
            raise rules.size_mismatch(self.index, self.filled + size, self.expected)
        if size:
            if self.buffer is None:
                self.buffer = bytearray(self.expected)
            self.buffer[self.filled : self.filled + size] = piece.data
            self.filled += size
            if self.computed is not None:
                tracked = self.crc is not None and isinstance(piece.data, bytes)
                self.computed = google_crc32c.extend(self.computed, piece.data) if tracked else None
        return self.filled == self.expected


class StreamReceiver:
    """Stores the chunks of one UploadChunks stream; already stored chunks are skipped.

    Memory is bounded process-wide by ``buffers``: a permit is taken before the stream reads a
    message that may start a chunk and is given back once that chunk is written (or dropped), so
    a stream waiting for a permit reads nothing and gRPC flow control holds its sender. Permits
    are shared fairly between accounts (see FairBuffers): one account's streams, idle or slow,
    hold at most its share. Receiving
    the next chunk overlaps writing the previous one, with at most one write in flight: a chunk is
    written only after the previous one was stored (or skipped), and every write has ended before
    the stream answers. Chunks stored before an error stay stored (the upload is resumable).
    """

    def __init__(self, buffers: FairBuffers, account_id: str, store: StoreChunk) -> None:
        self._buffers = buffers
        self._account_id = account_id
        self._store = store
        self._held = False  # a permit for the chunk being gathered (or the next message)
        self._writing: asyncio.Task[tuple[Task, Upload]] | None = None
        self.stored = self.skipped = 0

    async def receive(
        self, pieces: AsyncIterator[Piece], load: Callable[[str], Awaitable[tuple[Task, Upload]]]
    ) -> StreamResult:
        """Read the stream; ``load(task_id)`` fetches the caller's upload named by the first message."""
        try:
            await self._hold()
            first = await anext(pieces, None)
            if first is None or not first.task_id:
                raise InvalidArgument(
                    "The first message must name the upload task.",
                    reason="TASK_ID_REQUIRED",
                    field="task_id",
                )
            task_id = first.task_id
            task, upload = await load(task_id)
            plan = rules.ChunkPlan(upload.file_size, upload.chunk_size)
            chunk: _Chunk | None = None
            # No reference to a piece outlives copying it: a stream waiting below holds no bytes.
            piece: Piece | None = first
            first = None
            while piece is not None:
                if piece.task_id and piece.task_id != task_id:
                    raise InvalidArgument(
                        "All messages of a stream must name the same task.",
                        reason="TASK_ID_MISMATCH",
                        field="task_id",
                    )
                if chunk is not None and piece.index != chunk.index:
                    _require_complete(chunk)
                    chunk = None  # it only had empty pieces; the permit stays for the next one
                if chunk is None:
                    chunk = _Chunk(piece.index, plan.expected_length(piece.index))
                complete, piece = chunk.add(piece), None
                if complete:
                    if self._writing is not None:
                        task, upload = await self._harvest(task, upload)
                    self._writing = asyncio.create_task(self._write(task_id, chunk))
                    self._held, chunk = False, None  # the write gives the permit back
                elif self._writing is not None and self._writing.done():
                    task, upload = await self._harvest(task, upload)  # a failed write ends the stream now
                await self._hold()
                piece = await anext(pieces, None)
            if chunk is not None:
                _require_complete(chunk)
            if self._writing is not None:
                task, upload = await self._harvest(task, upload)
            if self.stored == 0:  # nothing changed here; another call may have moved the upload
                task, upload = await load(task_id)
            return StreamResult(self.stored, self.skipped, task, upload)
        finally:
            if self._held:
                self._held = False
                self._buffers.release(self._account_id)
            if self._writing is not None:  # leaving early: the chunk already received still lands
                writing, self._writing = self._writing, None
                writing.add_done_callback(_consume)
                await asyncio.wait([writing])

    async def _hold(self) -> None:
        if not self._held:
            await self._buffers.acquire(self._account_id)
            self._held = True

    async def _write(self, task_id: str, chunk: _Chunk) -> tuple[Task, Upload]:
        try:
            assert chunk.buffer is not None
            computed = chunk.computed if chunk.crc is not None else None
            return await self._store(task_id, chunk.index, chunk.buffer, chunk.crc, computed)
        finally:
            self._buffers.release(self._account_id)

    async def _harvest(self, task: Task, upload: Upload) -> tuple[Task, Upload]:
        """Wait for the write in flight; the upload as it stands after it."""
        assert self._writing is not None
        writing, self._writing = self._writing, None
        try:
            task, upload = await writing
        except AlreadyExists:
            self.skipped += 1
        else:
            self.stored += 1
        return task, upload


def _require_complete(chunk: _Chunk) -> None:
    if chunk.filled:
        raise rules.size_mismatch(chunk.index, chunk.filled, chunk.expected)


def _consume(task: asyncio.Task[tuple[Task, Upload]]) -> None:
    if not task.cancelled():
        task.exception()


async def split_file(task_id: str, plan: rules.ChunkPlan, data: AsyncIterator[Data]) -> AsyncIterator[Piece]:
    """Cut a file's bytes, sent in order in blocks of any size (UploadFile), at chunk boundaries
    into the pieces of an UploadChunks stream of task ``task_id``.

    Raises:
        InvalidArgument: FILE_SIZE_MISMATCH when more bytes come than the plan's file size.
        ChunksMissing: the data ends before the file size.
    """
    offset = 0
    yield Piece(task_id, 0, b"", None)
    async for block in data:
        view = memoryview(block)
        del block  # only the bytes not yet cut stay referenced
        while view:
            index = offset // plan.chunk_size
            room = plan.chunk_size - offset % plan.chunk_size
            piece, view = view[:room], view[room:]
            offset += len(piece)
            if index >= plan.chunks_count:
                raise InvalidArgument(
                    "More bytes were sent than the declared file size.",
                    reason="FILE_SIZE_MISMATCH",
                    field="data",
                )
            yield Piece(task_id, index, piece, None)
    if offset != plan.file_size:
        missing = list(range(offset // plan.chunk_size, plan.chunks_count))
        raise ChunksMissing(task_id, missing)

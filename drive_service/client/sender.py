"""One sending pass of an upload: chunks read in file order and spread over parallel UploadChunks
streams ("lanes"), each chunk as pieces of at most ``piece_size`` bytes with its CRC32C.

A single reader walks the file once, in order, so that it can also feed a running SHA-256 (the
"hash while sending" mode) and so that memory stays bounded: each lane queues at most
``LANE_DEPTH`` pieces and a chunk's pieces go to one lane back to back, as the server requires.
A chunk is given to the lane with the shortest queue when its first piece is read; lanes are
opened on first use, up to ``parallel``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import google_crc32c
import grpc

from drive.v1 import uploads_pb2, uploads_pb2_grpc
from drive_service.client.errors import (
    CallCancelledError,
    DriveClientError,
    RetryableError,
    UnavailableError,
    from_rpc_error,
)
from drive_service.client.hashing import RunningHash
from drive_service.client.source import UploadSource

LANE_DEPTH = 4
Metadata = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class ChunkPlan:
    """The server's chunk layout: chunk i covers [i x chunk_size, min((i + 1) x chunk_size, size))."""

    file_size: int
    chunk_size: int
    chunks_count: int

    def span(self, index: int) -> tuple[int, int]:
        """(offset, length) of chunk ``index``."""
        offset = index * self.chunk_size
        return offset, min(self.chunk_size, self.file_size - offset)

    def bytes_of(self, indexes: Iterable[int]) -> int:
        return sum(self.span(index)[1] for index in indexes)


@dataclass
class PassOutcome:
    """What one pass did: chunks the server stored and skipped (already had), and what was sent."""

    stored: int = 0
    skipped: int = 0
    chunks_sent: int = 0
    bytes_sent: int = 0


class _Lane:
    """One UploadChunks stream fed from a bounded queue; ``None`` closes it. A lane whose stream
    failed is ``dead``: what is offered to it afterwards is dropped (the next pass resends it)."""

    def __init__(self, stub: uploads_pb2_grpc.UploadServiceStub, task_id: str) -> None:
        self.stub = stub
        self.task_id = task_id
        self.queue: asyncio.Queue[uploads_pb2.UploadChunksRequest | None] = asyncio.Queue(LANE_DEPTH)
        self.dead = False
        self.chunks = 0  # chunks wholly queued on this lane
        self.bytes = 0
        self.response: uploads_pb2.UploadChunksResponse | None = None

    async def offer(self, message: uploads_pb2.UploadChunksRequest | None) -> None:
        if not self.dead:
            await self.queue.put(message)

    def die(self) -> None:
        """Stop taking messages; free the queue so a reader blocked on it goes on."""
        self.dead = True
        while not self.queue.empty():
            self.queue.get_nowait()

    async def run(
        self, metadata: Metadata, on_sent: Callable[[int], None]
    ) -> uploads_pb2.UploadChunksResponse:
        response: uploads_pb2.UploadChunksResponse = await self.stub.UploadChunks(
            self._messages(on_sent), metadata=metadata
        )
        return response

    async def _messages(self, on_sent: Callable[[int], None]) -> object:
        first = True
        while (message := await self.queue.get()) is not None:
            if first:
                message.task_id = self.task_id
                first = False
            yield message
            on_sent(len(message.data))  # gRPC asks for the next message once this one is taken


class SendPass:
    """Sends ``to_send`` (and, with a ``hasher``, reads every chunk it still lacks, in order).

    ``run`` returns when every lane's stream was answered. A lane failing with a transient error
    (rate limited, unavailable, idle deadline) is dropped and the other lanes carry on with the
    remaining chunks; at the end the pass raises that ``RetryableError`` (its chunks are still
    missing). Any other failure cancels the pass at once and is raised as a ``DriveClientError``.
    Chunks the server stored before a failure stay stored: the caller asks GetUploadResumeInfo and
    runs another pass. ``on_sent(n)`` is called for each piece of n bytes handed to a stream.
    """

    def __init__(
        self,
        stubs: list[uploads_pb2_grpc.UploadServiceStub],
        metadata: Metadata,
        task_id: str,
        plan: ChunkPlan,
        source: UploadSource,
        *,
        parallel: int,
        piece_size: int,
        on_sent: Callable[[int], None],
    ) -> None:
        self._stubs = stubs
        self._metadata = metadata
        self._task_id = task_id
        self._plan = plan
        self._source = source
        self._parallel = max(1, parallel)
        self._piece = piece_size
        self._on_sent = on_sent
        self._lanes: list[_Lane] = []
        self._tasks: list[asyncio.Task[uploads_pb2.UploadChunksResponse | None]] = []
        self._transient: list[RetryableError] = []
        self._group: asyncio.TaskGroup | None = None
        self.outcome = PassOutcome()

    async def run(self, to_send: set[int], hasher: RunningHash | None) -> PassOutcome:
        try:
            async with asyncio.TaskGroup() as group:
                self._group = group
                group.create_task(self._read(to_send, hasher))
        except BaseExceptionGroup as failures:
            raise _first_failure(failures) from None
        for lane in self._lanes:
            if lane.response is not None:  # only answered streams count as sent
                self.outcome.stored += lane.response.chunks_stored
                self.outcome.skipped += lane.response.chunks_skipped
                self.outcome.chunks_sent += lane.chunks
                self.outcome.bytes_sent += lane.bytes
        if self._transient:
            raise self._transient[0]
        return self.outcome

    async def _run_lane(self, lane: _Lane) -> uploads_pb2.UploadChunksResponse | None:
        try:
            lane.response = await lane.run(self._metadata, self._on_sent)
            return lane.response
        except grpc.RpcError as raw:
            error = _stream_error(raw)
            if not isinstance(error, RetryableError):
                raise error from None
            lane.die()
            self._transient.append(error)
            return None

    def _lane(self) -> _Lane:
        """The lane for the next chunk: an idle one, else a new one, else the least loaded one.
        Raises the first transient failure when every lane has failed (no new ones are opened
        after a failure: the server is pushing back)."""
        alive = [lane for lane in self._lanes if not lane.dead]
        idle = [lane for lane in alive if lane.queue.empty()]
        if idle:
            return idle[0]
        if len(self._lanes) < self._parallel and not self._transient:
            lane = _Lane(self._stubs[len(self._lanes) % len(self._stubs)], self._task_id)
            self._lanes.append(lane)
            assert self._group is not None
            self._tasks.append(self._group.create_task(self._run_lane(lane)))
            return lane
        if not alive:
            raise self._transient[0]
        return min(alive, key=lambda lane: lane.queue.qsize())

    async def _read(self, to_send: set[int], hasher: RunningHash | None) -> None:
        needed = set(to_send)
        if hasher is not None:
            needed.update(range(hasher.next_chunk, self._plan.chunks_count))
        for index in sorted(needed):
            hashing = hasher is not None and index == hasher.next_chunk
            lane = self._lane() if index in to_send else None
            if hashing:
                assert hasher is not None
                hasher.begin(index)
            try:
                await self._read_chunk(index, lane, hasher if hashing else None)
            except BaseException:
                if hashing:
                    assert hasher is not None
                    hasher.rollback()
                raise
            if hashing:
                assert hasher is not None
                hasher.commit()
            if lane is not None and not lane.dead:
                lane.chunks += 1
                lane.bytes += self._plan.span(index)[1]
        for lane in self._lanes:
            await lane.offer(None)

    async def _read_chunk(self, index: int, lane: _Lane | None, hasher: RunningHash | None) -> None:
        offset, length = self._plan.span(index)
        crc, position = 0, 0
        while position < length:
            size = min(self._piece, length - position)
            data, crc = await asyncio.to_thread(
                _read_piece, self._source, offset + position, size, crc, hasher
            )
            position += size
            if lane is not None:
                message = uploads_pb2.UploadChunksRequest(chunk_index=index, data=data)
                if position == length:  # the CRC32C is of the whole chunk: known after its last piece
                    message.crc32c = crc
                await lane.offer(message)


def _read_piece(
    source: UploadSource, offset: int, size: int, crc: int, hasher: RunningHash | None
) -> tuple[bytes, int]:
    data = source.read_at(offset, size)
    if hasher is not None:
        hasher.update(data)
    return data, google_crc32c.extend(crc, data)


def _stream_error(raw: grpc.RpcError) -> DriveClientError:
    """The typed error of a failed stream. When the server answers (e.g. RESOURCE_EXHAUSTED) while
    a message is being written, grpc-python's aio client fails that write and reports the call as
    INTERNAL "Internal error from Core" with no details, losing the server's status: that case is
    a broken stream, retried as UNAVAILABLE (the next pass learns what the server stored)."""
    error = from_rpc_error(raw)
    if error.code is grpc.StatusCode.INTERNAL and not error.metadata and "from Core" in error.message:
        return UnavailableError(
            "the stream broke while sending (the server ended it early)",
            code=grpc.StatusCode.UNAVAILABLE,
            reason="STREAM_BROKEN",
        )
    return error


def _first_failure(failures: BaseExceptionGroup[BaseException]) -> BaseException:
    """The error to report for a failed pass: a final server answer first (a lane cut off after
    another lane's answer must not hide that answer), then local errors, then retryable ones."""
    errors = [
        from_rpc_error(error) if isinstance(error, grpc.RpcError) else error for error in _leaves(failures)
    ]

    def rank(error: BaseException) -> int:
        if isinstance(error, RetryableError | CallCancelledError):
            return 2
        return 0 if isinstance(error, DriveClientError) else 1

    return min(errors, key=rank)


def _leaves(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    leaves: list[BaseException] = []
    for error in group.exceptions:
        leaves.extend(_leaves(error) if isinstance(error, BaseExceptionGroup) else [error])
    return leaves

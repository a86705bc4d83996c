"""UploadService servicer: parse, call UploadManager, convert."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc

from drive.v1 import uploads_pb2, uploads_pb2_grpc
from drive_service.api import convert
from drive_service.api.auth import current_caller
from drive_service.api.convert_files import bundle, cloud_file, pool, upload_task
from drive_service.api.interception import check_parsed
from drive_service.api.metrics import received
from drive_service.domain import uploads as rules
from drive_service.domain import validation as valid
from drive_service.domain.uploads import human_duration, human_speed
from drive_service.errors import InvalidArgument, StreamStalled
from drive_service.services.rate_limits import RateLimits
from drive_service.services.receiving import Piece
from drive_service.services.uploads import UploadManager

_RECENT_DEFAULT, _RECENT_MAX = 10, 100


class UploadServicer(uploads_pb2_grpc.UploadServiceServicer):
    """Resumable uploads of the caller's account."""

    def __init__(self, manager: UploadManager, limits: RateLimits, stream_idle_seconds: float) -> None:
        """``stream_idle_seconds``: how long a stream may send nothing before it is ended (a
        stalled stream holds a chunk buffer other uploads need)."""
        self._uploads = manager
        self._limits = limits
        self._idle = stream_idle_seconds

    def _reader(self, context: grpc.aio.ServicerContext, account_id: str) -> Reader:
        return _StreamReader(
            context, functools.partial(self._limits.pace, account_id, "upload_bytes"), self._idle
        )

    async def CreateUploadTask(
        self, request: uploads_pb2.CreateUploadTaskRequest, context: grpc.aio.ServicerContext
    ) -> uploads_pb2.CreateUploadTaskResponse:
        created = await self._uploads.create(current_caller(), _upload_request(request))
        if created.file is not None:
            return uploads_pb2.CreateUploadTaskResponse(file_exists=True, file=cloud_file(created.file))
        assert created.task is not None and created.upload is not None
        return uploads_pb2.CreateUploadTaskResponse(
            file_exists=False,
            task_id=created.task.task_id,
            chunk_size=created.upload.chunk_size,
            chunks_count=created.upload.chunks_count,
        )

    async def UploadChunk(
        self, request: uploads_pb2.UploadChunkRequest, context: grpc.aio.ServicerContext
    ) -> uploads_pb2.UploadChunkResponse:
        crc = request.crc32c if request.HasField("crc32c") else None
        received(len(request.data))
        account_id = current_caller().account_id
        await self._limits.check(account_id, "upload_bytes", len(request.data))
        task, upload = await self._uploads.upload_chunk(
            account_id,
            valid.task_id(request.task_id),
            request.chunk_index,
            request.data,
            crc,
        )
        return uploads_pb2.UploadChunkResponse(
            chunks_uploaded=upload.chunks_uploaded, chunks_count=upload.chunks_count, progress=task.progress
        )

    async def UploadChunks(
        self,
        request_iterator: AsyncIterator[uploads_pb2.UploadChunksRequest],
        context: grpc.aio.ServicerContext,
    ) -> uploads_pb2.UploadChunksResponse:
        # Read with context.read(): the request iterator would keep each consumed message (up to
        # a chunk of bytes) alive while the stream waits for a buffer permit.
        account_id = current_caller().account_id
        pieces = _ChunkPieces(self._reader(context, account_id))
        result = await self._uploads.receive_stream(account_id, pieces)
        return uploads_pb2.UploadChunksResponse(
            chunks_stored=result.stored,
            chunks_skipped=result.skipped,
            chunks_uploaded=result.upload.chunks_uploaded,
            chunks_count=result.upload.chunks_count,
            progress=result.task.progress,
        )

    async def UploadFile(
        self,
        request_iterator: AsyncIterator[uploads_pb2.UploadFileRequest],
        context: grpc.aio.ServicerContext,
    ) -> uploads_pb2.UploadFileResponse:
        caller = current_caller()
        read = self._reader(context, caller.account_id)
        first = await read()
        if first is grpc.aio.EOF or not first.HasField("metadata"):
            raise InvalidArgument(
                "The first message must carry the upload metadata.",
                reason="METADATA_REQUIRED",
                field="metadata",
            )

        async def started(task_id: str) -> None:
            # Before any byte is read: a client whose stream breaks still learns where to resume.
            await context.send_initial_metadata((("x-task-id", task_id),))

        data = _file_data(first.data, read)
        file, task_id = await self._uploads.upload_file(
            caller, _upload_request(first.metadata), data, started
        )
        return uploads_pb2.UploadFileResponse(
            file_exists=task_id is None, file=cloud_file(file), task_id=task_id
        )

    async def CompleteUpload(
        self, request: uploads_pb2.CompleteUploadRequest, context: grpc.aio.ServicerContext
    ) -> uploads_pb2.CompleteUploadResponse:
        file = await self._uploads.complete(current_caller().account_id, valid.task_id(request.task_id))
        return uploads_pb2.CompleteUploadResponse(file=cloud_file(file))

    async def ListUploadTasks(
        self, request: uploads_pb2.ListUploadTasksRequest, context: grpc.aio.ServicerContext
    ) -> uploads_pb2.ListUploadTasksResponse:
        offset, limit = valid.page(request.offset, request.limit if request.HasField("limit") else None)
        descending = request.sort_descending if request.HasField("sort_descending") else True
        rows, total = await self._uploads.list_uploads(
            current_caller().account_id,
            convert.task_status_from_proto(request.status),
            rules.upload_sort_key(request.sort_by),
            descending,
            offset,
            limit,
        )
        await context.send_initial_metadata((("x-total", str(total)),))
        return uploads_pb2.ListUploadTasksResponse(tasks=[upload_task(*row) for row in rows], total=total)

    async def GetUploadProgress(
        self, request: uploads_pb2.GetUploadProgressRequest, context: grpc.aio.ServicerContext
    ) -> uploads_pb2.GetUploadProgressResponse:
        task, upload, uploaded = await self._uploads.resume_info(
            current_caller().account_id, valid.task_id(request.task_id)
        )
        return uploads_pb2.GetUploadProgressResponse(
            task_id=task.task_id,
            file_name=upload.file_name,
            file_size=upload.file_size,
            chunks_count=upload.chunks_count,
            chunks_uploaded=upload.chunks_uploaded,
            progress=task.progress,
            status=convert.task_status_to_proto(task.status),
            last_activity=convert.timestamp(task.last_activity),
            uploaded_chunks=uploaded,
        )

    async def GetUploadResumeInfo(
        self, request: uploads_pb2.GetUploadResumeInfoRequest, context: grpc.aio.ServicerContext
    ) -> uploads_pb2.GetUploadResumeInfoResponse:
        task, upload, uploaded = await self._uploads.resume_info(
            current_caller().account_id, valid.task_id(request.task_id)
        )
        present = set(uploaded)
        return uploads_pb2.GetUploadResumeInfoResponse(
            task_id=task.task_id,
            file_name=upload.file_name,
            file_size=upload.file_size,
            content_type=upload.content_type,
            chunk_size=upload.chunk_size,
            chunks_count=upload.chunks_count,
            chunks_uploaded=upload.chunks_uploaded,
            uploaded_chunks=uploaded,
            missing_chunks=[index for index in range(upload.chunks_count) if index not in present],
            progress=task.progress,
            status=convert.task_status_to_proto(task.status),
            hash=upload.hash,
            last_activity=convert.timestamp(task.last_activity),
        )

    async def CancelUploadTask(
        self, request: uploads_pb2.CancelUploadTaskRequest, context: grpc.aio.ServicerContext
    ) -> uploads_pb2.CancelUploadTaskResponse:
        task, upload = await self._uploads.cancel(current_caller().account_id, valid.task_id(request.task_id))
        return uploads_pb2.CancelUploadTaskResponse(task=upload_task(task, upload))

    async def GetUploadTaskDetails(
        self, request: uploads_pb2.GetUploadTaskDetailsRequest, context: grpc.aio.ServicerContext
    ) -> uploads_pb2.GetUploadTaskDetailsResponse:
        account_id = current_caller().account_id
        task, upload, upload_pool, upload_bundle, speed, eta = await self._uploads.details(
            account_id, valid.task_id(request.task_id)
        )
        _, _, uploaded = await self._uploads.resume_info(account_id, task.task_id)
        response = uploads_pb2.GetUploadTaskDetailsResponse(
            task=upload_task(task, upload),
            pool=pool(upload_pool),
            upload_speed_bytes_per_second=speed,
            upload_speed=human_speed(speed) if speed > 0 else "",
            estimated_time_remaining=human_duration(eta) if eta is not None else "",
            uploaded_chunks=uploaded,
        )
        if upload_bundle is not None:
            response.bundle.CopyFrom(bundle(upload_bundle))
        if eta is not None:
            response.estimated_seconds_remaining = round(eta)
        return response

    async def CleanupUploadTasks(
        self, request: uploads_pb2.CleanupUploadTasksRequest, context: grpc.aio.ServicerContext
    ) -> uploads_pb2.CleanupUploadTasksResponse:
        cleaned = await self._uploads.cleanup(current_caller().account_id)
        return uploads_pb2.CleanupUploadTasksResponse(cleaned_count=cleaned)

    async def ListRecentUploadTasks(
        self, request: uploads_pb2.ListRecentUploadTasksRequest, context: grpc.aio.ServicerContext
    ) -> uploads_pb2.ListRecentUploadTasksResponse:
        limit = request.limit if request.HasField("limit") else _RECENT_DEFAULT
        if not 1 <= limit <= _RECENT_MAX:
            raise InvalidArgument(
                f"The limit must be between 1 and {_RECENT_MAX}.",
                reason="INVALID_LIMIT",
                field="limit",
                limit=limit,
            )
        rows, _ = await self._uploads.list_uploads(
            current_caller().account_id, None, "lastActivity", True, 0, limit
        )
        return uploads_pb2.ListRecentUploadTasksResponse(tasks=[upload_task(*row) for row in rows])


def _upload_request(message: uploads_pb2.CreateUploadTaskRequest) -> rules.UploadRequest:
    return rules.UploadRequest(
        file_name=message.file_name,
        file_size=message.file_size,
        content_type=message.content_type,
        hash=message.hash,
        chunk_size=message.chunk_size,
        pool_id=message.pool_id,
        bundle_id=message.bundle_id,
        encrypt_password=message.encrypt_password,
        expired_at=convert.optional_datetime(message, "expired_at"),
    )


Pace = Callable[[int], Awaitable[None]]
#: The call's next request message, or ``grpc.aio.EOF``.
Reader = Callable[[], Awaitable[Any]]
#: Stream bytes are charged to the upload budget this many at a time (and at the end): a budget
#: check per message would put a limiter round trip (Redis) on every message of the hot path.
_CHARGE_EVERY = 4 * 1024 * 1024


class _StreamReader:
    """Reads a stream's messages with a bound on the client's silence, charging their bytes to
    the account's upload budget; while it refills the sender is slowed down (nothing is read)."""

    def __init__(self, context: grpc.aio.ServicerContext, pace: Pace, idle_seconds: float) -> None:
        self._context = context
        self._pace = pace
        self._idle = idle_seconds
        self._owed = 0

    async def __call__(self) -> Any:
        """The next message, or EOF once every byte is paid for.

        Raises:
            StreamStalled: the client sent nothing for ``idle_seconds`` (pacing is not counted).
        """
        try:
            async with asyncio.timeout(self._idle):
                message = await self._context.read()
        except TimeoutError:
            raise StreamStalled(self._idle) from None
        check_parsed(message)
        if message is not grpc.aio.EOF:
            received(len(message.data))
            self._owed += len(message.data)
        if self._owed >= _CHARGE_EVERY or (message is grpc.aio.EOF and self._owed):
            owed, self._owed = self._owed, 0
            await self._pace(owed)
        return message


class _ChunkPieces:
    """The UploadChunks messages of a call as Pieces; a consumed message is not referenced."""

    def __init__(self, read: Reader) -> None:
        self._read = read

    def __aiter__(self) -> _ChunkPieces:
        return self

    async def __anext__(self) -> Piece:
        message = await self._read()
        if message is grpc.aio.EOF:
            raise StopAsyncIteration
        crc = message.crc32c if message.HasField("crc32c") else None
        task_id = valid.task_id(message.task_id) if message.task_id else ""
        return Piece(task_id, message.chunk_index, message.data, crc)


async def _file_data(first: bytes, read: Reader) -> AsyncIterator[bytes]:
    """The bytes of an UploadFile stream: the first message's, then every later message's.

    Raises:
        InvalidArgument: METADATA_REPEATED when a later message carries metadata.
    """
    if first:
        yield first
    while (message := await read()) is not grpc.aio.EOF:
        if message.HasField("metadata"):
            raise InvalidArgument(
                "Only the first message may carry the upload metadata.",
                reason="METADATA_REPEATED",
                field="metadata",
            )
        data = message.data
        del message  # only the bytes stay referenced while they are cut into chunks
        yield data

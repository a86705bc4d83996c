"""FileService servicer: parse, call FileManager, convert."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator

import grpc
from google.api import httpbody_pb2

from drive.v1 import files_pb2, files_pb2_grpc
from drive_service.api import convert, convert_files
from drive_service.api.auth import current_caller
from drive_service.errors import Unavailable
from drive_service.services.files import FileManager

#: Largest data field of one ReadFile / ReadFileContent message (the contract's limit).
READ_PIECE = 1024 * 1024


class FileServicer(files_pb2_grpc.FileServiceServicer):
    """The caller's files, pools, bundles and quota."""

    def __init__(self, manager: FileManager, stopping: asyncio.Event | None = None) -> None:
        """``stopping`` is set when the server stops: a download in progress then ends at once
        with UNAVAILABLE (the client resumes from the offset it reached, elsewhere)."""
        self._files = manager
        self._stopping = stopping or asyncio.Event()

    async def _messages(self, pieces: AsyncGenerator[bytes, None], offset: int) -> AsyncIterator[bytes]:
        """``pieces`` (starting at file offset ``offset``) cut to at most READ_PIECE bytes each;
        the generator is closed however this ends.

        Raises:
            Unavailable: SHUTTING_DOWN when the server stops (the client resumes at the offset).
        """
        async with contextlib.aclosing(pieces):
            async for piece in pieces:
                for start in range(0, len(piece), READ_PIECE):
                    if self._stopping.is_set():
                        raise Unavailable(
                            f"The server is shutting down; resume the download at offset {offset}.",
                            reason="SHUTTING_DOWN",
                            offset=offset,
                        )
                    data = piece if len(piece) <= READ_PIECE else piece[start : start + READ_PIECE]
                    offset += len(data)
                    yield data

    async def GetFile(
        self, request: files_pb2.GetFileRequest, context: grpc.aio.ServicerContext
    ) -> files_pb2.GetFileResponse:
        file = await self._files.get_file(current_caller().account_id, request.file_id)
        return files_pb2.GetFileResponse(file=convert_files.cloud_file(file))

    async def ListFiles(
        self, request: files_pb2.ListFilesRequest, context: grpc.aio.ServicerContext
    ) -> files_pb2.ListFilesResponse:
        files, total = await self._files.list_files(
            current_caller().account_id,
            request.pool_id or None,
            request.bundle_id or None,
            request.offset,
            request.limit if request.HasField("limit") else None,
        )
        await context.send_initial_metadata((("x-total", str(total)),))
        return files_pb2.ListFilesResponse(
            files=[convert_files.cloud_file(file) for file in files], total=total
        )

    async def DeleteFile(
        self, request: files_pb2.DeleteFileRequest, context: grpc.aio.ServicerContext
    ) -> files_pb2.DeleteFileResponse:
        await self._files.delete_file(current_caller().account_id, request.file_id)
        return files_pb2.DeleteFileResponse()

    async def ReadFile(
        self, request: files_pb2.ReadFileRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[files_pb2.ReadFileResponse]:
        file, pieces = await self._files.read_file(
            current_caller().account_id,
            request.file_id,
            request.offset,
            request.length or None,  # 0 means "to the end" on the wire
            request.password or None,
        )
        first: files_pb2.CloudFile | None = convert_files.cloud_file(file)
        position = request.offset
        async for data in self._messages(pieces, position):
            yield files_pb2.ReadFileResponse(data=data, file=first, offset=position)
            first, position = None, position + len(data)
        if first is not None:  # an empty range still answers once, with the metadata
            yield files_pb2.ReadFileResponse(file=first, offset=position)

    async def ReadFileContent(
        self, request: files_pb2.ReadFileContentRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[httpbody_pb2.HttpBody]:
        file, pieces = await self._files.read_file(
            current_caller().account_id,
            request.file_id,
            request.offset,
            request.length or None,  # 0 means "to the end" on the wire
            request.password or None,
        )
        # The whole file's size, so that an HTTP gateway can write Content-Range for a range.
        await context.send_initial_metadata((("x-file-size", str(file.size)),))
        sent = False
        async for data in self._messages(pieces, request.offset):
            yield httpbody_pb2.HttpBody(content_type=file.mime_type, data=data)
            sent = True
        if not sent:  # an empty range still answers once, so the content type is known
            yield httpbody_pb2.HttpBody(content_type=file.mime_type)

    async def ListPools(
        self, request: files_pb2.ListPoolsRequest, context: grpc.aio.ServicerContext
    ) -> files_pb2.ListPoolsResponse:
        caller = current_caller()
        pools = self._files.list_pools(caller.account_id, caller.tier)
        return files_pb2.ListPoolsResponse(pools=[convert_files.pool(pool) for pool in pools])

    async def CreateBundle(
        self, request: files_pb2.CreateBundleRequest, context: grpc.aio.ServicerContext
    ) -> files_pb2.CreateBundleResponse:
        bundle = await self._files.create_bundle(
            current_caller().account_id,
            request.name,
            request.description,
            convert.optional_datetime(request, "expired_at"),
        )
        return files_pb2.CreateBundleResponse(bundle=convert_files.bundle(bundle))

    async def GetBundle(
        self, request: files_pb2.GetBundleRequest, context: grpc.aio.ServicerContext
    ) -> files_pb2.GetBundleResponse:
        bundle = await self._files.get_bundle(current_caller().account_id, request.bundle_id)
        return files_pb2.GetBundleResponse(bundle=convert_files.bundle(bundle))

    async def ListBundles(
        self, request: files_pb2.ListBundlesRequest, context: grpc.aio.ServicerContext
    ) -> files_pb2.ListBundlesResponse:
        bundles, total = await self._files.list_bundles(
            current_caller().account_id, request.offset, request.limit if request.HasField("limit") else None
        )
        await context.send_initial_metadata((("x-total", str(total)),))
        return files_pb2.ListBundlesResponse(
            bundles=[convert_files.bundle(bundle) for bundle in bundles], total=total
        )

    async def DeleteBundle(
        self, request: files_pb2.DeleteBundleRequest, context: grpc.aio.ServicerContext
    ) -> files_pb2.DeleteBundleResponse:
        await self._files.delete_bundle(current_caller().account_id, request.bundle_id)
        return files_pb2.DeleteBundleResponse()

    async def GetQuota(
        self, request: files_pb2.GetQuotaRequest, context: grpc.aio.ServicerContext
    ) -> files_pb2.GetQuotaResponse:
        usage = await self._files.get_quota(current_caller().account_id)
        return files_pb2.GetQuotaResponse(
            quota_bytes=usage.quota_bytes, used_bytes=usage.used_bytes, reserved_bytes=usage.reserved_bytes
        )

    async def SetAccountQuota(
        self, request: files_pb2.SetAccountQuotaRequest, context: grpc.aio.ServicerContext
    ) -> files_pb2.SetAccountQuotaResponse:
        account_id, quota_bytes = await self._files.set_quota(
            current_caller(),
            request.account_id,
            request.quota_bytes if request.HasField("quota_bytes") else None,
        )
        return files_pb2.SetAccountQuotaResponse(account_id=account_id, quota_bytes=quota_bytes)

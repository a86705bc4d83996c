"""Uploads under failure: a server killed mid-stream, a disk that fails mid-write, racing streams."""

from __future__ import annotations

import asyncio
import hashlib
import signal
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path

import grpc
import pytest
from sqlalchemy import select

from drive.v1 import files_pb2, task_enums_pb2, tasks_pb2, uploads_pb2
from drive_service.app import App
from drive_service.config import Settings
from drive_service.services.ports import Data, Staging
from drive_service.storage import models
from drive_service.storage.blobs import LocalBlobStore, blob_path
from tests.support import (
    BACKEND_NAMES,
    Client,
    auth,
    backend_database,
    client_with,
    default_pool_root,
    error_reason,
    eventually,
    expect_unavailable,
    make_client,
    new_account,
    running_app,
    settings_for,
    token_for,
)
from tests.support.faults import CountingBlobStore, FaultyBlobStore
from tests.support.processes import JWT_SECRET, server_process
from tests.support.uploading import CHUNK, Payload, complete, create, payload, send_all, send_chunk

IN_PROGRESS = task_enums_pb2.TASK_STATUS_IN_PROGRESS
_CALL_TIMEOUT = 15.0  # no single step of these tests may hang the suite


@asynccontextmanager
async def _serving(settings: Settings, store: LocalBlobStore) -> AsyncIterator[tuple[App, Client]]:
    """A started server on ``store`` and a client for a fresh account."""
    async with (
        running_app(settings, blob_store=lambda _pool: store) as app,
        grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as channel,
    ):
        yield app, make_client(app, channel)


def _stream(task_id: str, data: Payload, indexes: Iterable[int], piece: int = CHUNK) -> list[object]:
    """UploadChunks messages for ``indexes``, each chunk cut into pieces of ``piece`` bytes."""
    messages: list[object] = []
    for index in indexes:
        chunk = data.chunk(index)
        for start in range(0, len(chunk), piece):
            messages.append(
                uploads_pb2.UploadChunksRequest(
                    task_id=task_id if not messages else "",
                    chunk_index=index,
                    data=chunk[start : start + piece],
                )
            )
    return messages


async def _upload_chunks(client: Client, messages: list[object]) -> uploads_pb2.UploadChunksResponse:
    async def requests() -> AsyncIterator[object]:
        for message in messages:
            yield message

    response: uploads_pb2.UploadChunksResponse = await client.uploads.UploadChunks(
        requests(), metadata=client.metadata, timeout=_CALL_TIMEOUT
    )
    return response


async def _resume_info(client: Client, task_id: str) -> uploads_pb2.GetUploadResumeInfoResponse:
    response: uploads_pb2.GetUploadResumeInfoResponse = await client.uploads.GetUploadResumeInfo(
        uploads_pb2.GetUploadResumeInfoRequest(task_id=task_id),
        metadata=client.metadata,
        timeout=_CALL_TIMEOUT,
    )
    return response


async def _task(client: Client, task_id: str) -> tasks_pb2.GetTaskResponse:
    response: tasks_pb2.GetTaskResponse = await client.tasks.GetTask(
        tasks_pb2.GetTaskRequest(task_id=task_id), metadata=client.metadata, timeout=_CALL_TIMEOUT
    )
    return response


async def _complete(client: Client, task_id: str) -> uploads_pb2.CompleteUploadResponse:
    return await asyncio.wait_for(complete(client, task_id), _CALL_TIMEOUT)


async def _expect_unavailable(call: object) -> None:
    """The call fails (within _CALL_TIMEOUT) with UNAVAILABLE / BACKEND_UNAVAILABLE and tells the
    client when to retry."""
    await expect_unavailable(asyncio.wait_for(call, _CALL_TIMEOUT))  # type: ignore[arg-type]


async def _assert_stored(client: Client, file: files_pb2.CloudFile, pool_root: Path, data: Payload) -> None:
    """The blob on disk holds exactly ``data``, and so does ReadFile."""
    assert (file.hash, file.size) == (data.sha256, len(data.data))
    on_disk = blob_path(pool_root, file.hash).read_bytes()
    assert hashlib.sha256(on_disk).hexdigest() == data.sha256
    pieces = [
        message.data
        async for message in client.files.ReadFile(
            files_pb2.ReadFileRequest(file_id=file.id), metadata=client.metadata, timeout=_CALL_TIMEOUT
        )
    ]
    assert hashlib.sha256(b"".join(pieces)).hexdigest() == data.sha256


async def _file_count(client: Client) -> int:
    """How many files the account has (ListFiles)."""
    listed = await client.files.ListFiles(
        files_pb2.ListFilesRequest(), metadata=client.metadata, timeout=_CALL_TIMEOUT
    )
    return int(listed.total)


async def _wait_for_chunks(client: Client, task_id: str, count: int) -> int:
    """Poll GetUploadProgress until ``count`` chunks are acknowledged; returns the number seen."""

    async def chunks_uploaded() -> int:
        progress = await client.uploads.GetUploadProgress(
            uploads_pb2.GetUploadProgressRequest(task_id=task_id),
            metadata=client.metadata,
            wait_for_ready=True,  # a fresh second channel may still be connecting
        )
        return int(progress.chunks_uploaded)

    return await eventually(
        chunks_uploaded,
        lambda uploaded: uploaded >= count,
        within=_CALL_TIMEOUT,
        failure=f"{count} chunks of {task_id} were never acknowledged",
    )


@pytest.mark.parametrize("backend_name", BACKEND_NAMES)
async def test_sigkill_mid_stream_then_resume_after_restart(tmp_path: Path, backend_name: str) -> None:
    data_dir = tmp_path / "var"
    data = payload(CHUNK * 11 + 12_345)  # 12 chunks, the last one short
    account = new_account()
    async with backend_database(backend_name) as url:
        settings = settings_for(data_dir, url, DRIVE_JWT_SECRET=JWT_SECRET)
        metadata = auth(token_for(settings, account))
        async with server_process(data_dir, url) as first:
            port = await first.port()
            async with (
                grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel,
                grpc.aio.insecure_channel(f"127.0.0.1:{port}") as watch_channel,
            ):
                client = client_with(channel, account, metadata)
                watcher = client_with(watch_channel, account, metadata)
                created = await create(client, data)
                assert created.chunks_count == 12
                task_id = created.task_id
                head = _stream(task_id, data, range(3))
                half = CHUNK // 2
                torn = uploads_pb2.UploadChunksRequest(chunk_index=3, data=data.chunk(3)[:half])
                finished = asyncio.Event()

                async def requests() -> AsyncIterator[object]:
                    for message in head:
                        yield message
                    yield torn  # the server holds half of chunk 3 when it dies
                    await finished.wait()  # the client is still sending when the connection drops

                call = client.uploads.UploadChunks(requests(), metadata=metadata, timeout=_CALL_TIMEOUT)
                try:
                    assert await _wait_for_chunks(watcher, task_id, 3) == 3, first.log()
                    assert await first.kill() == -signal.SIGKILL
                    with pytest.raises(grpc.aio.AioRpcError) as caught:
                        await call
                    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE, first.log()
                finally:
                    finished.set()
                    call.cancel()

        async with server_process(data_dir, url) as second:
            port = await second.port()
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                client = client_with(channel, account, metadata)
                info = await _resume_info(client, task_id)
                assert info.status == IN_PROGRESS
                assert list(info.uploaded_chunks) == [0, 1, 2]
                assert list(info.missing_chunks) == list(range(3, 12))
                assert info.chunks_uploaded == 3
                await send_chunk(client, task_id, 3, data.chunk(3))
                result = await _upload_chunks(client, _stream(task_id, data, info.missing_chunks[1:]))
                assert (result.chunks_stored, result.chunks_skipped) == (8, 0)
                assert (result.chunks_uploaded, result.progress) == (12, 100.0)
                file = (await _complete(client, task_id)).file
                await _assert_stored(client, file, data_dir / "pools" / file.pool_id, data)
                assert not (settings.storage.uploads_path / task_id).exists()
                assert (await _task(client, task_id)).task.status == task_enums_pb2.TASK_STATUS_COMPLETED


@pytest.mark.parametrize("backend_name", BACKEND_NAMES)
async def test_chunk_write_failure_is_retryable(tmp_path: Path, backend_name: str) -> None:
    data = payload(CHUNK * 5)
    async with backend_database(backend_name) as url:
        settings = settings_for(tmp_path / "var", url)
        store = FaultyBlobStore(
            settings.storage.uploads_path,
            default_pool_root(settings),
            fail_write_offsets=frozenset({CHUNK, 3 * CHUNK}),
        )
        async with _serving(settings, store) as (app, client):
            task_id = (await create(client, data)).task_id
            await send_chunk(client, task_id, 0, data.chunk(0))
            # Half of chunk 1 reaches the disk, then the disk fails: the chunk is not acknowledged.
            await _expect_unavailable(send_chunk(client, task_id, 1, data.chunk(1)))
            assert store.injected == [f"write@{CHUNK}"]
            info = await _resume_info(client, task_id)
            assert (list(info.uploaded_chunks), list(info.missing_chunks)) == ([0], [1, 2, 3, 4])
            assert (info.status, info.chunks_uploaded, info.progress) == (IN_PROGRESS, 1, 20.0)
            assert (await _task(client, task_id)).task.status == IN_PROGRESS
            # In a stream, the chunks before the failing one stay stored; the stream fails.
            await _expect_unavailable(
                _upload_chunks(client, _stream(task_id, data, [2, 3, 4], piece=CHUNK // 4))
            )
            assert store.injected == [f"write@{CHUNK}", f"write@{3 * CHUNK}"]
            info = await _resume_info(client, task_id)
            assert (list(info.uploaded_chunks), list(info.missing_chunks)) == ([0, 2], [1, 3, 4])
            assert info.status == IN_PROGRESS
            # Retrying works, and the torn bytes are overwritten.
            await send_chunk(client, task_id, 1, data.chunk(1))
            result = await _upload_chunks(client, _stream(task_id, data, [3, 4]))
            assert (result.chunks_stored, result.chunks_skipped, result.chunks_uploaded) == (2, 0, 5)
            file = (await _complete(client, task_id)).file
            await _assert_stored(client, file, app.service.pools.get(file.pool_id).root, data)


@pytest.mark.parametrize("fault", ["hash", "adopt"])
@pytest.mark.parametrize("backend_name", BACKEND_NAMES)
async def test_storage_failure_during_completion_is_retryable(
    tmp_path: Path, backend_name: str, fault: str
) -> None:
    data = payload(CHUNK * 3 + 777)
    async with backend_database(backend_name) as url:
        settings = settings_for(tmp_path / "var", url)
        store = FaultyBlobStore(
            settings.storage.uploads_path,
            default_pool_root(settings),
            fail_hash=fault == "hash",
            fail_adopt=fault == "adopt",
        )
        async with _serving(settings, store) as (app, client):
            task_id = (await create(client, data)).task_id
            if fault == "hash":
                # Out of order: completion must read the staging file back to hash it (chunks
                # received in order were hashed on the way in, and nothing is read back).
                for index in reversed(range(4)):
                    await send_chunk(client, task_id, index, data.chunk(index))
            else:
                await send_all(client, task_id, data)
            await _expect_unavailable(_complete(client, task_id))
            assert store.injected == [fault]
            task = (await _task(client, task_id)).task
            assert task.status == IN_PROGRESS
            assert dict(task.results) == {}
            assert await _file_count(client) == 0
            info = await _resume_info(client, task_id)
            assert (info.status, info.chunks_uploaded, list(info.missing_chunks)) == (IN_PROGRESS, 4, [])
            assert store.staging_file(task_id).exists()
            # The retry succeeds (the completion claim was released) and yields the right content.
            file = (await _complete(client, task_id)).file
            pool_root = app.service.pools.get(file.pool_id).root
            await _assert_stored(client, file, pool_root, data)
            task = (await _task(client, task_id)).task
            assert task.status == task_enums_pb2.TASK_STATUS_COMPLETED
            assert dict(task.results)["fileId"] == file.id
            assert await _file_count(client) == 1
            assert (await _complete(client, task_id)).file.id == file.id
            assert not store.staging_file(task_id).parent.exists()
            assert await _blob_refcount(app, file.pool_id, file.hash) == 1  # the failed try left no reference


@pytest.mark.parametrize("backend_name", BACKEND_NAMES)
async def test_concurrent_streams_with_overlapping_chunks(tmp_path: Path, backend_name: str) -> None:
    data = payload(CHUNK * 7 + 4321)  # 8 chunks
    async with backend_database(backend_name) as url:
        settings = settings_for(tmp_path / "var", url)
        store = CountingBlobStore(settings.storage.uploads_path, default_pool_root(settings))
        async with (
            running_app(settings, blob_store=lambda _pool: store) as app,
            grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as first_channel,
            grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as second_channel,
        ):
            client = make_client(app, first_channel)
            again = client_with(second_channel, client.account_id, client.metadata)
            task_id = (await create(client, data)).task_id
            # Chunks 2..5 are sent by both streams, in small pieces so the two interleave.
            first, second = await asyncio.gather(
                _upload_chunks(client, _stream(task_id, data, range(0, 6), piece=64 * 1024)),
                _upload_chunks(again, _stream(task_id, data, range(2, 8), piece=64 * 1024)),
            )
            assert first.chunks_stored + first.chunks_skipped == 6
            assert second.chunks_stored + second.chunks_skipped == 6
            assert first.chunks_stored + second.chunks_stored == 8
            assert first.chunks_skipped + second.chunks_skipped == 4
            assert sorted(store.writes) == [index * CHUNK for index in range(8)]  # each chunk written once
            info = await _resume_info(client, task_id)
            assert (list(info.uploaded_chunks), info.chunks_uploaded, info.progress) == (
                list(range(8)),
                8,
                100.0,
            )
            file = (await _complete(client, task_id)).file
            await _assert_stored(client, file, app.service.pools.get(file.pool_id).root, data)


async def _blob_refcount(app: App, pool_id: str, key: str) -> int:
    query = select(models.blobs.c.refcount).where(
        models.blobs.c.pool_id == pool_id, models.blobs.c.key == key
    )
    async with app.service.db.read() as conn:
        return int((await conn.execute(query)).scalar_one())


class _WatchingBlobStore(LocalBlobStore):
    """A slow LocalBlobStore that records how many chunk writes overlap, and staging read-backs."""

    def __init__(self, staging_root: Path, pool_root: Path) -> None:
        super().__init__(staging_root, pool_root)
        self.writing: dict[str, int] = {}
        self.most_at_once = 0
        self.most_per_upload = 0
        self.read_back: list[str] = []

    async def write_chunk(self, staging: Staging, index: int, offset: int, data: Data) -> None:
        task_id = staging.task_id
        self.writing[task_id] = self.writing.get(task_id, 0) + 1
        self.most_at_once = max(self.most_at_once, sum(self.writing.values()))
        self.most_per_upload = max(self.most_per_upload, self.writing[task_id])
        try:
            await asyncio.sleep(0.02)  # streams pile up behind the buffer limit meanwhile
            await super().write_chunk(staging, index, offset, data)
        finally:
            self.writing[task_id] -= 1

    async def hash_staging(self, staging: Staging) -> tuple[str, int]:
        self.read_back.append(staging.task_id)
        return await super().hash_staging(staging)


@pytest.mark.parametrize("limit", [1, 2])
@pytest.mark.parametrize("backend_name", BACKEND_NAMES)
async def test_buffer_limit_bounds_chunks_in_flight(tmp_path: Path, backend_name: str, limit: int) -> None:
    uploads = [payload(CHUNK * 3 + 100 * (number + 1)) for number in range(4)]  # 4 chunks each
    async with backend_database(backend_name) as url:
        settings = settings_for(tmp_path / "var", url, DRIVE_MAX_BUFFERED_CHUNKS=str(limit))
        store = _WatchingBlobStore(settings.storage.uploads_path, default_pool_root(settings))
        async with _serving(settings, store) as (app, client):
            task_ids = [(await create(client, data)).task_id for data in uploads]
            results = await asyncio.gather(
                *(
                    _upload_chunks(client, _stream(task_id, data, range(4), piece=CHUNK // 4))
                    for task_id, data in zip(task_ids, uploads, strict=True)
                )
            )
            assert [(result.chunks_stored, result.chunks_uploaded) for result in results] == [(4, 4)] * 4
            # Chunks being gathered or written hold a buffer each: the writes alone stay within
            # the limit, and a stream writes one chunk at a time.
            assert store.most_at_once <= limit
            assert store.most_per_upload == 1
            for task_id, data in zip(task_ids, uploads, strict=True):
                file = (await _complete(client, task_id)).file
                await _assert_stored(client, file, app.service.pools.get(file.pool_id).root, data)
            # Received in order by this process: hashed on the way in, never read back.
            assert store.read_back == []


@pytest.mark.parametrize("backend_name", BACKEND_NAMES)
async def test_out_of_order_chunks_are_read_back_at_completion(tmp_path: Path, backend_name: str) -> None:
    data = payload(CHUNK * 3 + 5)
    async with backend_database(backend_name) as url:
        settings = settings_for(tmp_path / "var", url)
        store = _WatchingBlobStore(settings.storage.uploads_path, default_pool_root(settings))
        async with _serving(settings, store) as (app, client):
            task_id = (await create(client, data)).task_id
            await send_chunk(client, task_id, 0, data.chunk(0))
            await _upload_chunks(client, _stream(task_id, data, [2, 1, 3]))
            file = (await _complete(client, task_id)).file
            assert store.read_back == [task_id]
            await _assert_stored(client, file, app.service.pools.get(file.pool_id).root, data)
        # A restarted process knows no running digest: it reads the staging file back.
        data = payload(CHUNK * 2)
        async with _serving(settings, store) as (app, client):
            task_id = (await create(client, data)).task_id
            await send_all(client, task_id, data)
        store.read_back.clear()
        async with running_app(settings, blob_store=lambda _pool: store) as app:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as channel:
                client = client_with(channel, client.account_id, client.metadata)
                file = (await _complete(client, task_id)).file
                assert store.read_back == [task_id]
                await _assert_stored(client, file, app.service.pools.get(file.pool_id).root, data)


@pytest.mark.parametrize("backend_name", BACKEND_NAMES)
async def test_wrong_content_received_in_order_is_a_hash_mismatch(tmp_path: Path, backend_name: str) -> None:
    data = payload(CHUNK * 2 + 9)
    async with backend_database(backend_name) as url:
        settings = settings_for(tmp_path / "var", url)
        store = _WatchingBlobStore(settings.storage.uploads_path, default_pool_root(settings))
        async with _serving(settings, store) as (_, client):
            task_id = (await create(client, data)).task_id
            other = payload(len(data.data))  # same size, other bytes
            await _upload_chunks(client, _stream(task_id, other, range(3)))
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await _complete(client, task_id)
            assert error_reason(caught.value)[:2] == (grpc.StatusCode.DATA_LOSS, "HASH_MISMATCH")
            assert store.read_back == []
            assert (await _task(client, task_id)).task.status == task_enums_pb2.TASK_STATUS_FAILED
            assert not store.staging_file(task_id).parent.exists()

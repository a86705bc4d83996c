"""The seed's upload flow through gRPC: create, chunks (unary and streaming), complete, dedup."""

from __future__ import annotations

import asyncio
import hashlib

import google_crc32c
import grpc
import pytest

from drive.v1 import files_pb2, stats_pb2, task_enums_pb2, tasks_pb2, uploads_pb2
from drive_service.app import App
from tests.support import Client, expect_error, is_staged, stored_bytes
from tests.support.uploading import CHUNK, complete, create, payload, send_all, send_chunk

pytestmark = pytest.mark.storages("local", "s3")


async def test_create_chunks_complete(client: Client, server: App) -> None:
    data = payload(CHUNK * 2 + 1000)
    created = await create(client, data)
    assert (created.file_exists, created.chunk_size, created.chunks_count) == (False, CHUNK, 3)
    assert len(created.task_id) == 21
    for index in (2, 0, 1):  # any order
        await send_chunk(client, created.task_id, index, data.chunk(index))
    file = (await complete(client, created.task_id)).file
    assert (file.size, file.hash, file.name, file.encrypted) == (
        len(data.data),
        data.sha256,
        "report.bin",
        False,
    )
    stored = await stored_bytes(server, client.account_id, file.id)
    assert hashlib.sha256(stored).hexdigest() == data.sha256
    task = await client.tasks.GetTask(
        tasks_pb2.GetTaskRequest(task_id=created.task_id), metadata=client.metadata
    )
    assert task.task.status == task_enums_pb2.TASK_STATUS_COMPLETED
    assert dict(task.task.results)["fileId"] == file.id
    assert not await is_staged(server, created.task_id)
    again = (await complete(client, created.task_id)).file
    assert again.id == file.id  # idempotent


async def test_streaming_in_pieces_with_duplicates(client: Client) -> None:
    data = payload(CHUNK * 3)
    created = await create(client, data)
    await send_chunk(client, created.task_id, 1, data.chunk(1))

    async def messages():  # type: ignore[no-untyped-def]
        for index in range(3):
            chunk = data.chunk(index)
            crc = google_crc32c.value(chunk)
            for start in range(0, len(chunk), 64 * 1024):
                yield uploads_pb2.UploadChunksRequest(
                    task_id=created.task_id if index == 0 and start == 0 else "",
                    chunk_index=index,
                    data=chunk[start : start + 64 * 1024],
                    crc32c=crc,
                )

    result = await client.uploads.UploadChunks(messages(), metadata=client.metadata)
    assert (result.chunks_stored, result.chunks_skipped, result.chunks_uploaded, result.progress) == (
        2,
        1,
        3,
        100.0,
    )
    file = (await complete(client, created.task_id)).file
    assert file.hash == data.sha256


async def test_upload_file_one_shot_and_dedup(client: Client, other: Client) -> None:
    data = payload(CHUNK + 123)

    async def messages():  # type: ignore[no-untyped-def]
        yield uploads_pb2.UploadFileRequest(
            metadata=uploads_pb2.CreateUploadTaskRequest(
                file_name="one.bin",
                file_size=len(data.data),
                content_type="application/octet-stream",
                hash=data.sha256,
                chunk_size=CHUNK,
            )
        )
        for start in range(0, len(data.data), 100_000):
            yield uploads_pb2.UploadFileRequest(data=data.data[start : start + 100_000])

    response = await client.uploads.UploadFile(messages(), metadata=client.metadata)
    assert (response.file_exists, response.file.hash) == (False, data.sha256)
    dedup = await create(client, data)
    assert (dedup.file_exists, dedup.file.id, dedup.task_id) == (True, response.file.id, "")
    again = await client.uploads.UploadFile(messages(), metadata=client.metadata)
    assert (again.file_exists, again.file.id) == (True, response.file.id)
    # Another account never gets this account's file back.
    theirs = await create(other, data)
    assert not theirs.file_exists and theirs.task_id


async def test_duplicate_chunk_is_already_exists(client: Client) -> None:
    data = payload(CHUNK * 2)
    created = await create(client, data)
    await send_chunk(client, created.task_id, 0, data.chunk(0))
    await expect_error(
        send_chunk(client, created.task_id, 0, data.chunk(0)),
        grpc.StatusCode.ALREADY_EXISTS,
        "CHUNK_ALREADY_UPLOADED",
    )


async def test_missing_chunks_then_resume(client: Client) -> None:
    data = payload(CHUNK * 4)
    created = await create(client, data)
    await send_chunk(client, created.task_id, 0, data.chunk(0))
    await send_chunk(client, created.task_id, 3, data.chunk(3))
    metadata = await expect_error(
        complete(client, created.task_id), grpc.StatusCode.FAILED_PRECONDITION, "CHUNKS_MISSING"
    )
    assert metadata["missingChunks"] == "1,2"
    info = await client.uploads.GetUploadResumeInfo(
        uploads_pb2.GetUploadResumeInfoRequest(task_id=created.task_id), metadata=client.metadata
    )
    assert (list(info.uploaded_chunks), list(info.missing_chunks)) == ([0, 3], [1, 2])
    assert info.progress == 50.0
    for index in info.missing_chunks:
        await send_chunk(client, created.task_id, index, data.chunk(index))
    assert (await complete(client, created.task_id)).file.hash == data.sha256


async def test_hash_mismatch_fails_the_task(client: Client, server: App) -> None:
    data = payload(CHUNK)
    created = await create(client, data, hash="0" * 64)
    await send_chunk(client, created.task_id, 0, data.chunk(0))
    await expect_error(complete(client, created.task_id), grpc.StatusCode.DATA_LOSS, "HASH_MISMATCH")
    task = await client.tasks.GetTask(
        tasks_pb2.GetTaskRequest(task_id=created.task_id), metadata=client.metadata
    )
    assert task.task.status == task_enums_pb2.TASK_STATUS_FAILED
    assert not await is_staged(server, created.task_id)
    files = await client.files.ListFiles(files_pb2.ListFilesRequest(), metadata=client.metadata)
    assert files.total == 0


async def test_concurrent_completes_make_one_file(client: Client) -> None:
    data = payload(CHUNK * 3)
    created = await create(client, data)
    await send_all(client, created.task_id, data)
    results = await asyncio.gather(*(complete(client, created.task_id) for _ in range(4)))
    assert len({result.file.id for result in results}) == 1


async def test_concurrent_writers_of_one_chunk(client: Client) -> None:
    data = payload(CHUNK)
    created = await create(client, data)
    outcomes = await asyncio.gather(
        *(send_chunk(client, created.task_id, 0, data.chunk(0)) for _ in range(5)), return_exceptions=True
    )
    errors = [outcome for outcome in outcomes if isinstance(outcome, grpc.aio.AioRpcError)]
    assert len(errors) == 4
    assert {error.code() for error in errors} == {grpc.StatusCode.ALREADY_EXISTS}
    assert (await complete(client, created.task_id)).file.hash == data.sha256


async def test_crc_mismatch_rejects_only_that_chunk(client: Client) -> None:
    data = payload(CHUNK * 2)
    created = await create(client, data)
    await expect_error(
        send_chunk(client, created.task_id, 0, data.chunk(0), crc32c=1),
        grpc.StatusCode.INVALID_ARGUMENT,
        "CHECKSUM_MISMATCH",
    )
    await send_chunk(client, created.task_id, 1, data.chunk(1), crc32c=google_crc32c.value(data.chunk(1)))
    await send_chunk(client, created.task_id, 0, data.chunk(0))
    assert (await complete(client, created.task_id)).file.hash == data.sha256


async def test_cancel_list_stats_cleanup(client: Client, server: App) -> None:
    data = payload(CHUNK * 2)
    cancelled = await create(client, data)
    await send_chunk(client, cancelled.task_id, 0, data.chunk(0))
    response = await client.uploads.CancelUploadTask(
        uploads_pb2.CancelUploadTaskRequest(task_id=cancelled.task_id), metadata=client.metadata
    )
    assert response.task.status == task_enums_pb2.TASK_STATUS_CANCELLED
    assert not await is_staged(server, cancelled.task_id)
    await expect_error(
        send_chunk(client, cancelled.task_id, 1, data.chunk(1)),
        grpc.StatusCode.FAILED_PRECONDITION,
        "INVALID_TASK_STATE",
    )
    done_data = payload(CHUNK)
    done = await create(client, done_data)
    await send_all(client, done.task_id, done_data)
    await complete(client, done.task_id)
    call = client.uploads.ListUploadTasks(
        uploads_pb2.ListUploadTasksRequest(sort_by="filesize"), metadata=client.metadata
    )
    listed = await call
    assert listed.total == 2 and dict(await call.initial_metadata())["x-total"] == "2"
    assert [task.file_size for task in listed.tasks] == [CHUNK * 2, CHUNK]
    stats = await client.stats.GetUploadStats(stats_pb2.GetUploadStatsRequest(), metadata=client.metadata)
    assert (stats.total_tasks, stats.completed_tasks, stats.cancelled_tasks) == (2, 1, 1)
    assert stats.total_uploaded_bytes == CHUNK * 2
    assert len(stats.recent_activity) == 2
    recent = await client.uploads.ListRecentUploadTasks(
        uploads_pb2.ListRecentUploadTasksRequest(limit=1), metadata=client.metadata
    )
    assert len(recent.tasks) == 1
    cleaned = await client.uploads.CleanupUploadTasks(
        uploads_pb2.CleanupUploadTasksRequest(), metadata=client.metadata
    )
    assert cleaned.cleaned_count == 1

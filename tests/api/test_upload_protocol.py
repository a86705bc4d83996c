"""The upload protocol's conveniences: resuming an upload in flight, idempotent creates (request
ids), the SHA-256 given at completion, and small files in one round trip."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import AsyncIterator

import grpc
import pytest

from drive.v1 import files_pb2, task_enums_pb2, tasks_pb2, uploads_pb2
from tests.support import Client, expect_error
from tests.support.uploading import CHUNK, Payload, create, payload, send_chunk

pytestmark = pytest.mark.storages("local", "s3")


async def _quota(client: Client) -> files_pb2.GetQuotaResponse:
    return await client.files.GetQuota(files_pb2.GetQuotaRequest(), metadata=client.metadata)


async def test_creating_a_file_already_in_flight_resumes_it_without_a_second_reservation(
    client: Client,
) -> None:
    data = payload(3 * CHUNK)
    first = await create(client, data)
    await send_chunk(client, first.task_id, 1, data.chunk(1))
    reserved = (await _quota(client)).reserved_bytes
    again = await create(client, data)
    assert (again.task_id, again.resumed, list(again.missing_chunks)) == (first.task_id, True, [0, 2])
    assert (await _quota(client)).reserved_bytes == reserved == len(data.data)
    other_name = await create(client, data, file_name="copy.bin")  # another file: a new upload
    assert other_name.task_id != first.task_id and not other_name.resumed


async def test_a_retried_create_with_the_same_request_id_returns_the_first_result(client: Client) -> None:
    request_id = str(uuid.uuid4())
    data = payload(2 * CHUNK)
    first = await create(client, data, request_id=request_id, hash="")
    retried = await create(client, data, request_id=request_id, hash="")
    assert (retried.task_id, retried.resumed) == (first.task_id, True)
    reused = tasks_pb2.CreateTaskRequest(
        type=task_enums_pb2.TASK_TYPE_CUSTOM, name="x", request_id=request_id
    )
    await expect_error(
        client.tasks.CreateTask(reused, metadata=client.metadata),
        grpc.StatusCode.INVALID_ARGUMENT,
        "REQUEST_ID_REUSED",
    )
    task = tasks_pb2.CreateTaskRequest(
        type=task_enums_pb2.TASK_TYPE_CUSTOM, name="once", request_id=str(uuid.uuid4())
    )
    one = (await client.tasks.CreateTask(task, metadata=client.metadata)).task
    two = (await client.tasks.CreateTask(task, metadata=client.metadata)).task
    assert one.task_id == two.task_id
    listed = await client.tasks.ListTasks(
        tasks_pb2.ListTasksRequest(type=task_enums_pb2.TASK_TYPE_CUSTOM), metadata=client.metadata
    )
    assert listed.total == 1
    await expect_error(
        client.tasks.CreateTask(
            tasks_pb2.CreateTaskRequest(type=task_enums_pb2.TASK_TYPE_CUSTOM, name="x", request_id="x" * 65),
            metadata=client.metadata,
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_REQUEST_ID",
    )


async def test_the_hash_may_be_given_at_completion_and_is_verified(client: Client) -> None:
    data = payload(2 * CHUNK + 7)
    created = await create(client, data, hash="")
    for index in range(3):
        await send_chunk(client, created.task_id, index, data.chunk(index))
    complete = uploads_pb2.CompleteUploadRequest(task_id=created.task_id)
    await expect_error(
        client.uploads.CompleteUpload(complete, metadata=client.metadata),
        grpc.StatusCode.INVALID_ARGUMENT,
        "HASH_REQUIRED",
    )
    complete.hash = data.sha256
    file = (await client.uploads.CompleteUpload(complete, metadata=client.metadata)).file
    assert (file.hash, file.size) == (data.sha256, len(data.data))
    wrong = await create(client, payload(CHUNK), hash="")
    await send_chunk(client, wrong.task_id, 0, payload(CHUNK).data)
    await expect_error(
        client.uploads.CompleteUpload(
            uploads_pb2.CompleteUploadRequest(task_id=wrong.task_id, hash="ab" * 32), metadata=client.metadata
        ),
        grpc.StatusCode.DATA_LOSS,
        "HASH_MISMATCH",
    )
    declared = await create(client, payload(CHUNK))
    await expect_error(
        client.uploads.CompleteUpload(
            uploads_pb2.CompleteUploadRequest(task_id=declared.task_id, hash="cd" * 32),
            metadata=client.metadata,
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "HASH_CONFLICT",
    )


def _upload_file(
    data: Payload, *, pieces: int = 1, hash_at_end: bool = False
) -> AsyncIterator[uploads_pb2.UploadFileRequest]:
    async def messages() -> AsyncIterator[uploads_pb2.UploadFileRequest]:
        metadata = uploads_pb2.CreateUploadTaskRequest(
            file_name="one.bin",
            file_size=len(data.data),
            content_type="application/octet-stream",
            hash="" if hash_at_end else data.sha256,
            chunk_size=CHUNK,
        )
        cut = len(data.data) // pieces
        bounds = [index * cut for index in range(pieces)] + [len(data.data)]
        yield uploads_pb2.UploadFileRequest(metadata=metadata, data=data.data[bounds[0] : bounds[1]])
        for start, end in itertools.pairwise(bounds[1:]):
            yield uploads_pb2.UploadFileRequest(data=data.data[start:end])
        if hash_at_end:
            yield uploads_pb2.UploadFileRequest(hash=data.sha256)

    return messages()


async def test_a_small_file_in_one_message_is_stored_in_one_round_trip(client: Client) -> None:
    data = payload(64 * 1024)
    stored = await client.uploads.UploadFile(_upload_file(data), metadata=client.metadata)
    assert (stored.file_exists, stored.file.hash, stored.file.size) == (False, data.sha256, len(data.data))
    task = (
        await client.tasks.GetTask(tasks_pb2.GetTaskRequest(task_id=stored.task_id), metadata=client.metadata)
    ).task
    assert (
        task.status == task_enums_pb2.TASK_STATUS_COMPLETED and dict(task.results)["fileId"] == stored.file.id
    )
    read = client.files.ReadFile(files_pb2.ReadFileRequest(file_id=stored.file.id), metadata=client.metadata)
    assert b"".join([piece.data async for piece in read]) == data.data
    again = await client.uploads.UploadFile(_upload_file(data), metadata=client.metadata)
    assert (again.file_exists, again.file.id, again.task_id) == (True, stored.file.id, "")


async def test_upload_file_takes_the_hash_after_the_bytes(client: Client) -> None:
    data = payload(3 * CHUNK + 11)
    stored = await client.uploads.UploadFile(
        _upload_file(data, pieces=5, hash_at_end=True), metadata=client.metadata
    )
    assert (stored.file.hash, stored.file.size) == (data.sha256, len(data.data))
    unhashed = _upload_file(payload(2 * CHUNK), pieces=2, hash_at_end=True)

    async def without_the_hash() -> AsyncIterator[uploads_pb2.UploadFileRequest]:
        async for message in unhashed:
            if not message.hash:
                yield message

    details = await expect_error(
        client.uploads.UploadFile(without_the_hash(), metadata=client.metadata),
        grpc.StatusCode.INVALID_ARGUMENT,
        "HASH_REQUIRED",
    )
    assert details["taskId"]  # the upload exists: the client may complete it with the hash

"""Hostile input to UploadService: every case a clear error with a reason, nothing stored."""

from __future__ import annotations

import grpc
import pytest

from drive.v1 import files_pb2, uploads_pb2
from drive_service.app import App
from tests.support import Client, expect_error
from tests.support.uploading import CHUNK, complete, create, payload, send_all, send_chunk

INVALID = grpc.StatusCode.INVALID_ARGUMENT
NOT_FOUND = grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"file_name": "../../etc/passwd"}, None),  # stripped to "passwd": accepted
        ({"file_name": "/"}, "INVALID_FILE_NAME"),
        ({"file_name": ".."}, "INVALID_FILE_NAME"),
        ({"file_name": "a\x00b"}, "INVALID_FILE_NAME"),
        ({"file_name": "bell\x07"}, "INVALID_FILE_NAME"),
        ({"file_name": "x" * 1000}, "INVALID_FILE_NAME"),
        ({"file_name": ""}, "INVALID_FILE_NAME"),
        ({"file_size": 0}, "INVALID_FILE_SIZE"),
        ({"file_size": -5}, "INVALID_FILE_SIZE"),
        ({"chunk_size": -1}, "INVALID_CHUNK_SIZE"),
        ({"chunk_size": 1024}, "INVALID_CHUNK_SIZE"),
        ({"chunk_size": 64 * 1024 * 1024}, "INVALID_CHUNK_SIZE"),
        ({"hash": "abc"}, "INVALID_HASH"),
        ({"hash": "g" * 64}, "INVALID_HASH"),
        ({"hash": "0" * 65}, "INVALID_HASH"),
        ({"content_type": ""}, "INVALID_CONTENT_TYPE"),
        ({"content_type": "nonsense"}, "INVALID_CONTENT_TYPE"),
    ],
)
async def test_create_rejects(client: Client, fields: dict[str, object], reason: str | None) -> None:
    data = payload(CHUNK * 2)
    if reason is None:
        created = await create(client, data, **fields)
        await send_all(client, created.task_id, data)
        assert (await complete(client, created.task_id)).file.name == "passwd"
        return
    await expect_error(create(client, data, **fields), INVALID, reason)
    listed = await client.uploads.ListUploadTasks(
        uploads_pb2.ListUploadTasksRequest(), metadata=client.metadata
    )
    assert listed.total == 0


async def test_size_over_pool_maximum_and_unknown_pool(client: Client) -> None:
    data = payload(CHUNK)
    await expect_error(create(client, data, pool_id="no-such-pool"), NOT_FOUND, "POOL_NOT_FOUND")
    await expect_error(create(client, data, bundle_id="nope"), NOT_FOUND, "BUNDLE_NOT_FOUND")


async def test_one_chunk_file_may_use_a_small_size(client: Client) -> None:
    data = payload(1000)
    created = await create(client, data, chunk_size=0)
    assert (created.chunks_count, created.chunk_size) == (1, 1000)
    await send_chunk(client, created.task_id, 0, data.data)
    assert (await complete(client, created.task_id)).file.size == 1000


@pytest.mark.parametrize(
    ("index", "delta", "reason"),
    [
        (-1, 0, "INVALID_CHUNK_INDEX"),
        (2, 0, "INVALID_CHUNK_INDEX"),
        (2**31 - 1, 0, "INVALID_CHUNK_INDEX"),
        (0, 1, "CHUNK_SIZE_MISMATCH"),
        (0, -1, "CHUNK_SIZE_MISMATCH"),
        (1, 1, "CHUNK_SIZE_MISMATCH"),
    ],
)
async def test_chunk_rejects(client: Client, server: App, index: int, delta: int, reason: str) -> None:
    data = payload(CHUNK + 500)
    created = await create(client, data)
    body = data.chunk(max(index, 0)) if 0 <= index < 2 else data.chunk(0)
    body = body + b"x" if delta > 0 else body[:-1] if delta < 0 else body
    await expect_error(send_chunk(client, created.task_id, index, body), INVALID, reason)
    info = await client.uploads.GetUploadResumeInfo(
        uploads_pb2.GetUploadResumeInfoRequest(task_id=created.task_id), metadata=client.metadata
    )
    assert list(info.uploaded_chunks) == []


async def test_chunks_after_completion_or_cancel(client: Client) -> None:
    data = payload(CHUNK)
    created = await create(client, data)
    await send_chunk(client, created.task_id, 0, data.chunk(0))
    await complete(client, created.task_id)
    await expect_error(
        send_chunk(client, created.task_id, 0, data.chunk(0)),
        grpc.StatusCode.FAILED_PRECONDITION,
        "INVALID_TASK_STATE",
    )
    cancelled = await create(client, payload(CHUNK))
    await client.uploads.CancelUploadTask(
        uploads_pb2.CancelUploadTaskRequest(task_id=cancelled.task_id), metadata=client.metadata
    )
    await expect_error(
        complete(client, cancelled.task_id), grpc.StatusCode.FAILED_PRECONDITION, "INVALID_TASK_STATE"
    )


async def test_stream_without_task_id(client: Client) -> None:
    async def messages():  # type: ignore[no-untyped-def]
        yield uploads_pb2.UploadChunksRequest(chunk_index=0, data=b"x")

    await expect_error(
        client.uploads.UploadChunks(messages(), metadata=client.metadata), INVALID, "TASK_ID_REQUIRED"
    )

    async def nothing():  # type: ignore[no-untyped-def]
        return
        yield

    await expect_error(
        client.uploads.UploadChunks(nothing(), metadata=client.metadata), INVALID, "TASK_ID_REQUIRED"
    )


async def test_stream_incomplete_chunk_and_switching_tasks(client: Client) -> None:
    data = payload(CHUNK * 2)
    created = await create(client, data)
    other = await create(client, payload(CHUNK))

    async def partial():  # type: ignore[no-untyped-def]
        yield uploads_pb2.UploadChunksRequest(
            task_id=created.task_id, chunk_index=0, data=data.chunk(0)[:1000]
        )
        yield uploads_pb2.UploadChunksRequest(chunk_index=1, data=data.chunk(1))

    await expect_error(
        client.uploads.UploadChunks(partial(), metadata=client.metadata), INVALID, "CHUNK_SIZE_MISMATCH"
    )

    async def switching():  # type: ignore[no-untyped-def]
        yield uploads_pb2.UploadChunksRequest(task_id=created.task_id, chunk_index=0, data=data.chunk(0))
        yield uploads_pb2.UploadChunksRequest(task_id=other.task_id, chunk_index=0, data=data.chunk(0))

    await expect_error(
        client.uploads.UploadChunks(switching(), metadata=client.metadata), INVALID, "TASK_ID_MISMATCH"
    )


async def test_upload_file_rejects_wrong_length(client: Client) -> None:
    data = payload(CHUNK)

    async def messages(extra: bytes):  # type: ignore[no-untyped-def]
        yield uploads_pb2.UploadFileRequest(
            metadata=uploads_pb2.CreateUploadTaskRequest(
                file_name="f.bin", file_size=CHUNK, content_type="application/octet-stream", hash=data.sha256
            )
        )
        yield uploads_pb2.UploadFileRequest(data=data.data + extra)

    metadata = await expect_error(
        client.uploads.UploadFile(messages(b"!"), metadata=client.metadata), INVALID, "FILE_SIZE_MISMATCH"
    )
    assert metadata["taskId"]

    async def no_metadata():  # type: ignore[no-untyped-def]
        yield uploads_pb2.UploadFileRequest(data=b"abc")

    await expect_error(
        client.uploads.UploadFile(no_metadata(), metadata=client.metadata), INVALID, "METADATA_REQUIRED"
    )


async def test_upload_file_refuses_metadata_twice_and_a_short_stream(client: Client) -> None:
    data = payload(2 * CHUNK)
    declared = uploads_pb2.CreateUploadTaskRequest(
        file_name="f.bin", file_size=2 * CHUNK, content_type="application/octet-stream", hash=data.sha256
    )

    async def repeated():  # type: ignore[no-untyped-def]
        yield uploads_pb2.UploadFileRequest(metadata=declared)
        yield uploads_pb2.UploadFileRequest(metadata=declared, data=data.data)

    await expect_error(
        client.uploads.UploadFile(repeated(), metadata=client.metadata), INVALID, "METADATA_REPEATED"
    )

    async def short():  # type: ignore[no-untyped-def]
        yield uploads_pb2.UploadFileRequest(metadata=declared)
        yield uploads_pb2.UploadFileRequest(data=data.data[:CHUNK])

    missing = await expect_error(
        client.uploads.UploadFile(short(), metadata=client.metadata),
        grpc.StatusCode.FAILED_PRECONDITION,
        "CHUNKS_MISSING",
    )
    assert missing["taskId"]


PER_TASK = {
    "chunk": lambda c, t: send_chunk(c, t, 0, b"x"),
    "complete": lambda c, t: complete(c, t),
    "progress": lambda c, t: c.uploads.GetUploadProgress(
        uploads_pb2.GetUploadProgressRequest(task_id=t), metadata=c.metadata
    ),
    "resume": lambda c, t: c.uploads.GetUploadResumeInfo(
        uploads_pb2.GetUploadResumeInfoRequest(task_id=t), metadata=c.metadata
    ),
    "cancel": lambda c, t: c.uploads.CancelUploadTask(
        uploads_pb2.CancelUploadTaskRequest(task_id=t), metadata=c.metadata
    ),
    "details": lambda c, t: c.uploads.GetUploadTaskDetails(
        uploads_pb2.GetUploadTaskDetailsRequest(task_id=t), metadata=c.metadata
    ),
}


@pytest.mark.parametrize("rpc", sorted(PER_TASK))
async def test_another_accounts_upload_is_not_found(client: Client, other: Client, rpc: str) -> None:
    data = payload(CHUNK)
    created = await create(client, data)
    await expect_error(PER_TASK[rpc](other, created.task_id), NOT_FOUND, "TASK_NOT_FOUND")
    await expect_error(PER_TASK[rpc](client, "../../" + created.task_id), NOT_FOUND, "TASK_NOT_FOUND")

    async def foreign_stream():  # type: ignore[no-untyped-def]
        yield uploads_pb2.UploadChunksRequest(task_id=created.task_id, chunk_index=0, data=data.data)

    await expect_error(
        other.uploads.UploadChunks(foreign_stream(), metadata=other.metadata), NOT_FOUND, "TASK_NOT_FOUND"
    )
    listed = await other.uploads.ListUploadTasks(
        uploads_pb2.ListUploadTasksRequest(), metadata=other.metadata
    )
    assert listed.total == 0
    await send_chunk(client, created.task_id, 0, data.data)  # untouched for its owner
    file = (await complete(client, created.task_id)).file
    await expect_error(
        other.files.GetFile(files_pb2.GetFileRequest(file_id=file.id), metadata=other.metadata),
        NOT_FOUND,
        "FILE_NOT_FOUND",
    )


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"limit": 0}, "INVALID_LIMIT"),
        ({"limit": 5000}, "INVALID_LIMIT"),
        ({"sort_by": "hash"}, "INVALID_SORT_KEY"),
    ],
)
async def test_list_rejects(client: Client, fields: dict[str, object], reason: str) -> None:
    await expect_error(
        client.uploads.ListUploadTasks(
            uploads_pb2.ListUploadTasksRequest(**fields), metadata=client.metadata
        ),  # type: ignore[arg-type]
        INVALID,
        reason,
    )


async def test_stream_pieces_with_conflicting_crcs(client: Client) -> None:
    data = payload(CHUNK)
    created = await create(client, data)

    async def pieces():  # type: ignore[no-untyped-def]
        half = CHUNK // 2
        yield uploads_pb2.UploadChunksRequest(
            task_id=created.task_id, chunk_index=0, data=data.data[:half], crc32c=1
        )
        yield uploads_pb2.UploadChunksRequest(chunk_index=0, data=data.data[half:], crc32c=2)

    await expect_error(
        client.uploads.UploadChunks(pieces(), metadata=client.metadata), INVALID, "CHECKSUM_MISMATCH"
    )

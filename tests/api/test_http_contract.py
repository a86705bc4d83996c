"""What the contract added for HTTP gateways, checked over gRPC (so it is covered where Go, and
hence the REST tier, is missing): ReadFileContent, the whole-seconds twins of the Durations, and
WatchTasks' subscription marker."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf import duration_pb2

from drive.v1 import files_pb2, tasks_pb2
from tests.support import Client, expect_error
from tests.support.tasks import create
from tests.support.uploading import CHUNK, complete, payload, send_all
from tests.support.uploading import create as create_upload


async def stored_file(client: Client, size: int) -> tuple[bytes, files_pb2.CloudFile]:
    data = payload(size)
    task_id = (await create_upload(client, data, content_type="image/png")).task_id
    await send_all(client, task_id, data)
    return data.data, (await complete(client, task_id)).file


async def test_read_file_content_streams_raw_bytes_with_the_size_in_metadata(client: Client) -> None:
    data, file = await stored_file(client, 2 * CHUNK + 5)
    call = client.files.ReadFileContent(
        files_pb2.ReadFileContentRequest(file_id=file.id, offset=10, length=CHUNK), metadata=client.metadata
    )
    bodies = [body async for body in call]
    assert dict(await call.initial_metadata())["x-file-size"] == str(len(data))
    assert {body.content_type for body in bodies} == {"image/png"}
    assert b"".join(body.data for body in bodies) == data[10 : 10 + CHUNK]
    assert max(len(body.data) for body in bodies) <= 1024 * 1024

    empty = client.files.ReadFileContent(
        files_pb2.ReadFileContentRequest(file_id=file.id, offset=len(data)), metadata=client.metadata
    )
    assert [(body.content_type, body.data) async for body in empty] == [("image/png", b"")]
    beyond = client.files.ReadFileContent(
        files_pb2.ReadFileContentRequest(file_id=file.id, offset=len(data) + 1), metadata=client.metadata
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        [body async for body in beyond]
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_cleanup_takes_max_age_seconds(client: Client) -> None:
    task = await create(client)
    await client.tasks.CancelTask(tasks_pb2.CancelTaskRequest(task_id=task.task_id), metadata=client.metadata)
    kept = await client.tasks.CleanupTasks(
        tasks_pb2.CleanupTasksRequest(max_age_seconds=3600), metadata=client.metadata
    )
    assert kept.deleted_count == 0
    both = tasks_pb2.CleanupTasksRequest(max_age=duration_pb2.Duration(seconds=1), max_age_seconds=1)
    details = await expect_error(
        client.tasks.CleanupTasks(both, metadata=client.metadata),
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_AGE",
    )
    assert details == {"field": "max_age_seconds"}
    for beyond in (  # ages past 100 years are refused with a reason, never an overflow
        tasks_pb2.CleanupTasksRequest(max_age_seconds=2**62),
        tasks_pb2.CleanupTasksRequest(max_age=duration_pb2.Duration(seconds=315_576_000_000)),
    ):
        await expect_error(
            client.tasks.CleanupTasks(beyond, metadata=client.metadata),
            grpc.StatusCode.INVALID_ARGUMENT,
            "INVALID_AGE",
        )
    gone = await client.tasks.CleanupTasks(tasks_pb2.CleanupTasksRequest(), metadata=client.metadata)
    assert gone.deleted_count == 1


async def test_wait_takes_timeout_seconds(client: Client) -> None:
    task = await create(client)
    waited = await client.tasks.WaitTask(
        tasks_pb2.WaitTaskRequest(task_id=task.task_id, timeout_seconds=1), metadata=client.metadata
    )
    assert waited.timed_out
    both = tasks_pb2.WaitTaskRequest(
        task_id=task.task_id, timeout=duration_pb2.Duration(seconds=1), timeout_seconds=1
    )
    await expect_error(
        client.tasks.WaitTask(both, metadata=client.metadata),
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_TIMEOUT",
    )


async def test_watch_marks_its_subscription(client: Client) -> None:
    call = client.tasks.WatchTasks(tasks_pb2.WatchTasksRequest(), metadata=client.metadata)
    try:
        assert dict(await call.initial_metadata())["x-watch"] == "subscribed"
    finally:
        call.cancel()

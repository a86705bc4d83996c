"""Upload events over WatchTasks: created, throttled progress as it goes, completed; seed payloads."""

from __future__ import annotations

import pytest
from google.protobuf import json_format

from drive.v1 import tasks_pb2, uploads_pb2
from tests.support import Client
from tests.support.uploading import CHUNK, complete, create, payload
from tests.support.watching import read, started

pytestmark = pytest.mark.storages("local", "s3")


async def test_progress_flows_during_a_many_chunk_upload(client: Client) -> None:
    chunks = 40
    data = payload(chunks * CHUNK)
    stream = await started(client)
    created = await create(client, data)

    async def messages():  # type: ignore[no-untyped-def]
        for index in range(chunks):
            yield uploads_pb2.UploadChunksRequest(
                task_id=created.task_id, chunk_index=index, data=data.chunk(index)
            )

    await client.uploads.UploadChunks(messages(), metadata=client.metadata)
    file = (await complete(client, created.task_id)).file
    events = []
    while not events or events[-1].type != "upload.completed":
        events += await read(stream, 1)
    stream.cancel()
    kinds = [event.type for event in events]
    assert kinds[0] == "task.created"
    assert kinds[-2:] == ["task.completed", "upload.completed"]
    progress = [json_format.MessageToDict(e.data)["progress"] for e in events if e.type == "task.progress"]
    assert len(progress) >= chunks // 5 * 0.8  # every 5 points at least, not only at the end
    assert progress == sorted(progress) and progress[-1] == 100.0
    assert kinds.count("upload.progress") == kinds.count("task.progress")
    uploaded = json_format.MessageToDict(next(e.data for e in events if e.type == "upload.progress"))
    assert set(uploaded) == {
        "taskId",
        "fileName",
        "fileSize",
        "chunksUploaded",
        "chunksTotal",
        "progress",
        "status",
        "lastActivity",
    }
    done = json_format.MessageToDict(events[-1].data)
    assert (done["taskId"], done["fileId"], done["fileName"]) == (created.task_id, file.id, "report.bin")
    results = json_format.MessageToDict(events[-2].data)["results"]
    assert results["fileId"] == file.id
    assert [e.sequence for e in events] == sorted(e.sequence for e in events)


async def test_no_password_in_any_event(client: Client) -> None:
    stream = await started(client)
    created = await create(client, payload(CHUNK), encrypt_password="hunter2-secret")
    await client.tasks.CancelTask(
        tasks_pb2.CancelTaskRequest(task_id=created.task_id), metadata=client.metadata
    )
    seen = await read(stream, 2)
    stream.cancel()
    assert all("hunter2" not in str(event) for event in seen)
    task = await client.tasks.GetTask(
        tasks_pb2.GetTaskRequest(task_id=created.task_id), metadata=client.metadata
    )
    assert "hunter2" not in str(task)

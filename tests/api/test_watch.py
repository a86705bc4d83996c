"""WatchTasks: live events in order, only the caller's, filters, replay after a sequence."""

from __future__ import annotations

import json

from google.protobuf import json_format

from drive.v1 import task_enums_pb2 as enums
from drive.v1 import tasks_pb2
from tests.support import Client
from tests.support.tasks import create
from tests.support.watching import read, started


async def test_created_progress_completed_in_order(client: Client) -> None:
    stream = await started(client)
    task = await create(client, "Compress Files")
    md = client.metadata
    await client.tasks.UpdateTaskProgress(
        tasks_pb2.UpdateTaskProgressRequest(task_id=task.task_id, progress=67.5), metadata=md
    )
    await client.tasks.CompleteTask(tasks_pb2.CompleteTaskRequest(task_id=task.task_id), metadata=md)
    events = await read(stream, 4)
    stream.cancel()
    assert [event.type for event in events] == [
        "task.created",
        "task.progress",
        "task.progress",
        "task.completed",
    ]
    assert [event.sequence for event in events] == sorted(event.sequence for event in events)
    assert len({event.sequence for event in events}) == 4
    progress = json_format.MessageToDict(events[1].data)
    assert progress == {
        "taskId": task.task_id,
        "name": "Compress Files",
        "type": "Custom",
        "progress": 67.5,
        "status": "InProgress",
        "lastActivity": progress["lastActivity"],
    }
    assert progress["lastActivity"].endswith("Z")
    assert json_format.MessageToDict(events[3].data)["results"] == {}
    assert set(json.loads(json_format.MessageToJson(events[0].data))) == {
        "taskId",
        "name",
        "type",
        "createdAt",
    }


async def test_only_the_callers_events(client: Client, other: Client) -> None:
    stream = await started(other)
    await create(client, "theirs")
    mine = await create(other, "mine")
    (event,) = await read(stream, 1)
    stream.cancel()
    assert event.task_id == mine.task_id


async def test_filters_by_task_and_type(client: Client) -> None:
    watched = await create(client, "watched")
    stream = await started(client, task_ids=[watched.task_id])
    typed = await started(client, types=[enums.TaskType.TASK_TYPE_FILE_MOVE])
    await create(client, "noise")
    mover = await create(client, "mover", type=enums.TaskType.TASK_TYPE_FILE_MOVE)
    await client.tasks.CancelTask(
        tasks_pb2.CancelTaskRequest(task_id=watched.task_id), metadata=client.metadata
    )
    (event,) = await read(stream, 1)
    (typed_event,) = await read(typed, 1)
    stream.cancel()
    typed.cancel()
    assert (event.task_id, event.type) == (watched.task_id, "task.cancelled")
    assert (typed_event.task_id, typed_event.type) == (mover.task_id, "task.created")


async def test_replay_after_sequence_then_live(client: Client) -> None:
    first = await create(client, "one")
    second = await create(client, "two")
    stream = await started(client)
    probe = await create(client, "probe")
    (live,) = await read(stream, 1)
    stream.cancel()
    assert live.task_id == probe.task_id
    replay = await started(client, after_sequence=live.sequence - 2)
    events = await read(replay, 2)
    third = await create(client, "three")
    events += await read(replay, 1)
    replay.cancel()
    assert [event.task_id for event in events] == [second.task_id, probe.task_id, third.task_id]
    assert first.task_id not in {event.task_id for event in events}


async def test_throttle_through_the_api(client: Client) -> None:
    task = await create(client)
    stream = await started(client, task_ids=[task.task_id])
    md = client.metadata
    for value in (1.0, 2.0, 3.0, 10.0, 10.5, 100.0):
        await client.tasks.UpdateTaskProgress(
            tasks_pb2.UpdateTaskProgressRequest(task_id=task.task_id, progress=value), metadata=md
        )
    events = await read(stream, 3)
    stream.cancel()
    # 1.0 (first change), 10.0 (≥ 5 points), 100.0 (always); the rest came within a second.
    assert [json_format.MessageToDict(e.data)["progress"] for e in events] == [1.0, 10.0, 100.0]

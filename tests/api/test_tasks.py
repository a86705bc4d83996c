"""TaskService through a real server: normal paths, listing, transitions and bad input."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from google.protobuf import duration_pb2

from drive.v1 import stats_pb2, tasks_pb2
from drive.v1 import task_enums_pb2 as enums
from drive_service.app import App
from tests.support import Client, eventually, expect_error
from tests.support.tasks import ACTIONS, create, struct

S = enums.TaskStatus
T = enums.TaskType


async def test_create_and_get(client: Client) -> None:
    task = await create(
        client,
        "Compress Project Files",
        description="zip them",
        priority=70,
        parameters=struct(fileIds=["a", "b"], compressionLevel=9),
        estimated_duration_seconds=120,
    )
    assert len(task.task_id) == 21
    assert task.status == S.TASK_STATUS_PENDING
    assert task.type == T.TASK_TYPE_CUSTOM
    assert task.account_id == client.account_id
    assert (task.priority, task.progress, task.estimated_duration_seconds) == (70, 0.0, 120)
    assert dict(task.parameters)["compressionLevel"] == 9
    fetched = (
        await client.tasks.GetTask(tasks_pb2.GetTaskRequest(task_id=task.task_id), metadata=client.metadata)
    ).task
    assert fetched == task


async def test_lifecycle_progress_complete(client: Client) -> None:
    task = await create(client)
    request = tasks_pb2.UpdateTaskProgressRequest(task_id=task.task_id, progress=42.5, status_message="half")
    updated = (await client.tasks.UpdateTaskProgress(request, metadata=client.metadata)).task
    assert (updated.status, updated.progress, updated.status_message) == (
        S.TASK_STATUS_IN_PROGRESS,
        42.5,
        "half",
    )
    assert updated.HasField("started_at")
    done = (
        await client.tasks.CompleteTask(
            tasks_pb2.CompleteTaskRequest(task_id=task.task_id, results=struct(resultFileId="f1")),
            metadata=client.metadata,
        )
    ).task
    assert (done.status, done.progress) == (S.TASK_STATUS_COMPLETED, 100.0)
    assert dict(done.results) == {"resultFileId": "f1"}
    assert done.HasField("completed_at")


async def test_fail_records_message(client: Client) -> None:
    task = await create(client)
    failed = (
        await client.tasks.FailTask(
            tasks_pb2.FailTaskRequest(task_id=task.task_id, error_message="disk on fire"),
            metadata=client.metadata,
        )
    ).task
    assert (failed.status, failed.error_message) == (S.TASK_STATUS_FAILED, "disk on fire")


async def test_pause_resume_cancel(client: Client) -> None:
    task = await create(client)
    ident = task.task_id
    md = client.metadata
    await client.tasks.UpdateTaskProgress(
        tasks_pb2.UpdateTaskProgressRequest(task_id=ident, progress=1), metadata=md
    )
    paused = (await client.tasks.PauseTask(tasks_pb2.PauseTaskRequest(task_id=ident), metadata=md)).task
    assert paused.status == S.TASK_STATUS_PAUSED
    resumed = (await client.tasks.ResumeTask(tasks_pb2.ResumeTaskRequest(task_id=ident), metadata=md)).task
    assert resumed.status == S.TASK_STATUS_IN_PROGRESS
    cancelled = (await client.tasks.CancelTask(tasks_pb2.CancelTaskRequest(task_id=ident), metadata=md)).task
    assert cancelled.status == S.TASK_STATUS_CANCELLED


async def _to_status(client: Client, status: int) -> str:
    """A new task driven into ``status`` through the API."""
    task = await create(client)
    ident, md, stub = task.task_id, client.metadata, client.tasks
    if status == S.TASK_STATUS_PENDING:
        return ident
    if status in (S.TASK_STATUS_IN_PROGRESS, S.TASK_STATUS_PAUSED):
        await stub.UpdateTaskProgress(
            tasks_pb2.UpdateTaskProgressRequest(task_id=ident, progress=10), metadata=md
        )
        if status == S.TASK_STATUS_PAUSED:
            await stub.PauseTask(tasks_pb2.PauseTaskRequest(task_id=ident), metadata=md)
    elif status == S.TASK_STATUS_COMPLETED:
        await stub.CompleteTask(tasks_pb2.CompleteTaskRequest(task_id=ident), metadata=md)
    elif status == S.TASK_STATUS_FAILED:
        await stub.FailTask(tasks_pb2.FailTaskRequest(task_id=ident, error_message="x"), metadata=md)
    elif status == S.TASK_STATUS_CANCELLED:
        await stub.CancelTask(tasks_pb2.CancelTaskRequest(task_id=ident), metadata=md)
    return ident


_ACTIVE = {S.TASK_STATUS_PENDING, S.TASK_STATUS_IN_PROGRESS}
LEGAL = {
    "progress": _ACTIVE,
    "complete": _ACTIVE,
    "fail": _ACTIVE,
    "pause": {S.TASK_STATUS_IN_PROGRESS},
    "resume": {S.TASK_STATUS_PAUSED},
    "cancel": _ACTIVE | {S.TASK_STATUS_PAUSED},
}
STATUSES = [
    S.TASK_STATUS_PENDING,
    S.TASK_STATUS_IN_PROGRESS,
    S.TASK_STATUS_PAUSED,
    S.TASK_STATUS_COMPLETED,
    S.TASK_STATUS_FAILED,
    S.TASK_STATUS_CANCELLED,
]
ILLEGAL = [(status, action) for status in STATUSES for action in ACTIONS if status not in LEGAL[action]]


@pytest.mark.parametrize(("status", "action"), ILLEGAL, ids=[f"{S.Name(s)}-{a}" for s, a in ILLEGAL])
async def test_illegal_transition(client: Client, status: int, action: str) -> None:
    ident = await _to_status(client, status)
    metadata = await expect_error(
        ACTIONS[action](client.tasks, ident, client.metadata),
        grpc.StatusCode.FAILED_PRECONDITION,
        "INVALID_TASK_STATE",
    )
    assert metadata["taskId"] == ident
    after = (
        await client.tasks.GetTask(tasks_pb2.GetTaskRequest(task_id=ident), metadata=client.metadata)
    ).task
    assert after.status == status


async def test_list_filters_sorts_pages_and_total(client: Client) -> None:
    md = client.metadata
    for index in range(5):
        await create(client, f"custom-{index}", priority=index * 10)
    await create(client, "mover", type=T.TASK_TYPE_FILE_MOVE)
    call = client.tasks.ListTasks(
        tasks_pb2.ListTasksRequest(type=T.TASK_TYPE_CUSTOM, sort_by="priority", limit=2, offset=1),
        metadata=md,
    )
    response = await call
    assert response.total == 5
    assert [task.priority for task in response.tasks] == [30, 20]
    initial = dict(await call.initial_metadata())
    assert initial["x-total"] == "5"
    ascending = await client.tasks.ListTasks(
        tasks_pb2.ListTasksRequest(sort_by="name", sort_descending=False), metadata=md
    )
    assert [task.name for task in ascending.tasks] == sorted(task.name for task in ascending.tasks)
    assert ascending.total == 6
    by_status = await client.tasks.ListTasks(
        tasks_pb2.ListTasksRequest(status=S.TASK_STATUS_COMPLETED), metadata=md
    )
    assert by_status.total == 0


@pytest.mark.parametrize(
    "key", ["name", "type", "status", "priority", "created", "updated", "lastActivity", "createdAt"]
)
async def test_every_sort_key_is_accepted(client: Client, key: str) -> None:
    await create(client)
    response = await client.tasks.ListTasks(tasks_pb2.ListTasksRequest(sort_by=key), metadata=client.metadata)
    assert response.total == 1


async def test_cleanup_removes_only_terminal_tasks(client: Client) -> None:
    md = client.metadata
    finished = await _to_status(client, S.TASK_STATUS_COMPLETED)
    running = await _to_status(client, S.TASK_STATUS_IN_PROGRESS)
    recent = await client.tasks.CleanupTasks(
        tasks_pb2.CleanupTasksRequest(max_age=duration_pb2.Duration(seconds=3600)), metadata=md
    )
    assert recent.deleted_count == 0
    response = await client.tasks.CleanupTasks(tasks_pb2.CleanupTasksRequest(), metadata=md)
    assert response.deleted_count == 1
    await expect_error(
        client.tasks.GetTask(tasks_pb2.GetTaskRequest(task_id=finished), metadata=md),
        grpc.StatusCode.NOT_FOUND,
        "TASK_NOT_FOUND",
    )
    await client.tasks.GetTask(tasks_pb2.GetTaskRequest(task_id=running), metadata=md)


async def test_wait_returns_when_terminal(client: Client, server: App) -> None:
    task = await create(client)
    waiting = asyncio.ensure_future(
        client.tasks.WaitTask(
            tasks_pb2.WaitTaskRequest(task_id=task.task_id, timeout=duration_pb2.Duration(seconds=20)),
            metadata=client.metadata,
        )
    )
    # WaitTask subscribes to the account's events before it first reads the task, so from here on
    # the completion below cannot be missed (no sleep: the subscription is the readiness).
    await eventually(
        lambda: client.account_id in server.service.hub.subscribed_accounts,
        failure="WaitTask never subscribed to the account's events",
    )
    assert not waiting.done()
    await client.tasks.CompleteTask(
        tasks_pb2.CompleteTaskRequest(task_id=task.task_id), metadata=client.metadata
    )
    response = await asyncio.wait_for(waiting, 10)
    assert (response.timed_out, response.task.status) == (False, S.TASK_STATUS_COMPLETED)


async def test_wait_times_out(client: Client) -> None:
    task = await create(client)
    response = await client.tasks.WaitTask(
        tasks_pb2.WaitTaskRequest(task_id=task.task_id, timeout=duration_pb2.Duration(nanos=200_000_000)),
        metadata=client.metadata,
    )
    assert (response.timed_out, response.task.status) == (True, S.TASK_STATUS_PENDING)


async def test_stats_count_by_type_and_status(client: Client) -> None:
    await _to_status(client, S.TASK_STATUS_COMPLETED)
    running = await _to_status(client, S.TASK_STATUS_IN_PROGRESS)
    await client.tasks.UpdateTaskProgress(
        tasks_pb2.UpdateTaskProgressRequest(task_id=running, progress=30), metadata=client.metadata
    )
    await create(client, type=T.TASK_TYPE_FILE_MOVE)
    stats = await client.stats.GetTaskStats(stats_pb2.GetTaskStatsRequest(), metadata=client.metadata)
    assert stats.total_tasks == 3
    assert dict(stats.by_type) == {"Custom": 2, "FileMove": 1}
    assert dict(stats.by_status) == {"Completed": 1, "InProgress": 1, "Pending": 1}
    assert stats.average_progress == 30.0

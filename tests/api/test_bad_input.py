"""Hostile and malformed input: a clear error with an ErrorInfo reason, and nothing stored."""

from __future__ import annotations

import grpc
import pytest

from drive.v1 import task_enums_pb2 as enums
from drive.v1 import tasks_pb2
from tests.support import Client, expect_error
from tests.support.tasks import create

INVALID = grpc.StatusCode.INVALID_ARGUMENT


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"priority": 101}, "INVALID_PRIORITY"),
        ({"priority": -1}, "INVALID_PRIORITY"),
        ({"name": ""}, "INVALID_NAME"),
        ({"name": "   "}, "INVALID_NAME"),
        ({"name": "x" * 257}, "INVALID_NAME"),
        ({"name": "bad\x00name"}, "INVALID_NAME"),
        ({"type": enums.TaskType.TASK_TYPE_UNSPECIFIED}, "INVALID_TASK_TYPE"),
        ({"type": 999}, "INVALID_TASK_TYPE"),
        ({"description": "d" * 1025}, "TEXT_TOO_LONG"),
        ({"estimated_duration_seconds": -5}, "INVALID_DURATION"),
    ],
)
async def test_create_rejects(client: Client, fields: dict[str, object], reason: str) -> None:
    fields = {"name": "job", "type": enums.TaskType.TASK_TYPE_CUSTOM, **fields}
    await expect_error(
        client.tasks.CreateTask(tasks_pb2.CreateTaskRequest(**fields), metadata=client.metadata),
        INVALID,
        reason,
    )
    listed = await client.tasks.ListTasks(tasks_pb2.ListTasksRequest(), metadata=client.metadata)
    assert listed.total == 0


async def test_create_rejects_past_deadline(client: Client) -> None:
    request = tasks_pb2.CreateTaskRequest(name="job", type=enums.TaskType.TASK_TYPE_CUSTOM)
    request.expired_at.FromSeconds(1_000)
    await expect_error(client.tasks.CreateTask(request, metadata=client.metadata), INVALID, "INVALID_EXPIRY")


@pytest.mark.parametrize("progress", [-1.0, 100.5, float("nan"), float("inf")])
async def test_progress_out_of_range(client: Client, progress: float) -> None:
    task = await create(client)
    request = tasks_pb2.UpdateTaskProgressRequest(task_id=task.task_id, progress=progress)
    await expect_error(
        client.tasks.UpdateTaskProgress(request, metadata=client.metadata), INVALID, "INVALID_PROGRESS"
    )
    after = await client.tasks.GetTask(
        tasks_pb2.GetTaskRequest(task_id=task.task_id), metadata=client.metadata
    )
    assert (after.task.progress, after.task.status) == (0.0, enums.TaskStatus.TASK_STATUS_PENDING)


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"limit": 0}, "INVALID_LIMIT"),
        ({"limit": 100000}, "INVALID_LIMIT"),
        ({"limit": -3}, "INVALID_LIMIT"),
        ({"offset": -1}, "INVALID_OFFSET"),
        ({"sort_by": "password"}, "INVALID_SORT_KEY"),
        ({"status": 77}, "INVALID_TASK_STATUS"),
    ],
)
async def test_list_rejects(client: Client, fields: dict[str, object], reason: str) -> None:
    await expect_error(
        client.tasks.ListTasks(tasks_pb2.ListTasksRequest(**fields), metadata=client.metadata),
        INVALID,
        reason,
    )


@pytest.mark.parametrize(("limit", "page"), [(1, 1), (1000, 2)])
async def test_list_limit_bounds_accepted(client: Client, limit: int, page: int) -> None:
    await create(client, "one")
    await create(client, "two")
    listed = await client.tasks.ListTasks(tasks_pb2.ListTasksRequest(limit=limit), metadata=client.metadata)
    assert (len(listed.tasks), listed.total) == (page, 2)  # the limit shapes the page, not the total


@pytest.mark.parametrize("task_id", ["nope", "", "../../etc/passwd", "x" * 500, "abcdefghijklmnopqrstu"])
async def test_unknown_task_id_is_not_found(client: Client, task_id: str) -> None:
    await expect_error(
        client.tasks.GetTask(tasks_pb2.GetTaskRequest(task_id=task_id), metadata=client.metadata),
        grpc.StatusCode.NOT_FOUND,
        "TASK_NOT_FOUND",
    )


async def test_oversized_parameters(client: Client) -> None:
    request = tasks_pb2.CreateTaskRequest(name="job", type=enums.TaskType.TASK_TYPE_CUSTOM)
    request.parameters.update({"blob": "x" * 70_000})
    await expect_error(
        client.tasks.CreateTask(request, metadata=client.metadata), INVALID, "STRUCT_TOO_LARGE"
    )


async def test_nul_in_parameters(client: Client) -> None:
    request = tasks_pb2.CreateTaskRequest(name="job", type=enums.TaskType.TASK_TYPE_CUSTOM)
    request.parameters.update({"path": "a\x00b"})
    await expect_error(client.tasks.CreateTask(request, metadata=client.metadata), INVALID, "NUL_CHARACTER")

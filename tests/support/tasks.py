"""Tasks through the real TaskService: create, read, and the per-task actions a caller may take."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from google.protobuf import struct_pb2

from drive.v1 import task_enums_pb2 as enums
from drive.v1 import tasks_pb2
from tests.support.clients import Client


async def create(client: Client, name: str = "job", **fields: object) -> tasks_pb2.Task:
    """CreateTask named ``name`` with ``fields`` (type CUSTOM unless given); the created task."""
    fields.setdefault("type", enums.TaskType.TASK_TYPE_CUSTOM)
    response = await client.tasks.CreateTask(
        tasks_pb2.CreateTaskRequest(name=name, **fields),  # type: ignore[arg-type]
        metadata=client.metadata,
    )
    return response.task


async def get_task(client: Client, task_id: str) -> tasks_pb2.Task:
    """GetTask: the task as the API shows it now."""
    request = tasks_pb2.GetTaskRequest(task_id=task_id)
    return (await client.tasks.GetTask(request, metadata=client.metadata)).task


def struct(**values: object) -> struct_pb2.Struct:
    """A protobuf Struct of ``values``."""
    message = struct_pb2.Struct()
    message.update(values)
    return message


Action = Callable[[Any, str, tuple[tuple[str, str], ...]], Any]

#: The RPCs that change one task, by name: ``ACTIONS[name](client.tasks, task_id, client.metadata)``.
ACTIONS: dict[str, Action] = {
    "progress": lambda stub, ident, md: stub.UpdateTaskProgress(
        tasks_pb2.UpdateTaskProgressRequest(task_id=ident, progress=50), metadata=md
    ),
    "complete": lambda stub, ident, md: stub.CompleteTask(
        tasks_pb2.CompleteTaskRequest(task_id=ident), metadata=md
    ),
    "fail": lambda stub, ident, md: stub.FailTask(tasks_pb2.FailTaskRequest(task_id=ident), metadata=md),
    "pause": lambda stub, ident, md: stub.PauseTask(tasks_pb2.PauseTaskRequest(task_id=ident), metadata=md),
    "resume": lambda stub, ident, md: stub.ResumeTask(
        tasks_pb2.ResumeTaskRequest(task_id=ident), metadata=md
    ),
    "cancel": lambda stub, ident, md: stub.CancelTask(
        tasks_pb2.CancelTaskRequest(task_id=ident), metadata=md
    ),
}

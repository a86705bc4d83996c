"""Task deadlines: an unfinished task past its expired_at becomes EXPIRED (injected clock)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import grpc

from drive.v1 import task_enums_pb2, tasks_pb2, tasks_pb2_grpc
from tests.support import FakeClock, auth, new_account, running_app, settings_for, token_for


async def test_overdue_tasks_expire(tmp_path: Path) -> None:
    clock = FakeClock()
    settings = settings_for(tmp_path)
    account = new_account()
    metadata = auth(token_for(settings, account))
    async with running_app(settings, clock=clock) as app:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as channel:
            stub = tasks_pb2_grpc.TaskServiceStub(channel)
            request = tasks_pb2.CreateTaskRequest(type=task_enums_pb2.TASK_TYPE_CUSTOM, name="deadline")
            request.expired_at.FromDatetime(clock.now + timedelta(minutes=5))
            due = (await stub.CreateTask(request, metadata=metadata)).task
            done = (await stub.CreateTask(request, metadata=metadata)).task
            await stub.CompleteTask(tasks_pb2.CompleteTaskRequest(task_id=done.task_id), metadata=metadata)
            assert await app.service.tasks.expire_overdue() == 0
            clock.advance(minutes=6)
            assert await app.service.tasks.expire_overdue() == 1
            expired = await stub.GetTask(tasks_pb2.GetTaskRequest(task_id=due.task_id), metadata=metadata)
            assert expired.task.status == task_enums_pb2.TASK_STATUS_EXPIRED
            finished = await stub.GetTask(tasks_pb2.GetTaskRequest(task_id=done.task_id), metadata=metadata)
            assert finished.task.status == task_enums_pb2.TASK_STATUS_COMPLETED

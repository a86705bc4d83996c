"""Server-level behaviour: reflection, gRPC health, restart durability, shutdown."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from drive.v1 import task_enums_pb2 as enums
from drive.v1 import tasks_pb2, tasks_pb2_grpc
from drive_service.app import App
from tests.support import (
    BACKEND_NAMES,
    auth,
    backend_database,
    new_account,
    running_app,
    settings_for,
    token_for,
)

SERVICES = {
    "drive.v1.UploadService",
    "drive.v1.TaskService",
    "drive.v1.StatsService",
    "drive.v1.FileService",
}


async def test_reflection_lists_and_describes_every_service(server: App, channel: grpc.aio.Channel) -> None:
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    call = stub.ServerReflectionInfo()
    await call.write(reflection_pb2.ServerReflectionRequest(list_services=""))
    listed = await call.read()
    names = {service.name for service in listed.list_services_response.service}
    assert SERVICES | {"grpc.health.v1.Health"} <= names
    for name in sorted(SERVICES):
        await call.write(reflection_pb2.ServerReflectionRequest(file_containing_symbol=name))
        described = await call.read()
        assert described.file_descriptor_response.file_descriptor_proto, name
    await call.done_writing()


async def test_health_serving_overall_and_per_service(server: App, channel: grpc.aio.Channel) -> None:
    stub = health_pb2_grpc.HealthStub(channel)
    for name in ("", *sorted(SERVICES)):
        response = await stub.Check(health_pb2.HealthCheckRequest(service=name))
        assert response.status == health_pb2.HealthCheckResponse.SERVING


@pytest.mark.parametrize("backend_name", BACKEND_NAMES)
async def test_restart_keeps_every_task(tmp_path: Path, backend_name: str) -> None:
    account = new_account()

    async def run(url: str | None) -> None:
        settings = settings_for(tmp_path, url)
        metadata = auth(token_for(settings, account))
        created = []
        async with running_app(settings) as app:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as channel:
                stub = tasks_pb2_grpc.TaskServiceStub(channel)
                for index in range(3):
                    request = tasks_pb2.CreateTaskRequest(
                        name=f"t{index}", type=enums.TaskType.TASK_TYPE_CUSTOM
                    )
                    created.append((await stub.CreateTask(request, metadata=metadata)).task)
                await stub.UpdateTaskProgress(
                    tasks_pb2.UpdateTaskProgressRequest(task_id=created[0].task_id, progress=40),
                    metadata=metadata,
                )
        async with running_app(settings) as app:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as channel:
                stub = tasks_pb2_grpc.TaskServiceStub(channel)
                listed = await stub.ListTasks(
                    tasks_pb2.ListTasksRequest(sort_by="name", sort_descending=False), metadata=metadata
                )
        assert [task.task_id for task in listed.tasks] == [task.task_id for task in created]
        assert listed.tasks[0].progress == 40.0

    async with backend_database(backend_name) as url:
        await run(url)

"""Authentication and tenancy: bad tokens are UNAUTHENTICATED, other accounts' tasks invisible."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import grpc
import jwt
import pytest

from drive.v1 import stats_pb2, tasks_pb2
from drive_service.app import App
from tests.support import Client, auth, expect_error
from tests.support.tasks import ACTIONS, create

UNAUTHENTICATED = grpc.StatusCode.UNAUTHENTICATED


def _token(server: App, **overrides: object) -> str:
    claims: dict[str, object] = {"sub": str(uuid.uuid4()), "exp": datetime.now(UTC) + timedelta(minutes=5)}
    claims.update(overrides)
    claims = {key: value for key, value in claims.items() if value is not None}
    secret = server.settings.jwt.secret
    assert secret is not None
    return jwt.encode(claims, secret, algorithm="HS256")


@pytest.mark.parametrize(
    ("metadata", "reason"),
    [
        ((), "MISSING_TOKEN"),
        ((("authorization", "Basic dXNlcjpwYXNz"),), "MALFORMED_TOKEN"),
        ((("authorization", "Bearer "),), "MALFORMED_TOKEN"),
        ((("authorization", "Bearer not.a.jwt"),), "INVALID_TOKEN"),
    ],
)
async def test_missing_or_malformed_token(
    client: Client, metadata: tuple[tuple[str, str], ...], reason: str
) -> None:
    await expect_error(
        client.tasks.ListTasks(tasks_pb2.ListTasksRequest(), metadata=metadata), UNAUTHENTICATED, reason
    )


async def test_expired_token(client: Client, server: App) -> None:
    token = _token(server, exp=datetime.now(UTC) - timedelta(minutes=5))
    await expect_error(
        client.tasks.ListTasks(tasks_pb2.ListTasksRequest(), metadata=auth(token)),
        UNAUTHENTICATED,
        "TOKEN_EXPIRED",
    )


async def test_wrong_signature(client: Client) -> None:
    claims = {"sub": str(uuid.uuid4()), "exp": datetime.now(UTC) + timedelta(minutes=5)}
    token = jwt.encode(claims, "another-secret-entirely-0123456789-abcdefghij", algorithm="HS256")
    await expect_error(
        client.tasks.ListTasks(tasks_pb2.ListTasksRequest(), metadata=auth(token)),
        UNAUTHENTICATED,
        "INVALID_TOKEN",
    )


@pytest.mark.parametrize("overrides", [{"exp": None}, {"sub": "not-a-uuid"}, {"sub": None}])
async def test_required_claims(client: Client, server: App, overrides: dict[str, object]) -> None:
    token = _token(server, **overrides)
    await expect_error(
        client.tasks.ListTasks(tasks_pb2.ListTasksRequest(), metadata=auth(token)),
        UNAUTHENTICATED,
        "INVALID_TOKEN",
    )


async def test_unauthenticated_streams_and_waits(client: Client) -> None:
    stream = client.tasks.WatchTasks(tasks_pb2.WatchTasksRequest())
    await expect_error(stream.read(), UNAUTHENTICATED, "MISSING_TOKEN")
    await expect_error(
        client.tasks.WaitTask(tasks_pb2.WaitTaskRequest(task_id="x")), UNAUTHENTICATED, "MISSING_TOKEN"
    )


async def test_health_report_needs_no_token(client: Client) -> None:
    report = await client.stats.GetServiceHealth(stats_pb2.GetServiceHealthRequest())
    assert report.healthy
    names = {component.name: component for component in report.components}
    assert names["database"].healthy and names["storage"].healthy
    assert not names["redis"].configured


PER_TASK = {
    **ACTIONS,
    "get": lambda stub, ident, md: stub.GetTask(tasks_pb2.GetTaskRequest(task_id=ident), metadata=md),
    "wait": lambda stub, ident, md: stub.WaitTask(tasks_pb2.WaitTaskRequest(task_id=ident), metadata=md),
}


@pytest.mark.parametrize("rpc", sorted(PER_TASK))
async def test_other_accounts_task_is_not_found(client: Client, other: Client, rpc: str) -> None:
    task = await create(client)
    await expect_error(
        PER_TASK[rpc](other.tasks, task.task_id, other.metadata), grpc.StatusCode.NOT_FOUND, "TASK_NOT_FOUND"
    )
    unchanged = await client.tasks.GetTask(
        tasks_pb2.GetTaskRequest(task_id=task.task_id), metadata=client.metadata
    )
    assert unchanged.task == task


async def test_other_accounts_tasks_are_not_listed_or_counted(client: Client, other: Client) -> None:
    await create(client)
    listed = await other.tasks.ListTasks(tasks_pb2.ListTasksRequest(), metadata=other.metadata)
    assert (listed.total, len(listed.tasks)) == (0, 0)
    stats = await other.stats.GetTaskStats(stats_pb2.GetTaskStatsRequest(), metadata=other.metadata)
    assert stats.total_tasks == 0
    cleaned = await other.tasks.CleanupTasks(tasks_pb2.CleanupTasksRequest(), metadata=other.metadata)
    assert cleaned.deleted_count == 0

"""Tasks through the client: typed wrappers, wait, and a watch that survives a server restart."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import grpc
import pytest

from drive.v1 import tasks_pb2, tasks_pb2_grpc
from drive_service.client import (
    AsyncDriveClient,
    FailedPreconditionError,
    ResyncRequiredError,
    RetryPolicy,
    TaskEvent,
    TaskStatus,
    TaskType,
    WaitTimeoutError,
)
from tests.support import new_account, postgres_database, running_app, settings_for, token_for
from tests.support.backends import free_port


async def report(client: AsyncDriveClient, task_id: str, *, progress: float | None = None) -> None:
    """Act as an external executor of a CUSTOM task (progress, else completion) over a raw stub."""
    stub = tasks_pb2_grpc.TaskServiceStub(client._conn.channels[0])
    metadata = client._conn.metadata
    if progress is not None:
        await stub.UpdateTaskProgress(
            tasks_pb2.UpdateTaskProgressRequest(task_id=task_id, progress=progress), metadata=metadata
        )
    else:
        await stub.CompleteTask(tasks_pb2.CompleteTaskRequest(task_id=task_id), metadata=metadata)


async def test_task_wrappers(drive: AsyncDriveClient) -> None:
    created = await drive.create_task(
        TaskType.CUSTOM, "resize", parameters={"fileIds": ["a", "b"]}, priority=70, description="d"
    )
    assert (created.type, created.status, created.priority) == (TaskType.CUSTOM, TaskStatus.PENDING, 70)
    assert created.parameters == {"fileIds": ["a", "b"]} and created.account_id == drive.account
    assert await drive.get_task(created.task_id) == created
    page = await drive.list_tasks(type=TaskType.CUSTOM, status=TaskStatus.PENDING)
    assert [task.task_id for task in page.items] == [created.task_id] and page.total == 1
    await report(drive, created.task_id, progress=40)
    assert (await drive.pause_task(created.task_id)).status is TaskStatus.PAUSED
    assert (await drive.resume_task(created.task_id)).status is TaskStatus.IN_PROGRESS
    cancelled = await drive.cancel_task(created.task_id)
    assert cancelled.status is TaskStatus.CANCELLED and cancelled.status.terminal


async def test_wait_returns_the_finished_task(drive: AsyncDriveClient) -> None:
    task = await drive.create_task(TaskType.CUSTOM, "job")

    async def finish_later() -> None:
        await asyncio.sleep(0.2)
        await report(drive, task.task_id)

    finished, _ = await asyncio.gather(drive.wait(task.task_id, timeout=30), finish_later())
    assert finished.status is TaskStatus.COMPLETED and finished.progress == 100


async def test_wait_times_out_with_the_last_state(drive: AsyncDriveClient) -> None:
    task = await drive.create_task(TaskType.CUSTOM, "never")
    with pytest.raises(WaitTimeoutError) as caught:
        await drive.wait(task.task_id, timeout=0.3)
    assert caught.value.task.status is TaskStatus.PENDING
    assert isinstance(caught.value, TimeoutError)


async def test_pause_of_a_pending_task_is_a_typed_error(drive: AsyncDriveClient) -> None:
    task = await drive.create_task(TaskType.CUSTOM, "pending")
    with pytest.raises(FailedPreconditionError) as caught:
        await drive.pause_task(task.task_id)
    error = caught.value
    assert (error.code, error.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "INVALID_TASK_STATE")
    assert error.metadata["taskId"] == task.task_id and error.metadata["action"]


async def test_watch_replays_after_a_sequence_and_resync_is_typed(drive: AsyncDriveClient) -> None:
    first = await drive.create_task(TaskType.CUSTOM, "one")
    second = await drive.create_task(TaskType.CUSTOM, "two")
    events = drive.watch(1)  # replay everything after the account's first event
    replayed = await asyncio.wait_for(anext(events), 10)
    assert (replayed.type, replayed.task_id, replayed.sequence) == ("task.created", second.task_id, 2)
    await events.aclose()  # type: ignore[attr-defined]
    assert first.task_id != second.task_id
    with pytest.raises(ResyncRequiredError) as caught:
        await anext(drive.watch(10**9))  # never issued
    assert (
        caught.value.code is grpc.StatusCode.FAILED_PRECONDITION and caught.value.reason == "RESYNC_REQUIRED"
    )


async def test_watch_reconnects_across_a_restart(backend: str, tmp_path: Path) -> None:
    """The watch keeps going when its server restarts (same data dir and port): the events made
    while it was away are replayed after the last sequence it saw, with no gap or duplicate."""
    port = free_port()
    data_dir = tmp_path / "var"
    env = {"DRIVE_LISTEN": f"127.0.0.1:{port}", "DRIVE_WORKER": "false"}
    account = new_account()
    connects: list[int] = []
    seen: list[TaskEvent] = []
    # Reconnect attempts wait ~0.5-1 s, so events made right after the restart are replayed.
    policy = RetryPolicy(max_attempts=0, initial=1.0, maximum=1.0)
    async with contextlib.AsyncExitStack() as stack:
        url = await stack.enter_async_context(postgres_database()) if backend == "postgres" else None
        await _restarted(url, data_dir, env, account, policy, connects, seen)
    assert [event.sequence for event in seen] == [1, 2, 3]
    assert [event.data["name"] for event in seen] == ["before restart", "while away 1", "while away 2"]
    assert connects[0] == 0 and connects[-1] == 1 and len(connects) >= 2


async def _restarted(
    url: str | None,
    data_dir: Path,
    env: dict[str, str],
    account: str,
    policy: RetryPolicy,
    connects: list[int],
    seen: list[TaskEvent],
) -> None:
    """Watch on a first server, stop it, start a second one on the same data and port."""
    port = env["DRIVE_LISTEN"].rpartition(":")[2]
    async with running_app(settings_for(data_dir, url, **env)) as app:
        token = token_for(app.settings, account)
        client = AsyncDriveClient(f"127.0.0.1:{port}", token)
        connected, first = asyncio.Event(), asyncio.Event()

        def on_connect(sequence: int) -> None:
            connects.append(sequence)
            connected.set()

        events = client.watch(policy=policy, on_connect=on_connect)
        collector = asyncio.create_task(_collect(events, seen, 3, first))
        await asyncio.wait_for(connected.wait(), 10)
        await client.create_task(TaskType.CUSTOM, "before restart")
        await asyncio.wait_for(first.wait(), 10)
    async with running_app(settings_for(data_dir, url, **env)):
        await client.create_task(TaskType.CUSTOM, "while away 1")
        await client.create_task(TaskType.CUSTOM, "while away 2")
        await asyncio.wait_for(collector, 30)
    await client.close()


async def _collect(events: object, seen: list[TaskEvent], count: int, first: asyncio.Event) -> None:
    async for event in events:  # type: ignore[attr-defined]
        seen.append(event)
        first.set()
        if len(seen) == count:
            return

"""The built-in worker through the API: priority, checkpoints across pause/resume, cancel,
retries with backoff, leases (rescue, stale completions refused) and external-report refusal."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import duration_pb2

from drive.v1 import files_pb2, task_enums_pb2, tasks_pb2
from drive_service.app import App
from drive_service.domain.tasks import TaskStatus, TaskType
from drive_service.errors import LeaseLost
from drive_service.services.handlers import TaskContext, TaskFailed
from drive_service.storage.outputs import SqlOutputStore
from drive_service.storage.worker import SqlWorkerStore
from tests.support import Client, FakeClock, eventually, expect_error, make_client, running_app, settings_for
from tests.support.tasks import get_task

STATUS = task_enums_pb2.TaskStatus


@dataclass
class StepHandler:
    """A CUSTOM handler doing ``steps`` steps, checkpointing each; test hooks control it."""

    task_type: TaskType = TaskType.CUSTOM
    started_at_step: list[int] = field(default_factory=list)
    order: list[str] = field(default_factory=list)
    gate: asyncio.Event = field(default_factory=asyncio.Event)
    failures_left: int = 0
    passwords: list[str] = field(default_factory=list)

    async def run(self, ctx: TaskContext) -> dict[str, Any]:
        params = ctx.parameters
        self.passwords.append(str(params.get("password", "")))
        self.order.append(str(params.get("label", "")))
        start = int(ctx.checkpoint.get("step", 0))
        self.started_at_step.append(start)
        if params.get("fail"):
            raise TaskFailed("bad parameters: fail was requested")
        if self.failures_left:
            self.failures_left -= 1
            raise RuntimeError("flaky")
        if params.get("output"):
            source = ctx.scratch / "out.txt"
            source.write_bytes(b"partial output " * 100)
            await ctx.files.create(source, "out.txt", "text/plain")
        steps = int(params.get("steps", 1))
        for step in range(start, steps):
            if params.get("wait"):
                await self.gate.wait()
            await ctx.report(100.0 * step / steps, f"step {step}", {"step": step})
            await asyncio.sleep(float(params.get("pause", 0)))  # the work of one step, as long as asked
        return {"steps": steps, "label": params.get("label", "")}


@pytest.fixture
async def worker_app(tmp_path: Path) -> AsyncIterator[tuple[App, StepHandler, Client]]:
    handler = StepHandler()
    settings = settings_for(tmp_path, DRIVE_WORKER_POLL_MS="10", DRIVE_WORKER_CONCURRENCY="1")
    async with running_app(settings, handlers=[handler]) as app:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as channel:
            yield app, handler, make_client(app, channel)


async def create(client: Client, **parameters: Any) -> str:
    request = tasks_pb2.CreateTaskRequest(
        type=task_enums_pb2.TASK_TYPE_CUSTOM, name="job", priority=parameters.pop("priority", 0)
    )
    request.parameters.update(parameters)
    return (await client.tasks.CreateTask(request, metadata=client.metadata)).task.task_id


async def wait(client: Client, task_id: str, seconds: int = 20) -> tasks_pb2.Task:
    request = tasks_pb2.WaitTaskRequest(task_id=task_id, timeout=duration_pb2.Duration(seconds=seconds))
    return (await client.tasks.WaitTask(request, metadata=client.metadata)).task


async def test_runs_a_task_to_completion(worker_app: tuple[App, StepHandler, Client]) -> None:
    _, _, client = worker_app
    task_id = await create(client, steps=3, label="a")
    done = await wait(client, task_id)
    assert done.status == STATUS.TASK_STATUS_COMPLETED
    assert dict(done.results) == {"steps": 3.0, "label": "a"}
    assert done.progress == 100.0


async def test_priority_then_age(worker_app: tuple[App, StepHandler, Client]) -> None:
    _, handler, client = worker_app
    blocker = await create(client, wait=True, label="blocker")
    await eventually(
        lambda: get_task(client, blocker),
        lambda task: task.status == STATUS.TASK_STATUS_IN_PROGRESS,
        failure="the blocker never started",
    )
    low = await create(client, label="low", priority=10)
    high = await create(client, label="high", priority=90)
    mid_old = await create(client, label="mid-old", priority=50)
    mid_new = await create(client, label="mid-new", priority=50)
    handler.gate.set()
    for task_id in (blocker, low, high, mid_old, mid_new):
        assert (await wait(client, task_id)).status == STATUS.TASK_STATUS_COMPLETED
    assert handler.order == ["blocker", "high", "mid-old", "mid-new", "low"]


async def test_pause_resume_continues_from_checkpoint(worker_app: tuple[App, StepHandler, Client]) -> None:
    _, handler, client = worker_app
    handler.gate.set()
    task_id = await create(client, steps=50, pause=0.02, label="long")
    await eventually(
        lambda: get_task(client, task_id), lambda task: task.progress >= 20, failure="no progress to 20 %"
    )
    paused = (
        await client.tasks.PauseTask(tasks_pb2.PauseTaskRequest(task_id=task_id), metadata=client.metadata)
    ).task
    assert paused.status == STATUS.TASK_STATUS_PAUSED
    # The subject: a paused task stays paused while the worker goes on polling (every 10 ms). No
    # event announces that nothing happened, so the test lets twenty polls go by.
    await asyncio.sleep(0.2)
    still = await get_task(client, task_id)
    assert still.status == STATUS.TASK_STATUS_PAUSED
    resumed = (
        await client.tasks.ResumeTask(tasks_pb2.ResumeTaskRequest(task_id=task_id), metadata=client.metadata)
    ).task
    assert resumed.status in (STATUS.TASK_STATUS_PENDING, STATUS.TASK_STATUS_IN_PROGRESS)
    done = await wait(client, task_id)
    assert done.status == STATUS.TASK_STATUS_COMPLETED
    assert handler.started_at_step[0] == 0
    assert handler.started_at_step[1] >= 10  # the second attempt began where the first stopped


async def test_cancel_removes_partial_outputs(worker_app: tuple[App, StepHandler, Client]) -> None:
    app, handler, client = worker_app
    task_id = await create(client, output=True, wait=True, steps=2, label="out")
    store = SqlOutputStore(app.service.db)
    # The handler creates its output right after starting, then waits at the gate.
    await eventually(lambda: store.pending_outputs(task_id), failure="the handler made no output")
    assert (await get_task(client, task_id)).status == STATUS.TASK_STATUS_IN_PROGRESS
    assert len(await store.pending_outputs(task_id)) == 1
    listed = await client.files.ListFiles(files_pb2.ListFilesRequest(), metadata=client.metadata)
    assert listed.total == 0  # hidden while the attempt runs
    await client.tasks.CancelTask(tasks_pb2.CancelTaskRequest(task_id=task_id), metadata=client.metadata)
    handler.gate.set()
    assert (await wait(client, task_id)).status == STATUS.TASK_STATUS_CANCELLED
    assert await SqlOutputStore(app.service.db).pending_outputs(task_id) == []
    assert (await client.files.ListFiles(files_pb2.ListFilesRequest(), metadata=client.metadata)).total == 0


async def test_outputs_visible_on_completion(worker_app: tuple[App, StepHandler, Client]) -> None:
    _, handler, client = worker_app
    handler.gate.set()
    task_id = await create(client, output=True, label="out")
    assert (await wait(client, task_id)).status == STATUS.TASK_STATUS_COMPLETED
    listed = await client.files.ListFiles(files_pb2.ListFilesRequest(), metadata=client.metadata)
    assert [file.name for file in listed.files] == ["out.txt"]


async def test_permanent_failure_is_not_retried(worker_app: tuple[App, StepHandler, Client]) -> None:
    _, handler, client = worker_app
    task_id = await create(client, fail=True, output=False)
    failed = await wait(client, task_id)
    assert failed.status == STATUS.TASK_STATUS_FAILED
    assert failed.error_message == "bad parameters: fail was requested"
    assert handler.started_at_step == [0]


async def test_external_reports_are_refused(worker_app: tuple[App, StepHandler, Client]) -> None:
    _, _, client = worker_app
    task_id = await create(client, wait=True)
    request = tasks_pb2.UpdateTaskProgressRequest(task_id=task_id, progress=50)
    await expect_error(
        client.tasks.UpdateTaskProgress(request, metadata=client.metadata),
        grpc.StatusCode.FAILED_PRECONDITION,
        "MANAGED_BY_WORKER",
    )


async def test_retry_with_backoff_then_success(tmp_path: Path) -> None:
    clock = FakeClock(datetime.now(UTC))
    handler = StepHandler(failures_left=1)
    settings = settings_for(tmp_path, DRIVE_WORKER_POLL_MS="10")
    async with running_app(settings, clock=clock, handlers=[handler]) as app:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as channel:
            client = make_client(app, channel)
            task_id = await create(client, label="flaky")
            retrying = await eventually(
                lambda: get_task(client, task_id),
                lambda task: task.status_message.startswith("Retrying"),
                failure="the failed attempt was never queued for a retry",
            )
            assert retrying.status == STATUS.TASK_STATUS_PENDING
            # The subject: the clock stands still, so the backoff must hold the task through the
            # worker's polls (every 10 ms); nothing announces a claim that did not happen.
            await asyncio.sleep(0.1)
            assert (await get_task(client, task_id)).status == STATUS.TASK_STATUS_PENDING  # backoff holds it
            clock.advance(seconds=3)
            app.service.worker.wake()
            assert (await wait(client, task_id)).status == STATUS.TASK_STATUS_COMPLETED
            assert len(handler.started_at_step) == 2


async def test_rescue_and_stale_completion_refused(tmp_path: Path) -> None:
    clock = FakeClock(datetime.now(UTC))
    handler = StepHandler()
    handler.gate.set()
    settings = settings_for(tmp_path, DRIVE_WORKER="false")
    async with running_app(settings, clock=clock, handlers=[handler]) as app:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as channel:
            client = make_client(app, channel)
            task_id = await create(client, label="rescued")
            store = SqlWorkerStore(app.service.db)
            # A worker claims the task and then freezes: its lease runs out.
            (frozen,), _ = await store.claim(
                [TaskType.CUSTOM.value], 1, clock(), timedelta(seconds=30), "frozen-token"
            )
            assert frozen.attempts == 1
            clock.advance(seconds=31)
            assert await app.service.worker.rescue_expired() == 1
            assert (await get_task(client, task_id)).status == STATUS.TASK_STATUS_PENDING
            clock.advance(seconds=5)  # past the backoff
            (claimed,) = await app.service.worker.claim(1)
            assert claimed.attempts == 2
            assert (await wait(client, task_id)).status == STATUS.TASK_STATUS_COMPLETED

            def complete_again(task: Any) -> Any:
                return task, []

            with pytest.raises(LeaseLost):
                await store.change_leased(task_id, "frozen-token", complete_again)
            final = await get_task(client, task_id)
            assert final.status == STATUS.TASK_STATUS_COMPLETED and final.progress == 100.0


async def test_gives_up_after_max_attempts(tmp_path: Path) -> None:
    clock = FakeClock(datetime.now(UTC))
    settings = settings_for(tmp_path, DRIVE_WORKER="false")
    async with running_app(settings, clock=clock, handlers=[StepHandler()]) as app:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as channel:
            client = make_client(app, channel)
            task_id = await create(client)
            store = SqlWorkerStore(app.service.db)
            for attempt in range(3):
                claimed, _ = await store.claim(
                    [TaskType.CUSTOM.value], 1, clock(), timedelta(seconds=30), f"t{attempt}"
                )
                assert len(claimed) == 1
                clock.advance(minutes=6)
                await app.service.worker.rescue_expired()
                clock.advance(seconds=10)  # past the retry backoff
            final = await get_task(client, task_id)
            assert final.status == STATUS.TASK_STATUS_FAILED
            assert "Gave up after 3 attempts" in final.error_message
            assert TaskStatus(await store.status(task_id)) is TaskStatus.FAILED


async def test_passwords_are_sealed_not_echoed(worker_app: tuple[App, StepHandler, Client]) -> None:
    app, handler, client = worker_app
    task_id = await create(client, label="secret", password="correct horse battery")
    done = await wait(client, task_id)
    assert done.status == STATUS.TASK_STATUS_COMPLETED
    assert handler.passwords == ["correct horse battery"]  # the handler got it
    assert "correct horse" not in str(done)  # the API never shows it
    listed = await client.tasks.ListTasks(tasks_pb2.ListTasksRequest(), metadata=client.metadata)
    assert "correct horse" not in str(listed)
    async with app.service.db.read() as conn:
        from sqlalchemy import text

        row = (await conn.execute(text("SELECT parameters, sealed_secrets FROM tasks"))).one()
    assert "correct horse" not in str(row.parameters)
    assert row.sealed_secrets is None  # dropped once the task finished

"""TaskManager on the in-memory ports: the state machine, events after commit, isolation, expiry."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from drive_service.domain.tasks import TaskStatus, TaskType
from drive_service.domain.validation import NewTask, TaskQuery
from drive_service.errors import FailedPrecondition, InvalidArgument, InvalidTaskState, TaskNotFound
from tests.in_memory import Echo, in_memory
from tests.support import new_account


def _new(name: str = "job", **fields: object) -> NewTask:
    values: dict[str, object] = {
        "type": TaskType.CUSTOM,
        "name": name,
        "description": "",
        "priority": 0,
        "parameters": {"fileIds": ["a"]},
        "expired_at": None,
        "estimated_duration_seconds": None,
        **fields,
    }
    return NewTask(**values)  # type: ignore[arg-type]


async def test_a_task_walks_its_state_machine_and_each_step_is_published_once() -> None:
    service, account = in_memory(), new_account()
    task = await service.tasks.create(account, _new())
    assert task.status is TaskStatus.PENDING
    with pytest.raises(InvalidTaskState):
        await service.tasks.pause(account, task.task_id)  # only a running task pauses
    running = await service.tasks.report_progress(account, task.task_id, 40.0, "working")
    assert (running.status, running.progress, running.status_message) == (
        TaskStatus.IN_PROGRESS,
        40.0,
        "working",
    )
    assert (await service.tasks.pause(account, task.task_id)).status is TaskStatus.PAUSED
    assert (await service.tasks.resume(account, task.task_id)).status is TaskStatus.IN_PROGRESS
    done = await service.tasks.complete(account, task.task_id, {"resultFileId": "f1"})
    assert (done.status, done.progress, done.results) == (TaskStatus.COMPLETED, 100.0, {"resultFileId": "f1"})
    with pytest.raises(InvalidTaskState):
        await service.tasks.cancel(account, task.task_id)  # terminal: nothing moves it
    assert service.event_types(task.task_id) == [
        "task.created",
        "task.progress",
        "task.paused",
        "task.resumed",
        "task.progress",
        "task.completed",
    ]
    sequences = [recorded.sequence for recorded in service.published]
    assert sequences == list(range(1, len(sequences) + 1))  # per-account, dense, in order


async def test_a_refused_change_writes_and_publishes_nothing() -> None:
    service, account = in_memory(), new_account()
    task = await service.tasks.create(account, _new())
    before = len(service.published)
    with pytest.raises(InvalidTaskState):
        await service.tasks.resume(account, task.task_id)
    assert len(service.published) == before
    assert (await service.tasks.get(account, task.task_id)) == task


async def test_another_accounts_task_does_not_exist() -> None:
    service, owner, stranger = in_memory(), new_account(), new_account()
    task = await service.tasks.create(owner, _new())
    for call in (
        service.tasks.get(stranger, task.task_id),
        service.tasks.cancel(stranger, task.task_id),
        service.tasks.complete(stranger, task.task_id, {}),
    ):
        with pytest.raises(TaskNotFound):
            await call
    listed, total = await service.tasks.list_tasks(stranger, TaskQuery())
    assert (listed, total) == ([], 0)


async def test_a_deadline_must_lie_ahead_and_expires_the_task_when_it_passes() -> None:
    service, account = in_memory(), new_account()
    with pytest.raises(InvalidArgument):
        await service.tasks.create(account, _new(expired_at=service.clock() - timedelta(seconds=1)))
    task = await service.tasks.create(account, _new(expired_at=service.clock() + timedelta(minutes=5)))
    assert await service.tasks.expire_overdue() == 0
    service.clock.advance(minutes=5)
    assert await service.tasks.expire_overdue() == 1
    assert (await service.tasks.get(account, task.task_id)).status is TaskStatus.EXPIRED
    assert service.event_types(task.task_id)[-1] == "task.expired"


async def test_wait_returns_when_the_task_ends_and_reports_a_timeout_otherwise() -> None:
    service, account = in_memory(), new_account()
    task = await service.tasks.create(account, _new())
    waiting = asyncio.create_task(service.tasks.wait(account, task.task_id, timedelta(seconds=5)))
    await asyncio.sleep(0)  # the waiter subscribes before the change below
    await service.tasks.fail(account, task.task_id, "broken")
    finished, timed_out = await waiting
    assert (finished.status, finished.error_message, timed_out) == (TaskStatus.FAILED, "broken", False)
    other = await service.tasks.create(account, _new())
    same, timed_out = await service.tasks.wait(account, other.task_id, timedelta(milliseconds=20))
    assert (same.status, timed_out) == (TaskStatus.PENDING, True)


async def test_cleanup_deletes_only_old_terminal_tasks() -> None:
    service, account = in_memory(), new_account()
    old = await service.tasks.create(account, _new("old"))
    await service.tasks.cancel(account, old.task_id)
    running = await service.tasks.create(account, _new("running"))
    service.clock.advance(hours=2)
    recent = await service.tasks.create(account, _new("recent"))
    await service.tasks.cancel(account, recent.task_id)
    assert await service.tasks.cleanup(account, timedelta(hours=1)) == 1
    remaining, _ = await service.tasks.list_tasks(account, TaskQuery())
    assert {task.task_id for task in remaining} == {running.task_id, recent.task_id}


async def test_worker_run_types_are_not_reported_on_by_external_executors() -> None:
    service, account = in_memory([Echo()]), new_account()
    task = await service.tasks.create(account, _new())
    assert task.managed
    with pytest.raises(FailedPrecondition) as refused:
        await service.tasks.report_progress(account, task.task_id, 10.0, "")
    assert refused.value.reason == "MANAGED_BY_WORKER"

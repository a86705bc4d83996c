"""The worker on the in-memory ports: runs, lease fencing, retries with backoff on an injected
clock, permanent failures, rescue of lapsed leases."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest

from drive_service import audit
from drive_service.domain.tasks import Task, TaskStatus, TaskType
from drive_service.domain.validation import NewTask
from drive_service.errors import LeaseLost
from drive_service.storage.memory import MemoryWorkerStore
from tests.in_memory import Echo, InMemory, in_memory
from tests.support import new_account


async def _create(service: InMemory, account: str, **parameters: Any) -> Task:
    new = NewTask(TaskType.CUSTOM, "job", "", 0, parameters, None, None)
    return await service.tasks.create(account, new)


async def _run_next(service: InMemory, account: str, task_id: str) -> Task:
    """Claim what is due now, and return the task once its attempt ended."""
    assert [task.task_id for task in await service.worker.claim(1)] == [task_id]
    await service.worker.drain()
    return await service.tasks.get(account, task_id, fresh=True)


async def test_a_claimed_task_runs_to_completion_with_its_results_and_checkpoint(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger=audit.LOGGER)
    service, account = in_memory([Echo()]), new_account()
    task = await _create(service, account, value=7)
    done = await _run_next(service, account, task.task_id)
    assert (done.status, done.results, done.attempts) == (TaskStatus.COMPLETED, {"value": 7}, 1)
    assert done.lease_token is None
    trail = [(r.action, r.outcome, r.targets["task_id"]) for r in caplog.records if r.name == audit.LOGGER]
    assert trail == [("worker.attempt", "STARTED", task.task_id), ("worker.complete", "OK", task.task_id)]
    # The handler's 50 % report, then 100 % (always sent) with the completion.
    assert service.event_types(task.task_id) == [
        "task.created",
        "task.progress",
        "task.progress",
        "task.completed",
    ]


async def test_a_crash_is_retried_after_a_backoff_and_gives_up_after_max_attempts() -> None:
    handler = Echo()
    service, account = in_memory([handler]), new_account()
    task = await _create(service, account, fail=5)
    queued = await _run_next(service, account, task.task_id)
    assert queued.status is TaskStatus.PENDING and queued.run_after == service.clock() + timedelta(seconds=2)
    assert await service.worker.claim(1) == []  # not before the backoff
    service.clock.advance(seconds=2)
    queued = await _run_next(service, account, task.task_id)
    assert queued.run_after == service.clock() + timedelta(seconds=4)  # doubled
    service.clock.advance(seconds=4)
    failed = await _run_next(service, account, task.task_id)
    assert (failed.status, failed.attempts, handler.runs) == (TaskStatus.FAILED, 3, 3)
    assert failed.error_message.startswith("Gave up after 3 attempts")


async def test_a_permanent_failure_is_not_retried() -> None:
    handler = Echo()
    service, account = in_memory([handler]), new_account()
    task = await _create(service, account, invalid=True)
    failed = await _run_next(service, account, task.task_id)
    assert (failed.status, failed.error_message, handler.runs) == (TaskStatus.FAILED, "invalid parameters", 1)


async def test_a_rescued_tasks_stale_attempt_can_no_longer_write() -> None:
    service, account = in_memory([Echo()]), new_account()
    store = MemoryWorkerStore(service.state)
    task = await _create(service, account)
    (frozen,), _ = await store.claim(
        [TaskType.CUSTOM.value], 1, service.clock(), timedelta(seconds=30), "frozen"
    )
    service.clock.advance(seconds=31)  # the frozen worker's lease lapses
    assert await service.worker.rescue_expired() == 1
    rescued, _ = await service.tasks.wait(account, task.task_id, timedelta(0))
    assert rescued.status is TaskStatus.PENDING and rescued.lease_token is None
    service.clock.advance(seconds=2)
    done = await _run_next(service, account, task.task_id)
    assert (done.status, done.attempts) == (TaskStatus.COMPLETED, 2)
    with pytest.raises(LeaseLost):  # the first attempt wakes up and tries to finish: refused
        await store.change_leased(task.task_id, frozen.lease_token or "", lambda task: (task, []))


async def test_pause_stops_the_attempt_and_resume_requeues_it_from_its_checkpoint() -> None:
    service, account = in_memory([Echo()]), new_account()
    task = await _create(service, account)
    store = MemoryWorkerStore(service.state)
    (claimed,), _ = await store.claim(
        [TaskType.CUSTOM.value], 1, service.clock(), timedelta(seconds=30), "t1"
    )
    await service.tasks.pause(account, task.task_id)
    with pytest.raises(LeaseLost):
        await store.change_leased(task.task_id, "t1", lambda task: (task, []))
    resumed = await service.tasks.resume(account, task.task_id)
    assert (resumed.status, resumed.lease_token) == (TaskStatus.PENDING, None)  # back in the queue
    assert (await _run_next(service, account, task.task_id)).status is TaskStatus.COMPLETED
    assert claimed.attempts == 1

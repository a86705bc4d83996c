"""The built-in worker: claims queued tasks, runs their handlers under a lease, rescues the lost."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import shutil
import tempfile
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from drive_service import audit
from drive_service.domain import events as ev
from drive_service.domain.events import Event
from drive_service.domain.ids import new_id
from drive_service.domain.tasks import Task, TaskStatus, TaskType
from drive_service.errors import LeaseLost, StopAttempt, TaskFailed
from drive_service.services.file_ops import FileOps
from drive_service.services.handlers import Handler, TaskContext
from drive_service.services.ports import EventPublisher, TaskChange, WorkerStore
from drive_service.services.secrets import SecretBox

_log = logging.getLogger(__name__)

#: Builds the file operations of one attempt: (task, lease token) -> FileOps.
FileOpsFactory = Callable[[Task, str], FileOps]
#: Deletes the hidden outputs of a task that will never complete.
DiscardOutputs = Callable[[str], Awaitable[object]]


@dataclass(frozen=True, slots=True)
class WorkerSettings:
    """How a worker process runs."""

    concurrency: int = 4
    lease: timedelta = timedelta(seconds=30)
    poll: timedelta = timedelta(milliseconds=100)
    max_backoff: timedelta = timedelta(minutes=5)


def backoff(attempts: int, ceiling: timedelta) -> timedelta:
    """Exponential delay before retry ``attempts`` + 1: 2, 4, 8 … seconds, at most ``ceiling``."""
    return min(timedelta(seconds=2**attempts), ceiling)


class Worker:
    """Runs up to ``concurrency`` attempts at a time; every write an attempt makes checks its lease."""

    def __init__(
        self,
        store: WorkerStore,
        events: EventPublisher,
        handlers: dict[TaskType, Handler],
        clock: Callable[[], datetime],
        file_ops: FileOpsFactory,
        discard_outputs: DiscardOutputs,
        settings: WorkerSettings,
        secrets: SecretBox,
    ) -> None:
        self._store = store
        self._events = events
        self._handlers = handlers
        self._clock = clock
        self._file_ops = file_ops
        self._discard_outputs = discard_outputs
        self._settings = settings
        self._secrets = secrets
        self._types = [task_type.value for task_type in handlers]
        self._running: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Look for work now (called when this process enqueues a task)."""
        self._wake.set()

    async def run(self) -> None:
        """Claim and run tasks until cancelled; cancelling stops the attempts (their leases lapse)."""
        next_reap = self._clock()
        failures = 0
        try:
            while True:
                if self._clock() >= next_reap:
                    await self._guarded(self.rescue_expired)
                    next_reap = self._clock() + self._settings.lease / 2
                free = self._settings.concurrency - len(self._running)
                claimed: list[Task] | None = []
                if free > 0 and self._types:
                    claimed = await self._guarded(functools.partial(self.claim, free))
                if claimed is None:  # the database is unreachable: back off, up to 5 s
                    failures += 1
                    await asyncio.sleep(min(self._settings.poll.total_seconds() * 2**failures, 5.0))
                    continue
                failures = 0
                if claimed and len(claimed) == free:
                    await asyncio.sleep(0)
                    continue
                self._wake.clear()
                # asyncio.timeout, not wait_for: on 3.11 wait_for swallows a cancellation that
                # lands just as the wake event fires, and the loop would then never stop.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._settings.poll.total_seconds()):
                        await self._wake.wait()
        finally:
            for attempt in self._running:
                attempt.cancel()
            await asyncio.gather(*self._running, return_exceptions=True)

    async def claim(self, limit: int) -> list[Task]:
        """Claim up to ``limit`` tasks and start their attempts."""
        token = new_id()
        lease = self._settings.lease
        claimed, changes = await self._store.claim(self._types, limit, self._clock(), lease, token)
        await self._events.publish(changes)
        for task in claimed:
            _audit("worker.attempt", task, "STARTED")
            attempt = asyncio.create_task(self._attempt(task))
            self._running.add(attempt)
            attempt.add_done_callback(self._finished)
        return claimed

    async def drain(self) -> None:
        """Wait until the attempts running now have ended (their outcomes recorded and published)."""
        while self._running:
            await asyncio.wait(set(self._running))

    def _finished(self, attempt: asyncio.Task[None]) -> None:
        self._running.discard(attempt)
        self._wake.set()  # a slot is free
        if not attempt.cancelled() and attempt.exception() is not None:
            # Bookkeeping failed (the database went away): the lease lapses and the reaper rescues.
            _log.warning("attempt bookkeeping failed", exc_info=attempt.exception())

    async def _attempt(self, task: Task) -> None:
        token = task.lease_token
        assert token is not None
        scratch = Path(tempfile.mkdtemp(prefix=f"drive-{task.task_id}-"))
        handler = self._handlers[task.type]
        # Secrets reach the handler in memory only; they are never written back.
        visible = dataclasses.replace(
            task, parameters={**task.parameters, **self._secrets.open(task.sealed_secrets)}
        )
        context = TaskContext(
            visible, self._file_ops(task, token), scratch, self._reporter(task.task_id, token)
        )
        work = asyncio.create_task(handler.run(context))
        beat = asyncio.create_task(self._heartbeat(task.task_id, token, work))
        try:
            results = await work
        except (StopAttempt, LeaseLost, asyncio.CancelledError):
            await self._stopped(task.task_id)
            return
        except TaskFailed as failure:
            await self._end(task.task_id, token, str(failure), retry=False)
            return
        except Exception as error:
            _log.exception("task attempt failed", extra={"task_id": task.task_id})
            await self._end(task.task_id, token, f"{type(error).__name__} during the attempt", retry=True)
            return
        finally:
            beat.cancel()
            await asyncio.gather(beat, return_exceptions=True)
            await asyncio.to_thread(shutil.rmtree, scratch, True)
        await self._complete(task.task_id, token, results)

    def _reporter(self, task_id: str, token: str) -> Callable[[float, str, dict[str, Any] | None], Any]:
        async def report(progress: float, message: str, checkpoint: dict[str, Any] | None) -> None:
            def change(task: Task) -> tuple[Task, Sequence[Event]]:
                now = self._clock()
                updated = dataclasses.replace(
                    task,
                    progress=progress,
                    status_message=message or task.status_message,
                    checkpoint=checkpoint if checkpoint is not None else task.checkpoint,
                    lease_expires_at=now + self._settings.lease,
                    updated_at=now,
                    last_activity=now,
                )
                return ev.throttled_progress(updated, now)

            try:
                await self._leased(task_id, token, change)
            except LeaseLost as lost:
                raise StopAttempt(lost.status) from None

        return report

    async def _heartbeat(self, task_id: str, token: str, work: asyncio.Task[Any]) -> None:
        """Extend the lease while the handler works; stop the handler once the lease is lost."""
        while True:
            await asyncio.sleep(self._settings.lease.total_seconds() / 3)

            def extend(task: Task) -> tuple[Task, Sequence[Event]]:
                return dataclasses.replace(task, lease_expires_at=self._clock() + self._settings.lease), []

            try:
                await self._leased(task_id, token, extend)
            except LeaseLost:
                work.cancel()
                return
            except Exception:
                _log.warning("heartbeat failed", extra={"task_id": task_id})

    async def _complete(self, task_id: str, token: str, results: dict[str, Any]) -> None:
        def complete(task: Task) -> tuple[Task, Sequence[Event]]:
            now = self._clock()
            done = dataclasses.replace(
                task,
                status=TaskStatus.COMPLETED,
                progress=100.0,
                results=results,
                completed_at=now,
                updated_at=now,
                last_activity=now,
                lease_token=None,
                lease_expires_at=None,
                sealed_secrets=None,
            )
            done, events = ev.throttled_progress(done, now)
            return done, [*events, ev.completed(done)]

        try:
            task = await self._leased(task_id, token, complete)
        except LeaseLost:
            await self._stopped(task_id)  # a late completion of a rescued task is refused
            return
        _audit("worker.complete", task, "OK")

    async def _end(self, task_id: str, token: str, message: str, *, retry: bool) -> None:
        """Finish an attempt that failed: back to the queue with backoff, or FAILED for good."""

        def end(task: Task) -> tuple[Task, Sequence[Event]]:
            return self._after_failure(task, message, retry=retry)

        try:
            task = await self._leased(task_id, token, end)
        except LeaseLost:
            await self._stopped(task_id)
            return
        _audit("worker.fail", task, "FAILED" if task.status is TaskStatus.FAILED else "RETRY_SCHEDULED")
        if task.status is TaskStatus.FAILED:
            await self._discard_outputs(task_id)

    async def rescue_expired(self) -> int:
        """Return tasks whose lease ran out to the queue (or fail them after the last attempt)."""
        rescued = 0
        for task_id in await self._store.expired_leases(self._clock(), 100):

            def rescue(task: Task) -> tuple[Task, Sequence[Event]]:
                lapsed = (
                    task.status is TaskStatus.IN_PROGRESS
                    and task.lease_expires_at is not None
                    and task.lease_expires_at < self._clock()
                )
                if not lapsed:
                    return task, []
                return self._after_failure(task, "The worker running the task stopped answering.", retry=True)

            outcome = await self._store.rescue(task_id, rescue)
            if outcome is None:
                continue  # gone, or busy in someone's transaction: the next round looks again
            task, changes = outcome
            await self._events.publish(changes)
            if not changes.events and task.status is not TaskStatus.PENDING:
                continue
            _audit("worker.rescue", task, "FAILED" if task.status is TaskStatus.FAILED else "REQUEUED")
            if task.status is TaskStatus.FAILED:
                await self._discard_outputs(task_id)
            rescued += 1
        return rescued

    def _after_failure(self, task: Task, message: str, *, retry: bool) -> tuple[Task, Sequence[Event]]:
        now = self._clock()
        if retry and task.attempts < task.max_attempts:
            queued = dataclasses.replace(
                task,
                status=TaskStatus.PENDING,
                status_message=f"Retrying: {message}",
                lease_token=None,
                lease_expires_at=None,
                run_after=now + backoff(task.attempts, self._settings.max_backoff),
                updated_at=now,
            )
            return queued, []
        if retry:
            message = f"Gave up after {task.attempts} attempts: {message}"
        failed = dataclasses.replace(
            task,
            status=TaskStatus.FAILED,
            error_message=message,
            lease_token=None,
            lease_expires_at=None,
            sealed_secrets=None,
            completed_at=now,
            updated_at=now,
            last_activity=now,
        )
        return failed, [ev.failed(failed)]

    async def _leased(self, task_id: str, token: str, change: TaskChange) -> Task:
        """Apply a change to a task this attempt holds, and publish it. Raises LeaseLost."""
        task, changes = await self._store.change_leased(task_id, token, change)
        await self._events.publish(changes)
        return task

    async def _stopped(self, task_id: str) -> None:
        """The attempt stopped because the task left it: drop outputs unless it may resume."""
        status = await self._store.status(task_id)
        if status in {None, TaskStatus.CANCELLED, TaskStatus.FAILED, TaskStatus.EXPIRED}:
            await self._discard_outputs(task_id)

    @staticmethod
    async def _guarded(call: Callable[[], Any]) -> Any:
        try:
            return await call()
        except Exception:
            _log.exception("worker loop step failed")
            return None


def _audit(action: str, task: Task, outcome: str) -> None:
    audit.record(
        action,
        account_id=task.account_id,
        outcome=outcome,
        targets={"task_id": task.task_id, "type": task.type.value, "attempt": str(task.attempts)},
    )

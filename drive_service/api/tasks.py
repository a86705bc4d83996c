"""TaskService servicer: parse, call TaskManager, convert."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import grpc

from drive.v1 import tasks_pb2, tasks_pb2_grpc
from drive_service.api import convert
from drive_service.api.auth import current_caller
from drive_service.api.metrics import event_sent
from drive_service.domain import validation as valid
from drive_service.domain.events import RecordedEvent
from drive_service.errors import InvalidArgument
from drive_service.services.events import EventWatcher
from drive_service.services.tasks import TaskManager

#: Initial metadata key WatchTasks sends once the subscription is live.
WATCH_MARKER = "x-watch"

#: Whole seconds beyond this (a Duration's own limit, about 10,000 years) are cut to it before a
#: timedelta is made; the checks that follow refuse (ages) or cut (timeouts) far less anyway.
_LONGEST_SECONDS = 315_576_000_000


def _duration_or_seconds(request: Any, duration: str, seconds: str, reason: str) -> timedelta | None:
    """The Duration field ``duration`` of ``request``, else its whole-seconds twin ``seconds``
    (which HTTP query strings can carry; 0 counts as unset), else None.

    Raises:
        InvalidArgument: ``reason`` when both are set; INVALID_DURATION for an invalid Duration.
    """
    value = convert.optional_duration(request, duration)
    whole: int = getattr(request, seconds)
    if whole != 0:
        if value is not None:
            raise InvalidArgument(f"Set {duration} or {seconds}, not both.", reason=reason, field=seconds)
        value = timedelta(seconds=max(-_LONGEST_SECONDS, min(whole, _LONGEST_SECONDS)))
    return value


class _WatchResponses:
    """Each live event is converted once, however many streams send it: the hub hands the same
    object to every subscriber, so it is recognised by identity (replayed events are new objects
    and simply miss)."""

    def __init__(self, size: int = 1024) -> None:
        self._size = size
        self._recent: OrderedDict[int, tuple[RecordedEvent, tasks_pb2.WatchTasksResponse]] = OrderedDict()

    def of(self, recorded: RecordedEvent) -> tasks_pb2.WatchTasksResponse:
        known = self._recent.get(id(recorded))
        if known is not None and known[0] is recorded:
            return known[1]
        response = tasks_pb2.WatchTasksResponse(event=convert.event(recorded))
        self._recent[id(recorded)] = (recorded, response)  # holding it keeps its id unique
        if len(self._recent) > self._size:
            self._recent.popitem(last=False)
        return response


class TaskServicer(tasks_pb2_grpc.TaskServiceServicer):
    """Generic tasks of the caller's account."""

    def __init__(self, manager: TaskManager, watcher: EventWatcher) -> None:
        self._tasks = manager
        self._watcher = watcher
        self._responses = _WatchResponses()

    async def CreateTask(
        self, request: tasks_pb2.CreateTaskRequest, context: grpc.aio.ServicerContext
    ) -> tasks_pb2.CreateTaskResponse:
        new = valid.NewTask(
            type=valid.creatable_type(convert.task_type_from_proto(request.type)),
            name=valid.name(request.name),
            description=valid.text(request.description, field="description"),
            priority=valid.priority(request.priority),
            parameters=convert.from_struct(request.parameters, field="parameters"),
            expired_at=convert.optional_datetime(request, "expired_at"),
            estimated_duration_seconds=valid.estimated_duration(
                request.estimated_duration_seconds if request.HasField("estimated_duration_seconds") else None
            ),
        )
        task = await self._tasks.create(current_caller().account_id, new)
        return tasks_pb2.CreateTaskResponse(task=convert.task(task))

    async def GetTask(
        self, request: tasks_pb2.GetTaskRequest, context: grpc.aio.ServicerContext
    ) -> tasks_pb2.GetTaskResponse:
        task = await self._tasks.get(current_caller().account_id, valid.task_id(request.task_id))
        return tasks_pb2.GetTaskResponse(task=convert.task(task))

    async def ListTasks(
        self, request: tasks_pb2.ListTasksRequest, context: grpc.aio.ServicerContext
    ) -> tasks_pb2.ListTasksResponse:
        offset, limit = valid.page(request.offset, request.limit if request.HasField("limit") else None)
        query = valid.TaskQuery(
            type=convert.task_type_from_proto(request.type),
            status=convert.task_status_from_proto(request.status),
            sort_by=valid.sort_key(request.sort_by),
            descending=request.sort_descending if request.HasField("sort_descending") else True,
            offset=offset,
            limit=limit,
        )
        tasks, total = await self._tasks.list_tasks(current_caller().account_id, query)
        await context.send_initial_metadata((("x-total", str(total)),))
        return tasks_pb2.ListTasksResponse(tasks=[convert.task(task) for task in tasks], total=total)

    async def UpdateTaskProgress(
        self, request: tasks_pb2.UpdateTaskProgressRequest, context: grpc.aio.ServicerContext
    ) -> tasks_pb2.UpdateTaskProgressResponse:
        task = await self._tasks.report_progress(
            current_caller().account_id,
            valid.task_id(request.task_id),
            valid.progress(request.progress),
            valid.text(request.status_message, field="status_message"),
        )
        return tasks_pb2.UpdateTaskProgressResponse(task=convert.task(task))

    async def CompleteTask(
        self, request: tasks_pb2.CompleteTaskRequest, context: grpc.aio.ServicerContext
    ) -> tasks_pb2.CompleteTaskResponse:
        results = convert.from_struct(request.results, field="results")
        task = await self._tasks.complete(
            current_caller().account_id, valid.task_id(request.task_id), results
        )
        return tasks_pb2.CompleteTaskResponse(task=convert.task(task))

    async def FailTask(
        self, request: tasks_pb2.FailTaskRequest, context: grpc.aio.ServicerContext
    ) -> tasks_pb2.FailTaskResponse:
        message = valid.error_message(request.error_message)
        task = await self._tasks.fail(current_caller().account_id, valid.task_id(request.task_id), message)
        return tasks_pb2.FailTaskResponse(task=convert.task(task))

    async def PauseTask(
        self, request: tasks_pb2.PauseTaskRequest, context: grpc.aio.ServicerContext
    ) -> tasks_pb2.PauseTaskResponse:
        task = await self._tasks.pause(current_caller().account_id, valid.task_id(request.task_id))
        return tasks_pb2.PauseTaskResponse(task=convert.task(task))

    async def ResumeTask(
        self, request: tasks_pb2.ResumeTaskRequest, context: grpc.aio.ServicerContext
    ) -> tasks_pb2.ResumeTaskResponse:
        task = await self._tasks.resume(current_caller().account_id, valid.task_id(request.task_id))
        return tasks_pb2.ResumeTaskResponse(task=convert.task(task))

    async def CancelTask(
        self, request: tasks_pb2.CancelTaskRequest, context: grpc.aio.ServicerContext
    ) -> tasks_pb2.CancelTaskResponse:
        task = await self._tasks.cancel(current_caller().account_id, valid.task_id(request.task_id))
        return tasks_pb2.CancelTaskResponse(task=convert.task(task))

    async def CleanupTasks(
        self, request: tasks_pb2.CleanupTasksRequest, context: grpc.aio.ServicerContext
    ) -> tasks_pb2.CleanupTasksResponse:
        age = valid.max_age(_duration_or_seconds(request, "max_age", "max_age_seconds", "INVALID_AGE"))
        deleted = await self._tasks.cleanup(current_caller().account_id, age)
        return tasks_pb2.CleanupTasksResponse(deleted_count=deleted)

    async def WaitTask(
        self, request: tasks_pb2.WaitTaskRequest, context: grpc.aio.ServicerContext
    ) -> tasks_pb2.WaitTaskResponse:
        timeout = valid.wait_timeout(
            _duration_or_seconds(request, "timeout", "timeout_seconds", "INVALID_TIMEOUT")
        )
        remaining = context.time_remaining()
        if remaining is not None:
            timeout = min(timeout, timedelta(seconds=max(remaining - 0.05, 0.0)))
        task, timed_out = await self._tasks.wait(
            current_caller().account_id, valid.task_id(request.task_id), timeout
        )
        return tasks_pb2.WaitTaskResponse(task=convert.task(task), timed_out=timed_out)

    async def WatchTasks(
        self, request: tasks_pb2.WatchTasksRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[tasks_pb2.WatchTasksResponse]:
        if request.after_sequence < 0:
            raise InvalidArgument(
                "after_sequence must not be negative.", reason="INVALID_SEQUENCE", field="after_sequence"
            )
        task_ids = frozenset(request.task_ids)
        types = frozenset(convert.task_type_from_proto(number, field="types") for number in request.types)
        if None in types:
            raise InvalidArgument(
                "A type filter must name a task type, not TASK_TYPE_UNSPECIFIED.",
                reason="INVALID_TASK_TYPE",
                field="types",
            )

        def accept(recorded: RecordedEvent) -> bool:
            return (not task_ids or recorded.event.task_id in task_ids) and (
                not types or recorded.event.task_type in types
            )

        async with self._watcher.open(current_caller().account_id, request.after_sequence, accept) as events:
            # Headers go out once subscribed, so a client knows nothing after this point is missed.
            # The marker tells them apart from the headers of an early error (HTTP gateways
            # answer that with an error status instead of a 200 stream).
            await context.send_initial_metadata(((WATCH_MARKER, "subscribed"),))
            async for recorded in events:
                event_sent(recorded.created_at)
                yield self._responses.of(recorded)

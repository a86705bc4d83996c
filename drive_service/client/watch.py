"""WatchTasks as an endless async iterator that reconnects and replays what it missed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence

import grpc

import drive_service.client.convert as convert
from drive.v1 import tasks_pb2
from drive_service.client.connection import Connection
from drive_service.client.errors import DriveClientError, RetryableError, UnavailableError, from_rpc_error
from drive_service.client.models import TaskEvent, TaskType
from drive_service.client.retry import RetryPolicy

#: Reconnect forever, waiting at most 10 s between attempts.
WATCH_POLICY = RetryPolicy(max_attempts=0, initial=0.2, maximum=10.0)


async def watch(
    connection: Connection,
    after_sequence: int = 0,
    *,
    task_ids: Sequence[str] = (),
    types: Sequence[TaskType] = (),
    policy: RetryPolicy = WATCH_POLICY,
    on_connect: Callable[[int], None] | None = None,
) -> AsyncIterator[TaskEvent]:
    """The account's task events, in sequence order, without gaps or duplicates across reconnects.

    ``after_sequence`` > 0 first replays the stored events after it; 0 starts live. When the stream
    breaks (server restart, network) the iterator reconnects with exponential backoff and jitter
    (``policy``; ``max_attempts`` 0 = forever, counted from the last event) and asks for the events
    after the last sequence it yielded. Until a first event was seen on a live-only watch there is
    no sequence to replay from, so events during such an outage are missed. ``on_connect(sequence)``
    is called each time the server has subscribed the stream. Raises ResyncRequiredError when the
    server can no longer replay (the events are older than its replay window): reload the tasks
    with ListTasks and watch again from 0; raises other non-transient errors as they come.
    """
    last = after_sequence
    failures = 0
    while True:
        request = tasks_pb2.WatchTasksRequest(
            task_ids=list(task_ids), types=[convert.type_name(kind) for kind in types], after_sequence=last
        )
        call = connection.tasks.WatchTasks(request, metadata=connection.metadata)
        try:
            await call.initial_metadata()  # sent once the server has subscribed this stream
            if on_connect is not None:
                on_connect(last)
            async for response in call:
                event = convert.task_event(response.event)
                if event.sequence <= last and last > 0:
                    continue  # already yielded before a reconnect
                last = event.sequence
                failures = 0
                yield event
            error: DriveClientError = UnavailableError("the server ended the watch stream")
        except grpc.RpcError as raw:
            error = from_rpc_error(raw)
            if not isinstance(error, RetryableError):
                raise error from None
        finally:
            call.cancel()
        failures += 1
        if policy.max_attempts and failures >= policy.max_attempts:
            raise error
        await asyncio.sleep(policy.delay(failures - 1, error))

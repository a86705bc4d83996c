"""WatchTasks streams that are known to be subscribed, and reading their events with a bound."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc

from drive.v1 import events_pb2, tasks_pb2
from tests.support.clients import Client

#: How long a test waits for one event before it fails.
EVENT_TIMEOUT = 10.0


async def started(client: Client, **fields: object) -> Any:
    """A WatchTasks stream (request ``fields``) that is subscribed: the server sends its headers
    only once the subscription is open, so every event committed after this returns reaches it.
    Fails the test if the call ends instead."""
    stream = client.tasks.WatchTasks(tasks_pb2.WatchTasksRequest(**fields), metadata=client.metadata)  # type: ignore[arg-type]
    await asyncio.wait_for(stream.initial_metadata(), EVENT_TIMEOUT)  # the headers: subscribed
    await stream.wait_for_connection()  # raises if the call ended (failed) instead
    return stream


async def read(stream: Any, count: int) -> list[events_pb2.TaskEvent]:
    """The next ``count`` events of ``stream``, each awaited at most EVENT_TIMEOUT seconds; fails
    the test if the stream ends first."""
    events = []
    for _ in range(count):
        response = await asyncio.wait_for(stream.read(), EVENT_TIMEOUT)
        assert response is not grpc.aio.EOF, f"the watch ended: {await stream.code()}"
        events.append(response.event)
    return events

"""The Ring sink against a real gRPC server implementing Ring's contract: the seed's packets reach
the task owner in order, failures and uploads raise one push notification each, and a Ring that is
down, slow, hung or overwhelmed never holds up or fails the RPC that produced the event."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import empty_pb2

from drive.v1 import task_enums_pb2, tasks_pb2
from drive_service.app import App
from drive_service.services.ring_sink import RingSink
from ring import ring_pb2, ring_pb2_grpc
from tests.support import (
    BACKEND_NAMES,
    Client,
    auth,
    backend_database,
    eventually,
    expect_error,
    make_client,
    new_account,
    running_app,
    settings_for,
    token_for,
)
from tests.support.tasks import struct
from tests.support.uploading import CHUNK, complete, payload, send_all
from tests.support.uploading import create as create_upload

_CALL_TIMEOUT = 10.0  # bounds every call and wait: no step may hang the suite
_ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


class RecordingRing(ring_pb2_grpc.RingServiceServicer):
    """Ring's contract, recording what it receives.

    ``gate``: calls wait for it before being recorded (a slow Ring). ``hang``: that many first
    calls never answer (a hung Ring; the caller's deadline ends them). ``refuse``: every call
    fails with this status.
    """

    def __init__(
        self, gate: asyncio.Event | None = None, hang: int = 0, refuse: grpc.StatusCode | None = None
    ) -> None:
        self.packets: list[ring_pb2.PushWebSocketPacketRequest] = []
        self.notifications: list[ring_pb2.SendPushNotificationToUserRequest] = []
        self.entered = asyncio.Event()
        self._gate = gate
        self._hang = hang
        self._refuse = refuse
        self._changed = asyncio.Condition()

    async def PushWebSocketPacket(
        self, request: ring_pb2.PushWebSocketPacketRequest, context: grpc.aio.ServicerContext
    ) -> empty_pb2.Empty:
        await self._hold(context)
        await self._record(self.packets, request)
        return empty_pb2.Empty()

    async def SendPushNotificationToUser(
        self, request: ring_pb2.SendPushNotificationToUserRequest, context: grpc.aio.ServicerContext
    ) -> empty_pb2.Empty:
        await self._hold(context)
        await self._record(self.notifications, request)
        return empty_pb2.Empty()

    async def packets_received(self, count: int) -> None:
        """Return once at least ``count`` packets arrived."""
        async with asyncio.timeout(_CALL_TIMEOUT), self._changed:
            await self._changed.wait_for(lambda: len(self.packets) >= count)

    async def _hold(self, context: grpc.aio.ServicerContext) -> None:
        self.entered.set()
        if self._refuse is not None:
            await context.abort(self._refuse, "refused by the test")
        if self._hang > 0:
            self._hang -= 1
            await asyncio.Event().wait()
        if self._gate is not None:
            await self._gate.wait()

    async def _record(self, into: list[Any], request: object) -> None:
        async with self._changed:
            into.append(request)
            self._changed.notify_all()


@asynccontextmanager
async def ring_server(ring: RecordingRing, port: int = 0) -> AsyncIterator[int]:
    """A Ring gRPC server on 127.0.0.1 (``port`` 0: any free port); yields its port."""
    server = grpc.aio.server()
    ring_pb2_grpc.add_RingServiceServicer_to_server(ring, server)
    bound = server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    try:
        yield bound
    finally:
        await server.stop(0)


@asynccontextmanager
async def drive(
    tmp_path: Path, ring_port: int, backend_name: str = "sqlite", **env: str
) -> AsyncIterator[tuple[App, RingSink, Client]]:
    """A drive-service sending to Ring on ``ring_port``, its sink, and a client of a fresh account."""
    values = {
        "RING_SERVICE_ADDRESS": f"127.0.0.1:{ring_port}",
        "RING_RETRY_BASE_MS": "10",
        "RING_RETRY_MAX_MS": "100",
        "DRIVE_WORKER": "false",  # the test drives tasks as an external executor: no other events
        **env,
    }
    async with (
        backend_database(backend_name) as database_url,
        running_app(settings_for(tmp_path, database_url, **values)) as app,
    ):
        assert app.service.ring_sink is not None
        async with grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as channel:
            yield app, app.service.ring_sink, make_client(app, channel)


async def create(client: Client, name: str) -> str:
    response = await client.tasks.CreateTask(
        tasks_pb2.CreateTaskRequest(name=name, type=task_enums_pb2.TASK_TYPE_CUSTOM),
        metadata=client.metadata,
        timeout=_CALL_TIMEOUT,
    )
    return str(response.task.task_id)


async def progress(client: Client, task_id: str, value: float) -> None:
    await client.tasks.UpdateTaskProgress(
        tasks_pb2.UpdateTaskProgressRequest(task_id=task_id, progress=value),
        metadata=client.metadata,
        timeout=_CALL_TIMEOUT,
    )


async def finish(client: Client, task_id: str, **results: object) -> None:
    await client.tasks.CompleteTask(
        tasks_pb2.CompleteTaskRequest(task_id=task_id, results=struct(**results)),
        metadata=client.metadata,
        timeout=_CALL_TIMEOUT,
    )


def received(ring: RecordingRing, user_id: str) -> list[tuple[str, dict[str, Any]]]:
    """(type, data) of the packets ``user_id`` received, in arrival order."""
    return [
        (request.packet.type, json.loads(request.packet.data))
        for request in ring.packets
        if request.user_id == user_id
    ]


def another_account(app: App, client: Client) -> Client:
    """A client of a fresh account on the same channel as ``client``."""
    account = new_account()
    return replace(client, account_id=account, metadata=auth(token_for(app.settings, account)))


class _AnyTime(str):
    """Equal to any ISO-8601 UTC timestamp."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, str) and bool(_ISO.match(other))

    __hash__ = str.__hash__


ANY_TIME = _AnyTime()


@pytest.mark.parametrize("backend_name", BACKEND_NAMES)
async def test_task_events_reach_their_owner_in_order_as_the_seeds_packets(
    tmp_path: Path, backend_name: str
) -> None:
    ring = RecordingRing()
    async with ring_server(ring) as port, drive(tmp_path, port, backend_name) as (app, sink, client):
        other = another_account(app, client)
        task_id = await create(client, "Upload File")
        theirs = await create(other, "theirs")
        await progress(client, task_id, 67.5)
        await finish(client, task_id, fileId="file456", fileName="document.pdf", fileSize=10485760)
        assert await sink.drain(_CALL_TIMEOUT)
    packets = received(ring, client.account_id)
    assert [kind for kind, _ in packets] == [
        "task.created",
        "task.progress",
        "task.progress",
        "task.completed",
    ]
    (_, created), (_, moved), (_, full), (_, done) = packets
    base = {"taskId": task_id, "name": "Upload File", "type": "Custom"}
    assert created == {**base, "createdAt": created["createdAt"]}
    assert moved == {**base, "progress": 67.5, "status": "InProgress", "lastActivity": moved["lastActivity"]}
    assert full["progress"] == 100.0
    assert done == {
        **base,
        "completedAt": done["completedAt"],
        "results": {"fileId": "file456", "fileName": "document.pdf", "fileSize": 10485760},
    }
    assert all(
        _ISO.match(moment) for moment in (created["createdAt"], moved["lastActivity"], done["completedAt"])
    )
    assert not any(request.packet.HasField("error_message") for request in ring.packets)
    assert received(ring, other.account_id) == [
        ("task.created", {"taskId": theirs, "name": "theirs", "type": "Custom", "createdAt": ANY_TIME})
    ]
    assert ring.notifications == []
    assert (sink.sent, sink.dropped) == (5, 0)


@pytest.mark.parametrize("backend_name", BACKEND_NAMES)
async def test_failures_and_uploads_send_one_notification_each(tmp_path: Path, backend_name: str) -> None:
    ring = RecordingRing()
    templates = {
        "RING_NOTIFICATION_TOPIC": "drive.test",
        "RING_TASK_FAILED_TITLE": "Task {name} failed",
        "RING_TASK_FAILED_BODY": "{errorMessage}{noSuchField}",
        "RING_UPLOAD_COMPLETED_TITLE": "Uploaded",
        "RING_UPLOAD_COMPLETED_BODY": "{fileName} ({fileSize} bytes) is ready",
        "RING_UPLOAD_FAILED_TITLE": "Upload failed",
        "RING_UPLOAD_FAILED_BODY": "{fileName}: {errorMessage}",
    }
    async with (
        ring_server(ring) as port,
        drive(tmp_path, port, backend_name, **templates) as (_app, sink, client),
    ):
        task_id = await create(client, "Convert")
        await client.tasks.FailTask(
            tasks_pb2.FailTaskRequest(task_id=task_id, error_message="invalid format"),
            metadata=client.metadata,
            timeout=_CALL_TIMEOUT,
        )
        good = payload(2 * CHUNK)
        uploaded = await create_upload(client, good, file_name="good.bin")
        await send_all(client, uploaded.task_id, good)
        file_id = (await complete(client, uploaded.task_id)).file.id
        bad = payload(CHUNK)
        rejected = await create_upload(client, bad, file_name="bad.bin", hash="0" * 64)
        await send_all(client, rejected.task_id, bad)
        await expect_error(complete(client, rejected.task_id), grpc.StatusCode.DATA_LOSS, "HASH_MISMATCH")
        assert await sink.drain(_CALL_TIMEOUT)
    sent = [
        (
            n.user_id,
            n.notification.topic,
            n.notification.title,
            n.notification.body,
            n.notification.is_savable,
        )
        for n in ring.notifications
    ]
    account = client.account_id
    assert sent == [
        (account, "drive.test", "Task Convert failed", "invalid format", True),
        (account, "drive.test", "Uploaded", f"good.bin ({2 * CHUNK} bytes) is ready", True),
        (
            account,
            "drive.test",
            "Upload failed",
            "bad.bin: The uploaded data does not match the declared SHA-256.",
            True,
        ),
    ]
    # Each notification carries its event's data, the same JSON as the event's packet.
    packets = received(ring, account)
    metas = [json.loads(n.notification.meta) for n in ring.notifications]
    assert metas[0] in [data for kind, data in packets if kind == "task.failed"]
    assert metas[1] == next(data for kind, data in packets if kind == "upload.completed")
    assert metas[1]["fileId"] == file_id
    assert metas[2] == next(data for kind, data in packets if kind == "upload.failed")
    assert metas[2]["taskId"] == rejected.task_id


async def test_events_wait_while_ring_is_down_and_arrive_when_it_is_back(tmp_path: Path) -> None:
    ring = RecordingRing()
    async with ring_server(ring) as port:
        pass  # a port that was free a moment ago, with nothing listening on it now
    async with drive(tmp_path, port, RING_MAX_ATTEMPTS="1000") as (_app, sink, client):
        # The RPCs answer although every delivery fails (each call is bounded by its deadline).
        task_id = await create(client, "while Ring is away")
        await progress(client, task_id, 50.0)
        # Nothing announces a retry: the sink only counts them.
        await eventually(
            lambda: sink.retries >= 2, within=_CALL_TIMEOUT, failure="the sink never retried twice"
        )
        assert (ring.packets, sink.sent, sink.depth) == ([], 0, 2)
        async with ring_server(ring, port):
            await ring.packets_received(2)
            assert await sink.drain(_CALL_TIMEOUT)
    assert [(kind, data["taskId"]) for kind, data in received(ring, client.account_id)] == [
        ("task.created", task_id),
        ("task.progress", task_id),
    ]
    assert (sink.sent, sink.dropped) == (2, 0)


async def test_a_slow_ring_never_slows_the_rpcs(tmp_path: Path) -> None:
    gate = asyncio.Event()
    ring = RecordingRing(gate=gate)
    async with (
        ring_server(ring) as port,
        drive(tmp_path, port, RING_CALL_TIMEOUT_MS="60000") as (_app, sink, client),
    ):
        task_id = await create(client, "slow")
        async with asyncio.timeout(_CALL_TIMEOUT):
            await ring.entered.wait()  # Ring now holds the task.created packet until the gate opens
        for value in (10.0, 50.0, 90.0):
            await progress(client, task_id, value)
        await finish(client, task_id)
        # Every call answered while Ring still held the first packet: none waited for it.
        assert ring.packets == [] and not gate.is_set()
        assert sink.depth == 6
        gate.set()
        assert await sink.drain(_CALL_TIMEOUT)
    packets = received(ring, client.account_id)
    assert [kind for kind, _ in packets] == ["task.created", *["task.progress"] * 4, "task.completed"]
    assert [data["progress"] for kind, data in packets if kind == "task.progress"] == [
        10.0,
        50.0,
        90.0,
        100.0,
    ]


async def test_a_hung_call_is_abandoned_at_its_deadline_and_retried(tmp_path: Path) -> None:
    ring = RecordingRing(hang=1)
    async with (
        ring_server(ring) as port,
        drive(tmp_path, port, RING_CALL_TIMEOUT_MS="200") as (_app, sink, client),
    ):
        task_id = await create(client, "hung")
        await ring.packets_received(1)
        assert sink.retries >= 1
    assert {(kind, data["taskId"]) for kind, data in received(ring, client.account_id)} == {
        ("task.created", task_id)
    }


async def test_a_full_queue_drops_and_counts(tmp_path: Path) -> None:
    gate = asyncio.Event()
    ring = RecordingRing(gate=gate)
    async with (
        ring_server(ring) as port,
        drive(tmp_path, port, RING_QUEUE_SIZE="3", RING_CALL_TIMEOUT_MS="60000") as (app, sink, client),
    ):
        first = await create(client, "1")
        async with asyncio.timeout(_CALL_TIMEOUT):
            await ring.entered.wait()  # one delivery is being sent; two more fit
        rest = [await create(client, str(number)) for number in range(2, 7)]
        assert (sink.depth, sink.dropped) == (3, 3)
        dropped_metric = app.service.metrics.registry.get_sample_value(
            "drive_sink_dropped_events_total", {"sink": "ring"}
        )
        assert dropped_metric == 3
        gate.set()
        assert await sink.drain(_CALL_TIMEOUT)
    assert [data["taskId"] for _, data in received(ring, client.account_id)] == [first, *rest[:2]]
    assert (sink.sent, sink.dropped) == (3, 3)


async def test_a_delivery_is_dropped_after_its_last_attempt_or_at_once_when_refused(tmp_path: Path) -> None:
    async with ring_server(RecordingRing()) as port:
        pass  # nothing listens on ``port`` now
    async with drive(tmp_path / "down", port, RING_MAX_ATTEMPTS="3") as (_app, sink, client):
        await create(client, "never delivered")
        assert await sink.drain(_CALL_TIMEOUT)
        assert (sink.sent, sink.retries, sink.dropped) == (0, 2, 1)
    refusing = RecordingRing(refuse=grpc.StatusCode.INVALID_ARGUMENT)
    async with ring_server(refusing) as port, drive(tmp_path / "refused", port) as (_app, sink, client):
        await create(client, "refused")
        assert await sink.drain(_CALL_TIMEOUT)
        assert (sink.sent, sink.retries, sink.dropped) == (0, 0, 1)
    assert refusing.entered.is_set()

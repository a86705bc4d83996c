"""Prometheus metrics (issue 5, item 6): scraped over HTTP from an App serving them on port 0."""

from __future__ import annotations

import asyncio
import urllib.request
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import grpc
import pytest
from prometheus_client.parser import text_string_to_metric_families

from drive.v1 import tasks_pb2, uploads_pb2
from drive_service.app import App
from tests.support import Client, backend_database, eventually, make_client, running_app, settings_for
from tests.support.backends import PrivateRedis, free_port
from tests.support.tasks import create as create_task
from tests.support.uploading import CHUNK, complete, payload, send_chunk
from tests.support.uploading import create as create_upload
from tests.support.watching import started

pytestmark = pytest.mark.timeout(120)

_TIMEOUT = 10.0
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@asynccontextmanager
async def metered_app(backend: str, data_dir: Path, **env: str) -> AsyncIterator[tuple[App, Client]]:
    """A private App exporting metrics on a port of its own, and a client of a fresh account."""
    values = {"DRIVE_METRICS_LISTEN": "127.0.0.1:0", "DRIVE_WORKER": "false", **env}
    async with backend_database(backend) as url, running_app(settings_for(data_dir, url, **values)) as app:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as channel:
            yield app, make_client(app, channel)


async def scrape(app: App) -> Samples:
    """Every sample the App's endpoint serves, by name and labels."""

    def fetch() -> str:
        no_proxy = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with no_proxy.open(f"http://127.0.0.1:{app.metrics_port}/metrics", timeout=_TIMEOUT) as response:
            return str(response.read().decode())

    text = await asyncio.to_thread(fetch)
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def calls(samples: Samples, method: str, code: str) -> float | None:
    """How many calls of ``method`` (``Service/Method`` in drive.v1) ended with ``code``."""
    return value(samples, "drive_rpc_duration_seconds_count", method=f"drive.v1.{method}", code=code)


async def test_calls_codes_streams_and_event_lag(backend: str, data_dir: Path) -> None:
    async with metered_app(backend, data_dir) as (app, client):
        assert app.metrics_port != 0
        await create_task(client, "counted")
        with pytest.raises(grpc.aio.AioRpcError):
            await client.tasks.GetTask(tasks_pb2.GetTaskRequest(task_id="0" * 32), metadata=client.metadata)
        with pytest.raises(grpc.aio.AioRpcError):  # no token: rejected by authentication
            await client.tasks.CreateTask(tasks_pb2.CreateTaskRequest(name="anonymous"))
        stream = await started(client)
        samples = await scrape(app)
        active = value(samples, "drive_rpc_active_streams", method="drive.v1.TaskService/WatchTasks")
        assert active == 1
        assert value(samples, "drive_event_lag_seconds_count") == 0
        watched = await create_task(client, "watched")
        response = await asyncio.wait_for(stream.read(), _TIMEOUT)
        assert response.event.task_id == watched.task_id
        stream.cancel()

        def stream_closed(samples: Samples) -> bool:
            return calls(samples, "TaskService/WatchTasks", "CANCELLED") == 1

        # The server records the cancelled stream after the client has moved on: scrape until it has.
        samples = await eventually(
            lambda: scrape(app),
            stream_closed,
            within=_TIMEOUT,
            failure="the cancelled watch was never counted",
        )
    assert calls(samples, "TaskService/CreateTask", "OK") == 2
    assert calls(samples, "TaskService/CreateTask", "UNAUTHENTICATED") == 1
    assert calls(samples, "TaskService/GetTask", "NOT_FOUND") == 1
    assert value(samples, "drive_rpc_active_streams", method="drive.v1.TaskService/WatchTasks") == 0
    assert value(samples, "drive_event_lag_seconds_count") == 1
    lag = value(samples, "drive_event_lag_seconds_sum")
    assert lag is not None and lag >= 0
    lag_buckets = [key for key in samples if key[0] == "drive_event_lag_seconds_bucket"]
    assert len(lag_buckets) > 5
    durations = value(
        samples, "drive_rpc_duration_seconds_sum", method="drive.v1.TaskService/GetTask", code="NOT_FOUND"
    )
    assert durations is not None and durations > 0
    for sink in ("redis", "ring"):
        assert value(samples, "drive_sink_dropped_events_total", sink=sink) == 0


async def test_upload_bytes_by_every_upload_call(backend: str, data_dir: Path) -> None:
    async with metered_app(backend, data_dir) as (app, client):
        chunked = payload(CHUNK * 2)
        created = await create_upload(client, chunked)
        await send_chunk(client, created.task_id, 0, chunked.chunk(0))

        async def chunks():  # type: ignore[no-untyped-def]
            second = chunked.chunk(1)
            for start in range(0, len(second), 64 * 1024):
                task_id = created.task_id if start == 0 else ""
                data = second[start : start + 64 * 1024]
                yield uploads_pb2.UploadChunksRequest(task_id=task_id, chunk_index=1, data=data)

        await client.uploads.UploadChunks(chunks(), metadata=client.metadata)
        await complete(client, created.task_id)
        one_shot = payload(1000)

        async def messages():  # type: ignore[no-untyped-def]
            yield uploads_pb2.UploadFileRequest(
                metadata=uploads_pb2.CreateUploadTaskRequest(
                    file_name="one.bin",
                    file_size=len(one_shot.data),
                    content_type="application/octet-stream",
                    hash=one_shot.sha256,
                    chunk_size=CHUNK,
                )
            )
            yield uploads_pb2.UploadFileRequest(data=one_shot.data[:400])
            yield uploads_pb2.UploadFileRequest(data=one_shot.data[400:])

        await client.uploads.UploadFile(messages(), metadata=client.metadata)
        samples = await scrape(app)
    assert value(samples, "drive_upload_received_bytes_total") == CHUNK * 2 + 1000
    for method in ("UploadChunk", "UploadChunks", "UploadFile", "CompleteUpload", "CreateUploadTask"):
        assert calls(samples, f"UploadService/{method}", "OK") == 1, method
    # Client-streaming calls are streams too; once answered they are no longer open.
    assert value(samples, "drive_rpc_active_streams", method="drive.v1.UploadService/UploadFile") == 0


async def test_tasks_by_status_and_queue_depth(backend: str, data_dir: Path) -> None:
    async with metered_app(backend, data_dir) as (app, client):
        await create_task(client, "waiting")
        running = await create_task(client, "running")
        done = await create_task(client, "done")
        for task in (running, done):
            request = tasks_pb2.UpdateTaskProgressRequest(task_id=task.task_id, progress=10)
            await client.tasks.UpdateTaskProgress(request, metadata=client.metadata)
        await client.tasks.CompleteTask(
            tasks_pb2.CompleteTaskRequest(task_id=done.task_id), metadata=client.metadata
        )
        await app.service.metrics.refresh()  # what the refresh loop does every DRIVE_METRICS_REFRESH_SECONDS
        samples = await scrape(app)
    by_status = {
        dict(labels)["status"]: count for (name, labels), count in samples.items() if name == "drive_tasks"
    }
    assert by_status == {
        "Pending": 1,
        "InProgress": 1,
        "Completed": 1,
        "Failed": 0,
        "Cancelled": 0,
        "Paused": 0,
        "Expired": 0,
    }
    assert value(samples, "drive_task_queue_depth") == 1


async def test_redis_drops_are_counted(backend: str, data_dir: Path) -> None:
    async with PrivateRedis() as redis:
        async with metered_app(backend, data_dir, REDIS_URL=redis.url) as (app, client):
            assert app.service.bus is not None
            await asyncio.wait_for(app.service.bus.subscribed.wait(), _TIMEOUT)
            await redis.stop()
            await create_task(client, "not published")  # its event cannot reach Redis

            def dropped(samples: Samples) -> bool:
                return value(samples, "drive_sink_dropped_events_total", sink="redis") == 1

            await eventually(
                lambda: scrape(app),
                dropped,
                within=_TIMEOUT,
                failure="the dropped Redis publish was never counted",
            )


async def test_ring_drops_are_counted(backend: str, data_dir: Path) -> None:
    nobody = f"127.0.0.1:{free_port()}"
    ring = {"RING_SERVICE_ADDRESS": nobody, "RING_MAX_ATTEMPTS": "1", "RING_CALL_TIMEOUT_MS": "2000"}
    async with metered_app(backend, data_dir, **ring) as (app, client):
        await create_task(client, "not pushed")  # its task.created packet cannot reach Ring

        def dropped(samples: Samples) -> bool:
            return value(samples, "drive_sink_dropped_events_total", sink="ring") == 1

        await eventually(
            lambda: scrape(app),
            dropped,
            within=_TIMEOUT,
            failure="the dropped Ring delivery was never counted",
        )


async def test_endpoint_closes_with_the_app(backend: str, data_dir: Path) -> None:
    async with metered_app(backend, data_dir) as (app, _client):
        port = app.metrics_port
        assert await scrape(app)
    with pytest.raises(OSError):
        await _connect(port)


async def _connect(port: int) -> None:
    _reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), _TIMEOUT)
    writer.close()
    await writer.wait_closed()

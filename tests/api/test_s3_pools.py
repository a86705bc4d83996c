"""S3 pools through the API, against a real S3-API server (moto's, a child process): ranged reads,
the part-size rule, encryption at rest, maintenance of multipart uploads and objects, per-pool
health, outages (UNAVAILABLE, nothing recorded), and no credential anywhere it could leak."""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
import pytest

from drive.v1 import files_pb2, stats_pb2, uploads_pb2
from drive_service.app import App
from drive_service.storage.s3 import S3Store
from tests.support import (
    BACKEND_NAMES,
    Client,
    FakeClock,
    backend_database,
    expect_error,
    is_staged,
    make_client,
    retry_delay,
    running_app,
    settings_for,
    stored_bytes,
)
from tests.support.relay import TcpRelay
from tests.support.s3server import S3Server, s3_storage, small_parts_server
from tests.support.uploading import CHUNK, Payload, complete, create, payload, send_all, send_chunk

pytestmark = pytest.mark.timeout(120)

S3_POOL = "53535353-0000-4000-8000-000000000001"  # behind a relay; the default pool
STRICT = "53535353-0000-4000-8000-000000000002"  # S3's own 5 MiB minimum part size
BROKEN = "53535353-0000-4000-8000-000000000003"  # settings that cannot work
NOWHERE = "53535353-0000-4000-8000-000000000004"  # an endpoint nobody listens on
PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
async def s3() -> AsyncIterator[S3Server]:
    async with small_parts_server() as server:
        yield server


@pytest.fixture
async def relay(s3: S3Server) -> AsyncIterator[TcpRelay]:
    async with TcpRelay(s3.port) as relay:
        yield relay


class Setup:
    """One test's server: an S3 pool behind ``relay`` (the default), three more, a fake clock."""

    def __init__(
        self, app: App, channel: grpc.aio.Channel, clock: FakeClock, s3: S3Server, prefix: str
    ) -> None:
        self.app, self.channel, self.clock, self.s3, self.prefix = app, channel, clock, s3, prefix
        self.client = make_client(app, channel)

    def bucket(self) -> S3Store:
        """The default pool's part of the bucket, seen directly (not through the service)."""
        return S3Store(self.s3.config(prefix=self.prefix))

    async def objects(self) -> list[str]:
        async with self.bucket() as store:
            return [info.key async for info in store.list_objects()]

    async def multipart_keys(self) -> list[str]:
        async with self.bucket() as store:
            return [upload.key async for upload in store.list_multipart_uploads()]


@pytest.fixture(params=BACKEND_NAMES)
async def setup(
    request: pytest.FixtureRequest, tmp_path: Path, s3: S3Server, relay: TcpRelay
) -> AsyncIterator[Setup]:
    prefix = f"pool-{secrets.token_hex(6)}/"
    pools = [
        {"id": S3_POOL, "name": "S3", "storage": s3_storage(s3, prefix=prefix, endpoint=relay.endpoint)},
        {"id": STRICT, "name": "Strict", "storage": s3_storage(s3, min_part_size=5 * 1024 * 1024)},
        {"id": BROKEN, "name": "Broken", "storage": s3_storage(s3, endpoint="ftp://127.0.0.1:1")},
        {"id": NOWHERE, "name": "Nowhere", "storage": s3_storage(s3, endpoint="http://127.0.0.1:9")},
    ]
    pools_file = tmp_path / "pools.json"
    pools_file.write_text(json.dumps({"pools": pools}))
    clock = FakeClock(datetime.now(UTC))
    async with backend_database(request.param) as url:
        settings = settings_for(tmp_path / "var", url, DRIVE_POOLS_FILE=str(pools_file))
        async with (
            running_app(settings, clock=clock) as app,
            grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as channel,
        ):
            yield Setup(app, channel, clock, s3, prefix)


async def read(client: Client, file_id: str, offset: int = 0, length: int = 0, password: str = "") -> bytes:
    request = files_pb2.ReadFileRequest(file_id=file_id, offset=offset, length=length, password=password)
    return b"".join([piece.data async for piece in client.files.ReadFile(request, metadata=client.metadata)])


async def upload(client: Client, data: Payload, **fields: Any) -> files_pb2.CloudFile:
    created = await create(client, data, **fields)
    await send_all(client, created.task_id, data)
    return (await complete(client, created.task_id)).file


async def test_ranged_reads_come_from_the_bucket(setup: Setup) -> None:
    data = payload(3 * CHUNK + 11)
    file = await upload(setup.client, data)
    size = len(data.data)
    for offset, length in ((0, 0), (0, 1), (CHUNK - 5, 10), (2 * CHUNK, CHUNK + 11), (size - 3, 100)):
        expected = data.data[offset : offset + length] if length else data.data[offset:]
        assert await read(setup.client, file.id, offset, length) == expected
    assert await read(setup.client, file.id, size) == b""
    # Nothing of it on local disk: the blob is the completed multipart upload, under the task id.
    payload_files = [p for p in setup.app.settings.storage.data_dir.rglob("*") if p.is_file()]
    assert not any(data.data[:4096] in p.read_bytes() for p in payload_files)
    assert len(await setup.objects()) == 1 and not await setup.multipart_keys()


async def test_chunks_below_the_stores_part_size_are_refused_at_create(setup: Setup) -> None:
    metadata = await expect_error(
        create(setup.client, payload(3 * CHUNK), pool_id=STRICT),
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_CHUNK_SIZE",
    )
    assert metadata["minChunkSize"] == str(5 * 1024 * 1024)
    one_chunk = await create(setup.client, payload(CHUNK), pool_id=STRICT)  # the last part may be small
    assert one_chunk.chunks_count == 1
    # Left to the server, the chunk size is one the pool takes (its 5 MiB minimum, not less).
    chosen = await create(setup.client, payload(6 * 1024 * 1024), chunk_size=0, pool_id=STRICT)
    assert (chosen.chunk_size, chosen.chunks_count) == (5 * 1024 * 1024, 2)


async def test_encrypted_uploads_leave_only_sealed_bytes(setup: Setup) -> None:
    data = payload(2 * CHUNK + 5)
    file = await upload(setup.client, data, encrypt_password=PASSWORD)
    assert await read(setup.client, file.id, password=PASSWORD) == data.data
    assert await read(setup.client, file.id, CHUNK, 7, password=PASSWORD) == data.data[CHUNK : CHUNK + 7]
    (key,) = await setup.objects()
    sealed = await stored_bytes(setup.app, setup.client.account_id, file.id)
    assert key == f"blobs/{await _blob_key(setup, file.id)}" and data.data[:64] not in sealed
    assert not await setup.multipart_keys()


async def test_maintenance_aborts_abandoned_parts_and_collects_unreferenced_objects(setup: Setup) -> None:
    client, md = setup.client, setup.client.metadata
    idle_data, cancelled_data, kept_data = payload(2 * CHUNK), payload(2 * CHUNK), payload(2 * CHUNK)
    idle = await create(client, idle_data)
    await send_chunk(client, idle.task_id, 0, idle_data.chunk(0))
    cancelled = await create(client, cancelled_data)
    await send_chunk(client, cancelled.task_id, 0, cancelled_data.chunk(0))
    await client.uploads.CancelUploadTask(
        uploads_pb2.CancelUploadTaskRequest(task_id=cancelled.task_id), metadata=md
    )
    assert not await is_staged(setup.app, cancelled.task_id)  # cancelling aborts at once
    kept = await upload(client, kept_data)
    async with setup.bucket() as bucket:
        # A crashed create (no task row), a crashed whole-blob write, an object nobody references.
        await bucket.create_multipart("blobs/crashedCreate1234567a")
        await bucket.create_multipart("blobs/" + "cd" * 32)
        await bucket.put_object("blobs/" + "ab" * 32, b"nobody references me")
    report = await setup.app.service.maintenance.run_once()
    assert report.staging_removed == 1  # the crashed create's; the idle upload is still in progress
    # The stray object is younger than the grace period. The crashed write is not: moto dates every
    # multipart upload's initiation in 2010 (S3 itself tells the true time).
    assert report.blobs_removed == 1
    assert await setup.multipart_keys() == [f"blobs/{idle.task_id}"]

    setup.clock.advance(hours=25)
    report = await setup.app.service.maintenance.run_once()
    assert report.uploads_expired == 1 and report.blobs_removed == 1  # the stray object
    assert not await setup.multipart_keys()
    assert await setup.objects() == [f"blobs/{await _blob_key(setup, kept.id)}"]
    assert await read(client, kept.id) == kept_data.data


async def test_an_unreachable_store_is_unavailable_and_records_nothing(setup: Setup, relay: TcpRelay) -> None:
    client = setup.client
    data = payload(3 * CHUNK)
    created = await create(client, data)
    await send_chunk(client, created.task_id, 0, data.chunk(0))
    await relay.cut()
    error = await _failure(send_chunk(client, created.task_id, 1, data.chunk(1)))
    assert error.code() == grpc.StatusCode.UNAVAILABLE and retry_delay(error) > 0
    health = await _health(client)
    assert not health[f"pool:{S3_POOL}"].healthy
    await relay.restore()
    again = await create(client, data)  # the same file: resumes, listing what is missing
    assert again.resumed and list(again.missing_chunks) == [1, 2]
    for index in (1, 2):
        await send_chunk(client, created.task_id, index, data.chunk(index))
    file = (await complete(client, created.task_id)).file
    assert await read(client, file.id) == data.data
    assert (await _health(client))[f"pool:{S3_POOL}"].healthy


# PostgreSQL only: SQLite has one writer, so there a chunk's transaction waits for its store (README).
@pytest.mark.parametrize("setup", ["postgres"], indirect=True)
async def test_a_stalled_store_does_not_hold_up_other_calls(setup: Setup, relay: TcpRelay) -> None:
    client = setup.client
    data = payload(2 * CHUNK)
    created = await create(client, data)
    relay.stall()
    stuck = asyncio.ensure_future(send_chunk(client, created.task_id, 0, data.chunk(0)))
    await asyncio.sleep(0.2)  # the chunk is now waiting on the store
    assert not stuck.done()
    other = make_client(setup.app, setup.channel)
    small = payload(100)
    file = await upload(other, small, pool_id=STRICT)  # another account, another pool: unaffected
    assert await read(other, file.id) == small.data
    await relay.restore()
    await stuck
    assert list((await create(client, data)).missing_chunks) == [1]


async def test_bad_or_unreachable_settings_show_in_health_not_at_start(
    setup: Setup, caplog: pytest.LogCaptureFixture
) -> None:
    health = await _health(setup.client)
    assert health[f"pool:{S3_POOL}"].healthy and health[f"pool:{STRICT}"].healthy
    assert (health[f"pool:{BROKEN}"].healthy, health[f"pool:{BROKEN}"].detail) == (
        False,
        "StorageMisconfigured",
    )
    assert not health[f"pool:{NOWHERE}"].healthy
    for pool_id in (BROKEN, NOWHERE):
        error = await _failure(create(setup.client, payload(CHUNK), pool_id=pool_id))
        assert error.code() == grpc.StatusCode.UNAVAILABLE
        assert setup.s3.secret_access_key not in (error.details() or "")
    shown = json.dumps([str(component) for component in health.values()])
    assert setup.s3.secret_access_key not in shown and setup.s3.access_key_id not in shown


async def test_no_credential_in_logs(tmp_path: Path, s3: S3Server, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    pools = [{"id": S3_POOL, "name": "S3", "storage": s3_storage(s3)}]
    pools.append({"id": BROKEN, "name": "Broken", "storage": s3_storage(s3, addressing="sideways")})
    pools_file = tmp_path / "pools.json"
    pools_file.write_text(json.dumps({"pools": pools}))
    settings = settings_for(tmp_path / "var", DRIVE_POOLS_FILE=str(pools_file), LOG_LEVEL="DEBUG")
    async with (
        running_app(settings) as app,
        grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as channel,
    ):
        client = make_client(app, channel)
        await upload(client, payload(2 * CHUNK + 1))
        await _failure(create(client, payload(CHUNK), pool_id=BROKEN))
    logged = "\n".join(
        record.getMessage() + json.dumps(record.__dict__, default=str) for record in caplog.records
    )
    assert "pool storage is misconfigured" in logged
    assert s3.secret_access_key not in logged and s3.access_key_id not in logged


async def _blob_key(setup: Setup, file_id: str) -> str:
    return (await setup.app.service.files.get_file(setup.client.account_id, file_id)).blob_key


async def _health(client: Client) -> dict[str, stats_pb2.ComponentHealth]:
    report = await client.stats.GetServiceHealth(stats_pb2.GetServiceHealthRequest())
    return {component.name: component for component in report.components}


async def _failure(call: Any) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    return caught.value

"""Instances that share nothing but PostgreSQL, Redis and a bucket act as one service for uploads
(DESIGN.md §7a): one upload's chunks may reach any instance, in any order, even concurrently, and
any instance completes or reads it; an instance killed while it writes a chunk to the bucket
loses only that chunk, and maintenance leaves no multipart upload behind.

Real parts only: ``drive-service serve`` child processes, a moto S3 server child process (parts
down to 256 KiB), a fresh PostgreSQL database and the test Redis under a private key prefix. The
crash test puts a TCP relay (tests/support/relay.py) between the server and moto, so that the
kill lands while a part's body is on the wire.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
import signal
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest

from drive.v1 import files_pb2, task_enums_pb2, tasks_pb2, uploads_pb2
from drive_service.app import App
from drive_service.domain.ids import new_id
from drive_service.pools import DEFAULT_POOL_ID
from drive_service.storage.s3 import S3Store
from tests.support import (
    PG_ENV,
    REDIS_ENV,
    Client,
    FakeClock,
    auth,
    client_with,
    expect_error,
    new_account,
    postgres_database,
    running_app,
    settings_for,
    token_for,
)
from tests.support.processes import JWT_SECRET, ServerProcess, server_process
from tests.support.relay import TcpRelay
from tests.support.s3server import S3Server, s3_pools_file, small_parts_server
from tests.support.uploading import CHUNK, Payload, complete, create, payload, send_chunk

pytestmark = pytest.mark.skipif(
    not (os.environ.get(PG_ENV) and os.environ.get(REDIS_ENV)),
    reason=f"{PG_ENV} and {REDIS_ENV} are needed",
)

MIB = 1024 * 1024
_CALL_TIMEOUT = 30.0  # no single call may hang the suite
#: Every instance of a fleet must unwrap the keys of uploads that another one created.
_MASTER_KEY = "c2hhcmVkLW1hc3Rlci1rZXktb2YtdGhlLWZsZWV0ISE="


@pytest.fixture(scope="module")
async def s3() -> AsyncIterator[S3Server]:
    """One moto server for the module; each test uses a pool under its own prefix."""
    async with small_parts_server() as server:
        yield server


@dataclass(frozen=True)
class Instance:
    """One server process, its data folder, and a client of the test's account on it."""

    process: ServerProcess
    data_dir: Path
    client: Client


@dataclass(frozen=True)
class Fleet:
    """What the instances of one test share."""

    database_url: str
    env: dict[str, str]  # the instances' environment (pools file, Redis, keys)
    prefix: str  # the pool's prefix in the bucket
    account_id: str
    metadata: tuple[tuple[str, str], ...]


@asynccontextmanager
async def fleet(tmp_path: Path, s3: S3Server, *, endpoint: str = "") -> AsyncIterator[Fleet]:
    """A fresh database, a Redis key prefix and an S3 pool (the default pool) under a fresh prefix,
    reached at ``endpoint`` (default: moto itself)."""
    prefix = f"fleet-{secrets.token_hex(6)}/"
    pools = s3_pools_file(s3, tmp_path / "config", DEFAULT_POOL_ID, prefix=prefix, endpoint=endpoint)
    async with postgres_database() as url:
        env = {
            "DRIVE_POOLS_FILE": str(pools),
            "REDIS_URL": os.environ[REDIS_ENV],
            "DRIVE_REDIS_PREFIX": f"fleet-{secrets.token_hex(6)}",
            "DRIVE_MASTER_KEY": _MASTER_KEY,
            "DRIVE_WORKER": "false",
            "AWS_EC2_METADATA_DISABLED": "true",  # credentials come from the pools file only
        }
        account = new_account()
        metadata = auth(token_for(settings_for(tmp_path / "tokens", DRIVE_JWT_SECRET=JWT_SECRET), account))
        yield Fleet(url, env, prefix, account, metadata)


@asynccontextmanager
async def instance(fleet: Fleet, data_dir: Path) -> AsyncIterator[Instance]:
    """A ``drive-service serve`` process of the fleet on its own data (and staging) folder."""
    async with (
        server_process(data_dir, fleet.database_url, **fleet.env) as process,
        grpc.aio.insecure_channel(f"127.0.0.1:{await process.port()}") as channel,
    ):
        yield Instance(process, data_dir, client_with(channel, fleet.account_id, fleet.metadata))


@asynccontextmanager
async def maintenance_app(tmp_path: Path, fleet: Fleet, clock: FakeClock) -> AsyncIterator[App]:
    """An in-process App of the fleet (same database, Redis and pool) whose clock is ``clock``."""
    settings = settings_for(tmp_path / "maintenance", fleet.database_url, **fleet.env)
    async with running_app(settings, clock=clock) as app:
        yield app


@asynccontextmanager
async def bucket(s3: S3Server, prefix: str) -> AsyncIterator[S3Store]:
    """The pool's part of the bucket, as the test inspects it (not through the service)."""
    async with S3Store(s3.config(prefix=prefix)) as store:
        yield store


async def leftovers(store: S3Store) -> tuple[list[str], list[str]]:
    """The keys of the multipart uploads in progress and of the objects under the store's prefix."""
    uploads = [upload.key async for upload in store.list_multipart_uploads()]
    objects = [info.key async for info in store.list_objects()]
    return sorted(uploads), sorted(objects)


def pieces(task_id: str, data: Payload, indexes: Iterable[int], chunk_size: int, piece: int) -> list[object]:
    """UploadChunks messages for ``indexes``, each chunk cut into pieces of ``piece`` bytes."""
    messages: list[object] = []
    for index in indexes:
        chunk = data.chunk(index, chunk_size)
        for start in range(0, len(chunk), piece):
            messages.append(
                uploads_pb2.UploadChunksRequest(
                    task_id=task_id if not messages else "",
                    chunk_index=index,
                    data=chunk[start : start + piece],
                )
            )
    return messages


async def upload_chunks(client: Client, messages: Sequence[object]) -> uploads_pb2.UploadChunksResponse:
    async def requests() -> AsyncIterator[object]:
        for message in messages:
            yield message

    response: uploads_pb2.UploadChunksResponse = await client.uploads.UploadChunks(
        requests(), metadata=client.metadata, timeout=_CALL_TIMEOUT
    )
    return response


async def read_file(client: Client, file_id: str, offset: int = 0, length: int = 0) -> bytes:
    request = files_pb2.ReadFileRequest(file_id=file_id, offset=offset, length=length)
    blocks = client.files.ReadFile(request, metadata=client.metadata, timeout=_CALL_TIMEOUT)
    return b"".join([message.data async for message in blocks])


async def task_status(client: Client, task_id: str) -> int:
    answer = await client.tasks.GetTask(
        tasks_pb2.GetTaskRequest(task_id=task_id), metadata=client.metadata, timeout=_CALL_TIMEOUT
    )
    return int(answer.task.status)


def assert_no_payload(folders: Iterable[Path], payloads: Iterable[Payload], chunk_size: int) -> None:
    """No file under ``folders`` holds any piece of the payloads: 64-byte samples of random bytes
    at the start, middle and end of every chunk are looked for in every file."""
    samples = []
    for data in payloads:
        for start in range(0, len(data.data), chunk_size):
            chunk = data.data[start : start + chunk_size]
            for at in (0, len(chunk) // 2, max(len(chunk) - 64, 0)):
                samples.append(chunk[at : at + 64])
    folders = list(folders)
    assert all(folder.is_dir() for folder in folders)  # the instances did start there
    files = [path for folder in folders for path in folder.rglob("*") if path.is_file()]
    for path in files:
        content = path.read_bytes()
        found = [sample for sample in samples if sample in content]
        assert not found, f"{path} ({len(content)} bytes) holds uploaded bytes"


async def test_one_upload_spread_over_two_instances(tmp_path: Path, s3: S3Server) -> None:
    async with fleet(tmp_path, s3) as shared, AsyncExitStack() as stack:
        a = await stack.enter_async_context(instance(shared, tmp_path / "a"))
        b = await stack.enter_async_context(instance(shared, tmp_path / "b"))

        # Unary UploadChunk calls, even indexes to A and odd ones to B, two at a time.
        first = payload(CHUNK * 7 + 1234)  # 8 chunks, the last one short
        created = await create(a.client, first)
        assert created.chunks_count == 8
        for index in range(0, 8, 2):
            await asyncio.gather(
                send_chunk(a.client, created.task_id, index, first.chunk(index)),
                send_chunk(b.client, created.task_id, index + 1, first.chunk(index + 1)),
            )
        file = (await complete(b.client, created.task_id)).file
        assert (file.hash, file.size) == (first.sha256, len(first.data))
        assert await read_file(a.client, file.id) == first.data
        # A range across a part boundary, served by the instance that did not complete it.
        assert (
            await read_file(a.client, file.id, CHUNK - 100, CHUNK + 200)
            == first.data[CHUNK - 100 : 2 * CHUNK + 100]
        )

        # Two concurrent streams of the same upload, one to each instance, from opposite ends:
        # each chunk is stored by exactly one of them and skipped by the other.
        second = payload(CHUNK * 9 + 77)  # 10 chunks
        task_id = (await create(b.client, second)).task_id
        forward, backward = await asyncio.gather(
            upload_chunks(a.client, pieces(task_id, second, range(10), CHUNK, 64 * 1024)),
            upload_chunks(b.client, pieces(task_id, second, reversed(range(10)), CHUNK, 64 * 1024)),
        )
        assert forward.chunks_stored + backward.chunks_stored == 10
        assert forward.chunks_stored + forward.chunks_skipped == 10
        assert backward.chunks_stored + backward.chunks_skipped == 10
        assert max(forward.chunks_uploaded, backward.chunks_uploaded) == 10
        file = (await complete(a.client, task_id)).file
        assert (file.hash, file.size) == (second.sha256, len(second.data))
        assert hashlib.sha256(await read_file(b.client, file.id)).hexdigest() == second.sha256
        assert (
            await read_file(b.client, file.id, 3 * CHUNK + 5, 10)
            == second.data[3 * CHUNK + 5 : 3 * CHUNK + 15]
        )

        # An encrypted upload spread the same way: the instances share the master key.
        third = payload(CHUNK * 3 + 10)
        task_id = (await create(b.client, third, encrypt_password="correct horse")).task_id
        for index in range(4):
            await send_chunk((a, b)[index % 2].client, task_id, index, third.chunk(index))
        file = (await complete(a.client, task_id)).file
        request = files_pb2.ReadFileRequest(file_id=file.id, password="correct horse")
        blocks = b.client.files.ReadFile(request, metadata=b.client.metadata, timeout=_CALL_TIMEOUT)
        assert b"".join([message.data async for message in blocks]) == third.data

        # The bytes live in the bucket only: neither instance's data or staging folder has any.
        assert_no_payload([a.data_dir, b.data_dir], [first, second, third], CHUNK)
        async with bucket(s3, shared.prefix) as store:
            uploads, _ = await leftovers(store)
        assert uploads == []  # every completion completed (or dropped) its multipart upload


async def test_completion_elsewhere_reads_back_and_verifies(tmp_path: Path, s3: S3Server) -> None:
    async with fleet(tmp_path, s3) as shared, AsyncExitStack() as stack:
        a = await stack.enter_async_context(instance(shared, tmp_path / "a"))
        b = await stack.enter_async_context(instance(shared, tmp_path / "b"))
        data = payload(CHUNK * 5 + 999)
        declared = hashlib.sha256(b"something else").hexdigest()
        # A receives every chunk, in order; B received none, so it must read the object back.
        task_id = (await create(a.client, data, hash=declared)).task_id
        for index in range(6):
            await send_chunk(a.client, task_id, index, data.chunk(index))
        key = f"{shared.prefix}blobs/{task_id}"
        reads_before = [line for line in s3.requests() if line.startswith("GET ") and key in line]
        await expect_error(complete(b.client, task_id), grpc.StatusCode.DATA_LOSS, reason="HASH_MISMATCH")
        reads = [line for line in s3.requests() if line.startswith("GET ") and key in line]
        assert len(reads) > len(reads_before), "B did not read the object back"
        assert await task_status(a.client, task_id) == task_enums_pb2.TASK_STATUS_FAILED
        async with bucket(s3, shared.prefix) as store:
            assert await leftovers(store) == ([], [])  # the failed completion dropped what it assembled

            # Another upload whose chunks alternate, completed on B: read back, and right.
            good = payload(CHUNK * 3)
            task_id = (await create(a.client, good)).task_id
            for index in range(3):
                await send_chunk((b, a)[index % 2].client, task_id, index, good.chunk(index))
            file = (await complete(b.client, task_id)).file
            assert (file.hash, file.size) == (good.sha256, len(good.data))
            assert await read_file(a.client, file.id) == good.data

            async with maintenance_app(
                tmp_path, shared, FakeClock(datetime.now(UTC) + timedelta(hours=2))
            ) as app:
                await app.service.maintenance.run_once()
            assert await leftovers(store) == ([], [f"blobs/{task_id}"])
        assert_no_payload([a.data_dir, b.data_dir], [data, good], CHUNK)


async def test_sigkill_mid_part_then_resume_and_collect(tmp_path: Path, s3: S3Server) -> None:
    data = payload(MIB * 5 + 4321)  # 6 chunks of 1 MiB, the last one short
    abandoned = payload(MIB * 2)
    async with TcpRelay(s3.port) as relay, fleet(tmp_path, s3, endpoint=relay.endpoint) as shared:
        data_dir = tmp_path / "instance"
        async with instance(shared, data_dir) as doomed:
            client = doomed.client
            created = await create(client, data, chunk_size=MIB)
            task_id = created.task_id
            for index in range(3):
                await send_chunk(client, task_id, index, data.chunk(index, MIB))
            dropped = (await create(client, abandoned, chunk_size=MIB)).task_id
            await send_chunk(client, dropped, 0, abandoned.chunk(0, MIB))

            # Chunk 3 (part 4) is frozen in the relay after 256 KiB of its body; the stream has
            # sent half of chunk 4 too, and the server dies right there.
            held = relay.hold(rb"[?&]partNumber=4(?![0-9])", 256 * 1024)
            sent = pieces(task_id, data, [3, 4], MIB, 256 * 1024)[:6]
            finished = asyncio.Event()

            async def requests() -> AsyncIterator[object]:
                for message in sent:
                    yield message
                await finished.wait()  # still sending when the connection drops

            call = client.uploads.UploadChunks(requests(), metadata=client.metadata, timeout=_CALL_TIMEOUT)
            try:
                await asyncio.wait_for(held.wait(), _CALL_TIMEOUT)
                assert await doomed.process.kill() == -signal.SIGKILL
                with pytest.raises(grpc.aio.AioRpcError) as caught:
                    await call
                assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
            finally:
                finished.set()
                call.cancel()
        relay.release()

        async with bucket(s3, shared.prefix) as store:
            staged = [upload async for upload in store.list_multipart_uploads(f"blobs/{task_id}")]
            assert len(staged) == 1
            parts = await store.list_parts(staged[0].key, staged[0].upload_id)
            assert [part.number for part in parts] == [1, 2, 3]  # the cut part never landed

            async with instance(shared, data_dir) as restarted:
                client = restarted.client
                again = await create(client, data, chunk_size=MIB)
                assert (again.task_id, again.resumed) == (task_id, True)
                assert list(again.missing_chunks) == [3, 4, 5]
                info = await client.uploads.GetUploadResumeInfo(
                    uploads_pb2.GetUploadResumeInfoRequest(task_id=task_id), metadata=client.metadata
                )
                assert (list(info.uploaded_chunks), list(info.missing_chunks)) == ([0, 1, 2], [3, 4, 5])
                result = await upload_chunks(client, pieces(task_id, data, [3, 4, 5], MIB, 256 * 1024))
                assert (result.chunks_stored, result.chunks_uploaded) == (3, 6)
                file = (await complete(client, task_id)).file
                assert (file.hash, file.size) == (data.sha256, len(data.data))
                assert await read_file(client, file.id) == data.data

            # What a crash between opening an upload's multipart upload and committing its task
            # would leave: a multipart upload, with a part, that no task knows.
            stray = f"blobs/{new_id()}"
            stray_id = await store.create_multipart(stray)
            await store.upload_part(stray, stray_id, 1, os.urandom(1024))
            assert (await leftovers(store))[0] == sorted([f"blobs/{dropped}", stray])

            # A day later the abandoned upload is idle for too long: one pass expires it and
            # aborts every multipart upload that no upload in progress owns.
            later = FakeClock(datetime.now(UTC) + timedelta(hours=25))
            async with maintenance_app(tmp_path, shared, later) as app:
                report = await app.service.maintenance.run_once()
            assert report.uploads_expired == 1
            assert await leftovers(store) == ([], [f"blobs/{task_id}"])
        assert_no_payload([data_dir], [data, abandoned], MIB)

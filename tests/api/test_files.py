"""FileService through a real server: files, reads, deletes, pools, bundles, quotas and expiry."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import os
import secrets
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest
from sqlalchemy import insert, select
from sqlalchemy.dialects import postgresql, sqlite

from drive.v1 import files_pb2, files_pb2_grpc
from drive_service.api.auth import CallInterceptor
from drive_service.api.files import FileServicer
from drive_service.app import App
from drive_service.crypto import HEADER_SIZE, encrypt_file
from drive_service.domain.files import StoredFile
from drive_service.domain.ids import new_id
from drive_service.domain.pools import Pool, PoolPolicy
from drive_service.domain.tasks import TaskStatus
from drive_service.pools import PoolRegistry
from drive_service.services.files import FileManager
from drive_service.services.tokens import TokenVerifier, mint
from drive_service.storage.blobs import BlobStoreRegistry, LocalBlobStore, blob_path
from drive_service.storage.files import SqlFileStore
from drive_service.storage.models import blobs, files, tasks, uploads
from tests.support import auth, expect_error, make_client, new_account
from tests.support.uploading import CHUNK, complete, create, payload, send_all

MIB = 1024 * 1024
DEFAULT_QUOTA = 10 * 1024 * MIB
#: Owner of the private and hidden test pools (ListPools is read-only, so a fixed account is fine).
OWNER = "6f1c2b9e-3d4a-4e5f-8a7b-9c0d1e2f3a4b"
STRANGER = "0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9"


class ShiftClock:
    """Wall time moved forward by ``shift`` (the expiry tests travel in time, then come back)."""

    def __init__(self) -> None:
        self.shift = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.shift


@dataclass(frozen=True)
class Harness:
    """The shared server's database and blobs, served by a FileService of our own."""

    app: App
    manager: FileManager
    pools: PoolRegistry
    clock: ShiftClock
    channel: grpc.aio.Channel

    def client(self, account_id: str | None = None, **claims: Any) -> FilesClient:
        account = account_id or new_account()
        token = mint(self.app.settings.jwt, account, timedelta(hours=1), **claims)
        return FilesClient(account, auth(token), files_pb2_grpc.FileServiceStub(self.channel))


@dataclass(frozen=True)
class FilesClient:
    """One account talking to the FileService."""

    account_id: str
    metadata: tuple[tuple[str, str], ...]
    stub: files_pb2_grpc.FileServiceStub


def _test_pools(app: App) -> PoolRegistry:
    default = app.service.pools.get(None)
    root = app.settings.storage.data_dir / "test-pools"

    def pool(name: str, cost: float = 1.0, owner: str | None = None, **policy: Any) -> Pool:
        pool_id = str(uuid.uuid5(uuid.NAMESPACE_URL, name))
        return Pool(pool_id, name, f"{name} pool", root / pool_id, PoolPolicy(**policy), cost, owner)

    extra = [
        pool("Archive", 2.5, accept_types=("image/*", "application/pdf"), default_expiry=timedelta(days=7)),
        pool("Hidden mine", owner=OWNER, hidden=True),
        pool("hidden other", owner=STRANGER, hidden=True),
        pool("Private mine", owner=OWNER, public_usable=False),
        pool("Private other", owner=STRANGER, public_usable=False),
        pool("Premium", require_privilege=2),
    ]
    return PoolRegistry([default, *extra], default.id)


@pytest.fixture(scope="session")
async def harness(server: App) -> AsyncIterator[Harness]:
    """A FileService over the shared server's database and blob store, on its own port."""
    clock = ShiftClock()
    pools = _test_pools(server)
    blobs = BlobStoreRegistry(
        {pool.id: LocalBlobStore(server.settings.storage.uploads_path, pool.root) for pool in pools.all()}
    )
    manager = FileManager(SqlFileStore(server.service.db), pools, blobs, clock, DEFAULT_QUOTA)
    grpc_server = grpc.aio.server(interceptors=[CallInterceptor(TokenVerifier(server.settings.jwt))])
    files_pb2_grpc.add_FileServiceServicer_to_server(FileServicer(manager), grpc_server)
    port = grpc_server.add_insecure_port("127.0.0.1:0")
    await grpc_server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield Harness(server, manager, pools, clock, channel)
    finally:
        await grpc_server.stop(0.5)


@pytest.fixture
def alice(harness: Harness) -> FilesClient:
    return harness.client()


@pytest.fixture
def bob(harness: Harness) -> FilesClient:
    return harness.client()


async def store_file(
    h: Harness,
    account_id: str,
    data: bytes,
    *,
    pool_id: str | None = None,
    bundle_id: str | None = None,
    expired_at: datetime | None = None,
    password: str | None = None,
    age: timedelta = timedelta(0),
    name: str = "notes.txt",
) -> StoredFile:
    """A file as a completed upload leaves it: blob bytes on disk, a counted blob row, a file row."""
    pool = h.pools.get(pool_id)
    now = h.clock() - age
    digest = hashlib.sha256(data).hexdigest()
    key, stored_size = digest, len(data)
    if password is not None:
        key = secrets.token_hex(32)
        source = h.app.settings.storage.data_dir / f"plain-{key}"
        source.write_bytes(data)
        target = blob_path(pool.root, key)
        target.parent.mkdir(parents=True, exist_ok=True)
        _, stored_size = await asyncio.to_thread(encrypt_file, source, target, password)
        source.unlink()
    file = StoredFile(
        id=new_id(),
        account_id=account_id,
        name=name,
        description="",
        mime_type="text/plain",
        size=len(data),
        hash=digest,
        pool_id=pool.id,
        blob_key=key,
        stored_size=stored_size,
        bundle_id=bundle_id,
        encrypted=password is not None,
        created_at=now,
        updated_at=now,
        uploaded_at=now,
        expired_at=expired_at,
    )
    async with h.app.service.db.write() as tx:
        conn = tx.conn
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        reference = (
            dialect.insert(blobs)
            .values(pool_id=pool.id, key=key, size=stored_size, refcount=1, created_at=now)
            .on_conflict_do_update(
                index_elements=[blobs.c.pool_id, blobs.c.key], set_={"refcount": blobs.c.refcount + 1}
            )
            .returning(blobs.c.refcount)
        )
        if (await conn.execute(reference)).scalar_one() == 1 and password is None:
            path = blob_path(pool.root, key)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        await conn.execute(insert(files).values(**dataclasses.asdict(file)))
    return file


async def reserve(
    h: Harness, account_id: str, size: int, status: TaskStatus, pool_id: str | None = None
) -> None:
    """An upload task of ``size`` bytes in ``status`` (reserving quota while in flight)."""
    now, task_id = h.clock(), new_id()
    async with h.app.service.db.write() as tx:
        conn = tx.conn
        await conn.execute(
            insert(tasks).values(
                task_id=task_id,
                account_id=account_id,
                type="FileUpload",
                status=status.value,
                name="upload",
                parameters={},
                results={},
                created_at=now,
                updated_at=now,
                last_activity=now,
            )
        )
        await conn.execute(
            insert(uploads).values(
                task_id=task_id,
                account_id=account_id,
                file_name="big.bin",
                file_size=size,
                content_type="application/octet-stream",
                chunk_size=size,
                chunks_count=1,
                chunks_uploaded=0,
                bytes_uploaded=0,
                pool_id=h.pools.get(pool_id).id,
                hash="0" * 64,
                encrypted=False,
            )
        )


async def blob_refcount(h: Harness, file: StoredFile) -> int | None:
    query = select(blobs.c.refcount).where(blobs.c.pool_id == file.pool_id, blobs.c.key == file.blob_key)
    async with h.app.service.db.read() as conn:
        return (await conn.execute(query)).scalar_one_or_none()


def blob_file(h: Harness, file: StoredFile) -> Any:
    return blob_path(h.pools.get(file.pool_id).root, file.blob_key)


async def read(client: FilesClient, file_id: str, **fields: Any) -> list[files_pb2.ReadFileResponse]:
    call = client.stub.ReadFile(
        files_pb2.ReadFileRequest(file_id=file_id, **fields), metadata=client.metadata
    )
    return [message async for message in call]


async def test_get_file(harness: Harness, alice: FilesClient) -> None:
    stored = await store_file(harness, alice.account_id, b"hello world", name="hello.txt")
    file = (
        await alice.stub.GetFile(files_pb2.GetFileRequest(file_id=stored.id), metadata=alice.metadata)
    ).file
    assert (file.id, file.name, file.size, file.hash, file.mime_type) == (
        stored.id,
        "hello.txt",
        11,
        hashlib.sha256(b"hello world").hexdigest(),
        "text/plain",
    )
    assert (file.account_id, file.pool_id, file.bundle_id, file.encrypted) == (
        alice.account_id,
        harness.pools.default_id,
        "",
        False,
    )
    assert file.created_at.ToDatetime(tzinfo=UTC) == stored.created_at
    assert not file.HasField("expired_at")


async def test_list_files_newest_first_with_filters_and_total(harness: Harness, alice: FilesClient) -> None:
    bundle = (
        await alice.stub.CreateBundle(files_pb2.CreateBundleRequest(name="album"), metadata=alice.metadata)
    ).bundle
    archive = harness.pools.all()[1].id
    made = [
        await store_file(harness, alice.account_id, os.urandom(100), age=timedelta(minutes=10 - index))
        for index in range(3)
    ]
    made.append(await store_file(harness, alice.account_id, b"in archive", pool_id=archive))
    made.append(await store_file(harness, alice.account_id, b"in bundle", bundle_id=bundle.id))
    call = alice.stub.ListFiles(files_pb2.ListFilesRequest(limit=2, offset=1), metadata=alice.metadata)
    page = await call
    assert page.total == 5
    assert dict(await call.initial_metadata())["x-total"] == "5"
    newest_first = [file.id for file in reversed(made)]
    assert [file.id for file in page.files] == newest_first[1:3]
    everything = await alice.stub.ListFiles(files_pb2.ListFilesRequest(), metadata=alice.metadata)
    assert [file.id for file in everything.files] == newest_first
    in_pool = await alice.stub.ListFiles(files_pb2.ListFilesRequest(pool_id=archive), metadata=alice.metadata)
    assert [file.id for file in in_pool.files] == [made[3].id]
    in_bundle = await alice.stub.ListFiles(
        files_pb2.ListFilesRequest(bundle_id=bundle.id), metadata=alice.metadata
    )
    assert ([file.id for file in in_bundle.files], in_bundle.files[0].bundle_id) == ([made[4].id], bundle.id)


@pytest.mark.parametrize(
    ("offset", "limit", "reason"),
    [
        (-1, None, "INVALID_OFFSET"),
        (0, 0, "INVALID_LIMIT"),
        (0, -5, "INVALID_LIMIT"),
        (0, 1001, "INVALID_LIMIT"),
    ],
)
async def test_list_bad_paging(alice: FilesClient, offset: int, limit: int | None, reason: str) -> None:
    for call in (alice.stub.ListFiles, alice.stub.ListBundles):
        request = (
            files_pb2.ListFilesRequest if call is alice.stub.ListFiles else files_pb2.ListBundlesRequest
        )(offset=offset, limit=limit)
        await expect_error(call(request, metadata=alice.metadata), grpc.StatusCode.INVALID_ARGUMENT, reason)


async def test_read_whole_file_in_pieces(harness: Harness, alice: FilesClient) -> None:
    data = os.urandom(2 * MIB + 12345)
    stored = await store_file(harness, alice.account_id, data)
    messages = await read(alice, stored.id)
    assert [len(message.data) for message in messages] == [MIB, MIB, 12345]
    assert [message.offset for message in messages] == [0, MIB, 2 * MIB]
    assert messages[0].file.id == stored.id
    assert not any(message.HasField("file") for message in messages[1:])
    assert b"".join(message.data for message in messages) == data


@pytest.mark.parametrize(
    ("offset", "length", "start", "end"),
    [
        (0, 10, 0, 10),
        (MIB - 3, 7, MIB - 3, MIB + 4),  # across a 1 MiB piece boundary
        (1000, 0, 1000, None),  # 0 = to the end
        (5, 10 * MIB, 5, None),  # past the end stops at the end
        (MIB + 500, 0, MIB + 500, None),  # offset == size: an empty range
    ],
)
@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "encrypted"])
async def test_read_ranges(
    harness: Harness,
    alice: FilesClient,
    encrypted: bool,
    offset: int,
    length: int,
    start: int,
    end: int | None,
) -> None:
    data = os.urandom(MIB + 500)
    password = "correct horse" if encrypted else None
    stored = await store_file(harness, alice.account_id, data, password=password)
    messages = await read(alice, stored.id, offset=offset, length=length, password=password or "")
    assert messages[0].file.id == stored.id
    assert messages[0].offset == offset
    assert b"".join(message.data for message in messages) == data[start:end]
    assert all(len(message.data) <= MIB for message in messages)
    if start == len(data):
        assert [message.data for message in messages] == [b""]


@pytest.mark.parametrize(("offset", "length"), [(-1, 0), (0, -1), (101, 0)])
async def test_read_bad_range(harness: Harness, alice: FilesClient, offset: int, length: int) -> None:
    stored = await store_file(harness, alice.account_id, os.urandom(100))
    metadata = await expect_error(
        read(alice, stored.id, offset=offset, length=length),
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_RANGE",
    )
    assert metadata["field"] == ("length" if length < 0 else "offset")


async def test_encrypted_read_needs_the_right_password(harness: Harness, alice: FilesClient) -> None:
    data = os.urandom(3000)
    stored = await store_file(harness, alice.account_id, data, password="s3cret")
    assert stored.blob_key != stored.hash
    file = (
        await alice.stub.GetFile(files_pb2.GetFileRequest(file_id=stored.id), metadata=alice.metadata)
    ).file
    assert (file.encrypted, file.size, file.hash) == (True, 3000, hashlib.sha256(data).hexdigest())
    messages = await read(alice, stored.id, password="s3cret")
    assert b"".join(message.data for message in messages) == data
    await expect_error(
        read(alice, stored.id, password="wrong"), grpc.StatusCode.PERMISSION_DENIED, "WRONG_PASSWORD"
    )
    await expect_error(read(alice, stored.id), grpc.StatusCode.INVALID_ARGUMENT, "PASSWORD_REQUIRED")
    # An empty range still proves the password.
    await expect_error(
        read(alice, stored.id, offset=3000, password="wrong"),
        grpc.StatusCode.PERMISSION_DENIED,
        "WRONG_PASSWORD",
    )


async def test_plain_file_with_damaged_bytes_is_never_read_whole(
    harness: Harness, alice: FilesClient
) -> None:
    data = os.urandom(MIB + 10)
    stored = await store_file(harness, alice.account_id, data)
    path = blob_file(harness, stored)
    path.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    received: list[bytes] = []

    async def collect(offset: int) -> None:
        request = files_pb2.ReadFileRequest(file_id=stored.id, offset=offset)
        async for message in alice.stub.ReadFile(request, metadata=alice.metadata):
            received.append(message.data)

    # A whole read is hashed as it goes: the last piece is held back and the stream fails.
    await expect_error(collect(0), grpc.StatusCode.DATA_LOSS, "CORRUPT_DATA")
    assert b"".join(received) == data[:MIB]
    # A ranged read is checked before its first byte.
    received.clear()
    await expect_error(collect(5), grpc.StatusCode.DATA_LOSS, "CORRUPT_DATA")
    assert received == []
    path.unlink()
    await expect_error(read(alice, stored.id), grpc.StatusCode.DATA_LOSS, "CORRUPT_DATA")


async def test_encrypted_file_with_damaged_segment_stops_before_it(
    harness: Harness, alice: FilesClient
) -> None:
    data = os.urandom(2 * MIB)
    stored = await store_file(harness, alice.account_id, data, password="pw")
    path = blob_file(harness, stored)
    sealed = bytearray(path.read_bytes())
    sealed[HEADER_SIZE + MIB + 16 + 100] ^= 1  # inside the second segment
    path.write_bytes(bytes(sealed))
    received: list[bytes] = []

    async def collect() -> None:
        call = alice.stub.ReadFile(
            files_pb2.ReadFileRequest(file_id=stored.id, password="pw"), metadata=alice.metadata
        )
        async for message in call:
            received.append(message.data)

    await expect_error(collect(), grpc.StatusCode.DATA_LOSS, "CORRUPT_DATA")
    assert b"".join(received) == data[:MIB]


async def test_delete_releases_the_blob_with_its_last_reference(
    harness: Harness, alice: FilesClient, bob: FilesClient
) -> None:
    data = os.urandom(5000)
    mine = await store_file(harness, alice.account_id, data)
    theirs = await store_file(harness, bob.account_id, data)
    assert mine.blob_key == theirs.blob_key and await blob_refcount(harness, mine) == 2
    await alice.stub.DeleteFile(files_pb2.DeleteFileRequest(file_id=mine.id), metadata=alice.metadata)
    assert blob_file(harness, mine).read_bytes() == data
    assert await blob_refcount(harness, mine) == 1
    for call in (
        alice.stub.GetFile(files_pb2.GetFileRequest(file_id=mine.id), metadata=alice.metadata),
        alice.stub.DeleteFile(files_pb2.DeleteFileRequest(file_id=mine.id), metadata=alice.metadata),
    ):
        await expect_error(call, grpc.StatusCode.NOT_FOUND, "FILE_NOT_FOUND")
    assert b"".join(message.data for message in await read(bob, theirs.id)) == data
    await bob.stub.DeleteFile(files_pb2.DeleteFileRequest(file_id=theirs.id), metadata=bob.metadata)
    assert not blob_file(harness, theirs).exists()
    assert await blob_refcount(harness, theirs) is None


async def test_delete_encrypted_file_removes_its_blob(harness: Harness, alice: FilesClient) -> None:
    stored = await store_file(harness, alice.account_id, b"secret", password="pw")
    assert blob_file(harness, stored).exists()
    await alice.stub.DeleteFile(files_pb2.DeleteFileRequest(file_id=stored.id), metadata=alice.metadata)
    assert not blob_file(harness, stored).exists()


async def test_another_accounts_file_and_bundle_are_not_found(
    harness: Harness, alice: FilesClient, bob: FilesClient
) -> None:
    bundle = (
        await bob.stub.CreateBundle(files_pb2.CreateBundleRequest(name="b"), metadata=bob.metadata)
    ).bundle
    file = await store_file(harness, bob.account_id, b"bob's", bundle_id=bundle.id)
    md = alice.metadata
    calls = {
        "FILE_NOT_FOUND": [
            alice.stub.GetFile(files_pb2.GetFileRequest(file_id=file.id), metadata=md),
            alice.stub.DeleteFile(files_pb2.DeleteFileRequest(file_id=file.id), metadata=md),
            read(alice, file.id),
        ],
        "BUNDLE_NOT_FOUND": [
            alice.stub.GetBundle(files_pb2.GetBundleRequest(bundle_id=bundle.id), metadata=md),
            alice.stub.DeleteBundle(files_pb2.DeleteBundleRequest(bundle_id=bundle.id), metadata=md),
        ],
    }
    for reason, pending in calls.items():
        for call in pending:
            assert (await expect_error(call, grpc.StatusCode.NOT_FOUND, reason)) != {}
    assert (await alice.stub.ListFiles(files_pb2.ListFilesRequest(), metadata=md)).total == 0
    by_bundle = await alice.stub.ListFiles(files_pb2.ListFilesRequest(bundle_id=bundle.id), metadata=md)
    assert by_bundle.total == 0
    assert (await alice.stub.ListBundles(files_pb2.ListBundlesRequest(), metadata=md)).total == 0
    still = await bob.stub.GetFile(files_pb2.GetFileRequest(file_id=file.id), metadata=bob.metadata)
    assert still.file.bundle_id == bundle.id


@pytest.mark.parametrize(
    ("value", "code", "reason"),
    [
        ("", grpc.StatusCode.INVALID_ARGUMENT, "FILE_ID_REQUIRED"),
        ("../../etc/passwd", grpc.StatusCode.NOT_FOUND, "FILE_NOT_FOUND"),
        ("x" * 500, grpc.StatusCode.NOT_FOUND, "FILE_NOT_FOUND"),
        ("AAAAAAAAAAAAAAAAAAAAA", grpc.StatusCode.NOT_FOUND, "FILE_NOT_FOUND"),
    ],
)
async def test_bad_file_ids(alice: FilesClient, value: str, code: grpc.StatusCode, reason: str) -> None:
    md = alice.metadata
    await expect_error(alice.stub.GetFile(files_pb2.GetFileRequest(file_id=value), metadata=md), code, reason)
    await expect_error(
        alice.stub.DeleteFile(files_pb2.DeleteFileRequest(file_id=value), metadata=md), code, reason
    )
    await expect_error(read(alice, value), code, reason)
    bundle_reason = reason.replace("FILE", "BUNDLE")
    await expect_error(
        alice.stub.GetBundle(files_pb2.GetBundleRequest(bundle_id=value), metadata=md), code, bundle_reason
    )


async def test_list_pools_shows_what_the_caller_may_use(harness: Harness) -> None:
    async def names(client: FilesClient) -> list[str]:
        response = await client.stub.ListPools(files_pb2.ListPoolsRequest(), metadata=client.metadata)
        return [pool.name for pool in response.pools]

    assert await names(harness.client()) == ["Archive", "Default"]
    assert await names(harness.client(OWNER)) == ["Archive", "Default", "Hidden mine", "Private mine"]
    assert await names(harness.client(OWNER, tier=2)) == [
        "Archive",
        "Default",
        "Hidden mine",
        "Premium",
        "Private mine",
    ]
    anyone = harness.client()
    archive = (await anyone.stub.ListPools(files_pb2.ListPoolsRequest(), metadata=anyone.metadata)).pools[0]
    assert (archive.cost_multiplier, list(archive.policy.accept_types)) == (
        2.5,
        ["image/*", "application/pdf"],
    )
    assert archive.policy.default_expiry.ToTimedelta() == timedelta(days=7)
    assert archive.policy.public_usable and not archive.policy.hidden


async def test_bundle_lifecycle(harness: Harness, alice: FilesClient) -> None:
    md = alice.metadata
    expiry = datetime.now(UTC) + timedelta(days=3)
    request = files_pb2.CreateBundleRequest(name="  Holiday  ", description="photos")
    request.expired_at.FromDatetime(expiry)
    first = (await alice.stub.CreateBundle(request, metadata=md)).bundle
    assert (first.name, first.description, first.account_id, len(first.id)) == (
        "Holiday",
        "photos",
        alice.account_id,
        21,
    )
    assert first.expired_at.ToDatetime(tzinfo=UTC) == expiry
    second = (await alice.stub.CreateBundle(files_pb2.CreateBundleRequest(name="Work"), metadata=md)).bundle
    assert not second.HasField("expired_at")
    fetched = (await alice.stub.GetBundle(files_pb2.GetBundleRequest(bundle_id=first.id), metadata=md)).bundle
    assert fetched == first
    call = alice.stub.ListBundles(files_pb2.ListBundlesRequest(), metadata=md)
    listed = await call
    assert [bundle.id for bundle in listed.bundles] == [second.id, first.id]
    assert (listed.total, dict(await call.initial_metadata())["x-total"]) == (2, "2")
    file = await store_file(harness, alice.account_id, b"beach", bundle_id=first.id)
    shown = (await alice.stub.GetFile(files_pb2.GetFileRequest(file_id=file.id), metadata=md)).file
    assert shown.expired_at.ToDatetime(tzinfo=UTC) == first.expired_at.ToDatetime(tzinfo=UTC)  # the bundle's
    await alice.stub.DeleteBundle(files_pb2.DeleteBundleRequest(bundle_id=first.id), metadata=md)
    await expect_error(
        alice.stub.GetBundle(files_pb2.GetBundleRequest(bundle_id=first.id), metadata=md),
        grpc.StatusCode.NOT_FOUND,
        "BUNDLE_NOT_FOUND",
    )
    kept = (await alice.stub.GetFile(files_pb2.GetFileRequest(file_id=file.id), metadata=md)).file
    assert (kept.bundle_id, kept.HasField("expired_at")) == ("", False)
    assert (await alice.stub.ListBundles(files_pb2.ListBundlesRequest(), metadata=md)).total == 1


@pytest.mark.parametrize(
    ("name", "description", "expiry", "reason"),
    [
        ("", "", None, "INVALID_NAME"),
        ("   ", "", None, "INVALID_NAME"),
        ("x" * 1000, "", None, "INVALID_NAME"),
        ("x" * 256, "", None, "INVALID_NAME"),
        ("tab\there", "", None, "INVALID_NAME"),
        ("ok", "d" * 1025, None, "TEXT_TOO_LONG"),
        ("ok", "", timedelta(minutes=-1), "INVALID_EXPIRY"),
    ],
    ids=["empty", "blank", "1000-chars", "256-chars", "control-char", "long-description", "past-expiry"],
)
async def test_bundle_bad_input(
    alice: FilesClient, name: str, description: str, expiry: timedelta | None, reason: str
) -> None:
    request = files_pb2.CreateBundleRequest(name=name, description=description)
    if expiry is not None:
        request.expired_at.FromDatetime(datetime.now(UTC) + expiry)
    await expect_error(
        alice.stub.CreateBundle(request, metadata=alice.metadata), grpc.StatusCode.INVALID_ARGUMENT, reason
    )
    assert (await alice.stub.ListBundles(files_pb2.ListBundlesRequest(), metadata=alice.metadata)).total == 0


async def test_bundle_name_of_255_characters_is_accepted(alice: FilesClient) -> None:
    request = files_pb2.CreateBundleRequest(name="é" * 255, description="d" * 1024)
    bundle = (await alice.stub.CreateBundle(request, metadata=alice.metadata)).bundle
    assert bundle.name == "é" * 255


async def test_quota_counts_weighted_files_and_in_flight_uploads(
    harness: Harness, alice: FilesClient
) -> None:
    archive = harness.pools.all()[1]
    await store_file(harness, alice.account_id, os.urandom(1000))
    await store_file(harness, alice.account_id, os.urandom(1001), pool_id=archive.id)  # x 2.5
    await reserve(harness, alice.account_id, 300, TaskStatus.IN_PROGRESS)
    await reserve(harness, alice.account_id, 200, TaskStatus.PAUSED, pool_id=archive.id)  # x 2.5
    await reserve(harness, alice.account_id, 7000, TaskStatus.COMPLETED)
    await reserve(harness, alice.account_id, 7000, TaskStatus.CANCELLED)
    await reserve(harness, new_account(), 9999, TaskStatus.IN_PROGRESS)
    quota = await alice.stub.GetQuota(files_pb2.GetQuotaRequest(), metadata=alice.metadata)
    assert (quota.quota_bytes, quota.used_bytes, quota.reserved_bytes) == (
        DEFAULT_QUOTA,
        1000 + 2503,
        300 + 500,
    )


async def test_admin_sets_and_resets_a_quota(harness: Harness, alice: FilesClient) -> None:
    admin = harness.client(perms=["drive.admin"])
    request = files_pb2.SetAccountQuotaRequest(account_id=alice.account_id.upper(), quota_bytes=12345)
    response = await admin.stub.SetAccountQuota(request, metadata=admin.metadata)
    assert (response.account_id, response.quota_bytes) == (alice.account_id, 12345)
    quota = await alice.stub.GetQuota(files_pb2.GetQuotaRequest(), metadata=alice.metadata)
    assert quota.quota_bytes == 12345
    again = files_pb2.SetAccountQuotaRequest(account_id=alice.account_id, quota_bytes=0)
    assert (await admin.stub.SetAccountQuota(again, metadata=admin.metadata)).quota_bytes == 0
    assert (await alice.stub.GetQuota(files_pb2.GetQuotaRequest(), metadata=alice.metadata)).quota_bytes == 0
    reset = await admin.stub.SetAccountQuota(
        files_pb2.SetAccountQuotaRequest(account_id=alice.account_id), metadata=admin.metadata
    )
    assert reset.quota_bytes == DEFAULT_QUOTA
    assert (
        await alice.stub.GetQuota(files_pb2.GetQuotaRequest(), metadata=alice.metadata)
    ).quota_bytes == DEFAULT_QUOTA


async def test_set_quota_is_refused_to_non_admins_and_checks_input(
    harness: Harness, alice: FilesClient
) -> None:
    own = files_pb2.SetAccountQuotaRequest(account_id=alice.account_id, quota_bytes=10**15)
    await expect_error(
        alice.stub.SetAccountQuota(own, metadata=alice.metadata),
        grpc.StatusCode.PERMISSION_DENIED,
        "ADMIN_REQUIRED",
    )
    assert (
        await alice.stub.GetQuota(files_pb2.GetQuotaRequest(), metadata=alice.metadata)
    ).quota_bytes == DEFAULT_QUOTA
    admin = harness.client(perms=["drive.admin"])
    for request, reason in [
        (files_pb2.SetAccountQuotaRequest(account_id="not-a-uuid", quota_bytes=1), "INVALID_ACCOUNT_ID"),
        (files_pb2.SetAccountQuotaRequest(account_id=alice.account_id, quota_bytes=-1), "INVALID_QUOTA"),
    ]:
        await expect_error(
            admin.stub.SetAccountQuota(request, metadata=admin.metadata),
            grpc.StatusCode.INVALID_ARGUMENT,
            reason,
        )


async def test_expired_files_vanish_and_are_swept(harness: Harness, alice: FilesClient) -> None:
    md = alice.metadata
    now = harness.clock()
    request = files_pb2.CreateBundleRequest(name="short-lived")
    request.expired_at.FromDatetime(now + timedelta(hours=2))
    bundle = (await alice.stub.CreateBundle(request, metadata=md)).bundle
    own = await store_file(harness, alice.account_id, os.urandom(64), expired_at=now + timedelta(hours=1))
    grouped = await store_file(harness, alice.account_id, os.urandom(64), bundle_id=bundle.id)
    lasting = await store_file(harness, alice.account_id, os.urandom(64))

    async def visible() -> list[str]:
        listed = await alice.stub.ListFiles(files_pb2.ListFilesRequest(), metadata=md)
        return sorted(file.id for file in listed.files)

    assert await visible() == sorted([own.id, grouped.id, lasting.id])
    try:
        harness.clock.shift = timedelta(minutes=90)
        assert await visible() == sorted([grouped.id, lasting.id])
        await expect_error(
            alice.stub.GetFile(files_pb2.GetFileRequest(file_id=own.id), metadata=md),
            grpc.StatusCode.NOT_FOUND,
            "FILE_NOT_FOUND",
        )
        harness.clock.shift = timedelta(hours=3)
        assert await visible() == [lasting.id]
        assert blob_file(harness, own).exists()  # hidden, not yet deleted
        assert await harness.manager.expire_files(batch=1) >= 2
    finally:
        harness.clock.shift = timedelta(0)
    assert not blob_file(harness, own).exists() and not blob_file(harness, grouped).exists()
    assert await visible() == [lasting.id]
    assert await harness.manager.expire_files() == 0


async def test_uploaded_files_read_back(harness: Harness, server: App, channel: grpc.aio.Channel) -> None:
    """Files made by the real UploadService (plain and encrypted at rest) read back byte for byte."""
    uploader = make_client(server, channel)
    reader = harness.client(uploader.account_id)
    for password in ("", "upload-pw"):
        data = payload(CHUNK + 77)
        created = await create(uploader, data, encrypt_password=password)
        await send_all(uploader, created.task_id, data)
        file = (await complete(uploader, created.task_id)).file
        messages = await read(reader, file.id, password=password)
        assert b"".join(message.data for message in messages) == data.data
        assert messages[0].file == file
    quota = await reader.stub.GetQuota(files_pb2.GetQuotaRequest(), metadata=reader.metadata)
    assert (quota.used_bytes, quota.reserved_bytes) == (2 * (CHUNK + 77), 0)

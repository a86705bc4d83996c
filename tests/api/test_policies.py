"""Pool policies from a pools file, quotas with in-flight reservations, and encryption at rest."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest

from drive.v1 import files_pb2, uploads_pb2
from drive_service.app import App
from drive_service.storage.blobs import blob_path
from tests.support import Client, expect_error, make_client, running_app, settings_for
from tests.support.uploading import CHUNK, complete, create, payload, send_all

PUBLIC = "11111111-1111-4111-8111-111111111111"
IMAGES = "22222222-2222-4222-8222-222222222222"
PRIVATE = "33333333-3333-4333-8333-333333333333"
VIP = "44444444-4444-4444-8444-444444444444"
OWNER = "55555555-5555-4555-8555-555555555555"
CLOSED = "66666666-6666-4666-8666-666666666666"
DENIED = grpc.StatusCode.PERMISSION_DENIED
NOT_FOUND = grpc.StatusCode.NOT_FOUND


def _pools_file(directory: Path) -> Path:
    pools = [
        {"id": PUBLIC, "name": "Public", "storage": {"path": "public"}, "billing": {"cost_multiplier": 2.0}},
        {
            "id": IMAGES,
            "name": "Images",
            "storage": {"path": "images"},
            "policy": {"accept_types": ["image/*"], "max_file_size": 2 * CHUNK, "allow_encryption": False},
        },
        {
            "id": PRIVATE,
            "name": "Private",
            "owner": OWNER,
            "storage": {"path": "private"},
            "policy": {"public_usable": False, "hidden": True},
        },
        {"id": VIP, "name": "VIP", "storage": {"path": "vip"}, "policy": {"require_privilege": 3}},
        {
            "id": CLOSED,
            "name": "Closed",
            "owner": OWNER,
            "storage": {"path": "closed"},
            "policy": {"public_usable": False},
        },
    ]
    path = directory / "pools.json"
    path.write_text(json.dumps({"pools": pools}))
    return path


@pytest.fixture(scope="module")
async def policy_server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[App]:
    directory = tmp_path_factory.mktemp("policies")
    settings = settings_for(
        directory / "var",
        DRIVE_POOLS_FILE=str(_pools_file(directory)),
        DRIVE_DEFAULT_QUOTA_BYTES=str(10 * CHUNK),
    )
    async with running_app(settings) as app:
        yield app


@pytest.fixture
async def policy_client(policy_server: App) -> AsyncIterator[Client]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{policy_server.port}") as channel:
        yield make_client(policy_server, channel)


@pytest.mark.parametrize(
    ("fields", "code", "reason"),
    [
        ({"pool_id": IMAGES, "content_type": "video/mp4"}, DENIED, "CONTENT_TYPE_NOT_ALLOWED"),
        (
            {"pool_id": IMAGES, "content_type": "image/png", "encrypt_password": "s3cret"},
            DENIED,
            "ENCRYPTION_NOT_ALLOWED",
        ),
        ({"pool_id": CLOSED}, DENIED, "POOL_NOT_USABLE"),
        # Hidden and not usable: the caller must not learn that it exists (Pool.check_upload).
        ({"pool_id": PRIVATE}, NOT_FOUND, "POOL_NOT_FOUND"),
        ({"pool_id": VIP}, DENIED, "INSUFFICIENT_PRIVILEGE"),
    ],
)
async def test_pool_policy_refusals(
    policy_client: Client, fields: dict[str, object], code: grpc.StatusCode, reason: str
) -> None:
    await expect_error(create(policy_client, payload(CHUNK), **fields), code, reason)


async def test_pool_policy_acceptances(policy_server: App) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{policy_server.port}") as channel:
        owner = make_client(policy_server, channel, OWNER)
        vip = make_client(policy_server, channel, tier=3)
        plain = make_client(policy_server, channel)
        image = await create(plain, payload(CHUNK), pool_id=IMAGES, content_type="image/png")
        assert image.task_id
        await expect_error(
            create(plain, payload(3 * CHUNK), pool_id=IMAGES, content_type="image/png"),
            DENIED,
            "FILE_TOO_LARGE",
        )
        assert (await create(owner, payload(CHUNK), pool_id=PRIVATE)).task_id
        assert (await create(vip, payload(CHUNK), pool_id=VIP)).task_id
        seen = {
            pool.id
            for pool in (
                await plain.files.ListPools(files_pb2.ListPoolsRequest(), metadata=plain.metadata)
            ).pools
        }
        assert seen == {PUBLIC, IMAGES}
        mine = {
            pool.id
            for pool in (
                await owner.files.ListPools(files_pb2.ListPoolsRequest(), metadata=owner.metadata)
            ).pools
        }
        assert PRIVATE in mine


async def test_quota_counts_in_flight_uploads_and_cost(policy_client: Client) -> None:
    # Quota 10 chunks; the public pool costs 2x: a 4-chunk upload reserves 8 chunks' worth.
    first = payload(4 * CHUNK)
    reserved = await create(policy_client, first, pool_id=PUBLIC)
    await expect_error(create(policy_client, payload(2 * CHUNK), pool_id=PUBLIC), DENIED, "QUOTA_EXCEEDED")
    await expect_error(
        create(policy_client, payload(3 * CHUNK), pool_id=IMAGES, content_type="image/gif"),
        DENIED,
        "FILE_TOO_LARGE",
    )
    await send_all(policy_client, reserved.task_id, first)
    await complete(policy_client, reserved.task_id)
    quota = await policy_client.files.GetQuota(files_pb2.GetQuotaRequest(), metadata=policy_client.metadata)
    assert (quota.quota_bytes, quota.used_bytes, quota.reserved_bytes) == (10 * CHUNK, 8 * CHUNK, 0)


async def test_encrypted_upload_round_trip(policy_client: Client, policy_server: App) -> None:
    data = payload(2 * CHUNK + 77)
    created = await create(policy_client, data, encrypt_password="correct horse")
    await send_all(policy_client, created.task_id, data)
    file = (await complete(policy_client, created.task_id)).file
    assert file.encrypted and file.hash == data.sha256 and file.size == len(data.data)
    pool = policy_server.service.pools.get(file.pool_id)
    stored = [blob for blob in (pool.root / "blobs").rglob("*") if blob.is_file()]
    assert stored  # this upload's blob at least: the check below cannot pass on an empty pool
    for blob in stored:
        assert data.data[:4096] not in blob.read_bytes()  # nothing stored in plain text

    async def read(password: str, offset: int = 0, length: int = 0) -> bytes:
        request = files_pb2.ReadFileRequest(file_id=file.id, password=password, offset=offset, length=length)
        return b"".join(
            [
                piece.data
                async for piece in policy_client.files.ReadFile(request, metadata=policy_client.metadata)
            ]
        )

    assert await read("correct horse") == data.data
    assert await read("correct horse", CHUNK - 5, 100) == data.data[CHUNK - 5 : CHUNK + 95]
    await expect_error(read("wrong"), DENIED, "WRONG_PASSWORD")
    upload = await policy_client.uploads.GetUploadTaskDetails(
        uploads_pb2.GetUploadTaskDetailsRequest(task_id=created.task_id), metadata=policy_client.metadata
    )
    assert "correct horse" not in str(upload)
    assert not blob_path(pool.root, data.sha256).exists()  # encrypted blobs are not addressed by plain hash

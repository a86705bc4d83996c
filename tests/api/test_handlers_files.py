"""FileMove, BulkOperation, StorageMigration, FileEncrypt/FileDecrypt and FileConversion through the real
API: a server of their own with four pools, real uploads, tasks run by the worker to their end."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import json
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import duration_pb2, json_format, struct_pb2
from PIL import Image

from drive.v1 import files_pb2, tasks_pb2, uploads_pb2
from drive.v1 import task_enums_pb2 as enums
from drive_service.app import App
from drive_service.services.handlers import Handler, TaskContext
from drive_service.services.handlers.bulk import BulkOperationHandler
from drive_service.services.handlers.convert import FileConversionHandler
from drive_service.services.handlers.crypto import FileDecryptHandler, FileEncryptHandler
from drive_service.services.handlers.migrate import StorageMigrationHandler
from drive_service.services.handlers.move import FileMoveHandler
from tests.support import BACKEND_NAMES, Client, expect_error, make_client, new_account
from tests.support.handlers import handler_app
from tests.support.s3server import S3Server, s3_storage, small_parts_server
from tests.support.uploading import CHUNK

S = enums.TaskStatus
T = enums.TaskType
ALPHA = "a1a1a1a1-0000-4000-8000-000000000001"
BETA = "b2b2b2b2-0000-4000-8000-000000000002"
IMAGES = "c3c3c3c3-0000-4000-8000-000000000003"
PRIVATE = "d4d4d4d4-0000-4000-8000-000000000004"
PASSWORD = "correct horse battery staple"


class CrashOnce:
    """Wraps a handler: on the first attempt of a task whose parameters carry ``testCrashAtReport``
    = k, the k-th report raises before it is saved, as if the worker died right there."""

    def __init__(self, inner: Handler) -> None:
        self.inner = inner
        self.task_type = inner.task_type

    async def run(self, ctx: TaskContext) -> dict[str, Any]:
        crash_at = ctx.parameters.get("testCrashAtReport")
        if not crash_at or ctx.task.attempts > 1:
            return await self.inner.run(ctx)
        reports = 0

        async def report(progress: float, message: str, checkpoint: dict[str, Any] | None) -> None:
            nonlocal reports
            reports += 1
            if reports >= crash_at:
                raise RuntimeError("simulated crash")
            await ctx.report(progress, message, checkpoint)

        return await self.inner.run(dataclasses.replace(ctx, _report=report))


def _pools_file(directory: Path, s3: S3Server | None) -> Path:
    """Four pools; with ``s3``, Alpha (where uploads go unless told) is an S3 pool on it."""
    alpha = {"path": "alpha"} if s3 is None else s3_storage(s3)
    pools = [
        {"id": ALPHA, "name": "Alpha", "storage": alpha},
        {"id": BETA, "name": "Beta", "storage": {"path": "beta"}},
        {
            "id": IMAGES,
            "name": "Images",
            "storage": {"path": "images"},
            "policy": {"accept_types": ["image/*"], "allow_encryption": False},
        },
        {
            "id": PRIVATE,
            "name": "Private",
            "owner": new_account(),
            "storage": {"path": "private"},
            "policy": {"public_usable": False, "hidden": True},
        },
    ]
    path = directory / "pools.json"
    path.write_text(json.dumps({"pools": pools}))
    return path


@pytest.fixture(
    scope="module",
    params=[(b, kind) for b in BACKEND_NAMES for kind in ("local", "s3")],
    ids=[f"{b}-{kind}" for b in BACKEND_NAMES for kind in ("local", "s3")],
)
async def files_app(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[App]:
    """The handlers' server; on each database, once with local pools only and once with Alpha on
    an S3-API server (so moves and migrations cross between an S3 and a local pool)."""
    backend, kind = request.param
    async with contextlib.AsyncExitStack() as stack:
        s3 = await stack.enter_async_context(small_parts_server()) if kind == "s3" else None
        yield await stack.enter_async_context(_files_app(backend, s3, tmp_path_factory))


@contextlib.asynccontextmanager
async def _files_app(
    backend: str, s3: S3Server | None, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[App]:
    directory = tmp_path_factory.mktemp("handlers-files")
    handlers: list[Handler] = [
        CrashOnce(FileMoveHandler()),
        CrashOnce(BulkOperationHandler()),
        CrashOnce(StorageMigrationHandler()),
        CrashOnce(FileEncryptHandler()),
        CrashOnce(FileDecryptHandler()),
        CrashOnce(FileConversionHandler()),
    ]
    pools = str(_pools_file(directory, s3))
    async with handler_app(backend, directory / "var", handlers, DRIVE_POOLS_FILE=pools) as app:
        yield app


@pytest.fixture(scope="module")
async def files_channel(files_app: App) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{files_app.port}") as channel:
        yield channel


@pytest.fixture
def alice(files_app: App, files_channel: grpc.aio.Channel) -> Client:
    return make_client(files_app, files_channel)


@pytest.fixture
def bob(files_app: App, files_channel: grpc.aio.Channel) -> Client:
    return make_client(files_app, files_channel)


async def upload(
    client: Client,
    data: bytes,
    name: str = "notes.bin",
    content_type: str = "application/octet-stream",
    **fields: Any,
) -> files_pb2.CloudFile:
    """Upload ``data`` in one UploadFile stream; the stored file."""
    metadata = uploads_pb2.CreateUploadTaskRequest(
        file_name=name,
        file_size=len(data),
        content_type=content_type,
        hash=hashlib.sha256(data).hexdigest(),
        chunk_size=CHUNK,
        **fields,
    )

    async def messages() -> AsyncIterator[uploads_pb2.UploadFileRequest]:
        yield uploads_pb2.UploadFileRequest(metadata=metadata)
        for start in range(0, len(data), CHUNK):
            yield uploads_pb2.UploadFileRequest(data=data[start : start + CHUNK])

    return (await client.uploads.UploadFile(messages(), metadata=client.metadata)).file


async def run(client: Client, task_type: int, **parameters: Any) -> tasks_pb2.Task:
    """Create a task and wait (at most 30 s) until it is terminal."""
    values = struct_pb2.Struct()
    values.update(parameters)
    created = await client.tasks.CreateTask(
        tasks_pb2.CreateTaskRequest(type=task_type, name="files", parameters=values),  # type: ignore[arg-type]
        metadata=client.metadata,
    )
    waited = await client.tasks.WaitTask(
        tasks_pb2.WaitTaskRequest(task_id=created.task.task_id, timeout=duration_pb2.Duration(seconds=30)),
        metadata=client.metadata,
    )
    assert not waited.timed_out, f"task still {S.Name(waited.task.status)}: {waited.task.status_message}"
    return waited.task


def results(task: tasks_pb2.Task) -> dict[str, Any]:
    assert task.status == S.TASK_STATUS_COMPLETED, f"{S.Name(task.status)}: {task.error_message}"
    return dict(json_format.MessageToDict(task.results))


def failed_with(task: tasks_pb2.Task, text: str) -> None:
    assert task.status == S.TASK_STATUS_FAILED, f"{S.Name(task.status)}: {dict(task.results)}"
    assert text in task.error_message, task.error_message
    assert "Gave up" not in task.error_message  # failed at once, not after retries


async def get(client: Client, file_id: str) -> files_pb2.CloudFile:
    return (
        await client.files.GetFile(files_pb2.GetFileRequest(file_id=file_id), metadata=client.metadata)
    ).file


async def read(client: Client, file_id: str, password: str = "") -> bytes:
    request = files_pb2.ReadFileRequest(file_id=file_id, password=password)
    return b"".join([piece.data async for piece in client.files.ReadFile(request, metadata=client.metadata)])


async def total(client: Client, pool_id: str = "") -> int:
    request = files_pb2.ListFilesRequest(pool_id=pool_id, limit=1)
    return (await client.files.ListFiles(request, metadata=client.metadata)).total


def image_bytes(image_format: str = "PNG", size: tuple[int, int] = (64, 48), mode: str = "RGBA") -> bytes:
    """A small gradient picture (or, for mode "1", a blank one of any size) encoded as ``image_format``."""
    picture = Image.new(mode, size)
    if mode == "RGBA":
        picture.putdata([(x * 4 % 256, y * 5 % 256, 90, 200) for y in range(size[1]) for x in range(size[0])])
    buffer = io.BytesIO()
    picture.save(buffer, format=image_format)
    return buffer.getvalue()


def missing_id() -> str:
    return "missing" + os.urandom(6).hex()


# FileMove


async def test_move_to_another_pool_and_bundle(alice: Client) -> None:
    first, second = os.urandom(3 * CHUNK + 17), os.urandom(1000)
    a, b = await upload(alice, first, "a.bin"), await upload(alice, second, "b.bin")
    bundle = (
        await alice.files.CreateBundle(files_pb2.CreateBundleRequest(name="moved"), metadata=alice.metadata)
    ).bundle
    task = await run(
        alice, T.TASK_TYPE_FILE_MOVE, fileIds=[a.id, b.id], targetPoolId=BETA, targetBundleId=bundle.id
    )
    assert results(task) == {"filesProcessed": 2.0, "movedFileIds": [a.id, b.id]}
    assert task.progress == 100.0
    for file, data in ((a, first), (b, second)):
        moved = await get(alice, file.id)
        assert (moved.pool_id, moved.bundle_id) == (BETA, bundle.id)
        assert await read(alice, file.id) == data
    assert await total(alice, ALPHA) == 0


async def test_move_to_a_bundle_keeps_the_pool(alice: Client) -> None:
    file = await upload(alice, os.urandom(500))
    bundle = (
        await alice.files.CreateBundle(files_pb2.CreateBundleRequest(name="b"), metadata=alice.metadata)
    ).bundle
    results(await run(alice, T.TASK_TYPE_FILE_MOVE, fileIds=[file.id], targetBundleId=bundle.id))
    moved = await get(alice, file.id)
    assert (moved.pool_id, moved.bundle_id) == (ALPHA, bundle.id)


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("missing file", "was not found"),
        ("another account's file", "was not found"),
        ("no target", "Give targetPoolId, targetBundleId or both"),
        ("unknown pool", "Pool nowhere was not found"),
        ("private pool", "is not available to this account"),
        ("unknown bundle", "Bundle nobundle was not found"),
        ("empty list", "fileIds must be a non-empty list"),
        ("refused by policy", "Content type application/octet-stream is not allowed"),
    ],
)
async def test_move_bad_input_fails_with_nothing_moved(
    alice: Client, bob: Client, case: str, expected: str
) -> None:
    image = await upload(alice, image_bytes(), "pic.png", "image/png")
    data = await upload(alice, os.urandom(300))
    foreign = await upload(bob, os.urandom(300))
    cases: dict[str, dict[str, Any]] = {
        "missing file": {"fileIds": [image.id, missing_id()], "targetPoolId": BETA},
        "another account's file": {"fileIds": [image.id, foreign.id], "targetPoolId": BETA},
        "no target": {"fileIds": [image.id]},
        "unknown pool": {"fileIds": [image.id], "targetPoolId": "nowhere"},
        "private pool": {"fileIds": [image.id], "targetPoolId": PRIVATE},
        "unknown bundle": {"fileIds": [image.id], "targetBundleId": "nobundle"},
        "empty list": {"fileIds": [], "targetPoolId": BETA},
        "refused by policy": {"fileIds": [image.id, data.id], "targetPoolId": IMAGES},
    }
    failed_with(await run(alice, T.TASK_TYPE_FILE_MOVE, **cases[case]), expected)
    assert [(await get(alice, file.id)).pool_id for file in (image, data)] == [ALPHA, ALPHA]
    assert (await get(bob, foreign.id)).pool_id == ALPHA
    assert await total(alice) == 2


# BulkOperation


async def test_bulk_delete_reports_each_file(alice: Client, bob: Client) -> None:
    a, b, kept = [await upload(alice, os.urandom(700)) for _ in range(3)]
    foreign = await upload(bob, os.urandom(700))
    missing = missing_id()
    task = await run(
        alice, T.TASK_TYPE_BULK_OPERATION, operationType="delete", targetIds=[a.id, missing, b.id, foreign.id]
    )
    assert results(task) == {
        "operationType": "delete",
        "succeeded": [a.id, b.id],
        "failed": [
            {"id": missing, "reason": f"File {missing} was not found."},
            {"id": foreign.id, "reason": f"File {foreign.id} was not found."},
        ],
        "succeededCount": 2.0,
        "failedCount": 2.0,
    }
    for file in (a, b):
        await expect_error(get(alice, file.id), grpc.StatusCode.NOT_FOUND, "FILE_NOT_FOUND")
    assert (await get(alice, kept.id)).id == kept.id
    assert (await get(bob, foreign.id)).id == foreign.id


async def test_bulk_move_fails_only_the_files_the_target_refuses(alice: Client) -> None:
    picture = image_bytes()
    image, data = await upload(alice, picture, "pic.png", "image/png"), await upload(alice, os.urandom(400))
    task = await run(
        alice,
        T.TASK_TYPE_BULK_OPERATION,
        operationType="move",
        targetIds=[image.id, data.id],
        operationParameters={"targetPoolId": IMAGES},
    )
    outcome = results(task)
    assert (outcome["succeeded"], outcome["succeededCount"], outcome["failedCount"]) == ([image.id], 1.0, 1.0)
    assert outcome["failed"][0]["id"] == data.id
    assert "Content type application/octet-stream is not allowed" in outcome["failed"][0]["reason"]
    assert [(await get(alice, file.id)).pool_id for file in (image, data)] == [IMAGES, ALPHA]
    assert await read(alice, image.id) == picture


async def test_bulk_set_expiry_then_clear_it(alice: Client) -> None:
    a, b = await upload(alice, os.urandom(100)), await upload(alice, os.urandom(100))
    when = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    options = {"expiredAt": when.isoformat().replace("+00:00", "Z")}
    task = await run(
        alice,
        T.TASK_TYPE_BULK_OPERATION,
        operationType="setExpiry",
        targetIds=[a.id, b.id],
        operationParameters=options,
    )
    assert results(task)["succeeded"] == [a.id, b.id]
    assert [(await get(alice, file.id)).expired_at.ToDatetime(UTC) for file in (a, b)] == [when, when]
    cleared = await run(
        alice,
        T.TASK_TYPE_BULK_OPERATION,
        operationType="setExpiry",
        targetIds=[a.id],
        operationParameters={"expiredAt": None},
    )
    assert results(cleared)["succeededCount"] == 1.0
    assert not (await get(alice, a.id)).HasField("expired_at")
    assert (await get(alice, b.id)).HasField("expired_at")


@pytest.mark.parametrize(
    ("parameters", "expected"),
    [
        ({"operationType": "shred"}, "Unknown operationType 'shred'; use one of: delete, move, setExpiry"),
        ({}, "Unknown operationType missing or not a string"),
        ({"operationType": "move", "operationParameters": {}}, "needs operationParameters.targetPoolId"),
        ({"operationType": "move", "operationParameters": {"targetPoolId": PRIVATE}}, "not available"),
        ({"operationType": "move", "operationParameters": {"targetBundleId": "nobundle"}}, "Bundle nobundle"),
        ({"operationType": "move", "operationParameters": "beta"}, "operationParameters must be an object"),
        (
            {"operationType": "setExpiry", "operationParameters": {}},
            "setExpiry needs operationParameters.expiredAt",
        ),
        ({"operationType": "setExpiry", "operationParameters": {"expiredAt": "tomorrow"}}, "ISO-8601"),
        (
            {"operationType": "setExpiry", "operationParameters": {"expiredAt": "2999-01-01T00:00:00"}},
            "UTC offset",
        ),
        (
            {"operationType": "setExpiry", "operationParameters": {"expiredAt": "2001-01-01T00:00:00Z"}},
            "future",
        ),
        ({"operationType": "delete", "targetIds": []}, "targetIds must be a non-empty list"),
        ({"operationType": "delete", "targetIds": ["x"] * 10_001}, "at most 10000 are allowed"),
        ({"operationType": "delete", "targetIds": ["x" * 65]}, "must hold only file ids"),
    ],
)
async def test_bulk_bad_input_fails_with_nothing_changed(
    alice: Client, parameters: dict[str, Any], expected: str
) -> None:
    file = await upload(alice, os.urandom(100))
    values = {"targetIds": [file.id], **parameters}
    failed_with(await run(alice, T.TASK_TYPE_BULK_OPERATION, **values), expected)
    unchanged = await get(alice, file.id)
    assert (unchanged.pool_id, unchanged.HasField("expired_at")) == (ALPHA, False)


async def test_bulk_delete_resumes_after_a_crash_without_false_failures(alice: Client) -> None:
    uploaded = [await upload(alice, os.urandom(200)) for _ in range(4)]
    ids = [file.id for file in uploaded]
    # Report 3 (before the third file's delete) is lost: the second file is deleted by then, but only
    # the start of its delete was saved, so the resumed attempt finds it gone and counts it as done.
    task = await run(
        alice, T.TASK_TYPE_BULK_OPERATION, operationType="delete", targetIds=ids, testCrashAtReport=3
    )
    outcome = results(task)
    assert (outcome["succeeded"], outcome["failed"]) == (ids, [])
    assert await total(alice) == 0


# StorageMigration


async def test_migration_moves_only_the_accounts_files(alice: Client, bob: Client) -> None:
    shared = os.urandom(2 * CHUNK + 5)
    contents = [shared, os.urandom(CHUNK), os.urandom(10)]
    mine = [await upload(alice, data) for data in contents]
    already = await upload(alice, os.urandom(50), pool_id=BETA)
    theirs = await upload(bob, shared)  # same content: one blob in the pool, two references
    other = await upload(bob, os.urandom(60))
    task = await run(alice, T.TASK_TYPE_STORAGE_MIGRATION, sourcePoolId=ALPHA, targetPoolId=BETA)
    assert results(task) == {
        "filesMigrated": 3.0,
        "bytesMigrated": float(sum(map(len, contents))),
        "filesSkipped": 0.0,
        "skipped": [],
    }
    for file, data in zip(mine, contents, strict=True):
        assert (await get(alice, file.id)).pool_id == BETA
        assert await read(alice, file.id) == data
    assert (await total(alice, ALPHA), await total(alice, BETA)) == (0, 4)
    assert (await get(alice, already.id)).pool_id == BETA
    assert [(await get(bob, file.id)).pool_id for file in (theirs, other)] == [ALPHA, ALPHA]
    assert await read(bob, theirs.id) == shared


async def test_migration_back_and_forth_keeps_every_byte(alice: Client) -> None:
    contents = [os.urandom(2 * CHUNK + 7), os.urandom(CHUNK), b"x"]
    files = [await upload(alice, data, pool_id=BETA) for data in contents]
    for source, target in ((BETA, ALPHA), (ALPHA, BETA), (BETA, ALPHA)):
        outcome = results(
            await run(alice, T.TASK_TYPE_STORAGE_MIGRATION, sourcePoolId=source, targetPoolId=target)
        )
        assert outcome["filesMigrated"] == 3.0
        for file, data in zip(files, contents, strict=True):
            assert (await get(alice, file.id)).pool_id == target
            assert await read(alice, file.id) == data


async def test_migration_skips_files_the_target_refuses(alice: Client) -> None:
    picture = image_bytes()
    image, data = await upload(alice, picture, "p.png", "image/png"), await upload(alice, os.urandom(90))
    outcome = results(
        await run(alice, T.TASK_TYPE_STORAGE_MIGRATION, sourcePoolId=ALPHA, targetPoolId=IMAGES)
    )
    assert (outcome["filesMigrated"], outcome["bytesMigrated"], outcome["filesSkipped"]) == (
        1.0,
        len(picture),
        1.0,
    )
    assert outcome["skipped"][0]["id"] == data.id
    assert [(await get(alice, file.id)).pool_id for file in (image, data)] == [IMAGES, ALPHA]


async def test_migration_resumes_after_a_crash_counting_each_file_once(alice: Client) -> None:
    contents = [os.urandom(300 + index) for index in range(4)]
    for data in contents:
        await upload(alice, data)
    # Report 3 comes after the second file moved, before its move was saved as settled.
    task = await run(
        alice, T.TASK_TYPE_STORAGE_MIGRATION, sourcePoolId=ALPHA, targetPoolId=BETA, testCrashAtReport=3
    )
    outcome = results(task)
    assert (outcome["filesMigrated"], outcome["bytesMigrated"]) == (4.0, float(sum(map(len, contents))))
    assert (await total(alice, ALPHA), await total(alice, BETA)) == (0, 4)


@pytest.mark.parametrize(
    ("parameters", "expected"),
    [
        ({"sourcePoolId": ALPHA, "targetPoolId": ALPHA}, "must be different pools"),
        ({"sourcePoolId": "nowhere", "targetPoolId": BETA}, "Pool nowhere was not found"),
        ({"sourcePoolId": ALPHA, "targetPoolId": "nowhere"}, "Pool nowhere was not found"),
        ({"sourcePoolId": ALPHA, "targetPoolId": PRIVATE}, "not available to this account"),
        ({"targetPoolId": BETA}, "sourcePoolId is required"),
    ],
)
async def test_migration_bad_input_fails_with_nothing_moved(
    alice: Client, parameters: dict[str, Any], expected: str
) -> None:
    file = await upload(alice, os.urandom(100))
    failed_with(await run(alice, T.TASK_TYPE_STORAGE_MIGRATION, **parameters), expected)
    assert (await get(alice, file.id)).pool_id == ALPHA


# FileEncrypt / FileDecrypt


def assert_no_password(task: tasks_pb2.Task) -> None:
    shown = json.dumps(json_format.MessageToDict(task.results)) + task.status_message + task.error_message
    assert PASSWORD not in shown


async def test_encrypt_then_decrypt_round_trip(alice: Client) -> None:
    data = os.urandom(3 * CHUNK + 1)
    original = await upload(alice, data, "secret.txt", "text/plain")
    encrypted_task = await run(alice, T.TASK_TYPE_FILE_ENCRYPT, fileIds=[original.id], password=PASSWORD)
    assert_no_password(encrypted_task)
    outcome = results(encrypted_task)
    assert outcome["filesProcessed"] == 1.0
    [encrypted_id] = outcome["resultFileIds"]
    encrypted = await get(alice, encrypted_id)
    assert (encrypted.name, encrypted.mime_type, encrypted.pool_id, encrypted.size) == (
        "secret.txt",
        "text/plain",
        ALPHA,
        len(data),
    )
    assert encrypted.encrypted and encrypted.hash == original.hash
    await expect_error(read(alice, encrypted_id), grpc.StatusCode.INVALID_ARGUMENT, "PASSWORD_REQUIRED")
    await expect_error(
        read(alice, encrypted_id, "wrong"), grpc.StatusCode.PERMISSION_DENIED, "WRONG_PASSWORD"
    )
    assert await read(alice, encrypted_id, PASSWORD) == data
    assert await read(alice, original.id) == data  # the original stays by default
    decrypted_task = await run(alice, T.TASK_TYPE_FILE_DECRYPT, fileIds=[encrypted_id], password=PASSWORD)
    assert_no_password(decrypted_task)
    [plain_id] = results(decrypted_task)["resultFileIds"]
    plain = await get(alice, plain_id)
    assert (plain.encrypted, plain.hash, plain.name) == (False, original.hash, "secret.txt")
    assert await read(alice, plain_id) == data
    assert await total(alice) == 3


async def test_encrypt_can_delete_the_originals(alice: Client) -> None:
    contents = [os.urandom(100), os.urandom(CHUNK + 3)]
    originals = [await upload(alice, data) for data in contents]
    task = await run(
        alice,
        T.TASK_TYPE_FILE_ENCRYPT,
        fileIds=[file.id for file in originals],
        password=PASSWORD,
        deleteOriginal=True,
    )
    copies = results(task)["resultFileIds"]
    for file in originals:
        await expect_error(get(alice, file.id), grpc.StatusCode.NOT_FOUND, "FILE_NOT_FOUND")
    assert [await read(alice, copy, PASSWORD) for copy in copies] == contents
    assert await total(alice) == 2


async def test_encrypt_resumes_after_a_crash_without_duplicate_copies(alice: Client) -> None:
    contents = [os.urandom(150 + index) for index in range(3)]
    originals = [await upload(alice, data) for data in contents]
    # Report 3 comes after the second copy was stored, before it was recorded.
    task = await run(
        alice,
        T.TASK_TYPE_FILE_ENCRYPT,
        fileIds=[file.id for file in originals],
        password=PASSWORD,
        testCrashAtReport=3,
    )
    copies = results(task)["resultFileIds"]
    assert [await read(alice, copy, PASSWORD) for copy in copies] == contents
    assert await total(alice) == 6


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("encrypt an encrypted file", "is already encrypted"),
        ("decrypt a plain file", "is not encrypted"),
        ("wrong password on the second file", "The password does not open file"),
        ("no password", "password is required"),
        ("missing file", "was not found"),
        ("another account's file", "was not found"),
        ("pool forbids encryption", "File encryption is not allowed in this pool"),
        ("bad deleteOriginal", "deleteOriginal must be true or false"),
    ],
)
async def test_crypto_bad_input_fails_with_nothing_written(
    alice: Client, bob: Client, case: str, expected: str
) -> None:
    plain = await upload(alice, os.urandom(200))
    sealed = await upload(alice, os.urandom(200), encrypt_password=PASSWORD)
    other_sealed = await upload(alice, os.urandom(200), encrypt_password="another password")
    image = await upload(alice, image_bytes(), "p.png", "image/png", pool_id=IMAGES)
    foreign = await upload(bob, os.urandom(200))
    encrypt, decrypt = T.TASK_TYPE_FILE_ENCRYPT, T.TASK_TYPE_FILE_DECRYPT
    cases: dict[str, tuple[int, dict[str, Any]]] = {
        "encrypt an encrypted file": (encrypt, {"fileIds": [plain.id, sealed.id], "password": PASSWORD}),
        "decrypt a plain file": (decrypt, {"fileIds": [sealed.id, plain.id], "password": PASSWORD}),
        "wrong password on the second file": (
            decrypt,
            {"fileIds": [sealed.id, other_sealed.id], "password": PASSWORD},
        ),
        "no password": (encrypt, {"fileIds": [plain.id]}),
        "missing file": (encrypt, {"fileIds": [plain.id, missing_id()], "password": PASSWORD}),
        "another account's file": (encrypt, {"fileIds": [foreign.id], "password": PASSWORD}),
        "pool forbids encryption": (encrypt, {"fileIds": [image.id], "password": PASSWORD}),
        "bad deleteOriginal": (
            encrypt,
            {"fileIds": [plain.id], "password": PASSWORD, "deleteOriginal": "yes"},
        ),
    }
    task_type, parameters = cases[case]
    task = await run(alice, task_type, **parameters)
    failed_with(task, expected)
    assert_no_password(task)
    assert await total(alice) == 4
    assert await read(alice, sealed.id, PASSWORD)


# FileConversion


@pytest.mark.parametrize(
    ("target_format", "pillow_format", "extension"),
    [
        ("jpeg", "JPEG", "jpg"),
        ("JPG", "JPEG", "jpg"),
        ("webp", "WEBP", "webp"),
        ("gif", "GIF", "gif"),
        ("bmp", "BMP", "bmp"),
        ("tiff", "TIFF", "tiff"),
        ("png", "PNG", "png"),
    ],
)
async def test_conversion_writes_the_target_format(
    alice: Client, target_format: str, pillow_format: str, extension: str
) -> None:
    bundle = (
        await alice.files.CreateBundle(files_pb2.CreateBundleRequest(name="pics"), metadata=alice.metadata)
    ).bundle
    source = await upload(alice, image_bytes("PNG"), "holiday.photo.png", "image/png", bundle_id=bundle.id)
    task = await run(
        alice, T.TASK_TYPE_FILE_CONVERSION, fileId=source.id, targetFormat=target_format, quality=80
    )
    outcome = results(task)
    assert {key: outcome[key] for key in ("width", "height")} == {"width": 64.0, "height": 48.0}
    converted = await get(alice, outcome["resultFileId"])
    assert (converted.name, converted.mime_type, converted.pool_id, converted.bundle_id) == (
        f"holiday.photo.{extension}",
        f"image/{pillow_format.lower()}",
        ALPHA,
        bundle.id,
    )
    with Image.open(io.BytesIO(await read(alice, converted.id))) as picture:
        assert (picture.format, picture.size) == (pillow_format, (64, 48))


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("unknown format", "Unknown targetFormat 'svg'"),
        ("not an image", "is not an image in a supported format"),
        ("damaged image", "is a damaged image"),
        ("too large", "is too large (8000 x 7000)"),
        ("encrypted", "is encrypted; decrypt it before converting it"),
        ("missing file", "was not found"),
        ("another account's file", "was not found"),
        ("bad quality", "quality must be a number from 1 to 100"),
    ],
)
async def test_conversion_bad_input_fails_with_nothing_written(
    alice: Client, bob: Client, case: str, expected: str
) -> None:
    picture = image_bytes()
    png = await upload(alice, picture, "a.png", "image/png")
    files = {
        "not an image": await upload(alice, b"just some text\n" * 50, "a.txt", "text/plain"),
        "damaged image": await upload(alice, picture[: len(picture) // 2], "half.png", "image/png"),
        "too large": await upload(alice, image_bytes(size=(8000, 7000), mode="1"), "big.png", "image/png"),
        "encrypted": await upload(alice, picture, "e.png", "image/png", encrypt_password=PASSWORD),
    }
    foreign = await upload(bob, picture, "b.png", "image/png")
    if case == "missing file":
        file_id = missing_id()
    elif case == "another account's file":
        file_id = foreign.id
    else:
        file_id = files.get(case, png).id
    parameters: dict[str, Any] = {
        "fileId": file_id,
        "targetFormat": "svg" if case == "unknown format" else "jpeg",
    }
    if case == "bad quality":
        parameters["quality"] = 0
    failed_with(await run(alice, T.TASK_TYPE_FILE_CONVERSION, **parameters), expected)
    assert await total(alice) == len(files) + 1

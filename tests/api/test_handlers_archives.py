"""FileCompress and FileDecompress through the real API: round trips, formats, and hostile input."""

from __future__ import annotations

import asyncio
import dataclasses
import gzip
import io
import json
import os
import stat
import tarfile
import zipfile
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import grpc
import pytest

from drive.v1 import files_pb2, tasks_pb2
from drive_service.app import App
from drive_service.services.handlers import TaskContext, TaskFailed
from drive_service.services.handlers.compress import FileCompressHandler
from drive_service.services.handlers.decompress import (
    ExtractLimits,
    FileDecompressHandler,
    _Archive,
    _extract,
)
from tests.support import BACKEND_NAMES, Client, eventually, make_client
from tests.support.handlers import (
    S,
    T,
    file_total,
    handler_app,
    read_bytes,
    results,
    run_task,
    settled,
    start_task,
    tar_entry,
    tar_of,
    used_bytes,
    visible_state,
    wait,
    zip_of,
)
from tests.support.handlers import upload as upload_file
from tests.support.tasks import get_task

MIB = 1024 * 1024
TEXT = b"The quick brown fox jumps over the lazy dog.\n" * 2000
IMAGES = "22222222-2222-4222-8222-222222222222"
PRIVATE = "33333333-3333-4333-8333-333333333333"


def pools_file(directory: Path) -> Path:
    """The default pool first, then an images-only pool and another account's private pool."""
    pools = [
        {"id": "11111111-1111-4111-8111-111111111111", "name": "Default", "storage": {"path": "main"}},
        {
            "id": IMAGES,
            "name": "Images",
            "storage": {"path": "images"},
            "policy": {"accept_types": ["image/*"]},
        },
        {
            "id": PRIVATE,
            "name": "Private",
            "owner": "55555555-5555-4555-8555-555555555555",
            "storage": {"path": "private"},
            "policy": {"public_usable": False},
        },
    ]
    path = directory / "pools.json"
    path.write_text(json.dumps({"pools": pools}))
    return path


@pytest.fixture(scope="module", params=BACKEND_NAMES)
async def archive_app(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[App]:
    handlers = [FileCompressHandler(), FileDecompressHandler()]
    directory = tmp_path_factory.mktemp("archives")
    pools = str(pools_file(directory))
    async with handler_app(request.param, directory / "var", handlers, DRIVE_POOLS_FILE=pools) as app:
        yield app


@pytest.fixture(scope="module")
async def archive_channel(archive_app: App) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{archive_app.port}") as channel:
        yield channel


@pytest.fixture
def user(archive_app: App, archive_channel: grpc.aio.Channel) -> Client:
    return make_client(archive_app, archive_channel)


@pytest.fixture
def stranger(archive_app: App, archive_channel: grpc.aio.Channel) -> Client:
    return make_client(archive_app, archive_channel)


def zero_bomb() -> bytes:
    """50 MiB of zeros deflated: about 50 KiB on disk."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        info = zipfile.ZipInfo("zeros.bin")
        info.compress_type = zipfile.ZIP_DEFLATED
        with archive.open(info, "w", force_zip64=True) as writer:
            for _ in range(50):
                writer.write(bytes(MIB))
    data = buffer.getvalue()
    assert len(data) < 100 * 1024
    return data


def lying_tar() -> bytes:
    """A tar.gz whose only entry declares 100 GiB and holds 1 KiB: refused before any skipping."""
    info = tar_entry("huge.bin")
    info.size = 100 * 1024 * MIB
    return gzip.compress(info.tobuf(tarfile.PAX_FORMAT) + os.urandom(1024))


def symlink_zip() -> bytes:
    info = zipfile.ZipInfo("link")
    info.create_system, info.external_attr = 3, (stat.S_IFLNK | 0o777) << 16
    return zip_of([(info, b"/etc/passwd")])


def bad_crc_zip() -> bytes:
    data = zip_of([("good.txt", b"fine " * 100), ("bad.txt", b"original content")], zipfile.ZIP_STORED)
    return data.replace(b"original content", b"tampered content")


async def decompressed(client: Client, task: Any) -> dict[str, bytes]:
    assert task.status == S.TASK_STATUS_COMPLETED, task.error_message
    found = results(task)
    assert found["filesExtracted"] == len(found["resultFileIds"])
    contents = {}
    for file_id in found["resultFileIds"]:
        meta, data = await read_bytes(client, file_id)
        contents[meta.name] = data
    return contents


@pytest.mark.parametrize(("archive_format", "level"), [("zip", 9), ("zip", 0), ("tar.gz", 1)])
async def test_compress_then_decompress_round_trip(user: Client, archive_format: str, level: int) -> None:
    binary = os.urandom(300 * 1024)
    inputs = [
        await upload_file(user, TEXT, "notes.txt"),
        await upload_file(user, b"other notes", "NOTES.txt"),
        await upload_file(user, binary, "data.bin"),
    ]
    expected = {"notes.txt": TEXT, "NOTES (2).txt": b"other notes", "data.bin": binary}
    name = f"bundle-{level}.{archive_format}"
    task = await run_task(
        user,
        T.TASK_TYPE_FILE_COMPRESS,
        fileIds=[file.id for file in inputs],
        compressionFormat=archive_format,
        compressionLevel=level,
        outputFileName=f"../{name}",
    )
    assert task.status == S.TASK_STATUS_COMPLETED, task.error_message
    found = results(task)
    meta, data = await read_bytes(user, found["resultFileId"])
    original = sum(len(value) for value in expected.values())
    assert (meta.name, meta.size, len(data)) == (name, found["compressedSize"], found["compressedSize"])
    assert meta.mime_type == ("application/zip" if archive_format == "zip" else "application/gzip")
    request = files_pb2.GetFileRequest(file_id=found["resultFileId"])
    assert (await user.files.GetFile(request, metadata=user.metadata)).file == meta
    assert found["filesProcessed"] == 3
    assert found["compressionRatio"] == pytest.approx(len(data) / original)
    if archive_format == "zip":
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            assert {info.compress_type for info in archive.infolist()} == {
                zipfile.ZIP_DEFLATED if level else zipfile.ZIP_STORED
            }
            assert {entry: archive.read(entry) for entry in archive.namelist()} == expected
    else:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
            members = archive.getmembers()
            assert {m.name: archive.extractfile(m).read() for m in members} == expected
    bundle = await user.files.CreateBundle(files_pb2.CreateBundleRequest(name="out"), metadata=user.metadata)
    back = await run_task(
        user, T.TASK_TYPE_FILE_DECOMPRESS, fileId=found["resultFileId"], targetBundleId=bundle.bundle.id
    )
    assert await decompressed(user, back) == expected
    assert await file_total(user, bundle.bundle.id) == 3


async def test_compress_defaults_and_encrypted_inputs(user: Client) -> None:
    secret = await upload_file(user, TEXT, "secret.txt", encrypt_password="correct horse")
    plain = await upload_file(user, b"x" * 10, "plain.txt")
    refused = await run_task(user, T.TASK_TYPE_FILE_COMPRESS, fileIds=[plain.id, secret.id])
    assert refused.status == S.TASK_STATUS_FAILED
    assert "password is required" in refused.error_message
    task = await run_task(
        user, T.TASK_TYPE_FILE_COMPRESS, fileIds=[secret.id, plain.id, secret.id], password="correct horse"
    )
    assert task.status == S.TASK_STATUS_COMPLETED, task.error_message
    meta, data = await read_bytes(user, results(task)["resultFileId"])
    assert (meta.name, meta.encrypted, results(task)["filesProcessed"]) == ("archive.zip", False, 2)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.namelist() == ["secret.txt", "plain.txt"]
        assert archive.read("secret.txt") == TEXT


@pytest.mark.parametrize("mode", ["zip", "w", "w:gz", "w:bz2", "w:xz"])
async def test_decompress_formats_flatten_directories(user: Client, mode: str) -> None:
    files = {
        "a/readme.txt": b"first",
        "b/readme.txt": b"second",
        "img/logo.png": b"\x89PNG fake",
        "blob": b"",
    }
    files["deep/er/data.json"] = b'{"ok": true}'
    if mode == "zip":
        data = zip_of([("a/", b""), *files.items()])
    else:
        data = tar_of(
            [(tar_entry("a", tarfile.DIRTYPE), b"")] + [(tar_entry(n), d) for n, d in files.items()], mode
        )
    archive = await upload_file(user, data, "upload.bin")
    task = await run_task(user, T.TASK_TYPE_FILE_DECOMPRESS, fileId=archive.id)
    contents = await decompressed(user, task)
    assert contents == {
        "readme.txt": b"first",
        "readme (2).txt": b"second",
        "logo.png": b"\x89PNG fake",
        "blob": b"",
        "data.json": b'{"ok": true}',
    }
    types = {}
    for file_id in results(task)["resultFileIds"]:
        file = (
            await user.files.GetFile(files_pb2.GetFileRequest(file_id=file_id), metadata=user.metadata)
        ).file
        types[file.name] = file.mime_type
    assert types["logo.png"] == "image/png"
    assert types["data.json"] == "application/json"
    assert types["blob"] == "application/octet-stream"


COMPRESS_FAILURES: list[tuple[str, Callable[[str, str], dict[str, Any]], str]] = [
    ("missing file", lambda mine, theirs: {"fileIds": [mine, "AAAAAAAAAAAAAAAAAAAAA"]}, "was not found"),
    ("another account's file", lambda mine, theirs: {"fileIds": [mine, theirs]}, "was not found"),
    (
        "unknown format",
        lambda mine, theirs: {"fileIds": [mine], "compressionFormat": "rar"},
        "compressionFormat",
    ),
    ("level 42", lambda mine, theirs: {"fileIds": [mine], "compressionLevel": 42}, "compressionLevel"),
    ("level 2.5", lambda mine, theirs: {"fileIds": [mine], "compressionLevel": 2.5}, "compressionLevel"),
    ("no file ids", lambda mine, theirs: {"compressionFormat": "zip"}, "fileIds"),
    ("empty file ids", lambda mine, theirs: {"fileIds": []}, "fileIds"),
    (
        "bad output name",
        lambda mine, theirs: {"fileIds": [mine], "outputFileName": "a\x01b"},
        "outputFileName",
    ),
    ("unknown pool", lambda mine, theirs: {"fileIds": [mine], "targetPoolId": "nowhere"}, "not found"),
]


@pytest.mark.parametrize(
    ("case", "parameters", "message"), COMPRESS_FAILURES, ids=[c[0] for c in COMPRESS_FAILURES]
)
async def test_compress_refuses_bad_input(
    user: Client, stranger: Client, case: str, parameters: Callable[[str, str], dict[str, Any]], message: str
) -> None:
    mine = await upload_file(user, TEXT, "mine.txt")
    theirs = await upload_file(stranger, TEXT, "theirs.txt")
    before = await visible_state(user)
    task = await run_task(user, T.TASK_TYPE_FILE_COMPRESS, **parameters(mine.id, theirs.id))
    assert task.status == S.TASK_STATUS_FAILED, case
    assert message in task.error_message
    assert await settled(user, before) == before


DECOMPRESS_FAILURES: list[tuple[str, Callable[[], bytes], str]] = [
    ("random bytes", lambda: os.urandom(4096), "corrupt"),
    ("truncated tar.gz", lambda: tar_of([(tar_entry("a.txt"), os.urandom(5000))])[:-100], "corrupt"),
    ("bad crc after a good entry", bad_crc_zip, "corrupt"),
    ("zip parent path", lambda: zip_of([("ok.txt", b"ok"), ("../evil.txt", b"evil")]), "unsafe entry"),
    ("zip nested parent", lambda: zip_of([("a/../../evil.txt", b"evil")]), "unsafe entry"),
    ("zip absolute path", lambda: zip_of([("/etc/evil.txt", b"evil")]), "unsafe entry"),
    ("zip drive letter", lambda: zip_of([("C:\\evil.txt", b"evil")]), "unsafe entry"),
    ("zip backslashes", lambda: zip_of([("..\\evil.txt", b"evil")]), "unsafe entry"),
    ("zip symlink", symlink_zip, "unsafe entry"),
    (
        "tar absolute path",
        lambda: tar_of([(tar_entry("ok.txt"), b"ok"), (tar_entry("/etc/evil"), b"x")]),
        "unsafe",
    ),
    ("tar parent path", lambda: tar_of([(tar_entry("../../evil"), b"x")], "w"), "unsafe entry"),
    (
        "tar symlink",
        lambda: tar_of([(tar_entry("link", tarfile.SYMTYPE, "/etc/passwd"), b"")]),
        "unsafe entry",
    ),
    (
        "tar hard link",
        lambda: tar_of([(tar_entry("link", tarfile.LNKTYPE, "/etc/passwd"), b"")]),
        "unsafe entry",
    ),
    ("tar device", lambda: tar_of([(tar_entry("null", tarfile.CHRTYPE), b"")]), "unsafe entry"),
    ("zip bomb", zero_bomb, "archive bomb"),
    ("tar declaring 100 GiB", lying_tar, "more than the limit"),
    ("tar.gz bomb", lambda: tar_of([(tar_entry("zeros"), bytes(20 * MIB))]), "archive bomb"),
]


@pytest.mark.parametrize(
    ("case", "build", "message"), DECOMPRESS_FAILURES, ids=[c[0] for c in DECOMPRESS_FAILURES]
)
async def test_decompress_refuses_hostile_archives(
    user: Client, case: str, build: Callable[[], bytes], message: str
) -> None:
    archive = await upload_file(user, build(), "archive.zip", "application/zip")
    before = await visible_state(user)
    task = await run_task(user, T.TASK_TYPE_FILE_DECOMPRESS, fileId=archive.id)
    assert task.status == S.TASK_STATUS_FAILED, case
    assert message in task.error_message
    assert await settled(user, before) == before


async def test_decompress_refuses_missing_and_foreign_files(user: Client, stranger: Client) -> None:
    theirs = await upload_file(stranger, zip_of([("a.txt", b"a")]), "theirs.zip")
    for parameters, message in [
        ({"fileId": theirs.id}, "was not found"),
        ({"fileId": "AAAAAAAAAAAAAAAAAAAAA"}, "was not found"),
        ({}, "fileId is required"),
    ]:
        task = await run_task(user, T.TASK_TYPE_FILE_DECOMPRESS, **parameters)
        assert task.status == S.TASK_STATUS_FAILED
        assert message in task.error_message
    assert await file_total(user) == 0


async def test_decompress_respects_quota(
    archive_app: App, archive_channel: grpc.aio.Channel, user: Client
) -> None:
    payload = os.urandom(400 * 1024)
    archive = await upload_file(
        user, zip_of([("first.bin", payload), ("second.bin", payload[::-1])]), "big.zip"
    )
    admin = make_client(archive_app, archive_channel, perms=["drive.admin"])
    limit = await used_bytes(user) + 600 * 1024  # room for the first entry only
    request = files_pb2.SetAccountQuotaRequest(account_id=user.account_id, quota_bytes=limit)
    await admin.files.SetAccountQuota(request, metadata=admin.metadata)
    before = await visible_state(user)
    task = await run_task(user, T.TASK_TYPE_FILE_DECOMPRESS, fileId=archive.id)
    assert task.status == S.TASK_STATUS_FAILED
    assert "quota" in task.error_message
    assert await settled(user, before) == before


async def test_pause_and_resume_continue_from_the_checkpoint(user: Client) -> None:
    count = 300
    entries = [(f"f{index}.txt", f"content {index}".encode()) for index in range(count)]
    archive = await upload_file(user, zip_of(entries), "many.zip")
    task_id = (await start_task(user, T.TASK_TYPE_FILE_DECOMPRESS, fileId=archive.id)).task_id
    await eventually(
        lambda: get_task(user, task_id),
        lambda task: task.progress >= 10,
        within=30,
        failure="the decompression never reached 10 %",
    )
    await user.tasks.PauseTask(tasks_pb2.PauseTaskRequest(task_id=task_id), metadata=user.metadata)
    paused = await get_task(user, task_id)
    assert paused.status == S.TASK_STATUS_PAUSED
    assert 10 <= paused.progress < 100
    await user.tasks.ResumeTask(tasks_pb2.ResumeTaskRequest(task_id=task_id), metadata=user.metadata)
    found = results(await wait(user, task_id))
    assert found["filesExtracted"] == count == len(set(found["resultFileIds"]))
    names = []
    for file_id in found["resultFileIds"][:: count // 10]:
        meta, data = await read_bytes(user, file_id)
        names.append(meta.name)
        assert data == dict(entries)[meta.name]
    assert names == [f"f{index}.txt" for index in range(0, count, count // 10)]
    # A file created after the last checkpoint (the pause came in between) was discarded on resume.
    assert await file_total(user) == count + 1


class _FakeFiles:
    """FileOps for one archive: records what the handler creates."""

    account_id = "account"

    def __init__(self, archive: bytes) -> None:
        self.archive = archive
        self.created: dict[str, bytes] = {}
        self.kept: list[str] | None = None

    async def get(self, file_id: str) -> Any:
        return SimpleNamespace(id=file_id)

    async def plain_copy(self, file: Any, target: Path, password: str | None = None) -> Path:
        await asyncio.to_thread(target.write_bytes, self.archive)
        return target

    async def create(self, source: Path, name: str, mime_type: str, **where: Any) -> Any:
        self.created[name] = await asyncio.to_thread(source.read_bytes)
        return SimpleNamespace(id=f"new-{name}")

    def pool(self, pool_id: str) -> Any:
        policy = SimpleNamespace(public_usable=True, require_privilege=0)
        return SimpleNamespace(id="pool", owner_account_id=None, policy=policy, check_upload=lambda **_: None)

    async def discard_outputs_except(self, keep: list[str]) -> int:
        self.kept = list(keep)
        return 0


async def test_resume_skips_entries_of_earlier_attempts(tmp_path: Path) -> None:
    files = _FakeFiles(zip_of([(f"f{index}.txt", f"content {index}".encode()) for index in range(4)]))
    checkpoint = {"done": 2, "resultFileIds": ["old-0", "old-1"], "bytes": 18}
    reports: list[dict[str, Any] | None] = []

    async def report(progress: float, message: str, saved: dict[str, Any] | None) -> None:
        reports.append(saved)

    task = SimpleNamespace(parameters={"fileId": "archive"}, checkpoint=checkpoint)
    found = await FileDecompressHandler().run(TaskContext(task, files, tmp_path, report))  # type: ignore[arg-type]
    ids = ["old-0", "old-1", "new-f2.txt", "new-f3.txt"]
    assert found == {"resultFileIds": ids, "filesExtracted": 4}
    assert files.created == {"f2.txt": b"content 2", "f3.txt": b"content 3"}
    assert reports[-1] == {"done": 4, "resultFileIds": ids, "bytes": 36}
    assert files.kept == ["old-0", "old-1"]


def test_real_bytes_count_against_the_limits(tmp_path: Path) -> None:
    """Declared sizes may lie: the bytes really produced are counted while extracting."""
    path = tmp_path / "big.tar"
    path.write_bytes(tar_of([(tar_entry("big"), bytes(3 * MIB))], "w"))
    archive = _Archive(path, "archive", None, ExtractLimits())
    try:
        small = dataclasses.replace(archive.members[0], size=10)
        with pytest.raises(TaskFailed, match="more than the limit"):
            _extract(archive, small, tmp_path / "one", 0, ExtractLimits(max_total_bytes=2 * MIB))
        dense = dataclasses.replace(small, packed=1000)
        with pytest.raises(TaskFailed, match="archive bomb"):
            _extract(archive, dense, tmp_path / "two", 0, ExtractLimits())
        assert _extract(archive, small, tmp_path / "three", 0, ExtractLimits()) == 3 * MIB
    finally:
        archive.close()


async def test_target_pool_must_be_usable_and_accept_the_files(user: Client) -> None:
    picture = await upload_file(user, b"\x89PNG fake picture", "logo.png", "image/png")
    mixed = await upload_file(user, zip_of([("logo.png", b"\x89PNG"), ("notes.txt", b"text")]), "mixed.zip")
    before = await visible_state(user)
    for task_type, parameters, message in [
        (T.TASK_TYPE_FILE_COMPRESS, {"fileIds": [picture.id], "targetPoolId": IMAGES}, "application/zip"),
        (T.TASK_TYPE_FILE_COMPRESS, {"fileIds": [picture.id], "targetPoolId": PRIVATE}, "not available"),
        (T.TASK_TYPE_FILE_DECOMPRESS, {"fileId": mixed.id, "targetPoolId": IMAGES}, "text/plain"),
        (T.TASK_TYPE_FILE_DECOMPRESS, {"fileId": mixed.id, "targetPoolId": PRIVATE}, "not available"),
        (
            T.TASK_TYPE_FILE_DECOMPRESS,
            {"fileId": mixed.id, "targetBundleId": "AAAAAAAAAAAAAAAAAAAAA"},
            "not found",
        ),
    ]:
        task = await run_task(user, task_type, **parameters)
        assert task.status == S.TASK_STATUS_FAILED, parameters
        assert message in task.error_message
    assert await settled(user, before) == before
    pictures = await upload_file(
        user, zip_of([("a.png", b"\x89PNG a"), ("b.gif", b"GIF89a")]), "pictures.zip"
    )
    task = await run_task(user, T.TASK_TYPE_FILE_DECOMPRESS, fileId=pictures.id, targetPoolId=IMAGES)
    assert await decompressed(user, task) == {"a.png": b"\x89PNG a", "b.gif": b"GIF89a"}
    listed = await user.files.ListFiles(files_pb2.ListFilesRequest(pool_id=IMAGES), metadata=user.metadata)
    assert sorted(file.name for file in listed.files) == ["a.png", "b.gif"]

"""Uploads through the client library against a real server: small and multi-chunk files over
parallel streams, streams as sources, dedup, resume after cancellation, hash modes."""

from __future__ import annotations

import asyncio
import hashlib
import io
from pathlib import Path

import pytest

from drive.v1 import uploads_pb2
from drive_service.app import App
from drive_service.client import AsyncDriveClient, UploadProgress
from drive_service.client.state import StateStore
from tests.support import new_account, token_for
from tests.support.drive_client import FAST_RETRY, private_server, random_file, target_of

KIB, MIB = 1024, 1024 * 1024


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


async def test_small_file(drive: AsyncDriveClient, tmp_path: Path) -> None:
    path = tmp_path / "hello.txt"
    path.write_text("hello drive\n")
    result = await drive.upload(path)
    assert (result.file.name, result.file.size, result.file.mime_type) == ("hello.txt", 12, "text/plain")
    assert result.file.hash == sha256_file(path)
    assert (result.deduplicated, result.resumed, result.chunks_count, result.chunks_sent) == (
        False,
        False,
        1,
        1,
    )
    assert await drive.get_file(result.file.id) == result.file


async def test_multi_chunk_parallel_streams(drive: AsyncDriveClient, tmp_path: Path) -> None:
    path = random_file(tmp_path / "big.bin", 5 * MIB + 12345)  # 21 chunks of 256 KiB, the last short
    seen: list[UploadProgress] = []
    result = await drive.upload(path, chunk_size=256 * KIB, parallel=4, progress=seen.append)
    assert result.file.hash == sha256_file(path) and result.file.size == path.stat().st_size
    assert (result.chunks_count, result.chunks_sent, result.chunks_skipped) == (21, 21, 0)
    assert result.bytes_sent == path.stat().st_size
    uploading = [item.bytes_done for item in seen if item.phase == "uploading"]
    assert uploading == sorted(uploading) and uploading[-1] == path.stat().st_size
    assert seen[-1].phase == "done"
    # Every chunk went over the parallel streams and arrived whole: the content reads back.
    downloaded = await drive.download(result.file.id, tmp_path / "back.bin")
    assert downloaded.verified and (tmp_path / "back.bin").read_bytes() == path.read_bytes()


async def test_binary_stream_source(drive: AsyncDriveClient) -> None:
    data = bytes(range(256)) * 4000
    stream = io.BytesIO(b"skipped prefix" + data)
    stream.seek(len(b"skipped prefix"))  # a stream uploads from its current position
    result = await drive.upload(stream, name="stream.bin", chunk_size=256 * KIB, parallel=2)
    assert result.file.size == len(data) and result.file.hash == hashlib.sha256(data).hexdigest()
    assert result.file.name == "stream.bin"


async def test_dedup_sends_nothing(drive: AsyncDriveClient, tmp_path: Path) -> None:
    path = random_file(tmp_path / "a.bin", 300 * KIB)
    first = await drive.upload(path)
    copy = tmp_path / "copy.bin"
    copy.write_bytes(path.read_bytes())
    again = await drive.upload(copy)
    assert again.deduplicated and again.task_id is None
    assert (again.file.id, again.bytes_sent, again.chunks_sent) == (first.file.id, 0, 0)


async def test_hash_while_sending_is_detected(drive: AsyncDriveClient, tmp_path: Path) -> None:
    """The client tries an empty hash at create; a server that refuses it (INVALID_HASH) gets the
    hash first, and the client remembers not to try again on this connection."""
    path = random_file(tmp_path / "during.bin", 700 * KIB)
    result = await drive.upload(path, chunk_size=256 * KIB, hash_while_sending=True)
    assert result.file.hash == sha256_file(path)
    accepted = drive._conn.accepts_empty_hash
    assert accepted is not None and result.hashed_while_sending is accepted
    second = await drive.upload(random_file(tmp_path / "d2.bin", 300 * KIB), hash_while_sending=True)
    assert second.hashed_while_sending is accepted


async def test_state_file_is_removed_after_success(drive: AsyncDriveClient, tmp_path: Path) -> None:
    path = random_file(tmp_path / "done.bin", 600 * KIB)
    await drive.upload(path, chunk_size=256 * KIB)
    assert list((tmp_path / "state").glob("*.json")) == []


async def stable_resume_info(
    server_client: AsyncDriveClient, task_id: str
) -> uploads_pb2.GetUploadResumeInfoResponse:
    """Resume info once a cancelled stream's last chunk (if any) has settled on the server: two
    reads in a row that agree."""
    conn = server_client._conn
    request = uploads_pb2.GetUploadResumeInfoRequest(task_id=task_id)
    previous = None
    for _ in range(50):
        info = await conn.uploads[0].GetUploadResumeInfo(request, metadata=conn.metadata)
        if previous is not None and list(info.uploaded_chunks) == list(previous.uploaded_chunks):
            return info
        previous = info
        await asyncio.sleep(0.1)
    raise AssertionError("the upload kept changing after its client was cancelled")


@pytest.mark.parametrize("hash_while_sending", [False, True])
async def test_resume_after_cancellation_sends_only_missing_chunks(
    backend: str, tmp_path: Path, hash_while_sending: bool
) -> None:
    """Cancel mid-upload (asyncio cancel, as Ctrl-C does): the state file names the task, and the
    next call sends exactly the chunks the server lacks (by its own byte counter)."""
    # A server that takes 4 MiB/s of chunk bytes per account, so the cancel lands mid-upload.
    env = {
        "UPLOAD_MAX_CHUNK_SIZE": str(MIB),
        "UPLOAD_DEFAULT_CHUNK_SIZE": str(MIB),
        "DRIVE_RATE_LIMITS": f"upload_bytes={4 * MIB}/{MIB}",
    }
    async with private_server(backend, tmp_path / "var", **env) as app:
        path = random_file(tmp_path / "resume.bin", 6 * MIB)
        token = token_for(app.settings, new_account())
        state = tmp_path / "state"
        async with AsyncDriveClient(target_of(app), token, retry=FAST_RETRY, state_dir=state) as client:
            half = asyncio.Event()

            def progress(item: UploadProgress) -> None:
                if item.phase == "uploading" and item.bytes_done >= 2 * MIB:
                    half.set()

            upload = asyncio.create_task(
                client.upload(
                    path,
                    chunk_size=256 * KIB,
                    parallel=2,
                    progress=progress,
                    hash_while_sending=hash_while_sending,
                )
            )
            await half.wait()
            upload.cancel()
            with pytest.raises(asyncio.CancelledError):
                await upload
            saved = list(state.glob("*.json"))
            assert len(saved) == 1, "the interrupted upload keeps its state file"
            key = saved[0].stem
            task_id = StateStore(state).load(key).task_id  # type: ignore[union-attr]
            info = await stable_resume_info(client, task_id)
            stored = set(info.uploaded_chunks)
            assert 0 < len(stored) < info.chunks_count
            missing_bytes = sum(
                min(256 * KIB, path.stat().st_size - i * 256 * KIB) for i in info.missing_chunks
            )

            before = _received(app)
            result = await client.upload(
                path, chunk_size=256 * KIB, parallel=2, hash_while_sending=hash_while_sending
            )
            assert result.resumed and result.task_id == task_id
            assert result.chunks_skipped == 0 and result.chunks_sent == len(info.missing_chunks)
            assert _received(app) - before == missing_bytes == result.bytes_sent
            assert result.file.hash == sha256_file(path)
            assert list(state.glob("*.json")) == []


async def test_changed_file_starts_a_new_upload(server: App, tmp_path: Path) -> None:
    """A state file belongs to one file identity: after the file changes it is not used."""
    path = random_file(tmp_path / "changing.bin", 512 * KIB)
    state = tmp_path / "state"
    token = token_for(server.settings, new_account())
    async with AsyncDriveClient(target_of(server), token, state_dir=state) as client:
        task = asyncio.create_task(client.upload(path, chunk_size=256 * KIB))
        await asyncio.sleep(0)  # let it start (hashing), then stop it
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        random_file(path, 512 * KIB)  # new content (and mtime)
        result = await client.upload(path, chunk_size=256 * KIB)
        assert not result.resumed and result.file.hash == sha256_file(path)


def _received(app: App) -> float:
    value = app.service.metrics.registry.get_sample_value("drive_upload_received_bytes_total")
    return value or 0.0

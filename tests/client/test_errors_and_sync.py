"""Error mapping (code, ErrorInfo reason and metadata, RetryInfo) and the blocking facade."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import jwt
import pytest

from drive_service.app import App
from drive_service.client import (
    AsyncDriveClient,
    DriveClient,
    InvalidArgumentError,
    NotFoundError,
    TaskType,
    UnauthenticatedError,
)
from tests.support import new_account, token_for
from tests.support.drive_client import random_file, target_of

KIB = 1024


async def test_not_found_carries_reason_and_metadata(drive: AsyncDriveClient) -> None:
    with pytest.raises(NotFoundError) as caught:
        await drive.get_task("A" * 21)
    error = caught.value
    assert (error.code, error.reason) == (grpc.StatusCode.NOT_FOUND, "TASK_NOT_FOUND")
    assert error.metadata == {"taskId": "A" * 21}
    assert str(error).startswith("TASK_NOT_FOUND: ")


async def test_invalid_chunk_size_is_invalid_argument(drive: AsyncDriveClient, tmp_path: Path) -> None:
    path = random_file(tmp_path / "x.bin", 600 * KIB)
    with pytest.raises(InvalidArgumentError) as caught:
        await drive.upload(path, chunk_size=1000)
    assert caught.value.code is grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.metadata.get("field") == "chunk_size"
    assert list((tmp_path / "state").glob("*.json")) == []  # nothing was created


async def test_foreign_token_is_unauthenticated(server: App) -> None:
    claims = {"sub": new_account(), "exp": datetime.now(UTC) + timedelta(hours=1)}
    forged = jwt.encode(claims, "another-secret-that-is-long-enough-for-hs256-000000", algorithm="HS256")
    async with AsyncDriveClient(target_of(server), forged) as client:
        with pytest.raises(UnauthenticatedError) as caught:
            await client.list_files()
    assert caught.value.code is grpc.StatusCode.UNAUTHENTICATED and caught.value.retry_delay is None


def test_malformed_token_is_refused_before_any_call() -> None:
    with pytest.raises(ValueError, match="not a JWT"):
        AsyncDriveClient("127.0.0.1:1", "not-a-token")


async def test_blocking_facade(server: App, tmp_path: Path) -> None:
    """DriveClient runs its own loop, so it is used from a thread here (the server's loop is this one)."""
    token = token_for(server.settings, new_account())
    path = random_file(tmp_path / "sync.bin", 700 * KIB)

    def scenario() -> None:
        with DriveClient(target_of(server), token, state_dir=tmp_path / "state") as client:
            result = client.upload(path, chunk_size=256 * KIB, parallel=2)
            assert result.file.hash == hashlib.sha256(path.read_bytes()).hexdigest()
            assert client.get_file(result.file.id) == result.file
            assert [file.id for file in client.list_files().items] == [result.file.id]
            downloaded = client.download(result.file.id, tmp_path / "back.bin")
            assert downloaded.verified
            task = client.create_task(TaskType.CUSTOM, "sync")
            events = client.watch(1)  # the upload's events came first; replay from the account's first
            assert any(event.task_id == task.task_id for _, event in zip(range(20), events, strict=False))
            events.close()
            client.delete_file(result.file.id)
            with pytest.raises(NotFoundError):
                client.get_file(result.file.id)

    await asyncio.to_thread(scenario)

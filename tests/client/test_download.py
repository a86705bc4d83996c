"""Downloads: whole, resumed from a .part file with a ranged ReadFile, hash-checked, atomic."""

from __future__ import annotations

from pathlib import Path

import pytest

from drive_service.client import AsyncDriveClient, DataLossError, NotFoundError
from tests.support.drive_client import random_file

KIB = 1024


async def test_download_resumes_a_partial_file(drive: AsyncDriveClient, tmp_path: Path) -> None:
    source = random_file(tmp_path / "source.bin", 3 * 1024 * KIB + 7)
    uploaded = await drive.upload(source, chunk_size=256 * KIB)
    target = tmp_path / "out" / "copy.bin"
    target.parent.mkdir()
    part = target.with_name("copy.bin.part")
    part.write_bytes(source.read_bytes()[:1234567])  # an interrupted earlier download
    result = await drive.download(uploaded.file.id, target)
    assert result.resumed_from == 1234567
    assert result.bytes_received == source.stat().st_size - 1234567
    assert result.verified and target.read_bytes() == source.read_bytes()
    assert not part.exists()


async def test_complete_part_only_needs_the_check(drive: AsyncDriveClient, tmp_path: Path) -> None:
    source = random_file(tmp_path / "s.bin", 300 * KIB)
    uploaded = await drive.upload(source)
    target = tmp_path / "c.bin"
    target.with_name("c.bin.part").write_bytes(source.read_bytes())
    result = await drive.download(uploaded.file.id, target)
    assert (result.resumed_from, result.bytes_received, result.verified) == (300 * KIB, 0, True)


async def test_corrupt_part_fails_the_hash_check(drive: AsyncDriveClient, tmp_path: Path) -> None:
    source = random_file(tmp_path / "s.bin", 600 * KIB)
    uploaded = await drive.upload(source)
    target = tmp_path / "bad.bin"
    part = target.with_name("bad.bin.part")
    part.write_bytes(b"\0" * 1000)  # not the file's first bytes
    with pytest.raises(DataLossError) as caught:
        await drive.download(uploaded.file.id, target)
    assert caught.value.reason == "DOWNLOAD_HASH_MISMATCH"
    assert not target.exists() and not part.exists()  # the next attempt starts clean
    result = await drive.download(uploaded.file.id, target)
    assert result.resumed_from == 0 and target.read_bytes() == source.read_bytes()


async def test_unknown_file(drive: AsyncDriveClient, tmp_path: Path) -> None:
    with pytest.raises(NotFoundError):
        await drive.download("A" * 21, tmp_path / "nothing.bin")
    assert not (tmp_path / "nothing.bin").exists()

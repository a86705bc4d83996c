"""UploadManager on the in-memory ports: exactly-once chunk receipts, rollback of a failed write,
completion, dedup, quota, hash mismatch and the UploadFile split."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator

import pytest

from drive_service.domain.tasks import TaskStatus
from drive_service.domain.uploads import UploadRequest
from drive_service.errors import (
    ChunkAlreadyUploaded,
    ChunksMissing,
    HashMismatch,
    InvalidArgument,
    QuotaExceeded,
    Unavailable,
)
from drive_service.services.tokens import Caller
from tests.in_memory import CHUNK, QUOTA, InMemory, in_memory
from tests.support import new_account


def _request(data: bytes, **fields: object) -> UploadRequest:
    values: dict[str, object] = {
        "file_name": "report.bin",
        "file_size": len(data),
        "content_type": "application/octet-stream",
        "hash": hashlib.sha256(data).hexdigest(),
        "chunk_size": CHUNK,
        "pool_id": "",
        "bundle_id": "",
        "encrypt_password": "",
        "expired_at": None,
        **fields,
    }
    return UploadRequest(**values)  # type: ignore[arg-type]


async def _start(service: InMemory, data: bytes) -> tuple[Caller, str]:
    caller = Caller(new_account())
    created = await service.uploads.create(caller, _request(data))
    assert created.task is not None
    return caller, created.task.task_id


def _chunk(data: bytes, index: int) -> bytes:
    return data[index * CHUNK : (index + 1) * CHUNK]


async def test_chunks_in_any_order_complete_into_the_declared_file() -> None:
    service, data = in_memory(), os.urandom(3 * CHUNK + 17)
    caller, task_id = await _start(service, data)
    for index in (3, 1, 0, 2):
        await service.uploads.upload_chunk(caller.account_id, task_id, index, _chunk(data, index), None)
    file = await service.uploads.complete(caller.account_id, task_id)
    assert (file.size, file.hash) == (len(data), hashlib.sha256(data).hexdigest())
    assert service.blobs.blobs[file.blob_key] == data
    task, _ = await service.uploads.get(caller.account_id, task_id)
    assert (task.status, task.progress) == (TaskStatus.COMPLETED, 100.0)
    assert service.blobs.staging == {}  # staging goes once the file exists
    assert service.event_types(task_id)[0] == "task.created"
    assert service.event_types(task_id)[-2:] == ["task.completed", "upload.completed"]
    assert await service.uploads.complete(caller.account_id, task_id) == file  # idempotent


async def test_two_racing_writers_of_one_chunk_store_it_once() -> None:
    service, data = in_memory(), os.urandom(2 * CHUNK)
    caller, task_id = await _start(service, data)
    outcomes = await asyncio.gather(
        *(
            service.uploads.upload_chunk(caller.account_id, task_id, 0, _chunk(data, 0), None)
            for _ in range(2)
        ),
        return_exceptions=True,
    )
    assert sorted(type(outcome).__name__ for outcome in outcomes) == ["ChunkAlreadyUploaded", "tuple"]
    assert service.blobs.writes == 1  # the loser wrote no byte
    _, upload, stored = await service.uploads.resume_info(caller.account_id, task_id)
    assert (upload.chunks_uploaded, stored) == (1, [0])
    with pytest.raises(ChunkAlreadyUploaded):
        await service.uploads.upload_chunk(caller.account_id, task_id, 0, _chunk(data, 0), None)


async def test_a_failed_write_records_nothing_and_the_chunk_can_be_sent_again() -> None:
    service, data = in_memory(), os.urandom(2 * CHUNK)
    caller, task_id = await _start(service, data)
    write = service.blobs.write_chunk

    async def broken(*args: object) -> None:
        raise Unavailable("Storage is unavailable; retry shortly.")

    service.blobs.write_chunk = broken  # type: ignore[method-assign]
    with pytest.raises(Unavailable):
        await service.uploads.upload_chunk(caller.account_id, task_id, 1, _chunk(data, 1), None)
    _, upload, stored = await service.uploads.resume_info(caller.account_id, task_id)
    assert (upload.chunks_uploaded, stored) == (0, [])  # the receipt rolled back with the write
    service.blobs.write_chunk = write  # type: ignore[method-assign]
    _, upload = await service.uploads.upload_chunk(caller.account_id, task_id, 1, _chunk(data, 1), None)
    assert upload.chunks_uploaded == 1


async def test_bad_chunks_are_refused_before_anything_is_stored() -> None:
    service, data = in_memory(), os.urandom(2 * CHUNK)
    caller, task_id = await _start(service, data)
    cases = [(2, _chunk(data, 0), None, "INVALID_CHUNK_INDEX"), (0, b"short", None, "CHUNK_SIZE_MISMATCH")]
    cases.append((0, _chunk(data, 0), 1234, "CHECKSUM_MISMATCH"))
    for index, chunk, crc, reason in cases:
        with pytest.raises(InvalidArgument) as refused:
            await service.uploads.upload_chunk(caller.account_id, task_id, index, chunk, crc)
        assert refused.value.reason == reason
    assert service.blobs.writes == 0


async def test_completion_needs_every_chunk_and_the_declared_content() -> None:
    service, data = in_memory(), os.urandom(2 * CHUNK)
    caller, task_id = await _start(service, data)
    await service.uploads.upload_chunk(caller.account_id, task_id, 0, _chunk(data, 0), None)
    with pytest.raises(ChunksMissing) as missing:
        await service.uploads.complete(caller.account_id, task_id)
    assert missing.value.metadata["missingChunks"] == "1"
    await service.uploads.upload_chunk(caller.account_id, task_id, 1, os.urandom(CHUNK), None)  # wrong bytes
    with pytest.raises(HashMismatch):
        await service.uploads.complete(caller.account_id, task_id)
    task, _ = await service.uploads.get(caller.account_id, task_id)
    assert task.status is TaskStatus.FAILED
    assert service.event_types(task_id)[-2:] == ["task.failed", "upload.failed"]
    assert service.blobs.blobs == {} and service.blobs.staging == {}


async def test_the_same_content_twice_is_deduplicated_and_the_quota_counts_reservations() -> None:
    service, data = in_memory(), os.urandom(CHUNK)
    caller, task_id = await _start(service, data)
    await service.uploads.upload_chunk(caller.account_id, task_id, 0, data, None)
    file = await service.uploads.complete(caller.account_id, task_id)
    again = await service.uploads.create(caller, _request(data))
    assert (again.file, again.task) == (file, None)
    big = Caller(new_account())
    first = await service.uploads.create(big, _request(b"x", file_size=QUOTA // 2 + 1, hash="0" * 64))
    assert first.task is not None  # in flight: it reserves half the quota
    with pytest.raises(QuotaExceeded):
        await service.uploads.create(big, _request(b"y", file_size=QUOTA // 2, hash="1" * 64))


async def test_upload_file_cuts_any_blocks_at_chunk_boundaries() -> None:
    service, data = in_memory(), os.urandom(2 * CHUNK + 5)
    started: list[str] = []

    async def announce(task_id: str) -> None:
        started.append(task_id)

    async def blocks(cuts: list[int]) -> AsyncIterator[bytes]:
        for start, end in zip([0, *cuts], [*cuts, len(data)], strict=True):
            yield data[start:end]

    caller = Caller(new_account())
    file, task_id = await service.uploads.upload_file(
        caller, _request(data), blocks([7, CHUNK + 3]), announce
    )
    assert started == [task_id] and service.blobs.blobs[file.blob_key] == data
    short = os.urandom(2 * CHUNK)
    with pytest.raises(ChunksMissing) as missing:
        await service.uploads.upload_file(caller, _request(short), _only(short[:CHUNK]), announce)
    assert missing.value.metadata["taskId"] == started[-1]


async def _only(data: bytes) -> AsyncIterator[bytes]:
    yield data

"""The audit trail: one record per state-changing call and per worker action, never a secret."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import grpc
import pytest

from drive.v1 import task_enums_pb2, tasks_pb2
from drive_service import audit, logs
from tests.support import Client
from tests.support.uploading import complete, create, payload, send_all

SECRET = "correct horse battery staple"


def _records(caplog: pytest.LogCaptureFixture, account_id: str | None = None) -> list[dict[str, Any]]:
    return [
        {
            key: getattr(record, key)
            for key in ("action", "account_id", "outcome", "targets", "request_id", "peer")
        }
        for record in caplog.records
        if record.name == audit.LOGGER and (account_id is None or record.account_id == account_id)
    ]


@pytest.fixture
def trail(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger=audit.LOGGER)
    return caplog


async def test_an_upload_leaves_one_record_per_call(client: Client, trail: pytest.LogCaptureFixture) -> None:
    data = payload(100_000)
    created = await create(client, data, encrypt_password=SECRET)
    await send_all(client, created.task_id, data)
    file = (await complete(client, created.task_id)).file
    records = _records(trail, client.account_id)
    assert [(r["action"], r["outcome"]) for r in records] == [
        ("drive.v1.UploadService/CreateUploadTask", "OK"),
        ("drive.v1.UploadService/UploadChunk", "OK"),
        ("drive.v1.UploadService/CompleteUpload", "OK"),
    ]
    assert records[0]["targets"]["task_id"] == created.task_id
    assert records[2]["targets"] == {"task_id": created.task_id, "file_id": file.id}
    assert all(r["request_id"] and r["peer"].startswith("ipv4:127.0.0.1") for r in records)
    assert SECRET not in repr(trail.records)


async def test_a_task_life_and_a_refused_call_are_audited(
    client: Client, trail: pytest.LogCaptureFixture
) -> None:
    metadata = (*client.metadata, ("x-request-id", "req-42"))
    request = tasks_pb2.CreateTaskRequest(type=task_enums_pb2.TASK_TYPE_CUSTOM, name="audited")
    task = (await client.tasks.CreateTask(request, metadata=metadata)).task
    await client.tasks.GetTask(tasks_pb2.GetTaskRequest(task_id=task.task_id), metadata=client.metadata)
    await client.tasks.CancelTask(tasks_pb2.CancelTaskRequest(task_id=task.task_id), metadata=client.metadata)
    with pytest.raises(grpc.aio.AioRpcError):
        await client.tasks.PauseTask(
            tasks_pb2.PauseTaskRequest(task_id=task.task_id), metadata=client.metadata
        )
    with pytest.raises(grpc.aio.AioRpcError):
        await client.tasks.CancelTask(
            tasks_pb2.CancelTaskRequest(task_id=task.task_id), metadata=(("x", "y"),)
        )
    mine = _records(trail, client.account_id)
    assert [(r["action"].rsplit("/", 1)[1], r["outcome"]) for r in mine] == [
        ("CreateTask", "OK"),  # reads (GetTask) are not audited unless DRIVE_AUDIT_READS says so
        ("CancelTask", "OK"),
        ("PauseTask", "FAILED_PRECONDITION"),
    ]
    assert mine[0]["request_id"] == "req-42" and mine[0]["targets"]["task_id"] == task.task_id
    anonymous = [r for r in _records(trail) if r["account_id"] is None]
    assert anonymous[-1]["outcome"] == "UNAUTHENTICATED"
    assert anonymous[-1]["targets"] == {"task_id": task.task_id}


def test_the_audit_trail_can_go_to_its_own_file(tmp_path: Path) -> None:
    target = tmp_path / "audit" / "trail.jsonl"
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    try:
        logs.configure({"": logging.WARNING}, target)
        audit.record(
            "drive.v1.TaskService/CancelTask", account_id="a", outcome="OK", targets={"task_id": "t"}
        )
        for handler in logging.getLogger(audit.LOGGER).handlers:
            handler.flush()
        (line,) = target.read_text().splitlines()
        assert json.loads(line)["action"] == "drive.v1.TaskService/CancelTask"
        assert json.loads(line)["targets"] == {"task_id": "t"}
    finally:
        trail = logging.getLogger(audit.LOGGER)
        for handler in trail.handlers:
            handler.close()
        trail.handlers.clear()
        trail.propagate = True
        root.handlers[:], level = saved
        root.setLevel(level)

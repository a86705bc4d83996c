"""For tests of built-in task handlers through the real API: a server running the handlers under test,
uploads of real bytes, running a task to its end, archives to feed it, and what it left behind."""

from __future__ import annotations

import io
import tarfile
import zipfile
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from google.protobuf import duration_pb2, json_format, struct_pb2

from drive.v1 import files_pb2, tasks_pb2
from drive.v1 import task_enums_pb2 as enums
from drive_service.app import App
from drive_service.services.handlers import Handler
from tests.support.clients import Client
from tests.support.polling import eventually
from tests.support.servers import backend_database, running_app, settings_for
from tests.support.uploading import Payload, complete, create, send_all

S = enums.TaskStatus
T = enums.TaskType
TERMINAL = {S.TASK_STATUS_COMPLETED, S.TASK_STATUS_FAILED, S.TASK_STATUS_CANCELLED, S.TASK_STATUS_EXPIRED}


@asynccontextmanager
async def handler_app(
    backend: str, data_dir: Path, handlers: Sequence[Handler], **env: str
) -> AsyncIterator[App]:
    """A started server on ``backend`` ("sqlite" or "postgres") running only ``handlers``; the
    worker polls every 20 ms. PostgreSQL is skipped unless DRIVE_TEST_DATABASE_URL is set."""
    env = {"DRIVE_WORKER_POLL_MS": "20", **env}
    async with (
        backend_database(backend) as url,
        running_app(settings_for(data_dir, url, **env), handlers=list(handlers)) as app,
    ):
        yield app


async def upload(
    client: Client, data: bytes, name: str, content_type: str = "application/octet-stream", **fields: object
) -> files_pb2.CloudFile:
    """Upload ``data`` as file ``name`` through the upload API; the stored file."""
    payload = Payload(data)
    created = await create(client, payload, file_name=name, content_type=content_type, **fields)
    await send_all(client, created.task_id, payload)
    return (await complete(client, created.task_id)).file


async def start_task(client: Client, task_type: int, **parameters: Any) -> tasks_pb2.Task:
    """Create a task of ``task_type`` with ``parameters``."""
    values = struct_pb2.Struct()
    values.update(parameters)
    request = tasks_pb2.CreateTaskRequest(type=task_type, name="handler test", parameters=values)  # type: ignore[arg-type]
    return (await client.tasks.CreateTask(request, metadata=client.metadata)).task


async def run_task(
    client: Client, task_type: int, timeout: float = 30.0, **parameters: Any
) -> tasks_pb2.Task:
    """Create a task of ``task_type`` with ``parameters`` and wait until it is terminal."""
    task = await start_task(client, task_type, **parameters)
    return await wait(client, task.task_id, timeout)


async def wait(client: Client, task_id: str, timeout: float = 30.0) -> tasks_pb2.Task:
    """WaitTask until the task is terminal; fails the test when it is not within ``timeout``."""
    request = tasks_pb2.WaitTaskRequest(task_id=task_id, timeout=duration_pb2.Duration(seconds=int(timeout)))
    response = await client.tasks.WaitTask(request, metadata=client.metadata, timeout=timeout + 5)
    assert not response.timed_out, f"task {task_id} still {S.Name(response.task.status)}"
    assert response.task.status in TERMINAL
    return response.task


def results(task: tasks_pb2.Task) -> dict[str, Any]:
    """The task's results as plain values (numbers are floats)."""
    return dict(json_format.MessageToDict(task.results))


async def read_bytes(client: Client, file_id: str, password: str = "") -> tuple[files_pb2.CloudFile, bytes]:
    """The file's metadata and whole content, through ReadFile."""
    request = files_pb2.ReadFileRequest(file_id=file_id, password=password)
    meta = files_pb2.CloudFile()
    pieces = []
    async for message in client.files.ReadFile(request, metadata=client.metadata):
        if message.HasField("file"):
            meta = message.file
        pieces.append(message.data)
    return meta, b"".join(pieces)


async def file_total(client: Client, bundle_id: str = "") -> int:
    """How many visible files the account has (in ``bundle_id`` when given)."""
    request = files_pb2.ListFilesRequest(bundle_id=bundle_id, limit=1)
    return (await client.files.ListFiles(request, metadata=client.metadata)).total


def zip_of(
    entries: Sequence[tuple[str | zipfile.ZipInfo, bytes]], method: int = zipfile.ZIP_DEFLATED
) -> bytes:
    """A zip archive of ``(name or ZipInfo, content)`` entries, in order."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=method) as archive:
        for name, data in entries:
            archive.writestr(name, data)
    return buffer.getvalue()


def tar_of(entries: Sequence[tuple[tarfile.TarInfo, bytes]], mode: str = "w:gz") -> bytes:
    """A tar archive (``mode`` "w", "w:gz", "w:bz2" or "w:xz") of ``(header, content)`` entries."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode) as archive:  # type: ignore[call-overload]
        for info, data in entries:
            info.size = len(data) if info.isreg() else 0
            archive.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return buffer.getvalue()


def tar_entry(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    """A tar header for ``name`` of type ``kind`` (a link's target is ``link``)."""
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    return info


async def used_bytes(client: Client) -> int:
    """The bytes counted against the account's quota (hidden task outputs included)."""
    quota = await client.files.GetQuota(files_pb2.GetQuotaRequest(), metadata=client.metadata)
    return int(quota.used_bytes)


async def visible_state(client: Client) -> tuple[int, int]:
    """(visible files, bytes counted against the quota): unchanged after a task that failed."""
    return await file_total(client), await used_bytes(client)


async def settled(client: Client, expected: tuple[int, int], timeout: float = 5.0) -> tuple[int, int]:
    """``visible_state`` once it equals ``expected``; fails the test when it does not within
    ``timeout``. The worker discards a failed task's hidden outputs just after recording the
    failure, in a separate transaction, so the quota may still count them for a moment after
    WaitTask returns."""
    return await eventually(
        lambda: visible_state(client),
        lambda state: state == expected,
        within=timeout,
        failure=f"(visible files, counted bytes) never came back to {expected}",
    )

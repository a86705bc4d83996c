"""``AsyncDriveClient``: the asyncio client of drive-service (uploads, downloads, tasks, files)."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO

import drive_service.client.convert as convert
from drive.v1 import files_pb2, tasks_pb2
from drive_service.client.channel import ChannelOptions
from drive_service.client.connection import Connection
from drive_service.client.download import Download
from drive_service.client.errors import WaitTimeoutError
from drive_service.client.models import (
    CloudFile,
    DownloadResult,
    Page,
    Task,
    TaskEvent,
    TaskStatus,
    TaskType,
    UploadResult,
)
from drive_service.client.retry import Retrier, RetryPolicy
from drive_service.client.source import UploadSource
from drive_service.client.upload import ProgressCallback, Upload, UploadOptions
from drive_service.client.watch import WATCH_POLICY, watch

_WAIT_SLICE = 300.0  # WaitTask waits at most 300 s per call


class AsyncDriveClient:
    """A client for one server and one account (the token's ``sub``).

    Use as ``async with AsyncDriveClient(target, token) as client: ...`` (or call ``close``).
    Every call raises a ``DriveClientError`` subclass on failure. Reads, creates (with a
    ``request_id``) and completions are retried on transient errors under ``retry``; state changes
    (pause, resume, cancel, delete) only when the server cannot have acted (rate limited,
    unavailable).
    """

    def __init__(
        self,
        target: str,
        token: str,
        *,
        channel: ChannelOptions | None = None,
        retry: RetryPolicy | None = None,
        state_dir: Path | None = None,
    ) -> None:
        self._conn = Connection(target, token, channel)
        self._policy = retry or RetryPolicy()
        self._state_dir = state_dir

    @property
    def account(self) -> str:
        """The account id the token speaks for."""
        return self._conn.account

    @property
    def target(self) -> str:
        return self._conn.target

    async def close(self) -> None:
        await self._conn.close()

    async def __aenter__(self) -> AsyncDriveClient:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self.close()

    # -- uploads and downloads ------------------------------------------------------------------

    async def upload(
        self,
        source: str | os.PathLike[str] | BinaryIO,
        *,
        pool_id: str = "",
        bundle_id: str = "",
        content_type: str | None = None,
        chunk_size: int = 0,
        parallel: int = 4,
        progress: ProgressCallback | None = None,
        state_dir: Path | None = None,
        name: str | None = None,
        password: str | None = None,
        expired_at: datetime | None = None,
        hash_while_sending: bool = False,
        resume: bool = True,
    ) -> UploadResult:
        """Upload a file (path) or a seekable binary stream; see ``upload.UploadOptions`` for the
        parameters and ``upload`` for the resume rules. Cancelling the call leaves a resumable
        upload: calling it again for the same path continues it."""
        options = UploadOptions(
            pool_id=pool_id,
            bundle_id=bundle_id,
            content_type=content_type,
            chunk_size=chunk_size,
            parallel=parallel,
            name=name,
            password=password,
            expired_at=expired_at,
            hash_while_sending=hash_while_sending,
            resume=resume,
            state_dir=state_dir or self._state_dir,
        )
        opened = await asyncio.to_thread(UploadSource.open, source, name)
        try:
            return await Upload(self._conn, opened, options, self._policy, progress).run()
        finally:
            opened.close()

    async def download(
        self,
        file_id: str,
        path: str | os.PathLike[str],
        *,
        password: str | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> DownloadResult:
        """Download a file to ``path`` (resuming ``<path>.part`` if one is there), verify its
        SHA-256 when it is not encrypted, and rename it into place atomically."""
        return await Download(self._conn, file_id, Path(path), password, self._policy, progress).run()

    # -- tasks ---------------------------------------------------------------------------------

    async def create_task(
        self,
        type: TaskType,
        name: str,
        *,
        parameters: dict[str, Any] | None = None,
        description: str = "",
        priority: int = 0,
        expired_at: datetime | None = None,
        request_id: str | None = None,
    ) -> Task:
        """Create a task; its retries carry the same ``request_id`` (a fresh UUID unless given)."""
        request = tasks_pb2.CreateTaskRequest(
            type=convert.type_name(type),
            name=name,
            description=description,
            priority=priority,
            parameters=convert.to_struct(parameters),
            expired_at=convert.to_timestamp(expired_at),
            request_id=request_id or str(uuid.uuid4()),
        )
        response = await self._call(lambda: self._conn.tasks.CreateTask(request, metadata=self._md))
        return convert.task(response.task)

    async def get_task(self, task_id: str) -> Task:
        request = tasks_pb2.GetTaskRequest(task_id=task_id)
        response = await self._call(lambda: self._conn.tasks.GetTask(request, metadata=self._md))
        return convert.task(response.task)

    async def list_tasks(
        self,
        *,
        type: TaskType | None = None,
        status: TaskStatus | None = None,
        sort_by: str = "",
        descending: bool = True,
        offset: int = 0,
        limit: int = 50,
    ) -> Page[Task]:
        request = tasks_pb2.ListTasksRequest(
            type=convert.type_name(type or TaskType.UNSPECIFIED),
            status=convert.status_name(status or TaskStatus.UNSPECIFIED),
            sort_by=sort_by,
            sort_descending=descending,
            offset=offset,
            limit=limit,
        )
        response = await self._call(lambda: self._conn.tasks.ListTasks(request, metadata=self._md))
        return Page(tuple(convert.task(task) for task in response.tasks), response.total)

    async def pause_task(self, task_id: str) -> Task:
        request = tasks_pb2.PauseTaskRequest(task_id=task_id)
        response = await self._call(lambda: self._conn.tasks.PauseTask(request, metadata=self._md), False)
        return convert.task(response.task)

    async def resume_task(self, task_id: str) -> Task:
        request = tasks_pb2.ResumeTaskRequest(task_id=task_id)
        response = await self._call(lambda: self._conn.tasks.ResumeTask(request, metadata=self._md), False)
        return convert.task(response.task)

    async def cancel_task(self, task_id: str) -> Task:
        request = tasks_pb2.CancelTaskRequest(task_id=task_id)
        response = await self._call(lambda: self._conn.tasks.CancelTask(request, metadata=self._md), False)
        return convert.task(response.task)

    async def wait(self, task_id: str, timeout: float | None = None) -> Task:
        """The task once it is terminal (COMPLETED, FAILED, CANCELLED or EXPIRED), waiting with
        WaitTask calls of up to 300 s each. Raises WaitTimeoutError (carrying the task's last state)
        when ``timeout`` seconds pass first; None waits forever."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = _WAIT_SLICE if deadline is None else min(_WAIT_SLICE, deadline - time.monotonic())
            task = await self._wait_once(task_id, left)
            if task.status.terminal:
                return task
            if deadline is not None and time.monotonic() >= deadline:
                raise WaitTimeoutError(
                    f"task {task_id} is still {task.status.name} after {timeout:g} s", task
                )

    async def _wait_once(self, task_id: str, seconds: float) -> Task:
        request = tasks_pb2.WaitTaskRequest(task_id=task_id)
        request.timeout.FromTimedelta(timedelta(seconds=max(seconds, 0.001)))
        response = await self._call(
            lambda: self._conn.tasks.WaitTask(request, metadata=self._md, timeout=max(seconds, 0) + 10)
        )
        return convert.task(response.task)

    def watch(
        self,
        after_sequence: int = 0,
        *,
        task_ids: Sequence[str] = (),
        types: Sequence[TaskType] = (),
        policy: RetryPolicy = WATCH_POLICY,
        on_connect: Callable[[int], None] | None = None,
    ) -> AsyncIterator[TaskEvent]:
        """Live task events that survive reconnects; see ``watch.watch``."""
        return watch(
            self._conn, after_sequence, task_ids=task_ids, types=types, policy=policy, on_connect=on_connect
        )

    # -- files ---------------------------------------------------------------------------------

    async def get_file(self, file_id: str) -> CloudFile:
        request = files_pb2.GetFileRequest(file_id=file_id)
        response = await self._call(lambda: self._conn.files.GetFile(request, metadata=self._md))
        return convert.cloud_file(response.file)

    async def list_files(
        self, *, pool_id: str = "", bundle_id: str = "", offset: int = 0, limit: int = 50
    ) -> Page[CloudFile]:
        request = files_pb2.ListFilesRequest(pool_id=pool_id, bundle_id=bundle_id, offset=offset, limit=limit)
        response = await self._call(lambda: self._conn.files.ListFiles(request, metadata=self._md))
        return Page(tuple(convert.cloud_file(file) for file in response.files), response.total)

    async def delete_file(self, file_id: str) -> None:
        request = files_pb2.DeleteFileRequest(file_id=file_id)
        await self._call(lambda: self._conn.files.DeleteFile(request, metadata=self._md), False)

    # -- plumbing ------------------------------------------------------------------------------

    @property
    def _md(self) -> tuple[tuple[str, str], ...]:
        return self._conn.metadata

    async def _call(self, attempt: Callable[[], Any], idempotent: bool = True) -> Any:
        return await Retrier(self._policy).call(attempt, idempotent=idempotent)

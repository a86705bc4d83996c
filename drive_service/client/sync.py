"""``DriveClient``: a blocking facade over ``AsyncDriveClient`` for scripts and threads.

Each client owns a private event loop (an ``asyncio.Runner``) on which every call runs, so the
channels live on one loop. Ctrl-C during a call cancels it the way asyncio cancellation does (an
upload keeps its resume state) and then raises KeyboardInterrupt. Use one client per thread.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO, TypeVar

from drive_service.client.aio import AsyncDriveClient
from drive_service.client.channel import ChannelOptions
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
from drive_service.client.retry import RetryPolicy
from drive_service.client.upload import ProgressCallback
from drive_service.client.watch import WATCH_POLICY

T = TypeVar("T")


class DriveClient:
    """The blocking client; same methods and results as ``AsyncDriveClient``."""

    def __init__(
        self,
        target: str,
        token: str,
        *,
        channel: ChannelOptions | None = None,
        retry: RetryPolicy | None = None,
        state_dir: Path | None = None,
    ) -> None:
        self._runner = asyncio.Runner()
        self._client: AsyncDriveClient = self._runner.run(_make(target, token, channel, retry, state_dir))

    @property
    def account(self) -> str:
        return self._client.account

    def close(self) -> None:
        try:
            self._runner.run(self._client.close())
        finally:
            self._runner.close()

    def __enter__(self) -> DriveClient:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def upload(
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
        return self._runner.run(
            self._client.upload(
                source,
                pool_id=pool_id,
                bundle_id=bundle_id,
                content_type=content_type,
                chunk_size=chunk_size,
                parallel=parallel,
                progress=progress,
                state_dir=state_dir,
                name=name,
                password=password,
                expired_at=expired_at,
                hash_while_sending=hash_while_sending,
                resume=resume,
            )
        )

    def download(
        self,
        file_id: str,
        path: str | os.PathLike[str],
        *,
        password: str | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> DownloadResult:
        return self._runner.run(self._client.download(file_id, path, password=password, progress=progress))

    def create_task(self, type: TaskType, name: str, **options: Any) -> Task:
        return self._runner.run(self._client.create_task(type, name, **options))

    def get_task(self, task_id: str) -> Task:
        return self._runner.run(self._client.get_task(task_id))

    def list_tasks(
        self,
        *,
        type: TaskType | None = None,
        status: TaskStatus | None = None,
        sort_by: str = "",
        descending: bool = True,
        offset: int = 0,
        limit: int = 50,
    ) -> Page[Task]:
        return self._runner.run(
            self._client.list_tasks(
                type=type, status=status, sort_by=sort_by, descending=descending, offset=offset, limit=limit
            )
        )

    def pause_task(self, task_id: str) -> Task:
        return self._runner.run(self._client.pause_task(task_id))

    def resume_task(self, task_id: str) -> Task:
        return self._runner.run(self._client.resume_task(task_id))

    def cancel_task(self, task_id: str) -> Task:
        return self._runner.run(self._client.cancel_task(task_id))

    def wait(self, task_id: str, timeout: float | None = None) -> Task:
        return self._runner.run(self._client.wait(task_id, timeout))

    def watch(
        self,
        after_sequence: int = 0,
        *,
        task_ids: Sequence[str] = (),
        types: Sequence[TaskType] = (),
        policy: RetryPolicy = WATCH_POLICY,
    ) -> Iterator[TaskEvent]:
        """Events as a blocking iterator (it reconnects as the async one does); close it (or leave
        the ``for`` loop) to end the stream."""
        events = self._client.watch(after_sequence, task_ids=task_ids, types=types, policy=policy)
        try:
            while True:
                try:
                    yield self._runner.run(_next(events))
                except StopAsyncIteration:
                    return
        finally:
            self._runner.run(events.aclose())  # type: ignore[attr-defined]

    def get_file(self, file_id: str) -> CloudFile:
        return self._runner.run(self._client.get_file(file_id))

    def list_files(
        self, *, pool_id: str = "", bundle_id: str = "", offset: int = 0, limit: int = 50
    ) -> Page[CloudFile]:
        return self._runner.run(
            self._client.list_files(pool_id=pool_id, bundle_id=bundle_id, offset=offset, limit=limit)
        )

    def delete_file(self, file_id: str) -> None:
        self._runner.run(self._client.delete_file(file_id))


async def _make(
    target: str, token: str, channel: ChannelOptions | None, retry: RetryPolicy | None, state_dir: Path | None
) -> AsyncDriveClient:
    # grpc.aio channels bind to the running loop: create it on the runner's loop.
    return AsyncDriveClient(target, token, channel=channel, retry=retry, state_dir=state_dir)


async def _next(events: Any) -> TaskEvent:
    event: TaskEvent = await events.__anext__()
    return event

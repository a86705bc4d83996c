"""The common ground of the S3 store's parts: the configuration, the lazily opened client, keys."""

from __future__ import annotations

import asyncio
import contextlib
from types import TracebackType
from typing import TYPE_CHECKING, Self

from drive_service.storage.s3.client import open_client
from drive_service.storage.s3.config import (
    S3Config,
)
from drive_service.storage.s3.errors import guarded

if TYPE_CHECKING:
    from types_aiobotocore_s3.client import S3Client


class S3Base:
    """One bucket (under one prefix) through one lazily created aiobotocore client.

    Every key argument and every key returned is relative to ``config.prefix``. The client is
    created by the first call and closed by ``aclose()`` (or ``async with``); calls after that
    raise ``RuntimeError``. Safe for concurrent use by many tasks of one event loop.
    """

    def __init__(self, config: S3Config) -> None:
        self.config = config
        self._client: S3Client | None = None
        self._exit_stack: contextlib.AsyncExitStack | None = None
        self._opening = asyncio.Lock()
        self._closed = False

    def __repr__(self) -> str:
        return f"S3Store({self.config!r})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the client and its connections; idempotent."""
        self._closed = True
        stack, self._exit_stack, self._client = self._exit_stack, None, None
        if stack is not None:
            await stack.aclose()

    # -- health ------------------------------------------------------------------------------

    async def probe(self) -> None:
        """One HeadBucket: returns when the bucket exists and the credentials may use it.

        Raises ``Unavailable``, ``BucketNotFound``, ``AccessDenied`` or ``CredentialsMissing``.
        """
        client = await self._open()
        await guarded(client.head_bucket(Bucket=self.config.bucket), "HeadBucket", None)

    # -- multipart uploads -------------------------------------------------------------------

    def _full(self, key: str) -> str:
        return self.config.prefix + key

    def _relative(self, full_key: str) -> str:
        return full_key[len(self.config.prefix) :]

    async def _open(self) -> S3Client:
        if self._client is not None:
            return self._client
        async with self._opening:
            if self._closed:
                raise RuntimeError("the S3 store is closed")
            if self._client is None:
                self._client, self._exit_stack = await open_client(self.config)
        return self._client

"""Helpers of the client-library tests: a client for a fresh account, private servers, files."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from drive_service.app import App
from drive_service.client import AsyncDriveClient, RetryPolicy
from tests.support.accounts import new_account, token_for
from tests.support.servers import postgres_database, running_app, settings_for

#: Quick retries: tests wait for the server's RetryInfo, not for long backoffs.
FAST_RETRY = RetryPolicy(max_attempts=20, initial=0.05, maximum=1.0)


def target_of(app: App) -> str:
    return f"127.0.0.1:{app.port}"


def fresh_client(app: App, state_dir: Path) -> AsyncDriveClient:
    """A client for a brand-new account on ``app`` keeping its resume state in ``state_dir``."""
    return AsyncDriveClient(
        target_of(app), token_for(app.settings, new_account()), retry=FAST_RETRY, state_dir=state_dir
    )


@asynccontextmanager
async def private_server(backend: str, data_dir: Path, **env: str) -> AsyncIterator[App]:
    """A server of its own on ``backend`` (a fresh PostgreSQL database when it is postgres)."""
    if backend == "postgres":
        async with postgres_database() as url, running_app(settings_for(data_dir, url, **env)) as app:
            yield app
        return
    async with running_app(settings_for(data_dir, **env)) as app:
        yield app


def random_file(path: Path, size: int) -> Path:
    path.write_bytes(os.urandom(size))
    return path

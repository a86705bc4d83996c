"""Fixtures of the client tests: the shared server (both backends, from tests/conftest.py) and a
client library instance for a fresh account (helpers live in tests.support.drive_client)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from drive_service.app import App
from drive_service.client import AsyncDriveClient
from tests.support.drive_client import fresh_client


@pytest.fixture
async def drive(server: App, tmp_path: Path) -> AsyncIterator[AsyncDriveClient]:
    """The client library for a fresh account on the shared server."""
    async with fresh_client(server, tmp_path / "state") as client:
        yield client

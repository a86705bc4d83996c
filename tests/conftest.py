"""Fixtures: one real server per database backend, fresh accounts per test (helpers live in
``tests.support``; test modules use these fixtures, never import this file)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest

# Before tests.support is imported: its assertions (expect_error, error_reason, ...) then show the
# values that differ, as assertions in test modules do.
pytest.register_assert_rewrite("tests.support")

from drive_service.app import App  # noqa: E402
from tests.support import (  # noqa: E402
    BACKEND_NAMES,
    PG_ENV,
    Client,
    make_client,
    postgres_database,
    running_app,
    settings_for,
)


@pytest.fixture(scope="session", params=BACKEND_NAMES)
def backend(request: pytest.FixtureRequest) -> str:
    """Every API test runs once per database backend; PostgreSQL needs DRIVE_TEST_DATABASE_URL."""
    if request.param == "postgres" and not os.environ.get(PG_ENV):
        pytest.skip(f"{PG_ENV} is not set")
    return str(request.param)


@pytest.fixture(scope="session")
async def server(backend: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[App]:
    """A running server on port 0 shared by the tests of one backend."""
    data_dir = tmp_path_factory.mktemp(f"server-{backend}")
    # The shared server runs no worker: its tests drive tasks as an external executor would.
    if backend == "sqlite":
        async with running_app(settings_for(data_dir, DRIVE_WORKER="false")) as app:
            yield app
        return
    async with (
        postgres_database() as url,
        running_app(settings_for(data_dir, url, DRIVE_WORKER="false")) as app,
    ):
        yield app


@pytest.fixture(scope="session")
async def channel(server: App) -> AsyncIterator[grpc.aio.Channel]:
    """A real channel to the shared server."""
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as open_channel:
        yield open_channel


@pytest.fixture
def client(server: App, channel: grpc.aio.Channel) -> Client:
    """A fresh account talking to the shared server."""
    return make_client(server, channel)


@pytest.fixture
def other(server: App, channel: grpc.aio.Channel) -> Client:
    """A second, unrelated account on the same server."""
    return make_client(server, channel)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A private data directory for tests that run their own server."""
    return tmp_path / "var"

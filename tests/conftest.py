"""Fixtures: one real server per database backend, fresh accounts per test (helpers live in
``tests.support``; test modules use these fixtures, never import this file)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest

# No test may ask a cloud metadata endpoint for S3 credentials (there is none; the SDK would wait).
os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")

# Before tests.support is imported: its assertions (expect_error, error_reason, ...) then show the
# values that differ, as assertions in test modules do.
pytest.register_assert_rewrite("tests.support")

from drive_service.app import App  # noqa: E402
from drive_service.pools import DEFAULT_POOL_ID  # noqa: E402
from tests.support import (  # noqa: E402
    BACKEND_NAMES,
    PG_ENV,
    Client,
    make_client,
    postgres_database,
    running_app,
    settings_for,
)
from tests.support.s3server import S3Server, s3_pools_file, small_parts_server  # noqa: E402


@pytest.fixture(scope="session", params=BACKEND_NAMES)
def backend(request: pytest.FixtureRequest) -> str:
    """Every API test runs once per database backend; PostgreSQL needs DRIVE_TEST_DATABASE_URL."""
    if request.param == "postgres" and not os.environ.get(PG_ENV):
        pytest.skip(f"{PG_ENV} is not set")
    return str(request.param)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """``storage`` is "local" unless the test is marked ``storages("local", "s3")``: then it runs
    on a local pool and on an S3 pool (a moto server child process)."""
    if "storage" in metafunc.fixturenames:
        marker = metafunc.definition.get_closest_marker("storages")
        kinds = marker.args if marker is not None else ("local",)
        metafunc.parametrize("storage", kinds, indirect=True, scope="session")


@pytest.fixture(scope="session")
async def storage(request: pytest.FixtureRequest) -> AsyncIterator[S3Server | None]:
    """Where the shared server's default pool keeps its bytes: local disk (None), or the
    S3-API server returned."""
    if request.param == "local":
        yield None
        return
    async with small_parts_server() as s3:
        yield s3


@pytest.fixture(scope="session")
async def server(
    backend: str, storage: S3Server | None, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[App]:
    """A running server on port 0 shared by the tests of one backend and pool kind."""
    data_dir = tmp_path_factory.mktemp(f"server-{backend}-{'local' if storage is None else 's3'}")
    # The shared server runs no worker: its tests drive tasks as an external executor would.
    env = {"DRIVE_WORKER": "false"}
    if storage is not None:
        env["DRIVE_POOLS_FILE"] = str(s3_pools_file(storage, data_dir / "config", DEFAULT_POOL_ID))
    async with contextlib.AsyncExitStack() as stack:
        url = await stack.enter_async_context(postgres_database()) if backend == "postgres" else None
        yield await stack.enter_async_context(running_app(settings_for(data_dir, url, **env)))


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

"""The hostile suite's server: one per database backend, its log captured, a victim made."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager

import grpc
import pytest

from tests.hostile.checks import LogCapture
from tests.hostile.harness import CATALOG, Harness
from tests.hostile.invoke import Channels
from tests.support import postgres_database, running_app, settings_for

#: The suite tests input handling, not rate limits or quotas: both are set out of the way (the
#: quota as an administrator may raise it, which is how issue 9 reached a 2^62-byte upload).
SERVER_ENV = {
    "DRIVE_WORKER": "false",
    "DRIVE_RATE_LIMITS": "read=1000000/1000000,write=1000000/1000000,upload_bytes=1e12/1e12",
    "DRIVE_DEFAULT_QUOTA_BYTES": str(2**62),
}


@pytest.fixture(scope="session")
def log_capture() -> LogCapture:
    """Every record logged in this process (the server runs in it, grpcio's records included)
    while a test of this folder runs (_capturing attaches it)."""
    return LogCapture()


@pytest.fixture(autouse=True)
def _capturing(log_capture: LogCapture) -> Iterator[None]:
    # Attached per test, so that the rest of a session's tests do not fill it.
    root = logging.getLogger()
    root.addHandler(log_capture)
    try:
        yield
    finally:
        root.removeHandler(log_capture)
        log_capture.take()


@pytest.fixture(scope="session")
async def hostile(
    backend: str, tmp_path_factory: pytest.TempPathFactory, log_capture: LogCapture
) -> AsyncIterator[Harness]:
    """A real server on a loopback port for ``backend`` (SQLite, or PostgreSQL when
    DRIVE_TEST_DATABASE_URL is set), with the victim's data made. No worker: tasks stay as the
    requests leave them."""
    async with _serving(backend, tmp_path_factory, log_capture, SERVER_ENV) as harness:
        yield harness


@pytest.fixture(scope="module")
async def worker_hostile(
    backend: str, tmp_path_factory: pytest.TempPathFactory, log_capture: LogCapture
) -> AsyncIterator[Harness]:
    """The same with the built-in worker running the tasks (polling often: examples wait for it);
    for one module only, so that its polling stops with it."""
    env = {**SERVER_ENV, "DRIVE_WORKER": "true", "DRIVE_WORKER_POLL_MS": "20"}
    async with _serving(backend, tmp_path_factory, log_capture, env) as harness:
        yield harness


@asynccontextmanager
async def _serving(
    backend: str, tmp_path_factory: pytest.TempPathFactory, log_capture: LogCapture, env: dict[str, str]
) -> AsyncIterator[Harness]:
    data_dir = tmp_path_factory.mktemp(f"hostile-{backend}")
    async with AsyncExitStack() as stack:
        url = await stack.enter_async_context(postgres_database()) if backend == "postgres" else None
        app = await stack.enter_async_context(running_app(settings_for(data_dir, url, **env)))
        address = f"127.0.0.1:{app.port}"
        channel = await stack.enter_async_context(grpc.aio.insecure_channel(address))
        sync_channel = stack.enter_context(grpc.insecure_channel(address))
        harness = Harness(app, Channels(channel, sync_channel), log_capture, backend)
        await harness.start()
        yield harness


@pytest.fixture(autouse=True)
def _catalog_fails_the_test(request: pytest.FixtureRequest) -> Iterator[None]:
    """In triage mode (DRIVE_HOSTILE_CATALOG) examples do not stop at a failure; the test still
    fails here, at teardown, when it recorded any."""
    names = [name for name in ("hostile", "worker_hostile") if name in request.fixturenames]
    if CATALOG is None or not names:
        yield
        return
    harness: Harness = request.getfixturevalue(names[0])
    before = harness.recorded
    yield
    if harness.recorded > before:
        pytest.fail(f"{harness.recorded - before} failing example(s) recorded in {CATALOG}")

"""The hostile suite's server: one per database backend, its log captured, a victim made."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack

import grpc
import pytest

from tests.hostile.checks import LogCapture
from tests.hostile.harness import CATALOG, Harness
from tests.support import postgres_database, running_app, settings_for

#: The suite tests input handling, not rate limits or quotas: both are set out of the way (the
#: quota as an administrator may raise it, which is how issue 9 reached a 2^62-byte upload).
SERVER_ENV = {
    "DRIVE_WORKER": "false",
    "DRIVE_RATE_LIMITS": "read=1000000/1000000,write=1000000/1000000,upload_bytes=1e12/1e12",
    "DRIVE_DEFAULT_QUOTA_BYTES": str(2**63 - 1),
}


@pytest.fixture(scope="session")
def log_capture() -> Iterator[LogCapture]:
    """Every record logged in this process (the server runs in it), grpcio's included."""
    capture = LogCapture()
    root = logging.getLogger()
    root.addHandler(capture)
    try:
        yield capture
    finally:
        root.removeHandler(capture)


@pytest.fixture(scope="session")
async def hostile(
    backend: str, tmp_path_factory: pytest.TempPathFactory, log_capture: LogCapture
) -> AsyncIterator[Harness]:
    """A real server on a loopback port for ``backend`` (SQLite, or PostgreSQL when
    DRIVE_TEST_DATABASE_URL is set), with the victim's data made."""
    data_dir = tmp_path_factory.mktemp(f"hostile-{backend}")
    async with AsyncExitStack() as stack:
        url = await stack.enter_async_context(postgres_database()) if backend == "postgres" else None
        app = await stack.enter_async_context(running_app(settings_for(data_dir, url, **SERVER_ENV)))
        channel = await stack.enter_async_context(grpc.aio.insecure_channel(f"127.0.0.1:{app.port}"))
        harness = Harness(app, channel, log_capture, backend)
        await harness.start()
        yield harness


@pytest.fixture(autouse=True)
def _catalog_fails_the_test(request: pytest.FixtureRequest) -> Iterator[None]:
    """In triage mode (DRIVE_HOSTILE_CATALOG) examples do not stop at a failure; the test still
    fails here, at teardown, when it recorded any."""
    if CATALOG is None or "hostile" not in request.fixturenames:
        yield
        return
    harness: Harness = request.getfixturevalue("hostile")
    before = harness.recorded
    yield
    if harness.recorded > before:
        pytest.fail(f"{harness.recorded - before} failing example(s) recorded in {CATALOG}")

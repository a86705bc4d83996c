"""Error statuses the gateway itself decides: rate limits (429 + Retry-After), a dead backend (503),
unknown paths and methods."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.gateway.binary import running_gateway
from tests.gateway.rest import error_details, ok, rest_client
from tests.support import postgres_database, running_app, settings_for


@pytest.fixture
async def limited(backend: str, gateway_binary: Path, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """A client of a gateway in front of a private server that allows 2 writes per 100 s."""
    async with contextlib.AsyncExitStack() as stack:
        url = await stack.enter_async_context(postgres_database()) if backend == "postgres" else None
        settings = settings_for(tmp_path, url, DRIVE_WORKER="false", DRIVE_RATE_LIMITS="write=0.01/2")
        app = await stack.enter_async_context(running_app(settings))
        base = stack.enter_context(running_gateway(app.port)).url
        yield await stack.enter_async_context(rest_client(base, app))


async def test_rate_limited_calls_answer_429_with_retry_after(limited: httpx.AsyncClient) -> None:
    body = {"type": "TASK_TYPE_CUSTOM", "name": "job"}
    for _ in range(2):
        ok(await limited.post("/api/tasks", json=body))
    refused = await limited.post("/api/tasks", json=body)
    assert error_details(refused, 429, "RATE_LIMITED") == {"limit": "write"}
    assert 50 <= int(refused.headers["Retry-After"]) <= 100  # one write refills in 100 s
    ok(await limited.get("/api/tasks"))  # reads have their own budget


async def test_a_dead_backend_is_503(gateway_binary: Path) -> None:
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with running_gateway(port) as running:
        async with httpx.AsyncClient(base_url=running.url) as client:
            error_details(await client.get("/health/uploads"), 503, "UNAVAILABLE")


async def test_unknown_paths_and_methods(rest: httpx.AsyncClient) -> None:
    error_details(await rest.get("/api/nothing/here"), 404, "NOT_FOUND")
    error_details(await rest.get("/drive/nothing"), 404, "NOT_FOUND")
    error_details(await rest.put("/api/tasks", json={}), 405, "METHOD_NOT_ALLOWED")

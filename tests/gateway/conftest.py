"""Fixtures of the REST tier: the built gateway in front of the shared server of each backend, and
HTTP clients with a fresh account each."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from drive_service.app import App
from tests.gateway.binary import GatewayUnavailable, build_gateway, running_gateway
from tests.gateway.rest import rest_client


@pytest.fixture(scope="session")
def gateway_binary() -> Path:
    """The gateway binary, built (or found current) by gateway/build.sh; skips only when Go cannot
    be installed on this machine."""
    try:
        return build_gateway()
    except GatewayUnavailable as error:
        pytest.skip(f"the REST gateway needs Go, which cannot be installed here: {error}")


@pytest.fixture(scope="session")
def gateway(server: App, gateway_binary: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of a gateway in front of the shared server of this backend."""
    with running_gateway(server.port, log_dir=tmp_path_factory.mktemp("gateway")) as running:
        yield running.url


@pytest.fixture
async def rest(server: App, gateway: str) -> AsyncIterator[httpx.AsyncClient]:
    """A fresh account talking REST to the shared server."""
    async with rest_client(gateway, server) as client:
        yield client


@pytest.fixture
async def other_rest(server: App, gateway: str) -> AsyncIterator[httpx.AsyncClient]:
    """A second, unrelated account."""
    async with rest_client(gateway, server) as client:
        yield client


@pytest.fixture
async def anonymous(gateway: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client without a token."""
    async with rest_client(gateway) as client:
        yield client

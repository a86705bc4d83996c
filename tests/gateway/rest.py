"""Helpers of the REST tier: HTTP clients, the specification's error body, tasks and uploads over REST."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx

from drive_service.app import App
from tests.support import new_account, token_for

KIB = 1024
CHUNK = 256 * KIB  # the smallest chunk size the service accepts
RAW = {"Content-Type": "application/octet-stream"}


def rest_client(base_url: str, app: App | None = None, account_id: str | None = None) -> httpx.AsyncClient:
    """An HTTP client of ``base_url``; with ``app``, it sends a bearer token for ``account_id``
    (a fresh account by default)."""
    headers = {}
    if app is not None:
        headers["Authorization"] = f"Bearer {token_for(app.settings, account_id or new_account())}"
    return httpx.AsyncClient(base_url=base_url, headers=headers, timeout=30.0)


def error_details(response: httpx.Response, status: int, code: str) -> dict[str, str]:
    """Assert ``response`` is the specification's error body with this HTTP status and code (the
    ErrorInfo reason); return its details (the ErrorInfo metadata)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"code", "message", "status", "details"}, body
    assert (body["code"], body["status"]) == (code, status), body
    assert isinstance(body["message"], str) and body["message"]
    assert isinstance(body["details"], dict)
    return body["details"]  # type: ignore[no-any-return]


def ok(response: httpx.Response, status: int = 200) -> Any:
    """The JSON of a successful response."""
    assert response.status_code == status, response.text
    return response.json()


async def create_task(rest: httpx.AsyncClient, name: str = "job", **fields: Any) -> dict[str, Any]:
    """POST /api/tasks: a CUSTOM task named ``name`` with ``fields``; the task JSON."""
    body = {"type": "TASK_TYPE_CUSTOM", "name": name, **fields}
    return ok(await rest.post("/api/tasks", json=body))  # type: ignore[no-any-return]


async def create_upload(
    rest: httpx.AsyncClient, data: bytes, chunk_size: int = CHUNK, **fields: Any
) -> dict[str, Any]:
    """POST /api/files/upload/create for ``data`` with the specification's camelCase fields."""
    body = {
        "fileName": "report.bin",
        "fileSize": len(data),
        "contentType": "application/octet-stream",
        "chunkSize": chunk_size,
        "hash": hashlib.sha256(data).hexdigest(),
        **fields,
    }
    return ok(await rest.post("/api/files/upload/create", json=body))  # type: ignore[no-any-return]


async def send_raw(rest: httpx.AsyncClient, task_id: str, index: int, data: bytes) -> httpx.Response:
    """One chunk as a raw application/octet-stream body."""
    return await rest.post(f"/api/files/upload/chunk/{task_id}/{index}", content=data, headers=RAW)


async def upload(
    rest: httpx.AsyncClient, data: bytes, chunk_size: int = CHUNK, **fields: Any
) -> dict[str, Any]:
    """A whole upload over REST (create, raw chunks, complete); returns the CloudFile JSON."""
    task_id = (await create_upload(rest, data, chunk_size, **fields))["taskId"]
    for index, start in enumerate(range(0, len(data), chunk_size)):
        ok(await send_raw(rest, task_id, index, data[start : start + chunk_size]))
    return ok(await rest.post(f"/api/files/upload/complete/{task_id}"))  # type: ignore[no-any-return]

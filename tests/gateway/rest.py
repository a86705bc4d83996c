"""Helpers of the REST tier: the specification's error body, and uploads over REST."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx

KIB = 1024
CHUNK = 256 * KIB  # the smallest chunk size the service accepts
RAW = {"Content-Type": "application/octet-stream"}


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

"""The specification's upload endpoints over REST, through the gateway, on the real server."""

from __future__ import annotations

import base64
import hashlib
import os

import httpx

from tests.gateway.rest import CHUNK, RAW, create_upload, error_details, ok, send_raw, upload


async def test_chunks_as_json_raw_and_multipart_then_complete(rest: httpx.AsyncClient) -> None:
    data = os.urandom(3 * CHUNK + 1000)
    created = await create_upload(rest, data)
    # camelCase names as in the specification; int64 values are JSON strings (proto3 JSON).
    assert created["fileExists"] is False
    assert (created["chunkSize"], created["chunksCount"]) == (str(CHUNK), 4)
    task_id = created["taskId"]
    chunk_url = f"/api/files/upload/chunk/{task_id}"

    as_json = await rest.post(f"{chunk_url}/0", json={"data": base64.b64encode(data[:CHUNK]).decode()})
    assert ok(as_json) == {"chunksUploaded": 1, "chunksCount": 4, "progress": 25}
    ok(await send_raw(rest, task_id, 1, data[CHUNK : 2 * CHUNK]))
    # The specification's clients: FormData with the bytes in the `chunk` field (others skipped).
    multipart = await rest.post(
        f"{chunk_url}/2",
        data={"note": "ignored"},
        files={"chunk": ("blob", data[2 * CHUNK : 3 * CHUNK], "application/octet-stream")},
    )
    assert ok(multipart)["chunksUploaded"] == 3

    again = await send_raw(rest, task_id, 2, data[2 * CHUNK : 3 * CHUNK])
    assert error_details(again, 409, "CHUNK_ALREADY_UPLOADED") == {"taskId": task_id, "chunkIndex": "2"}

    progress = ok(await rest.get(f"/api/files/upload/progress/{task_id}"))
    assert (progress["uploadedChunks"], progress["progress"], progress["status"]) == (
        [0, 1, 2],
        75,
        "TASK_STATUS_IN_PROGRESS",
    )
    resume = ok(await rest.get(f"/api/files/upload/resume/{task_id}"))
    assert (resume["uploadedChunks"], resume["missingChunks"]) == ([0, 1, 2], [3])
    early = await rest.post(f"/api/files/upload/complete/{task_id}")
    assert error_details(early, 400, "CHUNKS_MISSING")["missingChunks"] == "3"  # FAILED_PRECONDITION

    # The /drive prefix is the same API.
    ok(await rest.post(f"/drive/files/upload/chunk/{task_id}/3", content=data[3 * CHUNK :], headers=RAW))
    details = ok(await rest.get(f"/api/files/upload/tasks/{task_id}/details"))
    assert details["task"]["chunksUploaded"] == 4 and details["pool"]["id"]

    file = ok(await rest.post(f"/api/files/upload/complete/{task_id}"))
    assert (file["name"], file["size"], file["hash"]) == (
        "report.bin",
        str(len(data)),
        hashlib.sha256(data).hexdigest(),
    )
    assert file["mimeType"] == "application/octet-stream" and file["uploadedAt"].endswith("Z")
    assert ok(await rest.post(f"/api/files/upload/complete/{task_id}"))["id"] == file["id"]  # idempotent
    assert ok(await rest.get(f"/api/files/{file['id']}"))["hash"] == file["hash"]


async def test_a_known_file_answers_file_exists(rest: httpx.AsyncClient) -> None:
    data = os.urandom(CHUNK)
    file = await upload(rest, data)
    again = await create_upload(rest, data)
    assert again["fileExists"] is True and again["file"]["id"] == file["id"] and again["taskId"] == ""


async def test_lists_send_x_total(rest: httpx.AsyncClient) -> None:
    names = ["b.bin", "a.bin", "c.bin"]
    for name in names:
        await create_upload(rest, os.urandom(CHUNK), fileName=name)
    page = await rest.get(
        "/api/files/upload/tasks", params={"sortBy": "filename", "sortDescending": "false", "limit": 2}
    )
    assert page.headers["X-Total"] == "3"
    assert [task["fileName"] for task in ok(page)["tasks"]] == ["a.bin", "b.bin"]
    filtered = await rest.get("/api/files/upload/tasks", params={"status": "TASK_STATUS_COMPLETED"})
    assert filtered.headers["X-Total"] == "0" and ok(filtered)["tasks"] == []
    seed_spelling = await rest.get("/api/files/upload/tasks", params={"status": "InProgress"})
    assert seed_spelling.headers["X-Total"] == "3"
    error_details(
        await rest.get("/api/files/upload/tasks", params={"status": "Done"}), 400, "INVALID_ARGUMENT"
    )
    recent = ok(await rest.get("/api/files/upload/tasks/recent", params={"limit": 2}))
    assert [task["fileName"] for task in recent["tasks"]] == ["c.bin", "a.bin"]
    files = await rest.get("/api/files")
    assert files.headers["X-Total"] == "0"


async def test_cancel_cleanup_and_stats(rest: httpx.AsyncClient) -> None:
    await upload(rest, os.urandom(CHUNK))
    task_id = (await create_upload(rest, os.urandom(2 * CHUNK)))["taskId"]
    ok(await send_raw(rest, task_id, 0, os.urandom(CHUNK)))
    cancelled = ok(await rest.delete(f"/api/files/upload/task/{task_id}"))
    assert cancelled["status"] == "TASK_STATUS_CANCELLED"
    late = await send_raw(rest, task_id, 1, os.urandom(CHUNK))
    assert error_details(late, 400, "INVALID_TASK_STATE")["taskId"] == task_id

    stats = ok(await rest.get("/api/files/upload/stats"))
    assert (stats["totalTasks"], stats["completedTasks"], stats["cancelledTasks"]) == (2, 1, 1)
    assert stats["totalUploadedBytes"] == str(2 * CHUNK)  # every stored chunk, the cancelled one too
    assert ok(await rest.delete("/api/files/upload/tasks/cleanup")) == {"cleanedCount": 1}
    assert ok(await rest.get("/api/files/upload/stats"))["totalTasks"] == 1


async def test_tokens_and_ownership(
    rest: httpx.AsyncClient, other_rest: httpx.AsyncClient, anonymous: httpx.AsyncClient
) -> None:
    task_id = (await create_upload(rest, os.urandom(CHUNK)))["taskId"]
    missing = await anonymous.get(f"/api/files/upload/progress/{task_id}")
    error_details(missing, 401, "MISSING_TOKEN")
    assert missing.headers["WWW-Authenticate"] == "Bearer"
    bad = await anonymous.get("/api/files/upload/tasks", headers={"Authorization": "Bearer nonsense"})
    error_details(bad, 401, "INVALID_TOKEN")
    foreign = await other_rest.get(f"/api/files/upload/progress/{task_id}")
    assert error_details(foreign, 404, "TASK_NOT_FOUND") == {"taskId": task_id}
    error_details(await send_raw(other_rest, task_id, 0, os.urandom(CHUNK)), 404, "TASK_NOT_FOUND")

    health = ok(await anonymous.get("/health/uploads"))  # the one endpoint without a token
    assert health["healthy"] is True and {c["name"] for c in health["components"]} >= {"database", "storage"}


async def test_bad_requests(rest: httpx.AsyncClient) -> None:
    too_big = await rest.post(
        "/api/files/upload/create",
        json={"fileName": "a.bin", "fileSize": 2**39, "contentType": "text/plain", "hash": "0" * 64},
    )
    error_details(too_big, 403, "QUOTA_EXCEEDED")  # PERMISSION_DENIED, as the specification's 403
    created = await rest.post("/api/files/upload/create", json={"fileName": "", "fileSize": 1})
    assert error_details(created, 400, "INVALID_FILE_NAME")["field"] == "file_name"
    task_id = (await create_upload(rest, os.urandom(CHUNK)))["taskId"]
    url = f"/api/files/upload/chunk/{task_id}/0"
    short = await rest.post(url, content=b"x" * 10, headers=RAW)
    assert error_details(short, 400, "CHUNK_SIZE_MISMATCH")["expected"] == str(CHUNK)
    no_field = await rest.post(url, files={"file": ("blob", b"x", "application/octet-stream")})
    error_details(no_field, 400, "INVALID_ARGUMENT")
    assert '"chunk"' in no_field.json()["message"]
    malformed = await rest.post(url, content=b"{not json", headers={"Content-Type": "application/json"})
    error_details(malformed, 400, "INVALID_ARGUMENT")
    index = await rest.post(f"/api/files/upload/chunk/{task_id}/9", content=os.urandom(CHUNK), headers=RAW)
    error_details(index, 400, "INVALID_CHUNK_INDEX")
    huge = await rest.post(url, content=b"\0" * (25 * 1024 * 1024), headers=RAW)
    error_details(huge, 413, "PAYLOAD_TOO_LARGE")

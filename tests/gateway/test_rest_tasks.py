"""The task endpoints over REST, driven as an external executor would (the shared server runs no
worker)."""

from __future__ import annotations

import time

import httpx

from tests.gateway.rest import create_task, error_details, ok


async def test_lifecycle(rest: httpx.AsyncClient) -> None:
    task = await create_task(
        rest, "Compress Project Files", priority=70, parameters={"fileIds": ["a"], "compressionLevel": 9}
    )
    task_id = task["taskId"]
    assert (task["status"], task["priority"], task["parameters"]) == (
        "TASK_STATUS_PENDING",
        70,
        {"fileIds": ["a"], "compressionLevel": 9},
    )
    assert ok(await rest.get(f"/api/tasks/{task_id}"))["name"] == "Compress Project Files"

    moved = ok(
        await rest.post(f"/api/tasks/{task_id}/progress", json={"progress": 40, "statusMessage": "2/5"})
    )
    assert (moved["status"], moved["progress"], moved["statusMessage"]) == (
        "TASK_STATUS_IN_PROGRESS",
        40,
        "2/5",
    )
    assert ok(await rest.post(f"/api/tasks/{task_id}/pause"))["status"] == "TASK_STATUS_PAUSED"
    paused_progress = await rest.post(f"/api/tasks/{task_id}/progress", json={"progress": 50})
    assert error_details(paused_progress, 400, "INVALID_TASK_STATE")["taskId"] == task_id
    assert ok(await rest.post(f"/api/tasks/{task_id}/resume"))["status"] == "TASK_STATUS_IN_PROGRESS"

    done = ok(await rest.post(f"/api/tasks/{task_id}/complete", json={"results": {"resultFileId": "f1"}}))
    assert (done["status"], done["progress"], done["results"]) == (
        "TASK_STATUS_COMPLETED",
        100,
        {"resultFileId": "f1"},
    )
    assert done["completedAt"].endswith("Z")
    error_details(await rest.post(f"/api/tasks/{task_id}/pause"), 400, "INVALID_TASK_STATE")


async def test_fail_and_cancel(rest: httpx.AsyncClient) -> None:
    failing = (await create_task(rest))["taskId"]
    failed = ok(await rest.post(f"/api/tasks/{failing}/fail", json={"errorMessage": "invalid format"}))
    assert (failed["status"], failed["errorMessage"]) == ("TASK_STATUS_FAILED", "invalid format")
    cancelling = (await create_task(rest))["taskId"]
    assert ok(await rest.post(f"/api/tasks/{cancelling}/cancel"))["status"] == "TASK_STATUS_CANCELLED"
    error_details(await rest.post(f"/api/tasks/{cancelling}/cancel"), 400, "INVALID_TASK_STATE")


async def test_list_x_total_and_the_stats_path(
    rest: httpx.AsyncClient, other_rest: httpx.AsyncClient
) -> None:
    for name in ("one", "two", "three"):
        await create_task(rest, name)
    await create_task(other_rest, "not mine")
    page = await rest.get("/api/tasks", params={"type": "TASK_TYPE_CUSTOM", "limit": 2, "sortBy": "name"})
    seed_spelling = await rest.get("/api/tasks", params={"type": "Custom", "status": "Pending"})
    assert seed_spelling.headers["X-Total"] == "3"
    assert page.headers["X-Total"] == "3"
    assert [task["name"] for task in ok(page)["tasks"]] == ["two", "three"]  # descending by default
    # /api/tasks/stats is the stats, not a task whose id is "stats".
    stats = ok(await rest.get("/api/tasks/stats"))
    assert (stats["totalTasks"], stats["byStatus"]) == ("3", {"Pending": "3"})
    assert ok(await rest.get("/drive/tasks/stats"))["totalTasks"] == "3"
    error_details(await rest.get("/api/tasks", params={"limit": 0}), 400, "INVALID_LIMIT")
    error_details(await rest.get("/api/tasks", params={"status": "Done"}), 400, "INVALID_ARGUMENT")


async def test_cleanup_takes_the_age_in_seconds(rest: httpx.AsyncClient) -> None:
    task_id = (await create_task(rest))["taskId"]
    ok(await rest.post(f"/api/tasks/{task_id}/cancel"))
    await create_task(rest)  # not terminal: never cleaned
    assert ok(await rest.delete("/api/tasks/cleanup", params={"maxAgeSeconds": 3600})) == {"deletedCount": 0}
    both = await rest.delete("/api/tasks/cleanup", params={"maxAgeSeconds": 60, "maxAge.seconds": 60})
    assert error_details(both, 400, "INVALID_AGE") == {"field": "max_age_seconds"}
    error_details(await rest.delete("/api/tasks/cleanup", params={"maxAgeSeconds": -1}), 400, "INVALID_AGE")
    assert ok(await rest.delete("/api/tasks/cleanup")) == {"deletedCount": 1}
    error_details(await rest.get(f"/api/tasks/{task_id}"), 404, "TASK_NOT_FOUND")


async def test_wait(rest: httpx.AsyncClient) -> None:
    task_id = (await create_task(rest))["taskId"]
    started = time.monotonic()
    waited = ok(await rest.get(f"/api/tasks/{task_id}/wait", params={"timeoutSeconds": 1}))
    assert waited["timedOut"] is True and waited["task"]["status"] == "TASK_STATUS_PENDING"
    assert time.monotonic() - started >= 0.9
    ok(await rest.post(f"/api/tasks/{task_id}/complete"))
    finished = ok(await rest.get(f"/api/tasks/{task_id}/wait", params={"timeoutSeconds": 30}))
    assert (finished["timedOut"], finished["task"]["status"]) == (False, "TASK_STATUS_COMPLETED")


async def test_bad_input_and_other_accounts(rest: httpx.AsyncClient, other_rest: httpx.AsyncClient) -> None:
    priority = await rest.post("/api/tasks", json={"type": "TASK_TYPE_CUSTOM", "name": "x", "priority": 101})
    assert error_details(priority, 400, "INVALID_PRIORITY")["field"] == "priority"
    upload_type = await rest.post("/api/tasks", json={"type": "TASK_TYPE_FILE_UPLOAD", "name": "x"})
    error_details(upload_type, 400, "INVALID_TASK_TYPE")
    error_details(
        await rest.post("/api/tasks", json={"type": "Custom", "name": "x"}), 400, "INVALID_ARGUMENT"
    )
    task_id = (await create_task(rest))["taskId"]
    assert error_details(await other_rest.get(f"/api/tasks/{task_id}"), 404, "TASK_NOT_FOUND") == {
        "taskId": task_id
    }
    error_details(await other_rest.post(f"/api/tasks/{task_id}/cancel"), 404, "TASK_NOT_FOUND")

"""The streamed endpoints over HTTP: live task events as JSON lines and raw, ranged downloads."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from typing import Any

import httpx

from tests.gateway.rest import CHUNK, create_task, error_details, ok, upload

WATCH = "/api/tasks:watch"


async def next_event(lines: AsyncIterator[str]) -> dict[str, Any]:
    """The next event of a watch stream (within 10 s)."""
    line = await asyncio.wait_for(anext(lines), 10)
    return json.loads(line)["event"]  # type: ignore[no-any-return]


async def test_events_stream_live_then_replay(rest: httpx.AsyncClient) -> None:
    async with rest.stream("GET", WATCH) as response:
        # The 200 arrives once the server has subscribed: nothing caused from now on is missed.
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/x-ndjson"
        lines = response.aiter_lines()
        task_id = (await create_task(rest, "Compress Files"))["taskId"]
        created = await next_event(lines)
        ok(await rest.post(f"/api/tasks/{task_id}/progress", json={"progress": 67.5}))
        progressed = await next_event(lines)
    # The seed's event JSON (DESIGN §6) inside each line's event.
    assert (created["type"], created["taskId"], created["taskType"]) == (
        "task.created",
        task_id,
        "TASK_TYPE_CUSTOM",
    )
    assert created["data"]["taskId"] == task_id and created["data"]["type"] == "Custom"
    assert progressed["type"] == "task.progress"
    assert {key: progressed["data"][key] for key in ("taskId", "progress", "status")} == {
        "taskId": task_id,
        "progress": 67.5,
        "status": "InProgress",
    }
    assert int(progressed["sequence"]) > int(created["sequence"])

    # Reconnecting with the last sequence seen replays what came after it, then goes live.
    other_id = (await create_task(rest, "other"))["taskId"]
    params = {"afterSequence": created["sequence"], "taskIds": [task_id, "unknown"], "types": "Custom"}
    async with rest.stream("GET", WATCH, params=params) as replay:
        lines = replay.aiter_lines()
        assert (await next_event(lines))["sequence"] == progressed["sequence"]
        ok(await rest.post(f"/api/tasks/{other_id}/cancel"))  # filtered out
        ok(await rest.post(f"/api/tasks/{task_id}/complete"))
        seen = [await next_event(lines)]
        while seen[-1]["type"] != "task.completed":
            seen.append(await next_event(lines))
    assert {event["taskId"] for event in seen} == {task_id}


async def test_a_refused_watch_is_an_error_response(
    rest: httpx.AsyncClient, anonymous: httpx.AsyncClient
) -> None:
    negative = await rest.get(WATCH, params={"afterSequence": -1})
    assert error_details(negative, 400, "INVALID_SEQUENCE") == {"field": "after_sequence"}
    error_details(await anonymous.get(WATCH), 401, "MISSING_TOKEN")
    error_details(await rest.get(WATCH, params={"types": "TASK_TYPE_NONE"}), 400, "INVALID_ARGUMENT")


async def test_download_whole_and_ranged(
    rest: httpx.AsyncClient, other_rest: httpx.AsyncClient, anonymous: httpx.AsyncClient
) -> None:
    data = os.urandom(2 * CHUNK + 123)
    file = await upload(rest, data, contentType="video/mp4")
    url = f"/api/files/{file['id']}/content"

    whole = await rest.get(url)
    assert whole.status_code == 200 and whole.content == data
    assert (whole.headers["content-type"], whole.headers["content-length"]) == ("video/mp4", str(len(data)))
    assert whole.headers["accept-ranges"] == "bytes"

    part = await rest.get(url, headers={"Range": "bytes=100-299"})
    assert (part.status_code, part.content) == (206, data[100:300])
    assert part.headers["content-range"] == f"bytes 100-299/{len(data)}"
    tail = await rest.get(f"/drive/files/{file['id']}/content", headers={"Range": f"bytes={CHUNK}-"})
    assert (tail.status_code, tail.content) == (206, data[CHUNK:])
    assert tail.headers["content-range"] == f"bytes {CHUNK}-{len(data) - 1}/{len(data)}"
    past_end = await rest.get(url, headers={"Range": "bytes=10-999999999"})
    assert (past_end.status_code, past_end.content) == (206, data[10:])

    beyond = await rest.get(url, headers={"Range": f"bytes={len(data)}-"})
    assert error_details(beyond, 416, "RANGE_NOT_SATISFIABLE") == {"size": str(len(data))}
    assert beyond.headers["content-range"] == f"bytes */{len(data)}"
    far = await rest.get(url, headers={"Range": f"bytes={len(data) + 5}-"})
    assert far.status_code == 416
    suffix = await rest.get(url, headers={"Range": "bytes=-10"})  # not supported: the whole file
    assert (suffix.status_code, suffix.content) == (200, data)

    error_details(await other_rest.get(url), 404, "FILE_NOT_FOUND")
    error_details(await anonymous.get(url), 401, "MISSING_TOKEN")


async def test_an_encrypted_download_takes_its_password_in_a_post_body(rest: httpx.AsyncClient) -> None:
    data = os.urandom(CHUNK + 7)
    file = await upload(rest, data, encryptPassword="correct horse")
    assert file["encrypted"] is True
    url = f"/api/files/{file['id']}/content"
    error_details(await rest.get(url), 400, "PASSWORD_REQUIRED")
    error_details(await rest.post(url, json={"password": "wrong"}), 403, "WRONG_PASSWORD")
    plain = await rest.post(url, json={"password": "correct horse"})
    assert (plain.status_code, plain.content) == (200, data)
    ranged = await rest.post(url, json={"password": "correct horse"}, headers={"Range": "bytes=5-9"})
    assert (ranged.status_code, ranged.content) == (206, data[5:10])

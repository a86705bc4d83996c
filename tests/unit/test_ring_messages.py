"""What Ring receives for events (pure): packets, notification text, one push per failure, backoff."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from drive_service.config import ConfigError, Settings
from drive_service.domain.events import Event, EventType
from drive_service.domain.ring import Notification, Packet, backoff_ceiling, deliveries, render
from drive_service.domain.tasks import TaskType

TEMPLATES = {
    "task.failed": ("Task failed", "{name}: {errorMessage}"),
    "upload.completed": ("Upload complete", "{fileName} ({fileSize} bytes) is ready"),
    "upload.failed": ("Upload failed", "{fileName}: {errorMessage}"),
}


def event(kind: EventType, task_id: str = "t1", **data: object) -> Event:
    return Event(kind, "acct", task_id, TaskType.FILE_UPLOAD, {"taskId": task_id, **data})


def test_render_fills_fields_and_blanks_missing_ones() -> None:
    data = {"name": "Compress", "progress": 67.5, "results": {"fileId": "f1"}}
    assert render("{name} at {progress:.0f}%", data) == "Compress at 68%"
    assert render("{name}: {errorMessage}", data) == "Compress: "
    assert render("[{missing!r}|{missing:>5}|{missing:.1f}]", data) == "[||]"
    assert render("{results[fileId]}", data) == "f1"
    assert render("no fields, {{braces}}", data) == "no fields, {braces}"


def test_render_never_raises() -> None:
    data = {"fileName": "a.bin", "size": 3}
    # A spec that does not fit the value shows the plain value instead.
    assert render("{fileName:.1f} / {size:d}", data) == "a.bin / 3"
    assert render("unbalanced {fileName", data) == "unbalanced {fileName"
    assert render("{fileName.nope}", data) == ""


def test_every_event_becomes_a_packet_with_its_data_json() -> None:
    created = event(
        EventType.TASK_CREATED, name="Upload", type="FileUpload", createdAt="2026-01-01T00:00:00Z"
    )
    progress = event(EventType.TASK_PROGRESS, progress=67.5, status="InProgress")
    (first, second) = deliveries([created, progress], "drive.tasks", TEMPLATES)
    assert first == Packet("acct", "task.created", first.data)
    assert json.loads(first.data) == created.data
    assert isinstance(second, Packet)
    assert {"type": second.type, "data": json.loads(second.data)} == progress.packet()


def test_notifications_follow_their_packet() -> None:
    done = event(EventType.UPLOAD_COMPLETED, fileId="f1", fileName="a.bin", fileSize=3)
    planned = deliveries([event(EventType.TASK_COMPLETED), done], "drive.test", TEMPLATES)
    assert [type(item) for item in planned] == [Packet, Packet, Notification]
    notification = planned[2]
    assert isinstance(notification, Notification)
    assert (notification.user_id, notification.topic, notification.title, notification.body) == (
        "acct",
        "drive.test",
        "Upload complete",
        "a.bin (3 bytes) is ready",
    )
    assert json.loads(notification.meta) == done.data


def test_a_failed_upload_is_one_notification() -> None:
    task_failed = event(EventType.TASK_FAILED, name="Upload", errorMessage="hash mismatch")
    upload_failed = event(EventType.UPLOAD_FAILED, fileName="a.bin", errorMessage="hash mismatch")
    planned = deliveries([task_failed, upload_failed], "t", TEMPLATES)
    notifications = [item for item in planned if isinstance(item, Notification)]
    assert [(n.title, n.body) for n in notifications] == [("Upload failed", "a.bin: hash mismatch")]
    assert len(planned) == 3
    # Another task's failure in the same batch still gets its own.
    other = event(EventType.TASK_FAILED, "t2", name="Compress", errorMessage="boom")
    planned = deliveries([task_failed, upload_failed, other], "t", TEMPLATES)
    assert [n.body for n in planned if isinstance(n, Notification)] == [
        "a.bin: hash mismatch",
        "Compress: boom",
    ]


def test_backoff_doubles_up_to_the_cap() -> None:
    assert [backoff_ceiling(attempt, 0.1, 1.0) for attempt in (1, 2, 3, 4, 5, 500)] == [
        0.1,
        0.2,
        0.4,
        0.8,
        1.0,
        1.0,
    ]


def test_ring_settings(tmp_path: Path) -> None:
    ring = Settings.from_env(
        {
            "DRIVE_DATA_DIR": str(tmp_path),
            "RING_SERVICE_ADDRESS": "ring:5001",
            "RING_TASK_FAILED_TITLE": "Oops: {name}",
            "RING_RETRY_BASE_MS": "50",
            "RING_RETRY_MAX_MS": "2000",
        }
    ).ring
    assert ring.address == "ring:5001"
    assert ring.notifications["task.failed"] == ("Oops: {name}", "{name}: {errorMessage}")
    assert (ring.retry_base_seconds, ring.retry_max_seconds, ring.call_timeout_seconds) == (0.05, 2.0, 5.0)


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"RING_UPLOAD_FAILED_BODY": "{fileName"}, "RING_UPLOAD_FAILED_BODY"),
        ({"RING_RETRY_BASE_MS": "500", "RING_RETRY_MAX_MS": "100"}, "RING_RETRY_MAX_MS"),
        ({"RING_CALL_TIMEOUT_MS": "0"}, "RING_CALL_TIMEOUT_MS"),
        ({"RING_SERVICE_ADDRESS": "no-port"}, "RING_SERVICE_ADDRESS"),
    ],
)
def test_bad_ring_settings_name_the_variable(tmp_path: Path, env: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"DRIVE_DATA_DIR": str(tmp_path), **env})
    assert caught.value.variable == variable

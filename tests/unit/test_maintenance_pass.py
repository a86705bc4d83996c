"""One maintenance pass on the in-memory ports, with an injected clock."""

from __future__ import annotations

import hashlib
import os

from drive_service.domain.tasks import TaskStatus, TaskType
from drive_service.domain.uploads import UploadRequest
from drive_service.domain.validation import NewTask
from drive_service.services.tokens import Caller
from tests.in_memory import CHUNK, in_memory
from tests.support import new_account


async def test_a_pass_expires_idle_uploads_purges_old_tasks_and_prunes_old_events() -> None:
    service, caller = in_memory(), Caller(new_account())
    data = os.urandom(2 * CHUNK)
    request = UploadRequest(
        "idle.bin",
        len(data),
        "application/octet-stream",
        hashlib.sha256(data).hexdigest(),
        CHUNK,
        "",
        "",
        "",
        None,
    )
    created = await service.uploads.create(caller, request)
    assert created.task is not None
    await service.uploads.upload_chunk(caller.account_id, created.task.task_id, 0, data[:CHUNK], None)
    old = await service.tasks.create(
        caller.account_id, NewTask(TaskType.CUSTOM, "old", "", 0, {}, None, None)
    )
    await service.tasks.cancel(caller.account_id, old.task_id)

    report = await service.maintenance.run_once()
    assert (report.uploads_expired, report.tasks_purged, report.events_pruned) == (0, 0, 0)

    service.clock.advance(hours=25)  # past the 24 h stale threshold and the 24 h replay window
    report = await service.maintenance.run_once()
    assert (report.uploads_expired, report.events_pruned) == (1, 5)  # created, progress, created, cancelled
    upload, _ = await service.uploads.get(caller.account_id, created.task.task_id)
    assert upload.status is TaskStatus.EXPIRED and service.blobs.staging == {}

    service.clock.advance(days=31)  # past the 30-day retention of terminal tasks
    report = await service.maintenance.run_once()
    assert report.tasks_purged == 2
    listed, total = await service.uploads.list_uploads(caller.account_id, None, "created", True, 0, 10)
    assert (listed, total) == ([], 0)

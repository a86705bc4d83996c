"""Domain objects to start from in tests that need one without a database."""

from __future__ import annotations

from datetime import UTC, datetime

from drive_service.domain.tasks import Task, TaskStatus, TaskType

NOW = datetime(2026, 1, 1, tzinfo=UTC)

#: A CUSTOM task in progress with parameters, a lease and sealed secrets.
TASK = Task(
    task_id="t" * 21,
    account_id="a",
    type=TaskType.CUSTOM,
    status=TaskStatus.IN_PROGRESS,
    name="n",
    description="",
    priority=1,
    progress=12.5,
    status_message="",
    parameters={"x": [1, 2]},
    results={},
    error_message="",
    created_at=NOW,
    updated_at=NOW,
    last_activity=NOW,
    lease_expires_at=NOW,
    sealed_secrets=b"sealed",
)

"""The task cache's encoding: a round trip without secrets, and unreadable entries refused."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from drive_service.domain.tasks import Task, TaskStatus, TaskType
from drive_service.storage.task_cache import decode, encode

NOW = datetime(2026, 1, 1, tzinfo=UTC)
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


def test_round_trip_without_secrets() -> None:
    assert decode(encode(TASK)) == dataclasses.replace(TASK, sealed_secrets=None)


@pytest.mark.parametrize("payload", [b"not json", b"{}", b'{"type": "Custom"}', b"[]"])
def test_unreadable_entries_raise_what_the_cache_treats_as_a_miss(payload: bytes) -> None:
    with pytest.raises((ValueError, TypeError, KeyError)):
        decode(payload)

"""The task state machine (docs/contract.md#tasks)."""

from __future__ import annotations

import pytest

from drive_service.domain.tasks import TERMINAL_STATUSES, Action, TaskStatus, next_status
from drive_service.errors import InvalidTaskState

ALLOWED = {
    (TaskStatus.PENDING, Action.START): TaskStatus.IN_PROGRESS,
    (TaskStatus.PENDING, Action.REPORT_PROGRESS): TaskStatus.IN_PROGRESS,
    (TaskStatus.IN_PROGRESS, Action.REPORT_PROGRESS): TaskStatus.IN_PROGRESS,
    (TaskStatus.PENDING, Action.COMPLETE): TaskStatus.COMPLETED,
    (TaskStatus.IN_PROGRESS, Action.COMPLETE): TaskStatus.COMPLETED,
    (TaskStatus.PENDING, Action.FAIL): TaskStatus.FAILED,
    (TaskStatus.IN_PROGRESS, Action.FAIL): TaskStatus.FAILED,
    (TaskStatus.IN_PROGRESS, Action.PAUSE): TaskStatus.PAUSED,
    (TaskStatus.PAUSED, Action.RESUME): TaskStatus.IN_PROGRESS,
    (TaskStatus.PENDING, Action.CANCEL): TaskStatus.CANCELLED,
    (TaskStatus.IN_PROGRESS, Action.CANCEL): TaskStatus.CANCELLED,
    (TaskStatus.PAUSED, Action.CANCEL): TaskStatus.CANCELLED,
    (TaskStatus.PENDING, Action.EXPIRE): TaskStatus.EXPIRED,
    (TaskStatus.IN_PROGRESS, Action.EXPIRE): TaskStatus.EXPIRED,
    (TaskStatus.PAUSED, Action.EXPIRE): TaskStatus.EXPIRED,
}


@pytest.mark.parametrize("status", list(TaskStatus))
@pytest.mark.parametrize("action", list(Action))
def test_every_pair(status: TaskStatus, action: Action) -> None:
    expected = ALLOWED.get((status, action))
    if expected is None:
        with pytest.raises(InvalidTaskState) as caught:
            next_status("t1", status, action)
        assert caught.value.reason == "INVALID_TASK_STATE"
        assert caught.value.metadata == {"taskId": "t1", "status": status.value, "action": action.value}
    else:
        assert next_status("t1", status, action) is expected


def test_terminal_statuses_allow_nothing() -> None:
    for status in TERMINAL_STATUSES:
        assert status.terminal
        assert not any((status, action) in ALLOWED for action in Action)

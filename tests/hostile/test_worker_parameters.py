"""Property: a task whose parameters are hostile is refused at creation, or run by its handler to
a clean end: no traceback, no Python exception name as its error, nothing of another account's
touched."""

from __future__ import annotations

import re

import grpc
from google.protobuf import duration_pb2
from hypothesis import given
from hypothesis import strategies as st

from drive.v1 import task_enums_pb2, tasks_pb2, tasks_pb2_grpc
from tests.hostile import checks
from tests.hostile.checks import CallLost, Problems, WrongAnswer
from tests.hostile.harness import Call, Harness
from tests.hostile.hints import HANDLED_TYPES
from tests.hostile.observe import rpc
from tests.hostile.profile import hostile_settings
from tests.hostile.spec import Msg
from tests.hostile.strategies import handler_parameters

CREATE_TASK = rpc("TaskService.CreateTask")
#: Long enough for any handler on these tiny files; a task still running then is cancelled.
RUN_SECONDS = 5
_TERMINAL = {
    task_enums_pb2.TaskStatus.TASK_STATUS_COMPLETED,
    task_enums_pb2.TaskStatus.TASK_STATUS_FAILED,
    task_enums_pb2.TaskStatus.TASK_STATUS_CANCELLED,
    task_enums_pb2.TaskStatus.TASK_STATUS_EXPIRED,
}
#: "OverflowError during the attempt", "KeyError: 'x'": a crash shown instead of a reason.
_PYTHON_ERROR = re.compile(r"\b[A-Z][A-Za-z]*(Error|Exception)\b")


@hostile_settings(ci_examples=10)
@given(data=st.data())
async def test_handler_parameters(worker_hostile: Harness, data: st.DataObject) -> None:
    """The task is created with the caller's own file and bundle (made for the example) and
    parameters of its type, one or two of them hostile (extreme or unparsable times, another
    account's ids, NaN, deep or huge values)."""
    task_type = data.draw(st.sampled_from(HANDLED_TYPES), label="type")
    parameters = data.draw(handler_parameters(task_type), label="parameters")
    request = Msg("CreateTaskRequest", (("type", task_type), ("name", "job"), ("parameters", parameters)))
    ran = await worker_hostile.run(CREATE_TASK, Call(False, request))
    if not ran.outcome.ok:
        return  # refused at creation: Harness.run checked the refusal
    task_id = ran.outcome.responses[0].task.task_id  # type: ignore[attr-defined]
    problems = Problems()
    task = await _run_to_end(worker_hostile, ran.caller.metadata, task_id, problems)
    failed = task is not None and task.status == task_enums_pb2.TaskStatus.TASK_STATUS_FAILED
    if task is not None and failed and _PYTHON_ERROR.search(task.error_message):
        problems.add(WrongAnswer, f"the task failed with a crash, not a reason: {task.error_message!r}")
    await worker_hostile.after(problems, ran.caller)
    checks.check_logs(problems, worker_hostile.logs.take())
    worker_hostile.report(problems, f"{task_enums_pb2.TaskType.Name(task_type)} task: {request!r}")


async def _run_to_end(
    harness: Harness, metadata: tuple[tuple[str, str], ...], task_id: str, problems: Problems
) -> tasks_pb2.Task | None:
    """Wait for the worker to end the task; cancel it (so that no retry runs during the next
    example) when it is still going after RUN_SECONDS."""
    stub = tasks_pb2_grpc.TaskServiceStub(harness.channel)  # type: ignore[no-untyped-call]
    wait = tasks_pb2.WaitTaskRequest(task_id=task_id, timeout=duration_pb2.Duration(seconds=RUN_SECONDS))
    try:
        waited = await stub.WaitTask(wait, metadata=metadata, timeout=RUN_SECONDS + 10)
        if waited.task.status in _TERMINAL:
            return waited.task  # type: ignore[no-any-return]
        cancel = tasks_pb2.CancelTaskRequest(task_id=task_id)
        return (await stub.CancelTask(cancel, metadata=metadata, timeout=10)).task  # type: ignore[no-any-return]
    except grpc.aio.AioRpcError as error:
        problems.add(CallLost, f"waiting for the task failed: {error.code().name} {error.details()}")
        return None

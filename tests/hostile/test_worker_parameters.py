"""Tasks whose parameters are hostile are refused at creation, or run by their handler to a clean
end: no traceback, no Python exception name as the task's error, nothing of another account's
touched.

The deterministic cases of a type run concurrently (the worker takes four at a time); a
traceback is charged to the task it names (its ``task_id`` log field) or else to the whole type.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass

import grpc
import pytest
from google.protobuf import duration_pb2
from hypothesis import given
from hypothesis import strategies as st

from drive.v1 import task_enums_pb2, tasks_pb2, tasks_pb2_grpc
from tests.hostile import checks
from tests.hostile.cases import Case, handler_cases
from tests.hostile.checks import CallLost, Problems, WrongAnswer
from tests.hostile.harness import Call, Harness
from tests.hostile.hints import HANDLED_TYPES
from tests.hostile.invoke import invoke
from tests.hostile.observe import rpc
from tests.hostile.profile import hostile_settings
from tests.hostile.spec import Msg, build, refs
from tests.hostile.strategies import handler_parameters
from tests.hostile.world import Account, materialize, resolver

CREATE_TASK = rpc("TaskService.CreateTask")
#: Long enough for any handler on these tiny files; a task still running then is cancelled.
RUN_SECONDS = 8
_TERMINAL = {
    task_enums_pb2.TaskStatus.TASK_STATUS_COMPLETED,
    task_enums_pb2.TaskStatus.TASK_STATUS_FAILED,
    task_enums_pb2.TaskStatus.TASK_STATUS_CANCELLED,
    task_enums_pb2.TaskStatus.TASK_STATUS_EXPIRED,
}
#: "OverflowError during the attempt", "KeyError: 'x'": a crash shown instead of a reason.
_PYTHON_ERROR = re.compile(r"\b[A-Z][A-Za-z]*(Error|Exception)\b")


def _request(task_type: int, parameters: object) -> Msg:
    return Msg("CreateTaskRequest", (("type", task_type), ("name", "job"), ("parameters", parameters)))


@dataclass
class _Ran:
    label: str
    task_id: str
    problems: Problems


@pytest.mark.parametrize("task_type", HANDLED_TYPES, ids=task_enums_pb2.TaskType.Name)
async def test_handler_cases(worker_hostile: Harness, task_type: int) -> None:
    """Each entry of the type's parameters set to extreme or unparsable times, another account's
    ids, a huge id list, wrong types, NaN, path-like names (cases.handler_cases)."""
    worker_hostile.logs.take()
    ran = await asyncio.gather(
        *(_create_and_run(worker_hostile, task_type, case) for case in handler_cases(task_type))
    )
    batch = Problems()
    by_task = {item.task_id: item for item in ran if item.task_id}
    for record in worker_hostile.logs.take():
        owner = by_task.get(str(getattr(record, "task_id", "")))
        one = Problems()
        checks.check_logs(one, [record])
        for kind, text in one.found:
            (owner.problems if owner else batch).add(kind, text)
    await worker_hostile.after(batch, Account.fresh(worker_hostile.app.settings))
    name = task_enums_pb2.TaskType.Name(task_type)
    found = [(item.problems, f"{name} {item.label}") for item in ran]
    worker_hostile.report_all([*found, (batch, f"{name} tasks (not one in particular)")])


@hostile_settings(ci_examples=5)
@given(data=st.data())
async def test_handler_parameters(worker_hostile: Harness, data: st.DataObject) -> None:
    """Random types and parameters (one or two entries hostile), one task at a time."""
    task_type = data.draw(st.sampled_from(HANDLED_TYPES), label="type")
    request = _request(task_type, data.draw(handler_parameters(task_type), label="parameters"))
    ran = await worker_hostile.run(CREATE_TASK, Call(False, request))
    if not ran.outcome.ok:
        return  # refused at creation: Harness.run checked the refusal
    problems = Problems()
    task_id = ran.outcome.responses[0].task.task_id  # type: ignore[attr-defined]
    await _run_to_end(worker_hostile, ran.caller.metadata, task_id, problems)
    await worker_hostile.after(problems, ran.caller)
    checks.check_logs(problems, worker_hostile.logs.take())
    worker_hostile.report(problems, f"{task_enums_pb2.TaskType.Name(task_type)} task: {request!r}")


async def _create_and_run(harness: Harness, task_type: int, case: Case) -> _Ran:
    """Create the task as a fresh account (with its own file and bundle), then run it to its end."""
    caller = Account.fresh(harness.app.settings)
    request = _request(task_type, case.body)
    await materialize(harness.stubs, caller, refs(request))
    message = build(request, tasks_pb2.CreateTaskRequest(), resolver(caller, harness.victim, harness.pool_id))
    outcome = await invoke(harness.channels, CREATE_TASK, message.SerializeToString(), caller.metadata, 30)
    problems = Problems()
    checks.check_outcome(problems, outcome, deadline_ok=False)
    if not outcome.ok:
        return _Ran(case.label, "", problems)
    task_id = outcome.responses[0].task.task_id  # type: ignore[attr-defined]
    await _run_to_end(harness, caller.metadata, task_id, problems)
    return _Ran(case.label, task_id, problems)


async def _run_to_end(
    harness: Harness, metadata: tuple[tuple[str, str], ...], task_id: str, problems: Problems
) -> None:
    """Wait for the worker to end the task and judge its error; cancel it when it is still going
    after RUN_SECONDS (so that no retry runs later)."""
    stub = tasks_pb2_grpc.TaskServiceStub(harness.channel)  # type: ignore[no-untyped-call]
    wait = tasks_pb2.WaitTaskRequest(task_id=task_id, timeout=duration_pb2.Duration(seconds=RUN_SECONDS))
    try:
        task = (await stub.WaitTask(wait, metadata=metadata, timeout=RUN_SECONDS + 10)).task
        if task.status not in _TERMINAL:
            cancel = tasks_pb2.CancelTaskRequest(task_id=task_id)
            task = (await stub.CancelTask(cancel, metadata=metadata, timeout=10)).task
    except grpc.aio.AioRpcError as error:
        problems.add(CallLost, f"waiting for the task failed: {error.code().name} {error.details()}")
        return
    failed = task.status == task_enums_pb2.TaskStatus.TASK_STATUS_FAILED
    if failed and _PYTHON_ERROR.search(task.error_message):
        problems.add(WrongAnswer, f"the task failed with a crash, not a reason: {task.error_message!r}")

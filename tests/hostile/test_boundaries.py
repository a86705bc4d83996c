"""Every field of every RPC with every canonical hostile value (values.py), one at a time.

Deterministic, so every class issue 9 names is tried on every field in every run, where the
Hypothesis properties only sample them. One test per RPC runs all its cases and fails with the
list of every case that broke an invariant: each line is already minimal (a plausible request
with one field changed).
"""

from __future__ import annotations

import pytest

from tests.hostile.cases import boundary_cases
from tests.hostile.checks import HostileFailure, Leak, Problems, raise_first_of
from tests.hostile.harness import Call, Harness
from tests.hostile.rpcs import RPCS, Rpc


@pytest.mark.parametrize("rpc", RPCS, ids=lambda rpc: rpc.id)
async def test_boundaries(hostile: Harness, rpc: Rpc) -> None:
    """The caller is reused while its calls are refused (a refused call stores nothing, which
    each case checks) and replaced after a call that succeeded or broke an invariant. The
    victim is checked once, after all cases (the cases name none of its resources)."""
    failures: list[HostileFailure] = []
    caller, before = None, None
    for case in boundary_cases(rpc):
        try:
            call = Call(False, case.body, case.label)
            ran = await hostile.run(rpc, call, caller=caller, before=before, check_victim=False)
        except HostileFailure as failure:
            failures.append(failure)
            caller, before = None, None
            continue
        refused = not ran.outcome.ok and ran.after.complete
        caller, before = (ran.caller, ran.after) if refused else (None, None)
    problems = Problems()
    await hostile.victim_unchanged(problems)
    if problems:
        failures.append(Leak(f"after the cases of {rpc.id}: {problems.text()}"))
    raise_first_of(failures)

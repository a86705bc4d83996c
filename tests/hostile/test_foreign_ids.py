"""Another account's existing task, upload, file, bundle or account id, in every id field of
every RPC: NOT_FOUND (or a refusal that says nothing about it), nothing of it shown or changed."""

from __future__ import annotations

import pytest

from tests.hostile.cases import Case, foreign_cases
from tests.hostile.harness import Call, Harness
from tests.hostile.rpcs import RPCS, Rpc

CASES = [pytest.param(rpc, case, id=f"{rpc.id}-{case.label}") for rpc in RPCS for case in foreign_cases(rpc)]


@pytest.mark.parametrize(("rpc", "case"), CASES)
async def test_foreign_id(hostile: Harness, rpc: Rpc, case: Case) -> None:
    """As a plain caller with no resources of its own; the other fields are plausible, so the id
    is what the server must judge. Beyond the general invariants: no FAILED_PRECONDITION,
    ALREADY_EXISTS or DATA_LOSS (each would reveal the resource's state), and the victim's data
    is neither in the answer nor changed."""
    await hostile.run(rpc, Call(False, case.body, case.label), foreign=True)

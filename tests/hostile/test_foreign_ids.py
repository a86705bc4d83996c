"""Another account's existing task, upload, file, bundle or account id, in every id field of
every RPC: NOT_FOUND (or a refusal that says nothing about it), nothing of it shown or changed."""

from __future__ import annotations

import pytest

from tests.hostile.harness import Call, Harness
from tests.hostile.rpcs import RPCS, Rpc
from tests.hostile.spec import Ref
from tests.hostile.strategies import VICTIM_IDS, foreign_request, id_fields

CASES = [
    pytest.param(rpc, path, Ref(name), id=f"{rpc.id}-{path}-{name}")
    for rpc in RPCS
    for path in id_fields(rpc.input)
    for name in VICTIM_IDS[path.rsplit(".", 1)[-1].removesuffix("_ids").removesuffix("_id")]
]


@pytest.mark.parametrize(("rpc", "path", "ref"), CASES)
async def test_foreign_id(hostile: Harness, rpc: Rpc, path: str, ref: Ref) -> None:
    """As a plain caller with no resources of its own; the other fields are plausible, so the id
    is what the server must judge. Beyond the general invariants: no FAILED_PRECONDITION,
    ALREADY_EXISTS or DATA_LOSS (each would reveal the resource's state), and the victim's data
    is neither in the answer nor changed."""
    request = foreign_request(rpc.input, path, ref)
    await hostile.run(rpc, Call(False, (request,) if rpc.client_streaming else request), foreign=True)

"""Property: bytes that do not parse as the request are INVALID_ARGUMENT MALFORMED_REQUEST."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.hostile.harness import Call, Harness
from tests.hostile.profile import hostile_settings
from tests.hostile.rpcs import RPCS, Rpc
from tests.hostile.strategies import requests, unparsable


@pytest.mark.parametrize("rpc", RPCS, ids=lambda rpc: rpc.id)
@hostile_settings(ci_examples=4)
@given(data=st.data())
async def test_unparsable_request(hostile: Harness, rpc: Rpc, data: st.DataObject) -> None:
    """Invalid UTF-8 in a string field (or a Struct key or value), a Struct or unknown groups
    nested beyond protobuf's recursion limit, truncated fields, invalid tags and varints. A client
    stream may send valid messages first: then the server may answer them before reading the bad
    one, so only the general invariants are due, not the MALFORMED_REQUEST answer."""
    raw = data.draw(unparsable(rpc.input), label="raw")
    if not rpc.client_streaming:
        await hostile.run(rpc, Call(False, raw), malformed=True)
        return
    prefix = data.draw(st.lists(requests(rpc.input), max_size=2).map(tuple), label="valid messages first")
    await hostile.run(rpc, Call(False, (*prefix, raw)), malformed=not prefix)

"""Property: any request built from an RPC's descriptor gets a clear answer and harms nothing."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.hostile.harness import Call, Harness
from tests.hostile.profile import hostile_settings
from tests.hostile.rpcs import RPCS, Rpc
from tests.hostile.strategies import requests, streams


@pytest.mark.parametrize("rpc", RPCS, ids=lambda rpc: rpc.id)
@hostile_settings(ci_examples=10)
@given(data=st.data())
async def test_generated_request(hostile: Harness, rpc: Rpc, data: st.DataObject) -> None:
    """Mostly a plausible request with one or two fields hostile, else every field absent,
    plausible or hostile on its own. Hostile: NUL and control characters, huge lengths, integer
    boundaries, NaN/±Inf, unknown enum values, out-of-range Timestamps and Durations, deep, wide or
    NaN-laden Structs, many repeated items, odd byte sizes, the victim's ids. As a plain caller or
    an admin; a client stream sends several such messages, or one very many times."""
    body = data.draw(streams(rpc.input) if rpc.client_streaming else requests(rpc.input), label="request")
    admin = data.draw(st.booleans(), label="admin")
    await hostile.run(rpc, Call(admin, body))

"""The task cache's encoding: a round trip without secrets, and unreadable entries refused."""

from __future__ import annotations

import dataclasses

import pytest

from drive_service.storage.task_cache import decode, encode
from tests.support.samples import TASK


def test_round_trip_without_secrets() -> None:
    assert decode(encode(TASK)) == dataclasses.replace(TASK, sealed_secrets=None)


@pytest.mark.parametrize("payload", [b"not json", b"{}", b'{"type": "Custom"}', b"[]"])
def test_unreadable_entries_raise_what_the_cache_treats_as_a_miss(payload: bytes) -> None:
    with pytest.raises((ValueError, TypeError, KeyError)):
        decode(payload)

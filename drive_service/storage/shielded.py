"""Writes that finish even when their caller is cancelled."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from typing import TypeVar

_T = TypeVar("_T")


async def to_the_end(work: Awaitable[_T]) -> _T:
    """Await ``work``; when cancelled meanwhile, first wait for it to end, then re-raise the
    cancellation (a chunk's receipt must not roll back while its bytes may still be landing)."""
    task = asyncio.ensure_future(work)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        while not task.done():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait([task])
        if not task.cancelled():
            task.exception()  # retrieved: the cancellation wins
        raise

"""``eventually``: the one way tests wait for a state that no event of theirs announces."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")

_NOTHING: Any = object()
_REPR_LIMIT = 2000


def _truthy(value: object) -> bool:
    return bool(value)


def _never(_error: BaseException) -> bool:
    return False


async def eventually(
    probe: Callable[[], Awaitable[T] | T],
    until: Callable[[T], object] = _truthy,
    *,
    within: float = 10.0,
    every: float = 0.02,
    changed: asyncio.Event | None = None,
    retrying: Callable[[BaseException], bool] = _never,
    failure: str | Callable[[], str] = "",
) -> T:
    """Call ``probe`` until ``until`` holds for what it returned, and return that result.

    ``probe`` is a condition or a call, plain or async (an awaitable result is awaited); ``until``
    defaults to the result's truth. Between tries it sleeps ``every`` seconds or, given ``changed``,
    waits for that event (cleared before each try, so a change made during a try is not missed).
    An exception for which ``retrying`` is true means "not yet"; any other one propagates at once.
    Everything, a hanging probe included, is bounded by ``within`` seconds.

    Raises:
        AssertionError: ``within`` passed first. The message starts with ``failure`` (a text, or a
            function giving one, called then) and shows the last result and the last retried error.
    """
    tries = 0
    last: Any = _NOTHING
    error: BaseException | None = None
    deadline = asyncio.timeout(within)
    try:
        async with deadline:
            while True:
                if changed is not None:
                    changed.clear()
                tries += 1
                try:
                    result = probe()
                    if inspect.isawaitable(result):
                        result = await result
                except Exception as raised:
                    if not retrying(raised):
                        raise
                    error = raised
                else:
                    last, error = result, None
                    if until(result):  # type: ignore[arg-type]
                        return result  # type: ignore[return-value]
                if changed is not None:
                    await changed.wait()
                else:
                    await asyncio.sleep(every)
    except TimeoutError:
        if not deadline.expired():
            raise  # the probe's own timeout, not ours
    what = failure() if callable(failure) else failure
    parts = [what or "condition", f"not met within {within} s ({tries} tries)"]
    if last is not _NOTHING:
        parts.append(f"last result: {_short(last)}")
    if error is not None:
        parts.append(f"last error: {_short(error)}")
    raise AssertionError("; ".join(parts)) from error


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= _REPR_LIMIT else f"{text[:_REPR_LIMIT]}…"

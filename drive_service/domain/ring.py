"""What DysonNetwork's Ring service receives for events: WebSocket packets and push notifications.

Pure: the Ring sink sends what these functions return. Ring wraps a packet into the WebSocket frame
``{"type": type, "data": <data>}`` itself, so a packet's ``data`` is the JSON of the seed's ``data``
object, and the frame a client reads is exactly the seed's packet (``Event.packet()``).
"""

from __future__ import annotations

import json
import math
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from drive_service.domain.events import Event, EventType

#: Event type (``task.failed``) -> (title template, body template), ``{field}`` from the event's data.
Templates = Mapping[str, tuple[str, str]]


@dataclass(frozen=True, slots=True)
class Packet:
    """A WebSocket packet for every open socket of ``user_id``; ``data`` is UTF-8 JSON."""

    user_id: str
    type: str
    data: bytes


@dataclass(frozen=True, slots=True)
class Notification:
    """A saved push notification for ``user_id``; ``meta`` is the event's data as UTF-8 JSON."""

    user_id: str
    topic: str
    title: str
    body: str
    meta: bytes


Delivery = Packet | Notification


def data_json(data: Mapping[str, Any]) -> bytes:
    """The UTF-8 JSON of an event's ``data`` object (compact; non-JSON values as text)."""
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def deliveries(events: Sequence[Event], topic: str, templates: Templates) -> list[Delivery]:
    """What Ring receives for one batch of events recorded together, in order.

    Every event becomes a packet to its account, followed by a notification when ``templates``
    has its type. A failed upload is one failure to its user: a ``task.failed`` recorded with an
    ``upload.failed`` of the same task gets no notification of its own (the original sent two).
    """
    failed_uploads = {event.task_id for event in events if event.type is EventType.UPLOAD_FAILED}
    result: list[Delivery] = []
    for event in events:
        data = data_json(event.data)
        result.append(Packet(event.account_id, event.type.value, data))
        pair = templates.get(event.type.value)
        if pair is None or (event.type is EventType.TASK_FAILED and event.task_id in failed_uploads):
            continue
        title, body = pair
        result.append(
            Notification(event.account_id, topic, render(title, event.data), render(body, event.data), data)
        )
    return result


class _Blank:
    """A missing field: renders as nothing, whatever its conversion or format spec."""

    def __format__(self, spec: str) -> str:
        return ""

    def __str__(self) -> str:
        return ""

    def __repr__(self) -> str:
        return ""


class _Fields(dict[str, Any]):
    def __missing__(self, key: str) -> _Blank:
        return _Blank()


def render(template: str, data: Mapping[str, Any]) -> str:
    """``template.format_map(data)`` with missing fields rendered as empty strings.

    Never raises: when a value does not fit its format spec (``{fileName:.1f}``) or the template
    is malformed, each field is shown as its plain value instead.
    """
    try:
        return template.format_map(_Fields(data))
    except (ValueError, TypeError, AttributeError, IndexError, KeyError):
        return _plain(template, data)


def _plain(template: str, data: Mapping[str, Any]) -> str:
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError:  # unbalanced braces: nothing to substitute safely
        return template
    return "".join(
        literal + ("" if field is None else str(data.get(field, ""))) for literal, field, _, _ in parts
    )


def backoff_ceiling(attempt: int, base: float, cap: float) -> float:
    """The upper bound of the wait after failed attempt ``attempt`` (1-based): ``base`` doubled
    per attempt, at most ``cap``. Callers draw the actual wait uniformly below it (full jitter),
    so many senders failing together do not retry together."""
    return min(cap, math.ldexp(base, min(attempt - 1, 1000)))

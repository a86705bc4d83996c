"""Symbolic requests: what the strategies draw, printed compactly, built into messages late.

A drawn request is a tree of plain values and a few markers, so that Hypothesis prints a minimal
example a person can read (a 1 MiB string shows as ``'x' * 1048576``, not as a megabyte of x), and
so that the ids of resources made for one example are filled in only when that example runs:

- ``Ref("own.task")``: the id of a resource of the calling account (made on demand) or of the
  victim account (made once per server);
- ``Rep(unit, count)``: a long string or bytes value, ``unit * count``;
- ``Many(item, count)``: a repeated field, list or stream holding one item ``count`` times;
- ``Deep(depth, leaf, as_list)``: a ``Struct`` value nested ``depth`` times;
- ``Wide(count, leaf)``: a ``Struct`` object with ``count`` keys;
- ``Msg(type, fields)``: a message, fields in field-number order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, is_dataclass
from typing import Any

from google.protobuf.message import Message

STRUCT = "google.protobuf.Struct"


@dataclass(frozen=True)
class Ref:
    """The id of a named resource, resolved when the example runs."""

    name: str

    def __repr__(self) -> str:
        return f"<{self.name}>"


@dataclass(frozen=True)
class Rep:
    """``unit * count``: long values stay printable."""

    unit: str | bytes
    count: int

    def __repr__(self) -> str:
        return f"{self.unit!r}*{self.count}"


@dataclass(frozen=True)
class Many:
    """``count`` copies of ``item`` (a repeated field, a JSON list or a stream of messages)."""

    item: object
    count: int

    def __repr__(self) -> str:
        return f"[{self.item!r}]*{self.count}"


@dataclass(frozen=True)
class Deep:
    """A Struct value nested ``depth`` times around ``leaf``: ``{"k": {"k": …}}`` or ``[[…]]``."""

    depth: int
    leaf: object
    as_list: bool = False

    def __repr__(self) -> str:
        shape = "[…]" if self.as_list else "{'k': …}"
        return f"Deep({shape} x{self.depth}, leaf={self.leaf!r})"


@dataclass(frozen=True)
class Wide:
    """A Struct object with keys ``k0`` … ``k{count-1}``, each holding ``leaf``."""

    count: int
    leaf: object

    def __repr__(self) -> str:
        return f"Wide({self.count} keys, leaf={self.leaf!r})"


@dataclass(frozen=True)
class Msg:
    """A message of type ``type`` (short name) with the given fields set."""

    type: str
    fields: tuple[tuple[str, object], ...]

    def __repr__(self) -> str:
        inner = ", ".join(f"{name}={value!r}" for name, value in self.fields)
        return f"{self.type}({inner})"


Resolve = Callable[[Ref], Any]


def refs(value: object) -> Iterator[Ref]:
    """Every Ref inside ``value``."""
    if isinstance(value, Ref):
        yield value
    elif is_dataclass(value) and not isinstance(value, type):  # Msg, Many, Deep, Wide, wire.Raw …
        for item in vars(value).values():
            yield from refs(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from refs(key)
            yield from refs(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from refs(item)


def plain(value: object, resolve: Resolve) -> Any:
    """``value`` with every marker replaced by what it stands for (Msg excepted)."""
    if isinstance(value, Ref):
        return resolve(value)
    if isinstance(value, Rep):
        return value.unit * value.count
    if isinstance(value, Many):
        return [plain(value.item, resolve)] * value.count
    if isinstance(value, Deep):
        nested = plain(value.leaf, resolve)
        for _ in range(value.depth):
            nested = [nested] if value.as_list else {"k": nested}
        return nested
    if isinstance(value, Wide):
        leaf = plain(value.leaf, resolve)
        return {f"k{index}": leaf for index in range(value.count)}
    if isinstance(value, dict):
        return {plain(key, resolve): plain(item, resolve) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item, resolve) for item in value]
    return value


def build(spec: Msg, message: Message, resolve: Resolve) -> Message:
    """Fill ``message`` (of the type ``spec`` names) from ``spec``; returns ``message``."""
    for name, value in spec.fields:
        field = message.DESCRIPTOR.fields_by_name[name]
        target = getattr(message, name)
        kind = field.message_type
        if field.is_repeated:
            items: list[Any] = [value.item] * value.count if isinstance(value, Many) else list(value)  # type: ignore[call-overload]
            if kind is not None and kind.GetOptions().map_entry:
                _fill_map(kind, target, items, resolve)
                continue
            for item in items:
                if kind is not None:
                    build(item, target.add(), resolve)
                else:
                    target.append(plain(item, resolve))
        elif kind is not None and kind.full_name == STRUCT:
            target.SetInParent()  # an empty Struct is still a present field
            target.update(plain(value, resolve))
        elif kind is not None:
            target.SetInParent()
            assert isinstance(value, Msg)
            build(value, target, resolve)
        else:
            setattr(message, name, plain(value, resolve))
    return message


def _fill_map(entry_type: Any, target: Any, entries: list[Msg], resolve: Resolve) -> None:
    """A map field (``entry_type`` is its entry Descriptor): each drawn entry message sets one key
    (a later entry wins, as on the wire)."""
    key_field = entry_type.fields_by_name["key"]
    value_field = entry_type.fields_by_name["value"]
    for entry in entries:
        drawn = dict(entry.fields)
        key = plain(drawn.get("key", key_field.default_value), resolve)
        if value_field.message_type is not None:
            value = drawn.get("value", Msg(value_field.message_type.name, ()))
            assert isinstance(value, Msg)
            build(value, target[key], resolve)
        else:
            target[key] = plain(drawn.get("value", value_field.default_value), resolve)


def size(value: object) -> int:
    """A rough upper bound of ``value``'s encoded size in bytes, without building it (a drawn
    ``Many`` of a ``Rep`` may stand for gigabytes)."""
    if isinstance(value, Rep):
        return len(value.unit if isinstance(value.unit, bytes) else value.unit.encode()) * value.count + 8
    if isinstance(value, str):
        return len(value.encode()) + 8
    if isinstance(value, bytes):
        return len(value) + 8
    if isinstance(value, Many):
        return size(value.item) * value.count
    if isinstance(value, Deep):
        return 12 * value.depth + size(value.leaf)
    if isinstance(value, Wide):
        return (12 + len(str(value.count))) * value.count + size(value.leaf) * value.count
    if isinstance(value, Msg):
        return 8 + sum(size(item) for _, item in value.fields)
    if isinstance(value, dict):
        return 8 + sum(size(key) + size(item) for key, item in value.items())
    if isinstance(value, list | tuple):
        return 8 + sum(size(item) for item in value)
    return 16

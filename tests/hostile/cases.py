"""Deterministic cases built from descriptors: every field of every RPC with every canonical
hostile value, and every id field with another account's ids.

Each case is a plausible request (hints.py) with exactly one thing changed, so that a failure
names its field and value, and the list doubles as the map of what the server gets wrong.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

from google.protobuf.descriptor import Descriptor, FieldDescriptor

from tests.hostile import hints, values
from tests.hostile.rpcs import Rpc
from tests.hostile.spec import STRUCT, Many, Ref, Rep
from tests.hostile.strategies import INTEGER_BOUNDS, fillable, leaf_paths, set_path, to_msg

_F = FieldDescriptor
_MANY = 10_000  # items in a repeated field
_STREAM = 300  # messages in a stream (the server reads them one by one: keep the run short)


@dataclass(frozen=True)
class Case:
    """One request (a Msg, or for a client stream a tuple of them or a Many) and what it tries."""

    label: str
    body: object


def plausible(descriptor: Descriptor, service: str, depth: int = 0) -> dict[str, object]:
    """The deterministic plausible request: each hinted field at its first hinted value."""
    tree: dict[str, object] = {}
    for item in descriptor.fields:
        known, value = hints.first_plausible(service, item.name)
        if known:
            tree[item.name] = list(value) if isinstance(value, tuple) else value
        elif (message := item.message_type) and fillable(item) and depth < 2:
            inner = plausible(message, service, depth + 1)
            if inner:
                tree[item.name] = inner
    return tree


def canonical(field: FieldDescriptor) -> tuple[object, ...]:
    """The canonical hostile values of the field's type (values.py); none for bool."""
    if field.type in INTEGER_BOUNDS:
        return values.canonical_integers(INTEGER_BOUNDS[field.type])
    if field.type in (_F.TYPE_DOUBLE, _F.TYPE_FLOAT):
        return values.CANONICAL_FLOATS
    if field.type == _F.TYPE_STRING:
        return values.CANONICAL_STRINGS
    if field.type == _F.TYPE_BYTES:
        return values.CANONICAL_BYTES
    if field.enum_type is not None:
        return values.CANONICAL_ENUMS
    message = field.message_type
    if message is None:
        return ()
    if message.full_name == "google.protobuf.Timestamp":
        return tuple(values.timestamp(*parts) for parts in values.CANONICAL_TIMESTAMPS)
    if message.full_name == "google.protobuf.Duration":
        return tuple(values.duration(*parts) for parts in values.CANONICAL_DURATIONS)
    if message.full_name == STRUCT:
        return values.CANONICAL_STRUCTS
    return ()  # other messages: their fields are cases of their own (leaf_paths)


def boundary_cases(rpc: Rpc) -> list[Case]:
    """The plausible request, then each field (one level into message fields) set to each of its
    canonical values; a repeated field gets a one-item list, and once very many plausible items;
    a client stream also sends the plausible message very many times."""
    base = plausible(rpc.input, rpc.service)
    cases = [Case("the plausible request", to_msg(rpc.input, base))]
    for path in leaf_paths(rpc.input):
        names = tuple(item.name for item in path)
        field = path[-1]
        options: list[object] = list(canonical(field))
        if field.is_repeated:
            current = base.get(names[0]) if len(names) == 1 else None
            item = current[0] if isinstance(current, list) and current else (options or [""])[0]
            options = [[value] for value in options] + [Many(item, _MANY)]
        for value in options:
            tree = copy.deepcopy(base)
            set_path(tree, names, value)
            cases.append(Case(f"{'.'.join(names)}={value!r}", to_msg(rpc.input, tree)))
    if rpc.client_streaming:
        cases = [Case(case.label, (case.body,)) for case in cases]
        cases.append(Case(f"the plausible message {_STREAM} times", Many(to_msg(rpc.input, base), _STREAM)))
    return cases


#: The victim's resources an id field may name, by the field name's stem (``task_id`` → task).
VICTIM_IDS = {
    "task": ("victim.task", "victim.done_task", "victim.upload"),
    "file": ("victim.file",),
    "bundle": ("victim.bundle",),
    "account": ("victim.account",),
}


def id_fields(descriptor: Descriptor, prefix: str = "") -> list[str]:
    """Dotted paths of the string fields naming a resource kind of VICTIM_IDS (``task_id``,
    ``task_ids``, ``metadata.bundle_id`` …), one level into message fields."""
    found = []
    for item in descriptor.fields:
        stem = item.name.removesuffix("_ids").removesuffix("_id")
        if item.type == _F.TYPE_STRING and stem != item.name and stem in VICTIM_IDS:
            found.append(prefix + item.name)
        elif item.message_type is not None and fillable(item) and not prefix:
            found.extend(id_fields(item.message_type, f"{item.name}."))
    return found


def foreign_cases(rpc: Rpc) -> list[Case]:
    """The plausible request with one id field naming each of the victim's resources of its kind
    (the caller then has nothing of its own: every id it sends is the victim's or unknown)."""
    cases = []
    for path in id_fields(rpc.input):
        names = tuple(path.split("."))
        field = _field_at(rpc.input, names)
        stem = names[-1].removesuffix("_ids").removesuffix("_id")
        for name in VICTIM_IDS[stem]:
            tree = _without_own_refs(plausible(rpc.input, rpc.service))
            set_path(tree, names, [Ref(name)] if field.is_repeated else Ref(name))
            body = to_msg(rpc.input, tree)
            cases.append(Case(f"{path}=<{name}>", (body,) if rpc.client_streaming else body))
    return cases


def _field_at(descriptor: Descriptor, names: tuple[str, ...]) -> FieldDescriptor:
    field = descriptor.fields_by_name[names[0]]
    if len(names) == 1:
        return field
    assert field.message_type is not None
    return _field_at(field.message_type, names[1:])


def _without_own_refs(tree: dict[str, object]) -> dict[str, object]:
    """The tree without the caller's own resources (a foreign case must hold only the victim's)."""
    kept: dict[str, object] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            kept[key] = _without_own_refs(value)
        elif not _names_own(value):
            kept[key] = value
    return kept


def _names_own(value: object) -> bool:
    if isinstance(value, list):
        return any(_names_own(item) for item in value)
    return isinstance(value, Ref) and value.name.startswith("own.") and value.name != "own.upload.sha256"


def handler_cases(task_type: int) -> list[Case]:
    """The type's plausible parameters (hints.HANDLER_PARAMETERS), then each of their entries (and
    the entries of an object-valued one) set to each value that fits its name (_parameter_values)."""
    base = hints.HANDLER_PARAMETERS[task_type]
    paths: list[tuple[str, ...]] = [(key,) for key in base]
    paths += [(key, inner) for key, value in base.items() if isinstance(value, dict) for inner in value]
    cases = [Case("plausible parameters", base)]
    for path in paths:
        current: object = base
        for step in path:
            current = current[step] if isinstance(current, dict) else None
        for value in _parameter_values(path[-1], current):
            parameters = copy.deepcopy(base)
            set_path(parameters, path, value)
            cases.append(Case(f"{'.'.join(path)}={value!r}", parameters))
    return cases


def _parameter_values(key: str, current: object) -> tuple[object, ...]:
    """Hostile values for a handler parameter, by what its name and plausible value say it is."""
    if key.endswith("At"):
        return hints.TIMES[0], hints.TIMES[1], hints.TIMES[-1]
    if key.endswith("Ids"):
        return [Ref("victim.file")], Many(Ref("own.file"), _MANY), "not a list"
    if key.endswith("PoolId"):
        return "no-such-pool", 12345
    if key.endswith("Id"):
        return Ref("victim.bundle") if "Bundle" in key else Ref("victim.file"), 12345
    if isinstance(current, dict):
        return "not an object", {}
    if isinstance(current, int | float):
        return math.nan, 1e308, -1
    return "../../etc/passwd", Rep("x", 1000), 12345

"""Hypothesis strategies for any drive.v1 request, built from its message descriptor.

``requests(descriptor)`` covers every field type by its descriptor alone, so a new RPC or field is
exercised without touching this module. Most examples are *focused*: a plausible request
(hints.py) with one or two fields hostile (values.py), so that the hostile value gets past the
first checks and reaches its own; the others draw every field absent, plausible or hostile.
``unparsable(descriptor)`` draws bytes that are not a valid encoding of the message (wire.py);
``handler_parameters(type)`` draws task parameters for the worker's handlers.
"""

from __future__ import annotations

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from hypothesis import strategies as st

from tests.hostile import hints, values, wire
from tests.hostile.spec import STRUCT, Many, Msg
from tests.hostile.wire import Raw

_F = FieldDescriptor
INTEGER_BOUNDS = {
    _F.TYPE_INT32: values.INT32, _F.TYPE_SINT32: values.INT32, _F.TYPE_SFIXED32: values.INT32,
    _F.TYPE_INT64: values.INT64, _F.TYPE_SINT64: values.INT64, _F.TYPE_SFIXED64: values.INT64,
    _F.TYPE_UINT32: values.UINT32, _F.TYPE_FIXED32: values.UINT32,
    _F.TYPE_UINT64: values.UINT64, _F.TYPE_FIXED64: values.UINT64,
}  # fmt: skip
_MAX_NESTING = 3  # message fields inside message fields (drive.v1 requests nest at most 2)
_MANY = (1000, 10_000)  # "many items" in a repeated field or a stream
Path = tuple[FieldDescriptor, ...]


def requests(descriptor: Descriptor) -> st.SearchStrategy[Msg]:
    """Any message of ``descriptor``'s type: focused, or each field drawn on its own."""
    return _focused(descriptor) | _message(descriptor, 0)


def streams(descriptor: Descriptor) -> st.SearchStrategy[object]:
    """What a client stream sends: a focused first message and plausible ones after it, a few
    arbitrary messages or none, or one message very many times."""
    one = requests(descriptor)
    following = st.lists(_plausible(descriptor, 0).map(lambda tree: to_msg(descriptor, tree)), max_size=3)
    focused = st.builds(lambda first, rest: (first, *rest), _focused(descriptor), following)
    return focused | st.lists(one, max_size=5).map(tuple) | st.builds(Many, one, st.sampled_from(_MANY))


def unparsable(descriptor: Descriptor) -> st.SearchStrategy[Raw]:
    """Bytes that do not parse as ``descriptor``'s message: a drawn message plus a corruption."""
    return st.builds(Raw, requests(descriptor), corruptions(descriptor))


def corruptions(descriptor: Descriptor) -> st.SearchStrategy[wire.Corruption]:
    """Every kind of corruption (wire.py) that applies to ``descriptor``'s message: invalid UTF-8
    in each of its string fields (and Struct keys and values), each Struct field nested beyond
    the parser's limit, and the corruptions any message can have."""
    options = [
        st.builds(wire.deep_groups, st.integers(wire.RECURSION_LIMIT + 1, 3000)),
        st.builds(wire.truncated, st.integers(1, 1000)),
        st.sampled_from(wire.FIXED),
    ]
    strings = _string_paths(descriptor, (), "")
    if strings:
        options.append(st.builds(wire.invalid_utf8, st.sampled_from(strings), st.sampled_from(wire.BAD_UTF8)))
    structs = _struct_paths(descriptor, (), "")
    if structs:
        depths = st.integers(34, 3000)  # 34 Struct levels are 102 nested messages
        options.append(st.builds(wire.deep_struct, st.sampled_from(structs), depths, st.booleans()))
    return st.one_of(*options)


def _walked(item: FieldDescriptor, numbers: tuple[int, ...]) -> bool:
    """Whether the paths go into this message field (not Timestamps and Durations: no strings)."""
    message = item.message_type
    return message is not None and len(numbers) < 3 and message.full_name not in _TIME_TYPES


_TIME_TYPES = {"google.protobuf.Timestamp", "google.protobuf.Duration"}


def _string_paths(descriptor: Descriptor, numbers: tuple[int, ...], prefix: str) -> list[wire.FieldPath]:
    """String fields (at any depth), plus the key and a string value of every Struct field."""
    found = []
    for item in descriptor.fields:
        names, path = prefix + item.name, (*numbers, item.number)
        if item.type == _F.TYPE_STRING:
            found.append(wire.FieldPath(names, path))
        elif not _walked(item, numbers) or item.message_type is None:
            continue
        elif item.message_type.full_name == STRUCT:
            # Struct.fields entry: key(1); value(2) is a Value whose string_value is field 3.
            found.append(wire.FieldPath(f"{names} key", (*path, 1, 1)))
            found.append(wire.FieldPath(f"{names} string value", (*path, 1, 2, 3)))
        else:
            found.extend(_string_paths(item.message_type, path, names + "."))
    return found


def _struct_paths(descriptor: Descriptor, numbers: tuple[int, ...], prefix: str) -> list[wire.FieldPath]:
    found = []
    for item in descriptor.fields:
        if not _walked(item, numbers) or item.message_type is None:
            continue
        names, path = prefix + item.name, (*numbers, item.number)
        if item.message_type.full_name == STRUCT:
            found.append(wire.FieldPath(names, path))
        else:
            found.extend(_struct_paths(item.message_type, path, names + "."))
    return found


def hostile_value(field: FieldDescriptor, depth: int = 1) -> st.SearchStrategy[object]:
    """A value of the field's type, ignoring its name: canonical classes first."""
    single = _single(field, depth)
    if field.is_repeated:
        return st.lists(single, min_size=1, max_size=5) | st.builds(Many, single, st.sampled_from(_MANY))
    return single


def leaf_paths(descriptor: Descriptor) -> list[Path]:
    """Every field, and the fields of singular message fields (one level down), by number."""
    found: list[Path] = []
    for item in sorted(descriptor.fields, key=lambda field: field.number):
        found.append((item,))
        if fillable(item) and item.message_type is not None:
            found.extend((item, inner) for inner in sorted(item.message_type.fields, key=lambda f: f.number))
    return found


def to_msg(descriptor: Descriptor, tree: dict[str, object]) -> Msg:
    """A Msg from field name → value, where a message field may hold a dict of its own fields."""
    fields = []
    for item in sorted(descriptor.fields, key=lambda field: field.number):
        if item.name not in tree:
            continue
        value = tree[item.name]
        if (
            isinstance(value, dict)
            and item.message_type is not None
            and item.message_type.full_name != STRUCT
        ):
            value = to_msg(item.message_type, value)
        fields.append((item.name, value))
    return Msg(descriptor.name, tuple(fields))


def set_path(tree: dict[str, object], path: tuple[str, ...], value: object) -> None:
    """Set ``tree[path[0]][path[1]]… = value``, making the dicts on the way."""
    node = tree
    for step in path[:-1]:
        child = node.get(step)
        node[step] = node = child if isinstance(child, dict) else {}
    node[path[-1]] = value


def fillable(item: FieldDescriptor) -> bool:
    """A singular message field other than the well-known types (whose fields are not hinted)."""
    message = item.message_type
    return message is not None and not item.is_repeated and not message.full_name.startswith("google.")


def _hint(name: str) -> st.SearchStrategy[object] | None:
    if name in ("parameters", "results"):
        keys = st.sampled_from(hints.PARAMETER_KEYS)
        return st.dictionaries(keys, st.sampled_from(hints.PARAMETER_VALUES), max_size=4)
    plausible = hints.PLAUSIBLE.get(name)
    return None if plausible is None else st.sampled_from(plausible)


def _plausible(descriptor: Descriptor, depth: int) -> st.SearchStrategy[dict[str, object]]:
    """Every hinted field set to a hinted value; message fields holding hinted fields, filled."""
    required: dict[str, st.SearchStrategy[object]] = {}
    for item in descriptor.fields:
        hint = _hint(item.name)
        if hint is not None:
            required[item.name] = hint
        elif (message := item.message_type) and fillable(item) and depth < _MAX_NESTING and _hinted(message):
            required[item.name] = _plausible(message, depth + 1)
    return st.fixed_dictionaries(required)


def _hinted(message: Descriptor) -> bool:
    return any(inner.name in hints.PLAUSIBLE for inner in message.fields)


@st.composite
def _focused(draw: st.DrawFn, descriptor: Descriptor) -> Msg:
    tree = draw(_plausible(descriptor, 0))
    paths = leaf_paths(descriptor)
    if paths:
        for path in draw(
            st.lists(st.sampled_from(paths), min_size=1, max_size=2, unique=True), label="hostile"
        ):
            set_path(tree, tuple(item.name for item in path), draw(hostile_value(path[-1], len(path))))
    return to_msg(descriptor, tree)


def _message(descriptor: Descriptor, depth: int) -> st.SearchStrategy[Msg]:
    if descriptor.full_name == "google.protobuf.Timestamp":
        return values.timestamps()
    if descriptor.full_name == "google.protobuf.Duration":
        return values.durations()
    optional = {item.name: _field(item, depth) for item in descriptor.fields}
    # Oneof members are drawn like any field: protobuf keeps the last one set, as a client would.
    return st.fixed_dictionaries({}, optional=optional).map(lambda tree: to_msg(descriptor, tree))


def _field(field: FieldDescriptor, depth: int) -> st.SearchStrategy[object]:
    hint = _hint(field.name)
    single = _single(field, depth)
    generic = st.lists(single, max_size=5) | st.builds(Many, single, st.sampled_from(_MANY))
    value = generic if field.is_repeated else single
    return value if hint is None else hint | value


def _single(field: FieldDescriptor, depth: int) -> st.SearchStrategy[object]:
    """One value of the field's type, ignoring its name."""
    if field.type in INTEGER_BOUNDS:
        return values.integers(INTEGER_BOUNDS[field.type])
    if field.type == _F.TYPE_DOUBLE:
        return values.floats()
    if field.type == _F.TYPE_FLOAT:
        return values.floats(width=32)
    if field.type == _F.TYPE_BOOL:
        return st.booleans()
    if field.type == _F.TYPE_STRING:
        return values.strings()
    if field.type == _F.TYPE_BYTES:
        return values.binaries()
    if field.enum_type is not None:
        known = sorted(value.number for value in field.enum_type.values)
        unknown = (*values.CANONICAL_ENUMS, max(known) + 1, *values.INT32)
        return st.sampled_from(unknown) | st.sampled_from(known)
    message = field.message_type
    assert message is not None, f"unknown field type {field.type} of {field.full_name}"
    if message.full_name == STRUCT:
        return values.structs(st.sampled_from(hints.PARAMETER_KEYS) | values.strings())
    if depth >= _MAX_NESTING:
        return st.just(Msg(message.name, ()))
    return st.deferred(lambda: _message(message, depth + 1))


def handler_parameters(task_type: int) -> st.SearchStrategy[dict[str, object]]:
    """The type's valid-looking parameters with one or two entries (at most one level down)
    replaced by a hostile value: another account's ids, extreme times, numbers and strings."""
    base = hints.HANDLER_PARAMETERS[task_type]
    paths: list[tuple[str, ...]] = [(key,) for key in sorted({*base, *hints.PARAMETER_KEYS})]
    paths += [(key, inner) for key, value in base.items() if isinstance(value, dict) for inner in value]
    hostile = st.sampled_from(hints.PARAMETER_VALUES) | values.json_values(
        st.sampled_from(hints.PARAMETER_KEYS) | values.strings()
    )

    @st.composite
    def focused(draw: st.DrawFn) -> dict[str, object]:
        parameters = {key: dict(value) if isinstance(value, dict) else value for key, value in base.items()}
        for path in draw(st.lists(st.sampled_from(paths), min_size=1, max_size=2, unique=True)):
            set_path(parameters, path, draw(hostile))
        return parameters

    return focused()

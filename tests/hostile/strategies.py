"""Hypothesis strategies for any drive.v1 request, built from its message descriptor.

``requests(descriptor)`` covers every field type by its descriptor alone, so a new RPC or field is
exercised without touching this module. ``HINTS`` adds plausible values for well-known field
names (ids of real resources, a valid content type, a chunk-sized payload …): a *focused* example
is a plausible request with one or two fields made hostile, so that the hostile value gets past
the first checks and reaches the deeper ones; hints also bring in the victim account's ids.
``unparsable(descriptor)`` draws raw bytes that are not a valid encoding of the message
(``wire.py``), and ``foreign_request`` puts another account's id into an otherwise plausible one.
"""

from __future__ import annotations

from collections.abc import Mapping

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from hypothesis import strategies as st

from drive.v1 import task_enums_pb2
from tests.hostile import values, wire
from tests.hostile.spec import STRUCT, Many, Msg, Ref, Rep
from tests.hostile.wire import Raw

_F = FieldDescriptor
_INTEGER_BOUNDS = {
    _F.TYPE_INT32: values.INT32, _F.TYPE_SINT32: values.INT32, _F.TYPE_SFIXED32: values.INT32,
    _F.TYPE_INT64: values.INT64, _F.TYPE_SINT64: values.INT64, _F.TYPE_SFIXED64: values.INT64,
    _F.TYPE_UINT32: values.UINT32, _F.TYPE_FIXED32: values.UINT32,
    _F.TYPE_UINT64: values.UINT64, _F.TYPE_FIXED64: values.UINT64,
}  # fmt: skip
_MAX_NESTING = 3  # message fields inside message fields (drive.v1 requests nest at most 2)
_MANY = (1000, 10_000)  # "many items" in a repeated field or a stream


def _refs(*names: str) -> st.SearchStrategy[object]:
    return st.sampled_from([Ref(name) for name in names])


#: Resource ids the world (world.py) can resolve: the calling account's (made on demand), the
#: victim's (made once), and ids that name nothing.
TASK_IDS = _refs(
    "own.task", "own.upload", "own.file_task", "victim.task", "victim.done_task", "victim.upload",
    "victim.file_task",
) | st.just("abcdefghijklmnopqrstu")  # fmt: skip
FILE_IDS = _refs("own.file", "victim.file") | st.just("abcdefghijklmnopqrstu")
BUNDLE_IDS = _refs("own.bundle", "victim.bundle") | st.just("abcdefghijklmnopqrstu")
ACCOUNT_IDS = _refs("own.account", "victim.account") | st.just("00000000-0000-4000-8000-000000000000")
_TASK_TYPES = [value.number for value in task_enums_pb2.TaskType.DESCRIPTOR.values if value.number]
_TASK_STATUSES = [value.number for value in task_enums_pb2.TaskStatus.DESCRIPTOR.values if value.number]
#: Parameter keys of the built-in task handlers (DESIGN §5), so parameters reach the handlers' checks.
PARAMETER_KEYS = (
    "fileIds", "fileId", "targetPoolId", "targetBundleId", "compressionFormat", "compressionLevel",
    "outputFileName", "password", "operationType", "targetIds", "operationParameters", "expiredAt",
    "sourcePoolId", "targetFormat",
)  # fmt: skip
_PARAMETER_VALUES = (
    FILE_IDS | st.lists(FILE_IDS, max_size=3) | _refs("pool", "own.bundle", "victim.bundle")
    | st.sampled_from(("zip", "tar.gz", "delete", "move", "setExpiry", "png", 9, "9999-12-31T23:59:59Z"))
)  # fmt: skip


def _parameters() -> st.SearchStrategy[object]:
    keys = st.sampled_from(PARAMETER_KEYS) | values.strings()
    plausible = st.dictionaries(st.sampled_from(PARAMETER_KEYS), _PARAMETER_VALUES, max_size=4)
    return plausible | values.structs(keys)


def _timestamp_in(days: int) -> Msg:
    return Msg("Timestamp", (("seconds", values.NOW_SECONDS + 86_400 * days),))


def _duration(seconds: int, nanos: int = 0) -> Msg:
    return Msg("Duration", (("seconds", seconds), ("nanos", nanos)))


#: Plausible values for well-known field names (any message, any RPC).
HINTS: Mapping[str, st.SearchStrategy[object]] = {
    "task_id": TASK_IDS,
    "task_ids": st.lists(TASK_IDS, max_size=4),
    "file_id": FILE_IDS,
    "bundle_id": st.just("") | BUNDLE_IDS,  # "" (none) first: optional in every request
    "account_id": ACCOUNT_IDS,
    "pool_id": st.just("") | _refs("pool"),
    "name": st.just("report"),
    "file_name": st.just("report.txt"),
    "description": st.just("notes"),
    "status_message": st.just("working"),
    "error_message": st.just("it failed"),
    "content_type": st.sampled_from(("text/plain", "application/octet-stream")),
    "hash": _refs("own.upload.sha256") | st.just("0" * 64),
    "file_size": st.sampled_from((262_244, 100, 1)),
    "chunk_size": st.sampled_from((262_144, 0)),
    "chunk_index": st.sampled_from((1, 0, 2)),
    "data": st.sampled_from((Rep(b"b", 100), Rep(b"a", 262_144))),
    "sort_by": st.sampled_from(("name", "created", "lastActivity", "filename", "filesize")),
    "sort_descending": st.booleans(),
    "limit": st.sampled_from((10, 1, 1000)),
    "offset": st.sampled_from((0, 1)),
    "length": st.sampled_from((10, 0)),
    "progress": st.sampled_from((50.0, 0.0, 100.0)),
    "priority": st.sampled_from((50, 0, 100)),
    "estimated_duration_seconds": st.just(60),
    "after_sequence": st.just(0),
    "type": st.sampled_from(_TASK_TYPES),
    "types": st.lists(st.sampled_from(_TASK_TYPES), min_size=1, max_size=3),
    "status": st.sampled_from(_TASK_STATUSES),
    "parameters": _parameters(),
    "results": _parameters(),
    "password": st.just("correct horse battery staple"),
    "encrypt_password": st.sampled_from(("", "correct horse battery staple")),
    "request_id": st.sampled_from(("", "request-1")),
    "quota_bytes": st.sampled_from((2**30, 2**63 - 1)),
    "expired_at": st.sampled_from((_timestamp_in(30), _timestamp_in(1))),
    "max_age": st.just(_duration(86_400)),
    "timeout": st.just(_duration(0, 100_000_000)),
}


def requests(descriptor: Descriptor) -> st.SearchStrategy[Msg]:
    """Any message of ``descriptor``'s type. Mostly a plausible request with one or two fields
    hostile, so that the hostile value gets past the first checks; otherwise each field absent,
    plausible or hostile independently."""
    return _focused(descriptor) | _message(descriptor, 0)


def streams(descriptor: Descriptor) -> st.SearchStrategy[object]:
    """What a client stream sends: a focused first message and plausible ones after it, a few
    arbitrary messages or none, or one message very many times."""
    one = requests(descriptor)
    following = st.lists(_plausible(descriptor, 0), max_size=3)
    focused = st.builds(lambda first, rest: (first, *rest), _focused(descriptor), following)
    return focused | st.lists(one, max_size=5).map(tuple) | st.builds(Many, one, st.sampled_from(_MANY))


def unparsable(descriptor: Descriptor) -> st.SearchStrategy[Raw]:
    """Bytes that do not parse as ``descriptor``'s message: a drawn message plus a corruption."""
    return st.builds(Raw, requests(descriptor), wire.corruptions(descriptor))


Tree = dict[str, object]  # field name → value, or → Tree for a message field being filled


def _plausible(descriptor: Descriptor, depth: int) -> st.SearchStrategy[Msg]:
    return _plausible_tree(descriptor, depth).map(lambda tree: _to_msg(descriptor, tree))


def _plausible_tree(descriptor: Descriptor, depth: int) -> st.SearchStrategy[Tree]:
    """Every hinted field set to a hinted value; message fields holding hinted fields, filled."""
    required: dict[str, st.SearchStrategy[object]] = {}
    for item in descriptor.fields:
        if item.name in HINTS:
            required[item.name] = HINTS[item.name]
        elif (
            (message := item.message_type)
            and _fillable(item)
            and depth < _MAX_NESTING
            and _has_hints(message)
        ):
            required[item.name] = _plausible_tree(message, depth + 1)
    return st.fixed_dictionaries(required)


@st.composite
def _focused(draw: st.DrawFn, descriptor: Descriptor) -> Msg:
    tree = draw(_plausible_tree(descriptor, 0))
    paths = _leaf_paths(descriptor, ())
    if paths:
        chosen = draw(st.lists(st.sampled_from(paths), min_size=1, max_size=2, unique=True), label="hostile")
        for path in chosen:
            node = tree
            for item in path[:-1]:
                child = node.get(item.name)
                node[item.name] = node = child if isinstance(child, dict) else {}
            node[path[-1].name] = draw(_field(path[-1], len(path), hinted=False))
    return _to_msg(descriptor, tree)


def _to_msg(descriptor: Descriptor, tree: Tree) -> Msg:
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
            value = _to_msg(item.message_type, value)
        fields.append((item.name, value))
    return Msg(descriptor.name, tuple(fields))


def _fillable(item: FieldDescriptor) -> bool:
    """A singular message field other than the well-known types (whose fields are not hinted)."""
    message = item.message_type
    return message is not None and not item.is_repeated and not message.full_name.startswith("google.")


def _has_hints(descriptor: Descriptor | None) -> bool:
    return descriptor is not None and any(item.name in HINTS for item in descriptor.fields)


def _leaf_paths(
    descriptor: Descriptor, prefix: tuple[FieldDescriptor, ...]
) -> list[tuple[FieldDescriptor, ...]]:
    """Fields a focused example may make hostile, through singular message fields (depth 2)."""
    found = []
    for item in sorted(descriptor.fields, key=lambda field: field.number):
        found.append((*prefix, item))
        if _fillable(item) and len(prefix) < 1 and item.message_type is not None:
            found.extend(_leaf_paths(item.message_type, (*prefix, item)))
    return found


def _message(descriptor: Descriptor, depth: int) -> st.SearchStrategy[Msg]:
    if descriptor.full_name == "google.protobuf.Timestamp":
        return _seconds_nanos(descriptor, *values.timestamp_parts())
    if descriptor.full_name == "google.protobuf.Duration":
        return _seconds_nanos(descriptor, *values.duration_parts())
    fields = sorted(descriptor.fields, key=lambda field: field.number)
    optional = {field.name: _field(field, depth) for field in fields}
    # Oneof members are drawn like any field: protobuf keeps the last one set, as a client would.
    return st.fixed_dictionaries({}, optional=optional).map(lambda tree: _to_msg(descriptor, tree))


def _seconds_nanos(
    descriptor: Descriptor, seconds: st.SearchStrategy[int], nanos: st.SearchStrategy[int]
) -> st.SearchStrategy[Msg]:
    return st.builds(lambda s, n: Msg(descriptor.name, (("seconds", s), ("nanos", n))), seconds, nanos)


def _field(field: FieldDescriptor, depth: int, *, hinted: bool = True) -> st.SearchStrategy[object]:
    """A value for ``field``: its hint or any value of its type (``hinted=False``: the latter)."""
    single = _single(field, depth)
    hint = HINTS.get(field.name) if hinted else None
    if field.is_repeated:
        generic = st.lists(single, max_size=5) | st.builds(Many, single, st.sampled_from(_MANY))
        return generic if hint is None else hint | generic
    return single if hint is None else hint | single


def _single(field: FieldDescriptor, depth: int) -> st.SearchStrategy[object]:
    """One value of the field's type, ignoring its name."""
    if field.type in _INTEGER_BOUNDS:
        return values.integers(_INTEGER_BOUNDS[field.type])
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
        unknown = (max(known) + 1, -1, 999, *values.INT32)
        return st.sampled_from(known) | st.sampled_from(unknown)
    message = field.message_type
    assert message is not None, f"unknown field type {field.type} of {field.full_name}"
    if message.full_name == STRUCT:
        return values.structs(values.strings())
    if depth >= _MAX_NESTING:
        return st.just(Msg(message.name, ()))
    return st.deferred(lambda: _message(message, depth + 1))


#: One valid-looking value per well-known field name: the rest of a request whose id is foreign.
PLAUSIBLE: Mapping[str, object] = {
    "name": "report",
    "file_name": "report.txt",
    "content_type": "text/plain",
    "file_size": 100,
    "type": task_enums_pb2.TaskType.TASK_TYPE_CUSTOM,
    "data": Rep(b"b", 100),
    "chunk_index": 1,
    "progress": 50.0,
    "limit": 10,
}
#: The victim's resources an id field may name, by the field name's stem (``task_id`` → task).
VICTIM_IDS = {
    "task": ("victim.task", "victim.done_task", "victim.upload"),
    "file": ("victim.file",),
    "bundle": ("victim.bundle",),
    "account": ("victim.account",),
}


def id_fields(descriptor: Descriptor, prefix: str = "") -> list[str]:
    """Dotted paths of the string fields naming a resource kind of VICTIM_IDS (``task_id``,
    ``task_ids``, ``metadata.bundle_id`` …), at any depth."""
    found = []
    for item in descriptor.fields:
        stem = item.name.removesuffix("_ids").removesuffix("_id")
        if item.type == _F.TYPE_STRING and stem != item.name and stem in VICTIM_IDS:
            found.append(prefix + item.name)
        elif item.message_type is not None and item.message_type.full_name != STRUCT and not prefix:
            found.extend(id_fields(item.message_type, f"{item.name}."))
    return found


def foreign_request(descriptor: Descriptor, path: str, ref: Ref) -> Msg:
    """A request whose field at ``path`` is ``ref`` and whose other well-known fields are PLAUSIBLE."""
    head, _, rest = path.partition(".")
    fields: list[tuple[str, object]] = []
    for item in sorted(descriptor.fields, key=lambda field: field.number):
        if item.name == head and rest and item.message_type is not None:
            fields.append((item.name, foreign_request(item.message_type, rest, ref)))
        elif item.name == head:
            fields.append((item.name, (ref,) if item.is_repeated else ref))
        elif item.name in PLAUSIBLE and not item.is_repeated:
            fields.append((item.name, PLAUSIBLE[item.name]))
    return Msg(descriptor.name, tuple(fields))


#: Task types run by the built-in worker handlers (DESIGN §5).
HANDLED_TYPES = [
    value.number
    for value in task_enums_pb2.TaskType.DESCRIPTOR.values
    if value.name not in {"TASK_TYPE_UNSPECIFIED", "TASK_TYPE_FILE_UPLOAD", "TASK_TYPE_CUSTOM"}
]
_T = task_enums_pb2.TaskType
_OWN_FILES = [Ref("own.file")]
#: A valid-looking parameter object per handled type: what a focused example starts from.
HANDLER_PARAMETERS: Mapping[int, dict[str, object]] = {
    _T.TASK_TYPE_FILE_MOVE: {
        "fileIds": _OWN_FILES,
        "targetPoolId": Ref("pool"),
        "targetBundleId": Ref("own.bundle"),
    },
    _T.TASK_TYPE_FILE_COMPRESS: {
        "fileIds": _OWN_FILES,
        "compressionFormat": "zip",
        "compressionLevel": 6,
        "outputFileName": "a.zip",
    },
    _T.TASK_TYPE_FILE_DECOMPRESS: {"fileId": Ref("own.file"), "targetBundleId": Ref("own.bundle")},
    _T.TASK_TYPE_FILE_ENCRYPT: {"fileIds": _OWN_FILES, "password": "correct horse battery staple"},
    _T.TASK_TYPE_FILE_DECRYPT: {"fileIds": _OWN_FILES, "password": "correct horse battery staple"},
    _T.TASK_TYPE_BULK_OPERATION: {
        "operationType": "setExpiry",
        "targetIds": _OWN_FILES,
        "operationParameters": {"expiredAt": "2100-01-01T00:00:00+00:00", "targetPoolId": Ref("pool")},
    },
    _T.TASK_TYPE_STORAGE_MIGRATION: {"sourcePoolId": Ref("pool"), "targetPoolId": Ref("pool")},
    _T.TASK_TYPE_FILE_CONVERSION: {"fileId": Ref("own.file"), "targetFormat": "png", "quality": 80},
}
#: Times a handler parses: beyond datetime's range once converted to UTC, the epoch, not a time.
_TIMES = (
    "9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59.999999+00:00",
    "1970-01-01T00:00:00Z", "2100-01-01T00:00:00", "not a time",
)  # fmt: skip


def handler_parameters(task_type: int) -> st.SearchStrategy[dict[str, object]]:
    """The type's valid-looking parameters with one or two entries (at most one level down)
    replaced by a hostile value: another account's ids, extreme times, numbers and strings."""
    base = HANDLER_PARAMETERS[task_type]
    paths: list[tuple[str, ...]] = [(key,) for key in sorted({*base, *PARAMETER_KEYS})]
    paths += [(key, inner) for key, value in base.items() if isinstance(value, dict) for inner in value]
    hostile = (
        st.sampled_from(_TIMES) | FILE_IDS | st.lists(FILE_IDS, min_size=1, max_size=3)
        | values.json_values(st.sampled_from(PARAMETER_KEYS) | values.strings())
    )  # fmt: skip

    @st.composite
    def focused(draw: st.DrawFn) -> dict[str, object]:
        parameters = {key: dict(value) if isinstance(value, dict) else value for key, value in base.items()}
        for path in draw(st.lists(st.sampled_from(paths), min_size=1, max_size=2, unique=True)):
            node = parameters
            for step in path[:-1]:
                child = node.get(step)
                node[step] = node = child if isinstance(child, dict) else {}
            node[path[-1]] = draw(hostile)
        return parameters

    return focused()

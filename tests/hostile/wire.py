"""Raw protobuf wire bytes that do not parse as a given request message.

A ``Raw`` request is a drawn message, serialised, with a ``Corruption`` appended. Protobuf rejects
the whole message for any of them, wherever it sits: invalid UTF-8 in a string field (proto3
strings must be UTF-8), a Struct or unknown groups nested beyond the parser's recursion limit (100),
a length that runs past the end, an invalid tag or wire type, an overlong or truncated varint.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tests.hostile.spec import Msg

_LEN, _VARINT, _START_GROUP, _END_GROUP = 2, 0, 3, 4
_UNUSED_FIELD = 15_000  # no drive.v1 request uses it: the parser treats it as an unknown field
RECURSION_LIMIT = 100  # protobuf's default nesting limit for parsing
#: Invalid UTF-8: a stray continuation byte, an overlong '/', an encoded surrogate (U+D800), a
#: truncated sequence, a code point beyond U+10FFFF, a 5-byte form, and bytes never valid.
BAD_UTF8 = (
    b"\x80", b"\xc0\xaf", b"\xed\xa0\x80", b"\xe2\x82", b"\xf4\x90\x80\x80", b"\xf8\x88\x80\x80\x80", b"\xff",
)  # fmt: skip


def varint(value: int) -> bytes:
    """Base-128 varint of a non-negative integer."""
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        if not value:
            out.append(low)
            return bytes(out)
        out.append(low | 0x80)


def tag(number: int, wire_type: int) -> bytes:
    """A field key."""
    return varint(number << 3 | wire_type)


def length_delimited(number: int, payload: bytes) -> bytes:
    """Field ``number`` holding ``payload`` (string, bytes or sub-message)."""
    return tag(number, _LEN) + varint(len(payload)) + payload


def nested(numbers: tuple[int, ...], payload: bytes) -> bytes:
    """``payload`` as the last field of ``numbers``, wrapped in the messages of the ones before."""
    for number in reversed(numbers):
        payload = length_delimited(number, payload)
    return payload


@dataclass(frozen=True)
class Corruption:
    """Bytes that make any message they are appended to unparsable; ``detail`` says which."""

    detail: str
    data: bytes = field(repr=False)

    def __repr__(self) -> str:
        return self.detail


@dataclass(frozen=True)
class Raw:
    """A request that does not parse: ``base`` serialised, then ``corruption``."""

    base: Msg
    corruption: Corruption

    def encode(self, base: bytes) -> bytes:
        """The bytes sent: ``base`` is the serialised ``self.base``."""
        return base + self.corruption.data

    def __repr__(self) -> str:
        return f"Raw({self.base!r} + {self.corruption!r})"


@dataclass(frozen=True)
class FieldPath:
    """Where a field sits: dotted names for people, field numbers for the wire."""

    names: str
    numbers: tuple[int, ...]


def invalid_utf8(path: FieldPath, bad: bytes) -> Corruption:
    """``bad`` inside the string field at ``path``."""
    return Corruption(f"invalid UTF-8 {bad!r} in {path.names}", nested(path.numbers, b"ok" + bad))


def deep_struct(path: FieldPath, depth: int, as_list: bool) -> Corruption:
    """The Struct field at ``path`` nested ``depth`` times (3 messages per level; 2 per list level)."""
    inner = b""
    for _ in range(depth):
        if as_list:  # Value.list_value(6) → ListValue.values(1) → Value …
            inner = length_delimited(1, length_delimited(6, inner))
        else:  # Struct.fields(1) → entry{key(1), value(2)} → Value.struct_value(5) → Struct …
            inner = _entry(length_delimited(5, inner))
    if as_list:  # the Struct field holds {"k": [[[…]]]}: a Value whose list_value(6) is ``inner``
        inner = _entry(length_delimited(6, inner))
    shape = "[[…]]" if as_list else "{'k': {…}}"
    return Corruption(f"{path.names} nested {depth} levels as {shape}", nested(path.numbers, inner))


def _entry(value: bytes) -> bytes:
    """A Struct whose one field ``k`` holds the encoded Value ``value``."""
    return length_delimited(1, length_delimited(1, b"k") + length_delimited(2, value))


def deep_groups(depth: int) -> Corruption:
    """Unknown groups nested ``depth`` times (the parser recurses into unknown groups too)."""
    data = tag(_UNUSED_FIELD, _START_GROUP) * depth + tag(_UNUSED_FIELD, _END_GROUP) * depth
    return Corruption(f"unknown group field {_UNUSED_FIELD} nested {depth} levels", data)


def truncated(missing: int) -> Corruption:
    """A length-delimited field whose length runs ``missing`` bytes past the end."""
    data = tag(_UNUSED_FIELD, _LEN) + varint(missing + 3) + b"abc"
    return Corruption(f"length-delimited field claiming {missing} bytes more than sent", data)


#: Corruptions that need no parameter.
FIXED = (
    Corruption("field number 0", b"\x00\x01"),
    Corruption("wire type 6", tag(1, 6) + b"\x01"),
    Corruption("wire type 7", tag(1, 7) + b"\x01"),
    Corruption("field number 2^29 (beyond the maximum)", tag(1 << 29, _VARINT) + b"\x01"),
    Corruption("end-group without a start", tag(_UNUSED_FIELD, _END_GROUP)),
    Corruption("start-group without an end", tag(_UNUSED_FIELD, _START_GROUP)),
    Corruption("11-byte varint", tag(_UNUSED_FIELD, _VARINT) + b"\xff" * 10 + b"\x01"),
    Corruption("truncated varint", tag(_UNUSED_FIELD, _VARINT) + b"\xff"),
)

"""Hostile values: what every field type is tried with.

``CANONICAL_*`` are the classes issue 9 names (NUL and control characters, huge lengths, the
type's extremes, NaN/±Inf, unknown enum values, Timestamps and Durations beyond their range or
with negative nanos, Structs with NaN, at protobuf's nesting limit, wide or big): deterministic
cases try each of them on every field, and each strategy starts with them, so that a few examples
already meet them (Hypothesis shrinks towards the start of a ``sampled_from``). The strategies go
on with other edge values, then arbitrary values of the type.
"""

from __future__ import annotations

import math
import os
import time

from hypothesis import strategies as st

from tests.hostile.spec import Deep, Many, Msg, Rep, Wide

INT32 = (-(2**31), 2**31 - 1)
INT64 = (-(2**63), 2**63 - 1)
UINT32 = (0, 2**32 - 1)
UINT64 = (0, 2**64 - 1)
#: Valid google.protobuf.Timestamp seconds are 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59Z.
TIMESTAMP_SECONDS = (-62_135_596_800, 253_402_300_799)
#: Valid google.protobuf.Duration seconds are ±10,000 years.
DURATION_SECONDS = (-315_576_000_000, 315_576_000_000)
NOW_SECONDS = int(time.time())  # the server runs on the real clock
#: The long profile also tries a 10 MB string, as issue 9 did (the server accepts 17 MiB messages).
LONG = os.environ.get("DRIVE_HOSTILE_PROFILE", "ci") == "long"

CANONICAL_STRINGS: tuple[object, ...] = ("a\x00b", Rep("x", 100_000), "\x1b[2J\x07")
CANONICAL_FLOATS = (math.nan, math.inf, -math.inf)
CANONICAL_ENUMS = (999, -1)
CANONICAL_BYTES: tuple[object, ...] = (b"", Rep(b"a", 262_145))
CANONICAL_TIMESTAMPS = (
    (TIMESTAMP_SECONDS[1] + 1, 0), (NOW_SECONDS + 86_400, -1), (INT64[1], 0), (TIMESTAMP_SECONDS[0] - 1, 0),
)  # fmt: skip
CANONICAL_DURATIONS = ((DURATION_SECONDS[1], 0), (2**62, 0), (1, -1), (-1, 0))
CANONICAL_STRUCTS: tuple[object, ...] = (
    {"k": math.nan}, {"k": [math.inf]}, Deep(33, None), {"k": Deep(40, 1.0, as_list=True)},
    Wide(20_000, None), {"k": Rep("x", 65_537)},
)  # fmt: skip


def canonical_integers(bounds: tuple[int, int]) -> tuple[int, ...]:
    """The type's extremes, -1 when it is signed, and 2^62 for 64-bit types (a size that passes a
    quota check done with Python integers, then overflows an int32 chunk count or column)."""
    low, high = bounds
    extremes = (high, low, -1) if low < 0 else (high,)
    return (*extremes, 2**62) if high > 2**62 else extremes


def timestamp(seconds: int, nanos: int) -> Msg:
    return Msg("Timestamp", (("seconds", seconds), ("nanos", nanos)))


def duration(seconds: int, nanos: int) -> Msg:
    return Msg("Duration", (("seconds", seconds), ("nanos", nanos)))


_EDGES = (
    0, 1, 2, 10, 100, 101, 255, 256, 1000, 1001, 1024, 65_536, 262_143, 262_144, 262_145,
    2**24, 2**31 - 1, 2**31, 2**32 - 1, 2**32, 2**53, 2**53 + 1, 2**62, 2**63 - 1, 2**64 - 1,
)  # fmt: skip


def integers(bounds: tuple[int, int]) -> st.SearchStrategy[int]:
    """Integers within ``bounds`` (the field's wire type): extremes, other edges, any."""
    low, high = bounds
    edges = {*_EDGES, *(-edge for edge in _EDGES), low + 1, high - 1} - {low, high}
    ordered = [*canonical_integers(bounds), *sorted((edge for edge in edges if low <= edge <= high), key=abs)]
    return st.sampled_from(list(dict.fromkeys(ordered))) | st.integers(low, high)


_FLOATS = (1e308, -0.0, 0.0, 1.0, 50.5, 100.0, -1.0, 100.00000000000001, -1e308, 5e-324, 2.0**63, 1e19)


def floats(width: int = 64) -> st.SearchStrategy[float]:
    """NaN, ±Infinity, -0.0, the largest and smallest magnitudes, then anything."""
    return st.sampled_from(CANONICAL_FLOATS + _FLOATS) | st.floats(width=width)  # type: ignore[arg-type]


#: Characters that break parsers, databases, terminals and logs (no lone surrogates: a client
#: library cannot encode them, so they are sent as raw bytes, see wire.py).
HOSTILE_CHARS = (
    "\x00\x01\x07\x08\t\n\r\x1b\x7f\x80\x85\x9f\xa0é\u0301\u200b\u200e\u202e\u2028\u2029"
    "\ufeff\ufffd\uffff\U0001f600\U0010ffff/\\.%'\"<>&;|`$*?{}"
)
_STRINGS = (
    "", " ", "\x00", "\t", "\r\n", "..", "../../etc/passwd", "/", "\\", "%00", "%s%n%x",
    "'; DROP TABLE tasks; --", "\u202egnp.exe", "\ufeff", "\uff21\uff22\uff23", "null", "NaN", "-1",
    "0" * 21, "\U0001f600" * 3, "a\u0301" * 4,
)  # fmt: skip
_UNITS = ("x", "\x00", "é", "\U0001f600", "\u202e", "../", "%s", "a\x00")
_LENGTHS = (63, 64, 65, 127, 128, 129, 255, 256, 257, 1023, 1024, 1025, 4096, 8193, 65_537, 2**20)


def strings() -> st.SearchStrategy[object]:
    """NUL, control characters, odd Unicode, injection text, huge lengths."""
    long = st.builds(Rep, st.sampled_from(_UNITS), st.sampled_from(_LENGTHS))
    if LONG:
        long = long | st.just(Rep("x", 10_000_000))
    text = st.text(st.sampled_from(HOSTILE_CHARS) | st.characters(codec="utf-8"), max_size=40)
    return st.sampled_from(CANONICAL_STRINGS + _STRINGS) | text | long


_BYTE_LENGTHS = (1, 99, 100, 101, 255, 256, 4095, 4096, 65_535, 65_536, 262_143, 262_144, 2**20 + 1)


def binaries() -> st.SearchStrategy[object]:
    """Empty, tiny, and sizes around the upload tests' chunk and file sizes."""
    sized = st.builds(Rep, st.sampled_from((b"a", b"\x00", b"\xff")), st.sampled_from(_BYTE_LENGTHS))
    return st.sampled_from((*CANONICAL_BYTES, b"\x00")) | st.binary(max_size=64) | sized


def timestamps() -> st.SearchStrategy[Msg]:
    """Timestamps at, inside and beyond their valid range, with odd nanos."""
    low, high = TIMESTAMP_SECONDS
    seconds = (high, low, NOW_SECONDS + 86_400 * 3650, 0, 1, -1, 2**31, 2**62, -(2**62), INT64[0])
    drawn = st.builds(timestamp, st.sampled_from(seconds) | st.integers(*INT64), nanos())
    return st.sampled_from([timestamp(*parts) for parts in CANONICAL_TIMESTAMPS]) | drawn


def durations() -> st.SearchStrategy[Msg]:
    """Durations at, inside and beyond their valid range, with nanos of the other sign."""
    low, high = DURATION_SECONDS
    seconds = (low, high + 1, low - 1, *INT64, -(2**62), 0, 30, 300, 301, 86_400 * 36_500)
    drawn = st.builds(duration, st.sampled_from(seconds) | st.integers(*INT64), nanos())
    return st.sampled_from([duration(*parts) for parts in CANONICAL_DURATIONS]) | drawn


def nanos() -> st.SearchStrategy[int]:
    """Nanoseconds: valid, one past the second, negative, and the int32 extremes."""
    edges = (0, -1, 1_000_000_000, *INT32, 1, 999_999_999, -999_999_999)
    return st.sampled_from(edges) | st.integers(*INT32)


def json_values(keys: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    """Struct values: NaN/±Inf numbers, hostile strings and keys, nesting, width and size."""
    leaves = st.none() | st.booleans() | floats() | strings()
    nested = st.recursive(
        leaves,
        lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=4),
        max_leaves=8,
    )
    deep = st.builds(Deep, st.integers(1, 60), leaves, st.booleans())
    many = st.builds(Many, leaves, st.sampled_from((1000, 10_000)))
    return nested | deep | many


def structs(keys: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    """A whole Struct (a JSON object): the canonical ones, then small, deep, wide or huge ones."""
    small = st.dictionaries(keys, json_values(keys), max_size=5)
    deep = st.builds(Deep, st.integers(1, 60), st.none() | floats() | strings())
    wide = st.builds(Wide, st.sampled_from((1000, 20_000)), st.none() | floats())
    huge = st.builds(lambda size: {"k": Rep("x", size)}, st.sampled_from((65_535, 2**20)))
    return st.sampled_from(CANONICAL_STRUCTS) | small | deep | wide | huge

"""The segmented AES-256-GCM at-rest format: round trips, random access, tamper detection, key wrapping."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drive_service.crypto import (
    HEADER_SIZE,
    MAGIC,
    TAG_SIZE,
    CorruptData,
    SegmentEncryptor,
    WrongPassword,
    decrypt_range,
    derive_key,
    encrypt_file,
    encrypted_size,
    new_salt,
    plaintext_size,
    read_header,
    unwrap_key,
    wrap_key,
)

SEGMENT = 64
STRIDE = SEGMENT + TAG_SIZE
KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
SALT = bytes(16)

# Hypothesis reuses tmp_path across examples; every example overwrites the same two files.
PROPERTY = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

boundary_sizes = st.builds(
    lambda segments, delta: max(0, segments * SEGMENT + delta),
    st.integers(min_value=0, max_value=5),
    st.integers(min_value=-2, max_value=2),
)


def encrypt(tmp_path: Path, plaintext: bytes, segment_size: int = SEGMENT) -> Path:
    source, target = tmp_path / "plain", tmp_path / "sealed"
    source.write_bytes(plaintext)
    encrypt_file(source, target, key=KEY, salt=SALT, segment_size=segment_size)
    return target


def read_all(path: Path, key: bytes = KEY, offset: int = 0, length: int | None = None) -> bytes:
    return b"".join(decrypt_range(path, key=key, offset=offset, length=length))


def patch(path: Path, position: int, value: bytes) -> None:
    data = bytearray(path.read_bytes())
    data[position : position + len(value)] = value
    path.write_bytes(bytes(data))


def flip(path: Path, position: int) -> None:
    data = path.read_bytes()
    patch(path, position, bytes([data[position] ^ 0x01]))


@pytest.mark.parametrize("size", [0, 1, SEGMENT - 1, SEGMENT, SEGMENT + 1, 5 * SEGMENT, 5 * SEGMENT + 17])
def test_round_trip_at_segment_boundaries(tmp_path: Path, size: int) -> None:
    plaintext = os.urandom(size)
    source, target = tmp_path / "plain", tmp_path / "sealed"
    source.write_bytes(plaintext)

    digest, written = encrypt_file(source, target, key=KEY, salt=SALT, segment_size=SEGMENT)

    assert digest == hashlib.sha256(plaintext).hexdigest()
    assert written == target.stat().st_size == encrypted_size(size, SEGMENT)
    assert plaintext_size(target) == size
    assert read_all(target) == plaintext
    with target.open("rb") as handle:
        header = read_header(handle)
    assert (header.salt, header.segment_size) == (SALT, SEGMENT)
    assert header.header_bytes == target.read_bytes()[:HEADER_SIZE]


def test_empty_plaintext_is_one_empty_final_segment(tmp_path: Path) -> None:
    target = encrypt(tmp_path, b"")
    assert target.stat().st_size == HEADER_SIZE + TAG_SIZE
    assert list(decrypt_range(target, key=KEY)) == []


@PROPERTY
@given(plaintext=boundary_sizes.flatmap(lambda n: st.binary(min_size=n, max_size=n)), data=st.data())
def test_encryptor_output_is_independent_of_update_splits(
    tmp_path: Path, plaintext: bytes, data: st.DataObject
) -> None:
    cuts = sorted(data.draw(st.lists(st.integers(min_value=0, max_value=len(plaintext)), max_size=6)))
    pieces = [plaintext[a:b] for a, b in zip([0, *cuts], [*cuts, len(plaintext)], strict=True)]
    encryptor = SegmentEncryptor(KEY, SALT, SEGMENT)
    sealed = encryptor.header() + b"".join(encryptor.update(piece) for piece in pieces) + encryptor.finalize()
    target = tmp_path / "sealed"
    target.write_bytes(sealed)

    assert len(sealed) == encrypted_size(len(plaintext), SEGMENT)
    assert read_all(target) == plaintext


@PROPERTY
@given(
    plaintext=boundary_sizes.flatmap(lambda n: st.binary(min_size=n, max_size=n)),
    offset=st.integers(min_value=0, max_value=6 * SEGMENT),
    length=st.none() | st.integers(min_value=0, max_value=6 * SEGMENT),
)
def test_random_ranges_equal_plaintext_slices(
    tmp_path: Path, plaintext: bytes, offset: int, length: int | None
) -> None:
    target = encrypt(tmp_path, plaintext)
    pieces = list(decrypt_range(target, key=KEY, offset=offset, length=length))

    end = None if length is None else offset + length
    assert b"".join(pieces) == plaintext[offset:end]
    assert all(0 < len(piece) <= SEGMENT for piece in pieces)


def test_password_round_trip_and_wrong_password(tmp_path: Path) -> None:
    plaintext = os.urandom(3 * SEGMENT + 5)
    source, target = tmp_path / "plain", tmp_path / "sealed"
    source.write_bytes(plaintext)

    digest, _ = encrypt_file(source, target, "correct horse", segment_size=SEGMENT)

    assert digest == hashlib.sha256(plaintext).hexdigest()
    assert b"".join(decrypt_range(target, "correct horse", 10, 100)) == plaintext[10:110]
    with pytest.raises(WrongPassword):
        next(decrypt_range(target, "battery staple"))


def test_derive_key_is_deterministic_per_salt() -> None:
    salt = new_salt()
    key = derive_key("pw", salt)
    assert len(salt) == 16
    assert len(key) == 32
    assert derive_key("pw", salt) == key != derive_key("pw", new_salt())


def test_wrong_key_raises_wrong_password_even_for_empty_range(tmp_path: Path) -> None:
    target = encrypt(tmp_path, os.urandom(2 * SEGMENT))
    with pytest.raises(WrongPassword):
        read_all(target, key=OTHER_KEY)
    with pytest.raises(WrongPassword):
        read_all(target, key=OTHER_KEY, offset=2 * SEGMENT, length=0)


def test_flipped_byte_in_middle_segment_is_corrupt_data(tmp_path: Path) -> None:
    plaintext = os.urandom(5 * SEGMENT)
    target = encrypt(tmp_path, plaintext)
    flip(target, HEADER_SIZE + 2 * STRIDE + 7)

    with pytest.raises(CorruptData):
        read_all(target)
    # Random access: segments before the damage still decrypt.
    assert read_all(target, length=2 * SEGMENT) == plaintext[: 2 * SEGMENT]
    # Documented ambiguity: a bad first-read segment looks like a wrong password.
    with pytest.raises(WrongPassword):
        read_all(target, offset=2 * SEGMENT)


def test_reordered_segments_are_corrupt_data(tmp_path: Path) -> None:
    target = encrypt(tmp_path, os.urandom(4 * SEGMENT))
    data = target.read_bytes()
    first, second = HEADER_SIZE + STRIDE, HEADER_SIZE + 2 * STRIDE
    swapped = data[:first] + data[second : second + STRIDE] + data[first:second] + data[second + STRIDE :]
    target.write_bytes(swapped)

    with pytest.raises(CorruptData):
        read_all(target)


@pytest.mark.parametrize("removed", [10 + TAG_SIZE, 10 + TAG_SIZE + STRIDE, 1, TAG_SIZE])
def test_truncated_file_is_corrupt_data(tmp_path: Path, removed: int) -> None:
    target = encrypt(tmp_path, os.urandom(3 * SEGMENT + 10))  # the last segment is 10 + TAG_SIZE bytes
    data = target.read_bytes()
    target.write_bytes(data[: len(data) - removed])

    with pytest.raises(CorruptData):
        read_all(target)


def test_single_segment_file_cut_to_its_header_is_corrupt_data(tmp_path: Path) -> None:
    target = encrypt(tmp_path, b"hello")
    target.write_bytes(target.read_bytes()[:HEADER_SIZE])
    with pytest.raises(CorruptData):
        plaintext_size(target)
    with pytest.raises(CorruptData):
        read_all(target)


def test_lone_empty_segment_after_full_ones_is_corrupt_data(tmp_path: Path) -> None:
    target = encrypt(tmp_path, os.urandom(SEGMENT))
    with target.open("ab") as handle:
        handle.write(bytes(TAG_SIZE))
    with pytest.raises(CorruptData):
        plaintext_size(target)


@pytest.mark.parametrize(
    ("position", "expected"),
    [
        (0, CorruptData),  # magic
        (len(MAGIC) + 3, WrongPassword),  # salt: header is associated data
        (len(MAGIC) + 16 + 2, WrongPassword),  # nonce prefix
        (HEADER_SIZE - 1, (WrongPassword, CorruptData)),  # segment size
    ],
)
def test_tampered_header_is_detected(
    tmp_path: Path, position: int, expected: type[Exception] | tuple[type[Exception], ...]
) -> None:
    target = encrypt(tmp_path, os.urandom(3 * SEGMENT))
    flip(target, position)
    with pytest.raises(expected):
        read_all(target)


def test_short_or_foreign_header_is_corrupt_data(tmp_path: Path) -> None:
    target = tmp_path / "sealed"
    for content in [b"", MAGIC, b"X" * (HEADER_SIZE + TAG_SIZE)]:
        target.write_bytes(content)
        with target.open("rb") as handle, pytest.raises(CorruptData):
            read_header(handle)
        with pytest.raises(CorruptData):
            plaintext_size(target)


def test_zero_segment_size_in_header_is_corrupt_data(tmp_path: Path) -> None:
    target = encrypt(tmp_path, b"data")
    patch(target, HEADER_SIZE - 4, bytes(4))
    with pytest.raises(CorruptData):
        read_all(target)


def test_large_file_streams_in_bounded_segments(tmp_path: Path) -> None:
    segment = 64 * 1024
    plaintext = os.urandom(5 * 1024 * 1024 + 123)
    source, target = tmp_path / "plain", tmp_path / "sealed"
    source.write_bytes(plaintext)

    digest, written = encrypt_file(source, target, key=KEY, salt=SALT, segment_size=segment)

    assert digest == hashlib.sha256(plaintext).hexdigest()
    assert written == target.stat().st_size == encrypted_size(len(plaintext), segment)
    pieces = list(decrypt_range(target, key=KEY))
    assert max(len(piece) for piece in pieces) == segment
    assert b"".join(pieces) == plaintext
    offset = 3 * 1024 * 1024 + 5
    assert read_all(target, offset=offset, length=100) == plaintext[offset : offset + 100]


def test_encryptor_holds_at_most_one_segment() -> None:
    segment = 64 * 1024
    encryptor = SegmentEncryptor(KEY, SALT, segment)
    fed = emitted = 0
    for size in [1, segment - 1, 1, 1024 * 1024, 3 * segment + 7, 0, segment]:
        out = encryptor.update(os.urandom(size))
        fed += size
        assert len(out) % (segment + TAG_SIZE) == 0
        emitted += len(out) // (segment + TAG_SIZE) * segment
        assert 0 <= fed - emitted <= segment
    assert len(encryptor.finalize()) == fed - emitted + TAG_SIZE
    with pytest.raises(RuntimeError):
        encryptor.update(b"more")
    with pytest.raises(RuntimeError):
        encryptor.finalize()


def test_encrypted_size() -> None:
    assert encrypted_size(0, SEGMENT) == HEADER_SIZE + TAG_SIZE
    assert encrypted_size(SEGMENT, SEGMENT) == HEADER_SIZE + STRIDE
    assert encrypted_size(SEGMENT + 1, SEGMENT) == HEADER_SIZE + STRIDE + 1 + TAG_SIZE
    with pytest.raises(ValueError):
        encrypted_size(-1, SEGMENT)
    with pytest.raises(ValueError):
        encrypted_size(1, 0)


def test_argument_validation(tmp_path: Path) -> None:
    source, target = tmp_path / "plain", tmp_path / "sealed"
    source.write_bytes(b"x")
    with pytest.raises(ValueError):
        encrypt_file(source, target)
    with pytest.raises(ValueError):
        encrypt_file(source, target, key=KEY)
    with pytest.raises(ValueError):
        encrypt_file(source, target, "pw", key=KEY, salt=SALT)
    with pytest.raises(ValueError):
        SegmentEncryptor(KEY[:16], SALT)
    with pytest.raises(ValueError):
        decrypt_range(target)
    with pytest.raises(ValueError):
        decrypt_range(target, "pw", key=KEY)
    with pytest.raises(ValueError):
        decrypt_range(target, key=KEY, offset=-1)
    with pytest.raises(ValueError):
        decrypt_range(target, key=KEY, length=-1)


def test_missing_source_leaves_existing_target_alone(tmp_path: Path) -> None:
    target = tmp_path / "sealed"
    target.write_bytes(b"keep")
    with pytest.raises(FileNotFoundError):
        encrypt_file(tmp_path / "missing", target, key=KEY, salt=SALT)
    assert target.read_bytes() == b"keep"


def test_wrap_unwrap_round_trip() -> None:
    master = os.urandom(32)
    wrapped = wrap_key(master, KEY)
    assert wrapped != wrap_key(master, KEY)  # fresh nonce each time
    assert KEY not in wrapped
    assert unwrap_key(master, wrapped) == KEY


def test_unwrap_fails_with_other_master_key_or_tampering() -> None:
    master = os.urandom(32)
    wrapped = wrap_key(master, KEY)
    with pytest.raises(CorruptData):
        unwrap_key(os.urandom(32), wrapped)
    with pytest.raises(CorruptData):
        unwrap_key(master, wrapped[:-1] + bytes([wrapped[-1] ^ 1]))
    with pytest.raises(CorruptData):
        unwrap_key(master, wrapped[:20])
    with pytest.raises(ValueError):
        wrap_key(master[:16], KEY)

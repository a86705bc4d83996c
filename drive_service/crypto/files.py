"""At-rest encryption of local files (tools and tests; the service streams through blob stores)."""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from drive_service.crypto.keys import derive_key, new_salt
from drive_service.crypto.segments import (
    DEFAULT_SEGMENT_SIZE,
    HEADER_SIZE,
    KEY_SIZE,
    CorruptData,
    EncryptionHeader,
    SegmentDecryptor,
    SegmentEncryptor,
    parse_header,
)


def encrypt_file(
    source: Path,
    target: Path,
    password: str | None = None,
    *,
    key: bytes | None = None,
    salt: bytes | None = None,
    segment_size: int = DEFAULT_SEGMENT_SIZE,
) -> tuple[str, int]:
    """Encrypt ``source`` into ``target`` (created or truncated), streaming one segment at a time.

    Give either ``password`` (a new salt is drawn and the key derived with scrypt) or both ``key``
    and the ``salt`` it was derived with (stored in the header for later password derivation).
    ``target`` is fsync'd before returning; if writing fails after it was opened, it is removed.

    Returns:
        ``(sha256 hex digest of the plaintext, number of bytes written to target)``.

    Raises:
        ValueError: neither or both of password and key/salt given, or bad sizes.
        OSError: reading ``source`` or writing ``target`` failed.
    """
    if password is not None:
        if key is not None or salt is not None:
            raise ValueError("give either password or key and salt, not both")
        salt = new_salt()
        key = derive_key(password, salt)
    elif key is None or salt is None:
        raise ValueError("give either password or both key and salt")
    encryptor = SegmentEncryptor(key, salt, segment_size)
    digest = hashlib.sha256()
    written = 0
    with source.open("rb") as reader, target.open("wb") as writer:
        try:
            written += writer.write(encryptor.header())
            while piece := reader.read(segment_size):
                digest.update(piece)
                written += writer.write(encryptor.update(piece))
            written += writer.write(encryptor.finalize())
            writer.flush()
            os.fsync(writer.fileno())
        except BaseException:
            with contextlib.suppress(OSError):
                target.unlink()
            raise
    return digest.hexdigest(), written


def read_header(handle: BinaryIO) -> EncryptionHeader:
    """Read and parse the header at the current position of ``handle`` (normally offset 0).

    Raises:
        CorruptData: the header is short, the magic is wrong, or the segment size is out of range.
    """
    return parse_header(handle.read(HEADER_SIZE))


def plaintext_size(path: Path) -> int:
    """The plaintext size of the encrypted file at ``path`` from its size and header alone.

    Raises:
        CorruptData: bad header, or a file size no encryptor can produce.
        OSError: the file cannot be read.
    """
    with path.open("rb") as handle:
        header = read_header(handle)
        size = os.fstat(handle.fileno()).st_size
    return SegmentDecryptor(header, bytes(KEY_SIZE), size).plaintext_size


def decrypt_range(
    path: Path,
    password: str | None = None,
    offset: int = 0,
    length: int | None = None,
    *,
    key: bytes | None = None,
) -> Iterator[bytes]:
    """Yield the plaintext bytes ``[offset, offset + length)`` of the encrypted file at ``path``.

    Give either ``password`` (the key is derived from the header's salt) or an already derived
    ``key``. ``length=None`` reads to the end; the range is clipped to the plaintext size. Pieces
    are at most one segment long; only the segments read are authenticated. Arguments are checked
    at call time; the file is opened and the key derived only while iterating.

    Raises:
        ValueError: negative offset/length, neither or both of password and key, or a bad key size.
        WrongPassword: the first segment read fails authentication.
        CorruptData: bad header or size, or a later segment fails authentication.
        OSError: the file cannot be read.
    """
    if offset < 0 or (length is not None and length < 0):
        raise ValueError("offset and length must be >= 0")
    if (password is None) == (key is None):
        raise ValueError("give exactly one of password or key")
    if key is not None and len(key) != KEY_SIZE:
        raise ValueError(f"key must be {KEY_SIZE} bytes")
    return _decrypt_range(path, password, key, offset, length)


def _decrypt_range(
    path: Path, password: str | None, key: bytes | None, offset: int, length: int | None
) -> Iterator[bytes]:
    with path.open("rb") as handle:
        header = read_header(handle)
        if key is None:
            assert password is not None
            key = derive_key(password, header.salt)
        decryptor = SegmentDecryptor(header, key, os.fstat(handle.fileno()).st_size)
        span = decryptor.span(offset, length)
        handle.seek(span.cipher_offset)
        index, position = span.first, span.position
        while True:
            sealed = handle.read(decryptor.sealed_length(index))
            if len(sealed) != decryptor.sealed_length(index):
                raise CorruptData("encrypted file changed while being read")
            plain = decryptor.open(index, sealed)
            low, high = max(span.start - position, 0), min(span.end - position, len(plain))
            if high > low:
                yield plain if low == 0 and high == len(plain) else plain[low:high]
            position += len(plain)
            index += 1
            if position >= span.end or position >= decryptor.plaintext_size:
                return

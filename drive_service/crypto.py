"""At-rest encryption of stored files: AES-256-GCM in authenticated segments under a scrypt-derived key.

File format (all integers big-endian)::

    header   = MAGIC (b"DRVENC1\\0", 8) | salt (16) | nonce_prefix (8) | segment_size (uint32)
    segment  = AES-256-GCM(plaintext[i * segment_size : (i + 1) * segment_size]) | tag (16)
    file     = header | segment 0 | segment 1 | ... | segment n-1

* ``segment_size`` is the number of plaintext bytes per segment; every segment but the last holds
  exactly that many, the last holds 1..segment_size (an empty plaintext is one empty segment), so
  segment ``i`` starts at ``HEADER_SIZE + i * (segment_size + TAG_SIZE)`` and any byte range is
  reachable without decrypting what precedes it.
* nonce of segment ``i`` = ``nonce_prefix || uint32(i)``; the prefix is random per file.
* associated data of segment ``i`` = ``header || uint32(i) || final`` where ``final`` is ``b"\\x01"``
  for the last segment and ``b"\\x00"`` otherwise. Binding the header detects header tampering, the
  counter detects reordering, and the final flag detects truncation at a segment boundary.
* The key is ``scrypt(password, salt, n=2**15, r=8, p=1, length=32)``.

Everything here is synchronous and blocking (scrypt, file I/O); async callers run it through
``asyncio.to_thread``.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

MAGIC = b"DRVENC1\0"
SALT_SIZE = 16
NONCE_PREFIX_SIZE = 8
KEY_SIZE = 32
TAG_SIZE = 16
HEADER_SIZE = len(MAGIC) + SALT_SIZE + NONCE_PREFIX_SIZE + 4
DEFAULT_SEGMENT_SIZE = 1024 * 1024
# Decryption reads one whole segment into memory, so a (tampered) header must not be able to ask for more.
MAX_SEGMENT_SIZE = 64 * 1024 * 1024
MAX_SEGMENTS = 2**32

SCRYPT_N = 2**15
SCRYPT_R = 8
SCRYPT_P = 1

_WRAP_NONCE_SIZE = 12
_WRAP_AAD = b"drive-service key wrap v1"
_COUNTER = struct.Struct(">I")
_HEADER = struct.Struct(f">{len(MAGIC)}s{SALT_SIZE}s{NONCE_PREFIX_SIZE}sI")


class CorruptData(Exception):
    """Encrypted data is malformed, truncated or fails authentication."""


class WrongPassword(Exception):
    """The first segment read does not authenticate under the given password or key.

    A wrong password and a corrupted first-read segment (or tampered salt/header) are
    indistinguishable: both are a GCM tag failure on that segment.
    """


@dataclass(frozen=True, slots=True)
class EncryptionHeader:
    """The parsed fixed-size header of an encrypted file; ``header_bytes`` is the raw header."""

    salt: bytes
    nonce_prefix: bytes
    segment_size: int
    header_bytes: bytes


def new_salt() -> bytes:
    """Return ``SALT_SIZE`` (16) cryptographically random bytes for :func:`derive_key`."""
    return secrets.token_bytes(SALT_SIZE)


def derive_key(password: str, salt: bytes) -> bytes:
    """Derive the 32-byte AES-256 key for ``password`` (UTF-8 encoded) and ``salt``.

    Uses scrypt with n=2**15, r=8, p=1: about 32 MiB of memory (128 * n * r bytes) and on the order
    of 0.1 s of CPU per call, by design. Call it once per file and pass the key around (``key=``
    arguments) rather than deriving again.

    Raises:
        ValueError: ``salt`` is not ``SALT_SIZE`` bytes.
    """
    if len(salt) != SALT_SIZE:
        raise ValueError(f"salt must be {SALT_SIZE} bytes")
    kdf = Scrypt(salt=salt, length=KEY_SIZE, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P)
    return kdf.derive(password.encode("utf-8"))


def encrypted_size(plaintext_size: int, segment_size: int = DEFAULT_SEGMENT_SIZE) -> int:
    """Return the exact size of the encrypted file for a plaintext of ``plaintext_size`` bytes.

    Raises:
        ValueError: a negative size or a segment size outside [1, MAX_SEGMENT_SIZE].
    """
    if plaintext_size < 0:
        raise ValueError("plaintext_size must be >= 0")
    _check_segment_size(segment_size)
    return HEADER_SIZE + plaintext_size + TAG_SIZE * _segment_count(plaintext_size, segment_size)


class SegmentEncryptor:
    """Incremental encryptor producing the format described in the module docstring.

    Usage: write :meth:`header`, then the output of every :meth:`update`, then :meth:`finalize`.
    At most ``segment_size`` plaintext bytes are held between calls: a full segment is kept until
    more data arrives because only then is it known not to be the final one.
    """

    def __init__(self, key: bytes, salt: bytes, segment_size: int = DEFAULT_SEGMENT_SIZE) -> None:
        """Start a new file with a fresh random nonce prefix.

        Raises:
            ValueError: ``key`` is not 32 bytes, ``salt`` not 16, or ``segment_size`` out of range.
        """
        if len(key) != KEY_SIZE:
            raise ValueError(f"key must be {KEY_SIZE} bytes")
        if len(salt) != SALT_SIZE:
            raise ValueError(f"salt must be {SALT_SIZE} bytes")
        _check_segment_size(segment_size)
        self.segment_size = segment_size
        self._aead = AESGCM(key)
        self._nonce_prefix = secrets.token_bytes(NONCE_PREFIX_SIZE)
        self._header = _HEADER.pack(MAGIC, salt, self._nonce_prefix, segment_size)
        self._buffer = bytearray()
        self._counter = 0
        self._finished = False

    def header(self) -> bytes:
        """Return the header bytes that must precede the segments."""
        return self._header

    def update(self, data: bytes) -> bytes:
        """Consume ``data`` and return the ciphertext of every segment now known to be non-final.

        Raises:
            RuntimeError: called after :meth:`finalize`.
            OverflowError: the plaintext would need more than 2**32 segments.
        """
        self._check_open()
        size = self.segment_size
        view = memoryview(data)
        out = bytearray()
        pos = 0
        if self._buffer:
            pos = min(size - len(self._buffer), len(view))
            self._buffer += view[:pos]
            if pos < len(view):
                out += self._seal(self._buffer, final=False)
                self._buffer.clear()
        while len(view) - pos > size:
            out += self._seal(view[pos : pos + size], final=False)
            pos += size
        self._buffer += view[pos:]
        return bytes(out)

    def finalize(self) -> bytes:
        """Return the last segment (final flag set; empty if no data was given) and close the encryptor.

        Raises:
            RuntimeError: called twice.
            OverflowError: the plaintext would need more than 2**32 segments.
        """
        self._check_open()
        self._finished = True
        last = self._seal(self._buffer, final=True)
        self._buffer.clear()
        return last

    def _seal(self, plaintext: bytes | bytearray | memoryview, *, final: bool) -> bytes:
        if self._counter >= MAX_SEGMENTS:
            raise OverflowError("too many segments for one file")
        index = self._counter
        self._counter += 1
        nonce, aad = _segment_params(self._header, self._nonce_prefix, index, final)
        return self._aead.encrypt(nonce, plaintext, aad)

    def _check_open(self) -> None:
        if self._finished:
            raise RuntimeError("encryptor already finalized")


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

    The header is not authenticated here; tampering is detected when a segment is decrypted.

    Raises:
        CorruptData: the header is short, the magic is wrong, or the segment size is out of range.
    """
    raw = handle.read(HEADER_SIZE)
    if len(raw) != HEADER_SIZE:
        raise CorruptData("encrypted file header is truncated")
    magic, salt, nonce_prefix, segment_size = _HEADER.unpack(raw)
    if magic != MAGIC:
        raise CorruptData("not an encrypted file (bad magic)")
    if not 1 <= segment_size <= MAX_SEGMENT_SIZE:
        raise CorruptData(f"invalid segment size {segment_size}")
    return EncryptionHeader(salt=salt, nonce_prefix=nonce_prefix, segment_size=segment_size, header_bytes=raw)


def plaintext_size(path: Path) -> int:
    """Return the plaintext size of the encrypted file at ``path`` from its size and header alone.

    Raises:
        CorruptData: bad header, or a file size no encryptor can produce.
        OSError: the file cannot be read.
    """
    with path.open("rb") as handle:
        header = read_header(handle)
        return _plaintext_size(header, os.fstat(handle.fileno()).st_size)


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
    ``key``. ``length=None`` reads to the end; the range is clipped to the plaintext size. Reading
    seeks straight to the segment holding ``offset``; pieces are at most one segment long. Only the
    segments read are authenticated, so truncation is detected only by a read that reaches the end.
    Even an empty range authenticates one segment, so a wrong password never passes silently.

    Arguments are checked at call time; the file is opened, the key derived and errors below raised
    only while iterating (the first ``next()`` authenticates the first segment).

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
        total = _plaintext_size(header, os.fstat(handle.fileno()).st_size)
        if key is None:
            assert password is not None
            key = derive_key(password, header.salt)
        aead = AESGCM(key)
        size = header.segment_size
        count = _segment_count(total, size)
        start = min(offset, total)
        end = total if length is None else min(total, start + length)
        index = min(start // size, count - 1)
        position = index * size
        handle.seek(HEADER_SIZE + index * (size + TAG_SIZE))
        first = True
        while True:
            plain_length = min(size, total - position)
            sealed = handle.read(plain_length + TAG_SIZE)
            if len(sealed) != plain_length + TAG_SIZE:
                raise CorruptData("encrypted file changed while being read")
            nonce, aad = _segment_params(header.header_bytes, header.nonce_prefix, index, index == count - 1)
            try:
                plain = aead.decrypt(nonce, sealed, aad)
            except InvalidTag:
                if first:
                    raise WrongPassword("wrong password (or the encrypted data is corrupt)") from None
                raise CorruptData(f"segment {index} failed authentication") from None
            first = False
            low = max(start - position, 0)
            high = min(end - position, plain_length)
            if high > low:
                yield plain if low == 0 and high == plain_length else plain[low:high]
            position += plain_length
            index += 1
            if position >= end or index >= count:
                return


def wrap_key(master_key: bytes, key: bytes) -> bytes:
    """Encrypt ``key`` under ``master_key`` (AES-256-GCM, random 12-byte nonce) for temporary storage.

    Returns:
        ``nonce || ciphertext || tag`` (``len(key) + 28`` bytes); a new nonce makes every call differ.

    Raises:
        ValueError: ``master_key`` is not 32 bytes.
    """
    if len(master_key) != KEY_SIZE:
        raise ValueError(f"master key must be {KEY_SIZE} bytes")
    nonce = secrets.token_bytes(_WRAP_NONCE_SIZE)
    return nonce + AESGCM(master_key).encrypt(nonce, key, _WRAP_AAD)


def unwrap_key(master_key: bytes, wrapped: bytes) -> bytes:
    """Return the key sealed by :func:`wrap_key` under the same ``master_key``.

    Raises:
        ValueError: ``master_key`` is not 32 bytes.
        CorruptData: ``wrapped`` is malformed, tampered with, or was wrapped under another master key.
    """
    if len(master_key) != KEY_SIZE:
        raise ValueError(f"master key must be {KEY_SIZE} bytes")
    if len(wrapped) < _WRAP_NONCE_SIZE + TAG_SIZE:
        raise CorruptData("wrapped key is too short")
    nonce, sealed = wrapped[:_WRAP_NONCE_SIZE], wrapped[_WRAP_NONCE_SIZE:]
    try:
        return AESGCM(master_key).decrypt(nonce, sealed, _WRAP_AAD)
    except InvalidTag:
        raise CorruptData("wrapped key failed authentication") from None


def _segment_params(header: bytes, nonce_prefix: bytes, index: int, final: bool) -> tuple[bytes, bytes]:
    counter = _COUNTER.pack(index)
    return nonce_prefix + counter, header + counter + (b"\x01" if final else b"\x00")


def _segment_count(plaintext_size: int, segment_size: int) -> int:
    return max(1, -(-plaintext_size // segment_size))


def _plaintext_size(header: EncryptionHeader, file_size: int) -> int:
    full, rest = divmod(file_size - HEADER_SIZE, header.segment_size + TAG_SIZE)
    if rest == 0 and full > 0:
        total = full * header.segment_size
    # Only an empty plaintext has an empty final segment, so a lone tag after full segments is invalid.
    elif rest > TAG_SIZE or (rest == TAG_SIZE and full == 0):
        total = full * header.segment_size + rest - TAG_SIZE
    else:
        raise CorruptData("encrypted file size is inconsistent with its header")
    if _segment_count(total, header.segment_size) > MAX_SEGMENTS:
        raise CorruptData("encrypted file has too many segments")
    return total


def _check_segment_size(segment_size: int) -> None:
    if not 1 <= segment_size <= MAX_SEGMENT_SIZE:
        raise ValueError(f"segment_size must be in [1, {MAX_SEGMENT_SIZE}]")

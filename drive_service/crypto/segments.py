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

Nothing here does I/O; the work is CPU-bound, so async callers run big pieces through
``asyncio.to_thread``.
"""

from __future__ import annotations

import secrets
import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

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


def parse_header(raw: bytes) -> EncryptionHeader:
    """Parse the first ``HEADER_SIZE`` bytes of an encrypted blob.

    The header is not authenticated here; tampering is detected when a segment is decrypted.

    Raises:
        CorruptData: the header is short, the magic is wrong, or the segment size is out of range.
    """
    if len(raw) != HEADER_SIZE:
        raise CorruptData("encrypted file header is truncated")
    magic, salt, nonce_prefix, segment_size = _HEADER.unpack(raw)
    if magic != MAGIC:
        raise CorruptData("not an encrypted file (bad magic)")
    if not 1 <= segment_size <= MAX_SEGMENT_SIZE:
        raise CorruptData(f"invalid segment size {segment_size}")
    return EncryptionHeader(salt=salt, nonce_prefix=nonce_prefix, segment_size=segment_size, header_bytes=raw)


@dataclass(frozen=True, slots=True)
class Span:
    """Where a plaintext range lives in an encrypted blob: segments ``first..`` starting at byte
    ``cipher_offset``, ``cipher_length`` bytes of them; plaintext ``[start, end)`` of the file,
    the first segment beginning at plaintext byte ``position``."""

    first: int
    position: int
    start: int
    end: int
    cipher_offset: int
    cipher_length: int


class SegmentDecryptor:
    """Opens the segments of one encrypted blob of ``stored_size`` bytes, without any I/O.

    The caller reads ``span(...)``'s bytes from wherever the blob lives, cuts them into segments
    of ``sealed_length(index)`` bytes and passes each to ``open`` in order.
    """

    def __init__(self, header: EncryptionHeader, key: bytes, stored_size: int) -> None:
        """Raises CorruptData when ``stored_size`` is one no encryptor can produce."""
        if len(key) != KEY_SIZE:
            raise ValueError(f"key must be {KEY_SIZE} bytes")
        self.header = header
        self.plaintext_size = _plaintext_size(header, stored_size)
        self._count = _segment_count(self.plaintext_size, header.segment_size)
        self._aead = AESGCM(key)
        self._opened = False

    def span(self, offset: int, length: int | None) -> Span:
        """The segments holding plaintext ``[offset, offset + length)`` (clipped to the size). Even
        an empty range covers one segment, so a wrong password never passes silently."""
        size = self.header.segment_size
        start = min(offset, self.plaintext_size)
        end = self.plaintext_size if length is None else min(self.plaintext_size, start + length)
        first = min(start // size, self._count - 1)
        last = max(first, min((max(end, 1) - 1) // size, self._count - 1))
        cipher_offset = HEADER_SIZE + first * (size + TAG_SIZE)
        cipher_end = HEADER_SIZE + last * (size + TAG_SIZE) + self.sealed_length(last)
        return Span(first, first * size, start, end, cipher_offset, cipher_end - cipher_offset)

    def sealed_length(self, index: int) -> int:
        """Bytes of segment ``index`` in the blob (its plaintext and the tag)."""
        size = self.header.segment_size
        return min(size, self.plaintext_size - index * size) + TAG_SIZE

    def open(self, index: int, sealed: bytes | bytearray | memoryview) -> bytes:
        """The plaintext of segment ``index``.

        Raises:
            WrongPassword: the first segment opened fails authentication.
            CorruptData: a later one does.
        """
        header, final = self.header, index == self._count - 1
        nonce, aad = _segment_params(header.header_bytes, header.nonce_prefix, index, final)
        try:
            plain = self._aead.decrypt(nonce, bytes(sealed), aad)
        except InvalidTag:
            if not self._opened:
                raise WrongPassword("wrong password (or the encrypted data is corrupt)") from None
            raise CorruptData(f"segment {index} failed authentication") from None
        self._opened = True
        return plain


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

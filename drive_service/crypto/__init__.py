"""At-rest encryption: AES-256-GCM in authenticated segments under a scrypt-derived key.

``segments`` holds the format and its I/O-free encryptor and decryptor, ``keys`` the key
derivation and wrapping, ``files`` helpers for local files.
"""

from __future__ import annotations

from drive_service.crypto.files import decrypt_range, encrypt_file, plaintext_size, read_header
from drive_service.crypto.keys import derive_key, new_salt, unwrap_key, wrap_key
from drive_service.crypto.segments import (
    DEFAULT_SEGMENT_SIZE,
    HEADER_SIZE,
    KEY_SIZE,
    MAGIC,
    SALT_SIZE,
    TAG_SIZE,
    CorruptData,
    EncryptionHeader,
    SegmentDecryptor,
    SegmentEncryptor,
    Span,
    WrongPassword,
    encrypted_size,
    parse_header,
)

__all__ = [
    "DEFAULT_SEGMENT_SIZE",
    "HEADER_SIZE",
    "KEY_SIZE",
    "MAGIC",
    "SALT_SIZE",
    "TAG_SIZE",
    "CorruptData",
    "EncryptionHeader",
    "SegmentDecryptor",
    "SegmentEncryptor",
    "Span",
    "WrongPassword",
    "decrypt_range",
    "derive_key",
    "encrypt_file",
    "encrypted_size",
    "new_salt",
    "parse_header",
    "plaintext_size",
    "read_header",
    "unwrap_key",
    "wrap_key",
]

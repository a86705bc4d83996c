"""Keys of at-rest encryption: password-derived file keys, and keys wrapped under the master key."""

from __future__ import annotations

import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from drive_service.crypto.segments import KEY_SIZE, SALT_SIZE, TAG_SIZE, CorruptData

SCRYPT_N = 2**15
SCRYPT_R = 8
SCRYPT_P = 1

_WRAP_NONCE_SIZE = 12
_WRAP_AAD = b"drive-service key wrap v1"


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

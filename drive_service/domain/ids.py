"""Identifiers: 21-character URL-safe random strings (the original's Nanoid format)."""

from __future__ import annotations

import re
import secrets

ID_LENGTH = 21
_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"
_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")
_HEX = re.compile(r"[0-9a-f]+")


def new_id() -> str:
    """Return a fresh random id of ``ID_LENGTH`` characters from the URL-safe alphabet."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(ID_LENGTH))


def is_blob_key(key: str) -> bool:
    """Tell whether ``key`` could name a blob: a SHA-256 or random key (64 hex digits), or the id
    of the upload whose staged bytes a store kept as the blob."""
    if len(key) == 64:
        return _HEX.fullmatch(key) is not None
    return len(key) == ID_LENGTH and is_well_formed(key)


def is_well_formed(identifier: str) -> bool:
    """Tell whether ``identifier`` could be an id we issued (safe in paths and keys)."""
    return _ID_PATTERN.fullmatch(identifier) is not None

"""Identifiers: 21-character URL-safe random strings (the original's Nanoid format)."""

from __future__ import annotations

import re
import secrets

ID_LENGTH = 21
_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"
_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")


def new_id() -> str:
    """Return a fresh random id of ``ID_LENGTH`` characters from the URL-safe alphabet."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(ID_LENGTH))


def is_well_formed(identifier: str) -> bool:
    """Tell whether ``identifier`` could be an id we issued (safe in paths and keys)."""
    return _ID_PATTERN.fullmatch(identifier) is not None

"""The account a bearer token speaks for (its ``sub`` claim), read without verifying it."""

from __future__ import annotations

import base64
import binascii
import json


def account_of(token: str) -> str:
    """The ``sub`` claim of a JWT. The server verifies tokens; the client only needs the account to
    keep one account's resume state apart from another's. Raises ValueError for a malformed token."""
    parts = token.split(".")
    if len(parts) != 3:
        raise ValueError("the token is not a JWT (header.payload.signature)")
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload))
    except (binascii.Error, ValueError) as error:
        raise ValueError("the token's payload is not base64url JSON") from error
    subject = claims.get("sub") if isinstance(claims, dict) else None
    if not isinstance(subject, str) or not subject:
        raise ValueError("the token has no sub claim")
    return subject

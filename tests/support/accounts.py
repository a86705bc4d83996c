"""Accounts and their tokens: tests isolate themselves by using a fresh account each."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from drive_service.config import Settings
from drive_service.services.tokens import mint


def new_account() -> str:
    """A fresh account UUID."""
    return str(uuid.uuid4())


def token_for(settings: Settings, account_id: str, ttl: timedelta = timedelta(hours=1), **claims: Any) -> str:
    """A valid bearer token for ``account_id``; ``claims`` (``tier``, ``perms``) as for ``mint``."""
    return mint(settings.jwt, account_id, ttl, **claims)


def auth(token: str) -> tuple[tuple[str, str], ...]:
    """Call metadata carrying ``token``."""
    return (("authorization", f"Bearer {token}"),)

"""The handlers that ship with the service, one module each."""

from __future__ import annotations

from drive_service.services.handlers import Handler


def builtin_handlers() -> list[Handler]:
    """A fresh instance of every built-in handler."""
    return []

"""Alembic migrations for SQLite and PostgreSQL, applied at start and by ``drive-service migrate``."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection

from drive_service.storage.db import Database

_HERE = Path(__file__).resolve().parent


def _upgrade(connection: Connection) -> None:
    config = Config()
    config.set_main_option("script_location", str(_HERE))
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


async def upgrade(db: Database) -> None:
    """Bring the schema to the newest revision (idempotent)."""
    async with db.engine.begin() as conn:
        await conn.run_sync(_upgrade)

"""Alembic migrations for SQLite and PostgreSQL, applied at start and by ``drive-service migrate``."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, text

from drive_service.storage.db import Database

_HERE = Path(__file__).resolve().parent


def _upgrade(connection: Connection) -> None:
    config = Config()
    config.set_main_option("script_location", str(_HERE))
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


#: Any constant: processes starting together on PostgreSQL migrate one after another.
_MIGRATION_LOCK = 0x64726976


async def upgrade(db: Database) -> None:
    """Bring the schema to the newest revision (idempotent, safe with concurrent starters)."""
    async with db.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
        await conn.run_sync(_upgrade)

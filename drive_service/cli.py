"""Command line: drive-service serve | worker | migrate | token."""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
from collections.abc import Sequence
from datetime import timedelta

from drive_service import logs, settings_table
from drive_service.client import cli as client_cli
from drive_service.config import Settings
from drive_service.env_reader import ConfigError

_DURATION = re.compile(r"(\d+)([smhd]?)")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, load settings and run the chosen command; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    if hasattr(args, "client_command"):
        return client_cli.run(args)
    try:
        settings = Settings.from_env()
        if args.command in ("serve", "worker"):
            from drive_service.app import serve

            asyncio.run(serve(settings, serve_grpc=args.command == "serve"))
            return 0
    except ConfigError as error:
        print(f"drive-service: invalid configuration: {error}", file=sys.stderr)
        return 2
    except OSError as error:  # e.g. the listen address is taken
        print(f"drive-service: {error}", file=sys.stderr)
        return 1
    if args.command == "migrate":
        logs.configure(settings.server.log_levels, settings.server.audit_log)
        asyncio.run(_migrate(settings))
        return 0
    return _token(settings, args)


async def _migrate(settings: Settings) -> None:
    from drive_service.storage import migrations
    from drive_service.storage.db import Database

    settings.storage.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.storage.database_url)
    try:
        await migrations.upgrade(db)
    finally:
        await db.close()


def _token(settings: Settings, args: argparse.Namespace) -> int:
    from drive_service.services.tokens import mint

    try:
        token = mint(settings.jwt, args.account, args.ttl, tier=args.tier, perms=args.perm)
    except ValueError as error:
        print(f"drive-service: {error}", file=sys.stderr)
        return 2
    print(token)
    return 0


def _duration(text: str) -> timedelta:
    match = _DURATION.fullmatch(text.strip())
    if match is None:
        raise argparse.ArgumentTypeError("use a number with an optional unit s, m, h or d (e.g. 12h)")
    return timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="drive-service", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser(
        "serve",
        help="run the gRPC server (migrates first)",
        description="Run the gRPC server until SIGTERM or SIGINT (the database is migrated first). "
        "Every setting comes from the environment; these matter first:\n\n"
        + settings_table.plain("Server")
        + "\n\nThe README lists every other variable.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands.add_parser("worker", help="run only the background worker (any number per database)")
    commands.add_parser("migrate", help="apply database migrations and exit")
    token = commands.add_parser("token", help="mint a development bearer token")
    token.add_argument("--account", required=True, help="account UUID (the token's sub)")
    token.add_argument(
        "--ttl", type=_duration, default=timedelta(hours=12), help="lifetime, e.g. 3600, 30m, 12h"
    )
    token.add_argument("--tier", type=int, default=0, help="privilege tier claim")
    token.add_argument("--perm", action="append", default=[], help="permission claim, e.g. drive.admin")
    client_cli.add_commands(commands)
    return parser

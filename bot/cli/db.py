"""`python -m bot db upgrade`: apply the Alembic migrations to DATABASE_URL."""

from __future__ import annotations

import argparse
from typing import Any

from bot.settings import Settings
from storage.migrate import upgrade_sync


def add_parser(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser("db", help="database migrations")
    actions = parser.add_subparsers(dest="db_command", required=True)
    upgrade = actions.add_parser("upgrade", help="apply every migration")
    upgrade.set_defaults(handler=run_upgrade)


def run_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    upgrade_sync(settings.database_url)
    print("database is up to date")
    return 0

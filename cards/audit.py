"""The audit log card (admins): the latest entries, ids and actions only, times in UK time (design §4, §6)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cards.common import HELP, UK, Card, card, facts, heading, para, submit

# Every outcome the code writes (bot.services.roles.Outcome, bot.services.programme.Change and the literals
# passed to Audit.record), in plain words; tests/test_audit_e2e.py finds them in the code and checks this list.
OUTCOME_WORDS = {
    "done": "Done",
    "unchanged": "Nothing changed: it was already like that",
    # Refusals: the role was missing, or they do not run that session, or it had already started.
    "refused": "Refused: they were not allowed to do this",
    "last_admin": "Refused: there must always be at least one admin",
    "duplicate": "Nothing changed: that name is already on the list",
    "missing": "Nothing changed: the record was no longer there",
    "last_one": "Refused: people must always have at least one organisation to choose",
    "invalid": "Nothing changed: what was typed was too short or too long",
    "no_report": "Nothing read: the meeting has no attendance report",
    "not_allowed": "Nothing read: the bot is not allowed to read the meeting's report",
    "unavailable": "Nothing read: Microsoft Graph did not answer in time",
}


@dataclass(frozen=True)
class AuditLine:
    at: datetime  # aware UTC
    actor_id: str
    action: str
    record_id: str | None
    outcome: str


def uk_time(moment: datetime) -> str:
    local = moment.astimezone(UK)
    return f"{local:%a %d %b %Y}, {local:%H:%M:%S} ({local.tzname()})"


def _entry(line: AuditLine) -> dict[str, Any]:
    return {"type": "Container", "separator": True, "items": [
        para(uk_time(line.at), weight="Bolder"),
        facts([
            ("Who", line.actor_id),
            ("What", line.action),
            ("Record", line.record_id or "none"),
            ("Result", OUTCOME_WORDS.get(line.outcome, line.outcome)),
        ]),
    ]}


def audit_card(lines: list[AuditLine]) -> Card:
    body: list[dict[str, Any]] = [heading("Audit log")]
    if lines:
        body.append(para(f"The latest {len(lines)} entries, newest first. Times are UK time. People are shown "
                         "by their id, never by name."))
        body += [_entry(line) for line in lines]
    else:
        body.append(para("There is nothing in the audit log yet."))
    body.append(para("To get the whole log as a file, ask your technical team to run: "
                     "python -m bot audit export --csv audit.csv", subtle=True))
    return card(body, [submit("See roles", "roles"), submit(HELP, "help")])

"""The audit log card (admins): the latest entries, ids and actions only, times in UK time (design §4, §6)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from cards.common import HELP, Card, card, facts, heading, para, submit

UK = ZoneInfo("Europe/London")

OUTCOME_WORDS = {
    "done": "Done",
    "unchanged": "No change needed",
    "refused": "Refused: they did not have the role needed",
    "last_admin": "Refused: there must always be at least one admin",
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

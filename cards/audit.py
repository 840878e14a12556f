"""The audit log card (admins): the latest entries, ids and actions only, times in UK time (design §4, §6)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cards.common import HELP, Card, card, facts, heading, para, submit
from vocabulary.actions.people import SHOW_HELP
from vocabulary.actions.programme import SHOW_ROLES
from vocabulary.uk_time import uk_audit_time
from vocabulary.words import AuditOutcome

# Every outcome the code writes, in plain words (vocabulary.words.AuditOutcome); tests/test_audit_e2e.py finds
# them in the code and checks this list.
OUTCOME_WORDS = {outcome.value: outcome.label for outcome in AuditOutcome}


@dataclass(frozen=True)
class AuditLine:
    """One audit row as the card and the CSV export show it (bot.services.roles.RoleService.audit_entries)."""

    at: datetime  # aware UTC
    actor_id: str
    action: str
    record_id: str | None
    outcome: str


def audit_facts(line: AuditLine) -> list[tuple[str, str]]:
    """One entry's (label, value) rows, as the card and the desk's Programme page show them."""
    return [
        ("Who", line.actor_id),
        ("What", line.action),
        ("Record", line.record_id or "none"),
        ("Result", OUTCOME_WORDS.get(line.outcome, line.outcome)),
    ]


def audit_intro(count: int) -> str:
    return (f"The latest {count} entries, newest first. Times are UK time. People are shown by their id, never "
            "by name.")


def _entry(line: AuditLine) -> dict[str, Any]:
    return {"type": "Container", "separator": True, "items": [
        para(uk_audit_time(line.at), weight="Bolder"),
        facts(audit_facts(line)),
    ]}


def audit_card(lines: list[AuditLine]) -> Card:
    body: list[dict[str, Any]] = [heading("Audit log")]
    if lines:
        body.append(para(audit_intro(len(lines))))
        body += [_entry(line) for line in lines]
    else:
        body.append(para("There is nothing in the audit log yet."))
    body.append(para("To get the whole log as a file, ask your technical team to run: "
                     "python -m bot audit export --csv audit.csv", subtle=True))
    return card(body, [submit("See roles", SHOW_ROLES), submit(HELP, SHOW_HELP)])

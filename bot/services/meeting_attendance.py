"""Pre-filling "Mark who came" from the session's Teams meeting (issue 24, part 3). No botbuilder, no Graph here:
the feature passes a `MeetingAttendanceSource` (bot/graph/meeting_attendance.py when Graph is on).

Once a session with a Teams meeting link has ended, the meeting's attendance reports say who joined. People with
a place who are listed (by Entra object id, or by e-mail) are suggested as "came" on the facilitator's card, for
them to check and save. Nothing is marked here: only the facilitator's Save marks anyone (and sends thank-yous).
A mark already saved is never changed. Reading a report is audited with the session id only.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from bot.clock import Clock
from bot.services.roles import Audit
from cards.attendance import AttendanceLine
from storage.db import Database
from storage.models import TrainingSession

log = logging.getLogger(__name__)

TEAMS_MEETING_PREFIX = "https://teams.microsoft.com/"
# The report is read inside the facilitator's turn, which Teams gives about 15 seconds: a slow or throttled Graph
# (its client waits out Retry-After) must not cost the card, which then opens without the pre-fill.
LOOKUP_SECONDS = 8.0


@dataclass(frozen=True)
class Attendees:
    person_ids: frozenset[str]
    emails: frozenset[str]


@dataclass(frozen=True)
class Lookup:
    outcome: str  # found | no_meeting | no_report | not_allowed | unavailable
    attendees: Attendees | None = None


class MeetingAttendanceSource(Protocol):
    async def attendees(self, join_url: str) -> Lookup: ...


@dataclass(frozen=True)
class Suggestion:
    """What the card shows: `marks` (invitation id -> came) for the page's unmarked people the report lists."""

    outcome: str  # suggested | none_listed | no_report | unavailable | not_applicable
    marks: dict[int, bool] = field(default_factory=dict)


class MeetingAttendanceService:
    def __init__(self, database: Database, clock: Clock, audit: Audit, source: MeetingAttendanceSource, *,
                 timeout: float = LOOKUP_SECONDS) -> None:
        self._database = database
        self._clock = clock
        self._audit = audit
        self._source = source
        self._timeout = timeout

    async def suggest(self, actor_id: str, session_id: int, entries: Sequence[AttendanceLine]) -> Suggestion:
        """Call only after the attendance service let `actor_id` open this session's card."""
        if not any(entry.attended is None for entry in entries):
            return Suggestion("not_applicable")  # everyone on this page is marked already
        async with self._database.read() as session:
            row = await session.get(TrainingSession, session_id)
            join_url = row.join_url if row is not None else None
            ended = row is not None and row.ends_at <= self._clock.now()
        if not ended or not join_url or not join_url.startswith(TEAMS_MEETING_PREFIX):
            return Suggestion("not_applicable")
        try:
            lookup = await asyncio.wait_for(self._source.attendees(join_url), self._timeout)
        except TimeoutError:
            log.warning("attendance report not read in time: session=%d", session_id)
            lookup = Lookup("unavailable")
        async with self._database.transaction() as session:
            # Literal outcomes, each with its plain words on the audit card (cards/audit.py).
            action, record = "session.attendance.report", str(session_id)
            if lookup.outcome == "found":
                await self._audit.record(session, actor_id, action, record)
            elif lookup.outcome == "not_allowed":
                await self._audit.record(session, actor_id, action, record, outcome="not_allowed")
            elif lookup.outcome in ("no_meeting", "no_report"):
                await self._audit.record(session, actor_id, action, record, outcome="no_report")
            else:
                await self._audit.record(session, actor_id, action, record, outcome="unavailable")
        if lookup.attendees is None:
            return Suggestion("no_report" if lookup.outcome in ("no_meeting", "no_report") else "unavailable")
        listed = lookup.attendees
        marks = {entry.invitation_id: True for entry in entries if entry.attended is None and (
            entry.person_id.lower() in listed.person_ids
            or (entry.email is not None and entry.email.strip().lower() in listed.emails))}
        log.info("attendance report read: session=%d suggested=%d", session_id, len(marks))
        return Suggestion("suggested" if marks else "none_listed", marks)

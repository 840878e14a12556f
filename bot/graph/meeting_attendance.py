"""Who came to a session's Teams meeting, from Graph's attendance reports (issue 24, part 3).

The bot creates the meeting in the organiser mailbox (GRAPH_ORGANISER_MAILBOX, bot/graph/calendar.py), so the
meeting is found under that user by its join URL (`/users/{id}/onlineMeetings?$filter=JoinWebUrl eq '…'`,
permission OnlineMeetings.Read.All) and its reports read from `…/attendanceReports` and their
`attendanceRecords` (OnlineMeetingArtifact.Read.All). App-only access to online meetings also needs an
application access policy granted for the organiser (docs/deploy.md); without it Graph answers 403.

What comes back stays in memory: the attendees' Entra object ids and e-mail addresses, only to pre-fill the
facilitator's "Mark who came" card. Nothing is stored or logged here; logs carry operation names and status
codes (bot/graph/client.py).
"""

from __future__ import annotations

import logging

from bot.graph.client import GraphClient, odata_string, segment
from bot.graph.errors import GraphError, GraphNotFound
from bot.services.meeting_attendance import Attendees, Lookup

log = logging.getLogger(__name__)

MAX_REPORTS = 20  # a recurring meeting has one report per occurrence; one session uses one or two


class MeetingAttendance:
    def __init__(self, client: GraphClient, organiser_mailbox: str) -> None:
        self._client = client
        self._mailbox = organiser_mailbox

    async def attendees(self, join_url: str) -> Lookup:
        """Everyone the meeting's attendance reports list (Entra object ids, and e-mails for guests)."""
        try:
            return await self._attendees(join_url)
        except GraphNotFound:
            return Lookup("no_meeting")  # the organiser mailbox, or the meeting, is gone
        except GraphError as error:
            # 403: no application access policy for the organiser, or the permissions were not granted.
            outcome = "not_allowed" if error.status == 403 else "unavailable"
            log.warning("graph attendance report not read: %s %s", error.status, outcome)
            return Lookup(outcome)

    async def _attendees(self, join_url: str) -> Lookup:
        if not self._mailbox:
            return Lookup("no_meeting")
        organiser = await self._client.get("meetings.organiser", f"/users/{segment(self._mailbox)}", {"$select": "id"})
        organiser_id = organiser.get("id")
        if not isinstance(organiser_id, str) or not organiser_id:
            return Lookup("no_meeting")
        base = f"/users/{segment(organiser_id)}/onlineMeetings"
        found = await self._client.get("meetings.find", base, {"$filter": f"JoinWebUrl eq {odata_string(join_url)}"})
        meetings = [m for m in found.get("value") or [] if isinstance(m, dict) and isinstance(m.get("id"), str)]
        if not meetings:
            return Lookup("no_meeting")
        meeting = f"{base}/{segment(meetings[0]['id'])}/attendanceReports"
        report_ids = []
        async for report in self._client.items("meetings.reports", meeting):
            if isinstance(report.get("id"), str):
                report_ids.append(report["id"])
            if len(report_ids) >= MAX_REPORTS:
                break
        if not report_ids:
            return Lookup("no_report")
        person_ids: set[str] = set()
        emails: set[str] = set()
        for report_id in report_ids:
            async for record in self._client.items("meetings.attendance",
                                                   f"{meeting}/{segment(report_id)}/attendanceRecords"):
                identity = record.get("identity")
                if isinstance(identity, dict) and isinstance(identity.get("id"), str) and identity["id"]:
                    person_ids.add(identity["id"].lower())
                if isinstance(record.get("emailAddress"), str) and record["emailAddress"]:
                    emails.add(record["emailAddress"].strip().lower())
        return Lookup("found", Attendees(frozenset(person_ids), frozenset(emails)))

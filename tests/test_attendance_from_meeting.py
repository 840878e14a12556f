"""Attendance from the Teams meeting (issue 24, part 3), end to end through /api/messages and the Graph double
(which answers the real v1.0 shapes of onlineMeetings, attendanceReports and attendanceRecords), on SQLite and
PostgreSQL: once a session with a Teams meeting has ended, "Mark who came" shows the people the meeting's
attendance report lists as "Came", for the facilitator to check and save; nobody is marked or thanked until they
press Save; without an application access policy, or before a report exists, the card says so and pre-fills
nothing; reading a report is audited with the session id only."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from bot.clock import FixedClock
from bot.services.meeting_attendance import Lookup, MeetingAttendanceService
from cards.attendance import AttendanceLine
from storage.repositories.sessions import InvitationRepository
from tests.app_fixtures import BotHarness, card_text, only_card, start_harness
from tests.doubles.graph import DEFAULT_MAILBOX, GraphDouble, attendance_record
from tests.doubles.issuer import TokenIssuer
from tests.doubles.teams import Member, TeamsDouble, make_member
from tests.test_reminders_support import booked_session
from tests.test_sessions_helpers import FACILITATOR, audit_rows, invitation, outbox

ORGANISER = "66666666-0000-4000-8000-00000000000e"
JOIN = "https://teams.microsoft.com/l/meetup-join/19%3ameeting_allyship%40thread.v2/0"
OUTSIDER = "66666666-0000-4000-8000-000000000099"


@pytest.fixture
async def graph() -> AsyncIterator[GraphDouble]:
    async with GraphDouble() as double:
        double.add_user(ORGANISER, "HNY Inc. sessions", DEFAULT_MAILBOX)
        yield double


@pytest.fixture
async def graph_harness(db_url: str, token_issuer: TokenIssuer, teams_double: TeamsDouble, clock: FixedClock,
                        graph: GraphDouble) -> AsyncIterator[BotHarness]:
    async for harness in start_harness(db_url, token_issuer, teams_double, clock, **graph.settings()):
        yield harness


def choices(card: dict[str, Any]) -> dict[str, str]:
    return {element["id"]: element["value"] for element in card["body"] if element["type"] == "Input.ChoiceSet"}


async def marks_of(harness: BotHarness, session_id: int, *members: Member) -> list[str]:
    ids = []
    for member in members:
        row = await invitation(harness, session_id, member)
        assert row is not None
        ids.append(f"mark_{row.id}")
    return ids


async def ended_session(harness: BotHarness, people: list[Member]) -> int:
    session_id, _ = await booked_session(harness, people, capacity=5, starts_in=timedelta(days=2), join_url=JOIN)
    harness.clock.advance(timedelta(days=2, hours=3))
    return session_id


async def attendance_entries(harness: BotHarness, session_id: int) -> list[AttendanceLine]:
    async with harness.core.database.read() as session:
        return [AttendanceLine(*row) for row in await InvitationRepository(session).attendance(session_id)]


async def open_sheet(harness: BotHarness, session_id: int) -> dict[str, Any]:
    return only_card(await harness.press({"action": "session_attendance", "session_id": session_id}, FACILITATOR))


async def test_mark_who_came_is_prefilled_from_the_meeting_report_and_only_save_marks_anyone(
        graph_harness: BotHarness, graph: GraphDouble) -> None:
    harness = graph_harness
    came, by_email, absent = (make_member(7400 + index) for index in range(3))
    session_id = await ended_session(harness, [came, by_email, absent])
    graph.add_meeting(ORGANISER, JOIN, [
        attendance_record(ORGANISER, "HNY Inc. sessions", DEFAULT_MAILBOX, role="Organizer"),
        attendance_record(came.aad_object_id.upper(), came.name, came.email),
        attendance_record(None, by_email.name, by_email.email.upper()),  # joined as a guest: no id
        attendance_record(OUTSIDER, "Someone not booked", "someone@elsewhere.test"),
    ])

    sheet = await open_sheet(harness, session_id)
    text = card_text(sheet)
    assert "attendance report lists 2 of these people" in text and "Nothing is saved until you do." in text
    came_mark, email_mark, absent_mark = await marks_of(harness, session_id, came, by_email, absent)
    assert choices(sheet) == {came_mark: "attended", email_mark: "attended", absent_mark: ""}
    assert "Someone not booked" not in text
    # Nothing is marked and nobody is thanked by opening the card.
    assert [(await invitation(harness, session_id, m)).attended for m in (came, by_email, absent)] == [None] * 3  # type: ignore[union-attr]
    assert await outbox(harness, "thanks:") == []
    [found] = [r for r in graph.graph_requests("GET", f"/users/{ORGANISER}/onlineMeetings") if "$filter" in r.query]
    assert found.query["$filter"] == f"JoinWebUrl eq '{JOIN}'" and found.status == 200

    # The facilitator changes one suggestion and saves: only then are people marked.
    save = next(node["data"] for node in sheet["actions"] if node["title"] == "Save")
    saved = only_card(await harness.press({**save, **choices(sheet), email_mark: "absent", "feedback_url": ""},
                                          FACILITATOR))
    assert "Came: 1. Did not come: 1. Not marked yet: 1." in card_text(saved)
    assert [(await invitation(harness, session_id, m)).attended for m in (came, by_email, absent)] == [  # type: ignore[union-attr]
        True, False, None]
    # Saved marks are never overwritten by the report: the card shows what was saved.
    again = await open_sheet(harness, session_id)
    assert choices(again) == {came_mark: "attended", email_mark: "absent", absent_mark: ""}
    assert "lists none of these people" in card_text(again)  # the one not marked yet is not in the report
    rows = [(r.actor_id, r.action, r.record_id) for r in await audit_rows(harness)]
    assert (FACILITATOR.aad_object_id, "session.attendance.report", str(session_id)) in rows
    for row in await audit_rows(harness):
        assert came.email not in str(row.record_id) and came.name not in str(row.record_id)


async def test_without_an_access_policy_or_a_report_the_card_says_so_and_prefills_nothing(
        graph_harness: BotHarness, graph: GraphDouble) -> None:
    harness = graph_harness
    came = make_member(7500)
    session_id = await ended_session(harness, [came])

    graph.meeting_access.add(ORGANISER)  # the policy is granted, but Graph has no meeting for the link yet
    sheet = await open_sheet(harness, session_id)
    assert "has no attendance report yet" in card_text(sheet)
    assert set(choices(sheet).values()) == {""}

    graph.add_meeting(ORGANISER, JOIN, [attendance_record(came.aad_object_id, came.name, came.email)],
                      policy=False)
    graph.meeting_access.clear()
    sheet = await open_sheet(harness, session_id)
    assert "couldn't read the Teams meeting's attendance report" in card_text(sheet)
    assert set(choices(sheet).values()) == {""}
    assert graph.graph_requests("GET", "/onlineMeetings")[-1].status == 403
    rows = [(r.action, r.record_id, r.outcome) for r in await audit_rows(harness)]
    assert ("session.attendance.report", str(session_id), "not_allowed") in rows


async def test_a_report_that_takes_too_long_leaves_the_card_to_the_facilitator(
        graph_harness: BotHarness) -> None:
    """The report is read inside the facilitator's turn: a Graph that does not answer in time costs only the
    pre-fill (checked on the service, with a source that never answers)."""
    harness = graph_harness
    came = make_member(7600)
    session_id = await ended_session(harness, [came])
    never = asyncio.Event()

    class Silent:
        async def attendees(self, join_url: str) -> Lookup:
            await never.wait()
            raise AssertionError("unreachable")

    service = MeetingAttendanceService(harness.core.database, harness.clock, harness.core.audit, Silent(),
                                       timeout=0.05)
    [entry] = await attendance_entries(harness, session_id)
    suggestion = await service.suggest(FACILITATOR.aad_object_id, session_id, [entry])
    assert (suggestion.outcome, suggestion.marks) == ("unavailable", {})
    assert [(await invitation(harness, session_id, came)).attended] == [None]  # type: ignore[union-attr]

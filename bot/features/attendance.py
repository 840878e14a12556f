"""Marking who came (issue 7): a session's facilitators open the attendance card once the session has started,
page by page for a big session, and save; people marked as came are thanked through the outbox with the
feedback link given on the card."""

from __future__ import annotations

from dataclasses import replace

from bot.features import Wiring
from bot.features.session_cards import CHANNEL_ONLY_PRIVATE
from bot.services.attendance import AttendanceResult, AttendanceService
from bot.services.meeting_attendance import MeetingAttendanceService
from bot.turns import Turn
from cards.attendance import (
    PAGE_SAVED,
    AttendanceView,
    attendance_card,
    attendance_closed,
    attendance_saved,
    attendance_too_early,
)
from cards.common import Card
from cards.sessions import not_yours, session_gone
from vocabulary.actions.sessions import SESSION_ATTENDANCE, SESSION_ATTENDANCE_SAVE, AttendancePayload, SessionRef


def with_form(sheet: AttendanceView, *, errors: dict[str, str] | None = None, form_feedback_url: str | None = None,
              form_marks: dict[int, bool | None] | None = None, note: str | None = None) -> AttendanceView:
    """The page as the card shows it; `form_feedback_url` and `form_marks` are what the facilitator chose, kept
    on a card sent back to fix something (nothing of it was saved)."""
    chosen = form_marks or {}
    return replace(sheet, lines=tuple(replace(line, attended=chosen.get(line.invitation_id, line.attended))
                                      for line in sheet.lines),
                   errors=errors or {}, form_feedback_url=form_feedback_url, note=note)


def problem_card(result: AttendanceResult) -> Card | None:
    """The answer to a refusal, a missing session or one that cannot be marked (yet); None otherwise. The desk
    shows the same cards as pages."""
    if result.outcome == "refused":
        return not_yours()
    if result.sheet is None:
        return session_gone()
    if result.outcome == "too_early":
        return attendance_too_early(result.sheet.title, result.sheet.starts_at, result.sheet.ends_at)
    if result.outcome == "closed":
        return attendance_closed(result.sheet.title)
    return None


def saved_reply(result: AttendanceResult, payload: AttendancePayload) -> Card:
    """After Save (a result `problem_card` answered as None, and not "next_page"): the card again with what to
    fix, the facilitator's choices kept, or what was saved."""
    assert result.sheet is not None
    if result.outcome == "errors":
        return attendance_card(with_form(result.sheet, errors=result.errors, form_feedback_url=payload.feedback_url,
                                         form_marks=payload.marks()))
    return attendance_saved(result.sheet.title, attended=result.attended, absent=result.absent,
                            not_marked=result.not_marked, thanked=result.thanked)


# Issue 24: what the card says when the Teams meeting's attendance report was looked at.
FROM_MEETING = {
    "suggested": "The Teams meeting's attendance report lists {n} of these people, so they show as \"Came\". "
                 "Please check everyone, then press Save. Nothing is saved until you do.",
    "none_listed": "The Teams meeting's attendance report lists none of these people. Please mark who came.",
    "no_report": "The Teams meeting has no attendance report yet. Please mark who came, or try again later.",
    "unavailable": "I couldn't read the Teams meeting's attendance report just now. Please mark who came.",
}


class AttendanceFeature:
    def __init__(self, attendance: AttendanceService, meetings: MeetingAttendanceService | None = None) -> None:
        self.attendance = attendance
        self.meetings = meetings  # Graph on: pre-fill from the meeting's attendance report (issue 24)

    async def _prefilled(self, turn: Turn, sheet: AttendanceView, note: str | None = None) -> AttendanceView:
        """The page, with the people the meeting's report lists shown as came, for the facilitator to confirm."""
        if self.meetings is None:
            return with_form(sheet, note=note)
        suggestion = await self.meetings.suggest(turn.person_id, sheet.session_id, sheet.lines)
        said = FROM_MEETING.get(suggestion.outcome)
        if said is None:
            return with_form(sheet, note=note)
        said = said.format(n=len(suggestion.marks))
        return with_form(sheet, form_marks=dict(suggestion.marks), note=f"{note} {said}" if note else said)

    async def _problem(self, turn: Turn, result: AttendanceResult) -> bool:
        """Answers a refusal, a missing session or one that cannot be marked (yet); True when it did."""
        answer = problem_card(result)
        if answer is None:
            return False
        await turn.reply_card(answer)
        return True

    async def open_action(self, turn: Turn, payload: SessionRef) -> None:
        if not await turn.in_private_chat(CHANNEL_ONLY_PRIVATE):
            return
        result = await self.attendance.sheet(turn.person_id, payload.session_id)
        if await self._problem(turn, result):
            return
        assert result.sheet is not None
        await turn.reply_card(attendance_card(await self._prefilled(turn, result.sheet)))

    async def save_action(self, turn: Turn, payload: AttendancePayload) -> None:
        result = await self.attendance.save(turn.person_id, payload.session_id, payload.page, payload.marks(),
                                            payload.feedback_url)
        if await self._problem(turn, result):
            return
        assert result.sheet is not None
        if result.outcome == "next_page":
            await turn.reply_card(attendance_card(await self._prefilled(turn, result.sheet, PAGE_SAVED)))
        else:
            await turn.reply_card(saved_reply(result, payload))


def register_actions(wiring: Wiring, attendance: AttendanceService) -> None:
    core = wiring.core
    graph = wiring.graph
    meetings = (MeetingAttendanceService(core.database, core.clock, core.audit, graph.meetings)
                if graph is not None else None)
    feature = AttendanceFeature(attendance, meetings)
    wiring.actions.on_submit(SESSION_ATTENDANCE, feature.open_action)
    wiring.actions.on_submit(SESSION_ATTENDANCE_SAVE, feature.save_action)

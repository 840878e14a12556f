"""Marking who came (issue 7): a session's facilitators open the attendance card once the session has started,
page by page for a big session, and save; people marked as came are thanked through the outbox with the
feedback link given on the card."""

from __future__ import annotations

import re

from pydantic import ConfigDict, Field, model_validator

from bot.actions import RECORD_ID_MAX, ActionPayload, RecordId
from bot.features import Wiring
from bot.features.session_cards import CHANNEL_ONLY_PRIVATE, SessionRef
from bot.graph.services import get_graph
from bot.services.attendance import PAGE_SIZE, AttendanceResult, AttendanceService, Sheet
from bot.services.meeting_attendance import MeetingAttendanceService
from bot.turns import Turn
from cards.attendance import (
    ACTION_OPEN,
    ACTION_SAVE,
    CAME,
    DID_NOT_COME,
    MARK_PREFIX,
    PAGE_SAVED,
    AttendanceLine,
    AttendanceView,
    attendance_card,
    attendance_closed,
    attendance_saved,
    attendance_too_early,
)
from cards.sessions import not_yours, session_gone
from vocabulary.words import Role

_MARK_KEY = re.compile(rf"^{MARK_PREFIX}(\d{{1,10}})$")


class AttendancePayload(ActionPayload):
    """The attendance card: its choice sets arrive as `mark_<invitation id>` fields, so the model takes extra
    fields, but only those, with only the card's values."""

    model_config = ConfigDict(extra="allow", str_max_length=2000, frozen=True)
    session_id: RecordId
    page: int = Field(default=0, ge=0, le=1000)
    feedback_url: str = ""

    @model_validator(mode="after")
    def _only_marks(self) -> AttendancePayload:
        extra = self.model_extra or {}
        if len(extra) > PAGE_SIZE:
            raise ValueError("more marks than one card holds")
        for key, value in extra.items():
            match = _MARK_KEY.match(key)
            if not match or int(match.group(1)) > RECORD_ID_MAX or value not in ("", CAME, DID_NOT_COME):
                raise ValueError("a field the attendance card does not have")
        return self

    def marks(self) -> dict[int, bool | None]:
        """Invitation id -> came, did not come, or not marked (an empty choice)."""
        found: dict[int, bool | None] = {}
        for key, value in (self.model_extra or {}).items():
            match = _MARK_KEY.match(key)
            if match:
                found[int(match.group(1))] = None if value == "" else value == CAME
        return found


def attendance_view(sheet: Sheet, *, errors: dict[str, str] | None = None, form_feedback_url: str | None = None,
                    form_marks: dict[int, bool | None] | None = None, note: str | None = None) -> AttendanceView:
    """The card for one page; `form_feedback_url` and `form_marks` are what the facilitator chose, kept on a
    card sent back to fix something (nothing of it was saved)."""
    chosen = form_marks or {}
    return AttendanceView(
        session_id=sheet.session_id, title=sheet.title, starts_at=sheet.starts_at, ends_at=sheet.ends_at,
        lines=tuple(AttendanceLine(entry.invitation_id, entry.display_name, entry.email,
                                   chosen.get(entry.invitation_id, entry.attended))
                    for entry in sheet.entries),
        page=sheet.page, pages=sheet.pages, total=sheet.total, feedback_url=sheet.feedback_url,
        errors=errors or {}, form_feedback_url=form_feedback_url, note=note)


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

    async def _prefilled(self, turn: Turn, sheet: Sheet, note: str | None = None) -> AttendanceView:
        """The page, with the people the meeting's report lists shown as came, for the facilitator to confirm."""
        if self.meetings is None:
            return attendance_view(sheet, note=note)
        suggestion = await self.meetings.suggest(turn.person_id, sheet.session_id, sheet.entries)
        said = FROM_MEETING.get(suggestion.outcome)
        if said is None:
            return attendance_view(sheet, note=note)
        said = said.format(n=len(suggestion.marks))
        return attendance_view(sheet, form_marks=dict(suggestion.marks), note=f"{note} {said}" if note else said)

    async def _problem(self, turn: Turn, result: AttendanceResult) -> bool:
        """Answers a refusal, a missing session or one that cannot be marked (yet); True when it did."""
        if result.outcome == "refused":
            await turn.reply_card(not_yours())
        elif result.sheet is None:
            await turn.reply_card(session_gone())
        elif result.outcome == "too_early":
            await turn.reply_card(attendance_too_early(result.sheet.title, result.sheet.starts_at,
                                                       result.sheet.ends_at))
        elif result.outcome == "closed":
            await turn.reply_card(attendance_closed(result.sheet.title))
        else:
            return False
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
        if result.outcome == "errors":
            await turn.reply_card(attendance_card(attendance_view(result.sheet, errors=result.errors,
                                                                  form_feedback_url=payload.feedback_url,
                                                                  form_marks=payload.marks())))
        elif result.outcome == "next_page":
            await turn.reply_card(attendance_card(await self._prefilled(turn, result.sheet, PAGE_SAVED)))
        else:
            await turn.reply_card(attendance_saved(result.sheet.title, attended=result.attended,
                                                   absent=result.absent, not_marked=result.not_marked,
                                                   thanked=result.thanked))


def register_actions(wiring: Wiring, attendance: AttendanceService) -> None:
    core = wiring.core
    graph = get_graph(wiring.app, core)
    meetings = (MeetingAttendanceService(core.database, core.clock, core.audit, graph.meetings)
                if graph is not None else None)
    feature = AttendanceFeature(attendance, meetings)
    wiring.actions.register(ACTION_OPEN, SessionRef, feature.open_action, Role.FACILITATOR)
    wiring.actions.register(ACTION_SAVE, AttendancePayload, feature.save_action, Role.FACILITATOR)

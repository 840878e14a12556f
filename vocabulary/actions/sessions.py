"""The card actions of sessions, invitations and attendance (bot/features/sessions.py, invitations.py,
attendance.py, roster_file.py): the facilitators' session list and what its buttons do, the invitation card's
replies and "send again", and marking who came.

Every facilitator action is checked twice: the facilitator role here (the action registry), then "manages this
session" by the service. Accept, Decline and a card refresh act for the person who pressed, never for a person
named in a payload: the payloads carry the session only."""

from __future__ import annotations

import re

from pydantic import ConfigDict, Field, model_validator

from vocabulary.catalogue import (
    RECORD_ID_MAX,
    ActionPayload,
    CardAction,
    NoPayload,
    Press,
    RecordCount,
    RecordId,
    tables,
)
from vocabulary.words import AttendanceMark, Role

# People per attendance card, so a card stays well under Teams' size limit (design §9).
ATTENDANCE_PAGE_SIZE = 40
# The attendance card's choice sets are named after the invitation they mark: mark_<invitation id>.
MARK_PREFIX = "mark_"
_MARK_KEY = re.compile(rf"^{MARK_PREFIX}(\d{{1,10}})$")


def mark_id(invitation_id: int) -> str:
    return f"{MARK_PREFIX}{invitation_id}"


class SessionRef(ActionPayload):
    """A button about one session: its id only (who pressed comes from Teams)."""

    session_id: RecordId


class InvitationPayload(SessionRef):
    """Accept, Decline, a card refresh or "send again". Only the session: who is replying comes from Teams."""


class SessionCancelPayload(ActionPayload):
    session_id: RecordId
    change_no: RecordCount  # the session's change number on the confirm card: a newer one makes it stale


class SessionChangePayload(ActionPayload):
    """The change card: its inputs arrive as strings (Input.Number may arrive as a number)."""

    session_id: RecordId
    change_no: RecordCount
    date: str = ""
    start: str = ""
    end: str = ""
    join_url: str = ""
    capacity: str | int | float = ""
    co_facilitators: str = ""

    @property
    def capacity_text(self) -> str:
        """The number of places as typed (a whole number sent as 12.0 reads "12")."""
        capacity = self.capacity
        if isinstance(capacity, float) and capacity.is_integer():
            capacity = int(capacity)
        return str(capacity).strip()


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
        if len(extra) > ATTENDANCE_PAGE_SIZE:
            raise ValueError("more marks than one card holds")
        for key, value in extra.items():
            match = _MARK_KEY.match(key)
            if not match or int(match.group(1)) > RECORD_ID_MAX or (
                    value != "" and AttendanceMark.parse(value) is None):
                raise ValueError("a field the attendance card does not have")
        return self

    def marks(self) -> dict[int, bool | None]:
        """Invitation id -> came, did not come, or not marked (an empty choice)."""
        found: dict[int, bool | None] = {}
        for key, value in (self.model_extra or {}).items():
            match = _MARK_KEY.match(key)
            if match:
                mark = AttendanceMark.parse(value)
                found[int(match.group(1))] = None if mark is None else mark.flag
        return found


# What a press may change besides the bookkeeping: a seat change moves people on the session's waiting list
# (training_sessions.next_waiting_seq), updates invitation cards and sends messages (outbox) and, with Graph on,
# asks for a calendar change (graph_jobs).
_SEATS = tables("training_sessions", "invitations", "outbox", "graph_jobs")

# -- a facilitator's sessions (bot/features/sessions.py) --------------------------------------------------------
SESSIONS_LIST = CardAction("sessions_list", NoPayload, role=Role.FACILITATOR)
SESSION_PUBLISH = CardAction("session_publish", SessionRef, role=Role.FACILITATOR, changes=_SEATS)
SESSION_CHANGE_START = CardAction("session_change_start", SessionRef, role=Role.FACILITATOR)
SESSION_CHANGE = CardAction("session_change", SessionChangePayload, role=Role.FACILITATOR,
                            changes=_SEATS | tables("session_facilitators"))
SESSION_CANCEL_START = CardAction("session_cancel_start", SessionRef, role=Role.FACILITATOR)
SESSION_CANCEL = CardAction("session_cancel", SessionCancelPayload, role=Role.FACILITATOR, changes=_SEATS)
SESSION_ROSTER = CardAction("session_roster", SessionRef, role=Role.FACILITATOR)
# Only offers the file: Teams asks where to save it, and the file is made on that answer (an invoke).
SESSION_ROSTER_CSV = CardAction("session_roster_csv", SessionRef, role=Role.FACILITATOR)

# -- marking who came (bot/features/attendance.py) --------------------------------------------------------------
SESSION_ATTENDANCE = CardAction("session_attendance", SessionRef, role=Role.FACILITATOR)
SESSION_ATTENDANCE_SAVE = CardAction("session_attendance_save", AttendancePayload, role=Role.FACILITATOR,
                                     changes=tables("training_sessions", "invitations", "outbox"))

# -- the invitation card (bot/features/invitations.py) ----------------------------------------------------------
# Action.Execute, answered with the new card, with an Action.Submit fallback under the same name.
INVITATION_ACCEPT = CardAction("invitation_accept", InvitationPayload, changes=_SEATS, press=Press.BOTH)
INVITATION_DECLINE = CardAction("invitation_decline", InvitationPayload, changes=_SEATS, press=Press.BOTH)
# The card's refresh: Teams asks for the person's current card whenever they look at it.
INVITATION_SHOW = CardAction("invitation_show", InvitationPayload, press=Press.EXECUTE)
INVITATION_RESEND = CardAction("invitation_resend", InvitationPayload, changes=tables("invitations", "outbox"))

SESSION_ACTIONS = (SESSIONS_LIST, SESSION_PUBLISH, SESSION_CHANGE_START, SESSION_CHANGE, SESSION_CANCEL_START,
                   SESSION_CANCEL, SESSION_ROSTER, SESSION_ROSTER_CSV, SESSION_ATTENDANCE, SESSION_ATTENDANCE_SAVE,
                   INVITATION_ACCEPT, INVITATION_DECLINE, INVITATION_SHOW, INVITATION_RESEND)

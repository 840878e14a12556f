"""After a session (issue 7): the facilitators' card to mark who came, and the thank-you people who came get.
Pure functions: view data in, card JSON out. Attendance figures are exact: they are about one session's own
places, which the facilitator sees by name anyway (design §5)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cards.common import BACK, Card, card, field_error, heading, input_label, no_inputs, open_url, para, submit
from cards.sessions import KEEP_PRIVATE, name_and_email, see_sessions
from vocabulary.actions.sessions import SESSION_ATTENDANCE_SAVE, SESSIONS_LIST, mark_id
from vocabulary.uk_time import uk_day, uk_when
from vocabulary.words import AttendanceMark

SAVE = "Save"
NEXT_PAGE = "Save and show the next people"
PAGE_SAVED = "Saved. Here are the next people."
GIVE_FEEDBACK = "Give feedback"


@dataclass(frozen=True)
class AttendanceLine:
    """One person with a place (names for the facilitator only)."""

    invitation_id: int
    person_id: str  # never shown: matched with the Teams meeting's attendance report (issue 24)
    name: str | None
    email: str | None
    attended: bool | None  # None: not marked yet


@dataclass(frozen=True)
class AttendanceView:
    """One page of the attendance card, as the attendance service reads it; a card sent back to fix something
    keeps what the facilitator chose (`errors`, `form_feedback_url`, the lines' marks)."""

    session_id: int
    title: str
    starts_at: datetime
    ends_at: datetime
    lines: tuple[AttendanceLine, ...]  # this page's people
    page: int  # from 0
    pages: int
    total: int  # people with a place, on every page
    feedback_url: str | None
    errors: dict[str, str] = field(default_factory=dict)
    form_feedback_url: str | None = None  # what the facilitator typed, kept after an error
    note: str | None = None  # what just happened, e.g. the previous page was saved


@dataclass(frozen=True)
class ThanksView:
    """The thank-you to someone marked as came (the attendance service writes it)."""

    title: str
    starts_at: datetime
    feedback_url: str | None


def _mark_value(attended: bool | None) -> str:
    mark = AttendanceMark.of_flag(attended)
    return "" if mark is None else mark.value


def attendance_card(view: AttendanceView) -> Card:
    """One choice per person with a place. Empty means not marked yet."""
    body: list[dict[str, Any]] = [
        heading(f"Who came: {view.title}"),
        *([para(view.note, weight="Bolder")] if view.note else []),
        para(uk_when(view.starts_at, view.ends_at)),
        para("Choose for each person. Leave it empty if you don't know yet. When you save, people you marked "
             "as came get a thank-you message, with the feedback link if you add one."),
        para(KEEP_PRIVATE, subtle=True),
    ]
    if view.pages > 1:
        body.append(para(f"Page {view.page + 1} of {view.pages}. {view.total} people have a place.",
                         weight="Bolder"))
    if not view.lines:
        body.append(para("No one had a place at this session, so there is no one to mark."))
    for line in view.lines:
        body.append({
            "type": "Input.ChoiceSet", "id": mark_id(line.invitation_id),
            "label": input_label(name_and_email(line.name, line.email), False),
            "style": "expanded", "value": _mark_value(line.attended), "isRequired": False, "wrap": True,
            "choices": [{"title": mark.label, "value": mark.value} for mark in AttendanceMark],
        })
    feedback = view.form_feedback_url if view.form_feedback_url is not None else view.feedback_url or ""
    body += [
        {"type": "Input.Text", "id": "feedback_url", "label": input_label("Feedback form link", False), "style": "Url",
         "value": feedback, "placeholder": "https://forms.office.com/...", "maxLength": 1000,
         "isRequired": False},
        para("The thank-you message links to it. It must start with https://.", subtle=True),
    ]
    body += field_error(view.errors, "feedback_url")
    last_page = view.page + 1 >= view.pages
    return card(body, [
        submit(SAVE if last_page else NEXT_PAGE, SESSION_ATTENDANCE_SAVE, style="positive",
               session_id=view.session_id, page=view.page),
        no_inputs(submit(BACK, SESSIONS_LIST)),
    ])


def attendance_saved(title: str, *, attended: int, absent: int, not_marked: int, thanked: int) -> Card:
    """Said after the last page is saved. The figures are exact (one session's own places)."""
    body = [
        heading(f"Saved: {title}"),
        para(f"Came: {attended}. Did not come: {absent}. Not marked yet: {not_marked}."),
    ]
    if thanked:
        body.append(para(f"I'm sending a thank-you message to {thanked} "
                         f"{'person' if thanked == 1 else 'people'} who came."))
    return card(body, [see_sessions()])


def attendance_too_early(title: str, starts_at: datetime, ends_at: datetime) -> Card:
    return card([heading(title),
                 para("You can mark who came once the session has started. It is on "
                      f"{uk_when(starts_at, ends_at)}.")], [see_sessions()])


def attendance_closed(title: str) -> Card:
    return card([heading(title), para("This session was not held, so there is no one to mark.")],
                [see_sessions()])


def thanks_card(view: ThanksView) -> Card:
    """Sent to each person marked as came."""
    body = [
        heading(f"Thank you for coming: {view.title}"),
        para(f"Thank you for taking part on {uk_day(view.starts_at)}. Your time and ideas help us make the "
             "training better."),
    ]
    actions = []
    if view.feedback_url:
        body.append(para("Please tell us what you thought. It only takes a few minutes."))
        actions.append(open_url(GIVE_FEEDBACK, view.feedback_url))
    else:
        body.append(para("I'll message you here when there's another session for you."))
    return card(body, actions)

"""Facilitators' session cards (design §4 Sessions, §9): the new-session form and preview, the list of their
sessions with figures, change, cancel and roster. Pure functions: view data in, card JSON out."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cards.common import (
    BACK,
    CANCEL,
    CONTACT_EMAIL,
    Card,
    card,
    facts,
    field_error,
    fix_count,
    heading,
    input_label,
    journey_submit,
    no_inputs,
    para,
    submit,
)
from cards.invitation import length_text
from vocabulary.actions.sessions import (
    SESSION_ATTENDANCE,
    SESSION_CANCEL,
    SESSION_CANCEL_START,
    SESSION_CHANGE,
    SESSION_CHANGE_START,
    SESSION_PUBLISH,
    SESSION_ROSTER,
    SESSION_ROSTER_CSV,
    SESSIONS_LIST,
)
from vocabulary.uk_time import uk_when
from vocabulary.words import AttendanceMark, Community, InvitationStatus, Phase, SessionAudience, SessionStatus, Word

ROUNDING_NOTE = ("Numbers are rounded to the nearest 5. Numbers from 1 to 7 show as 'fewer than 8'. "
                 "This protects people's privacy.")
EXACT_NOTE = ("Accepted, waiting, places left and who came are exact, because they are about this session's "
              "places.")
JOURNEY_FIELDS = ("title", "phase", "space", "communities", "date", "start", "end", "join_url", "capacity",
                  "co_facilitators")
MAX_LISTED = 15
KEEP_PRIVATE = "Please keep this list private. It shows names and e-mails only."

PREVIEW = "Preview"
PUBLISH = "Publish"
SAVE_DRAFT = "Save as draft"
SAVE_CHANGES = "Save changes"
CHANGE = "Change"
ROSTER = "Who is coming"
ROSTER_FILE = "Download the list (CSV)"
MARK_ATTENDANCE = "Mark who came"
CANCEL_SESSION = "Cancel the session"
KEEP_SESSION = "Keep the session"
SEE_SESSIONS = "See my sessions"
NEW_SESSION = "New session"
# Chat only: in Teams the file goes through its file consent card (the desk downloads it at once).
ROSTER_FILE_NOTE = ("\"Download the list\" sends the same names and e-mails as a CSV file for a spreadsheet. "
                    "Teams asks you where to save it first.")


@dataclass(frozen=True)
class Figures:
    invited: str  # rounded text, e.g. "25" or "fewer than 8"
    accepted: int
    waiting: int
    declined: str
    no_reply: str


@dataclass(frozen=True)
class FacilitatorSessionView:
    """A session as its facilitators see it (the sessions service returns it)."""

    session_id: int
    title: str
    phase: Phase
    space: SessionAudience
    communities: tuple[Community, ...]
    starts_at: datetime
    ends_at: datetime
    join_url: str | None
    capacity: int
    status: SessionStatus
    change_no: int
    seats_left: int
    figures: Figures | None  # None for drafts
    started: bool
    ended: bool = False
    # People with a place marked as came / did not come. Exact, like the seat figures (design §5).
    attended: int = 0
    absent: int = 0


@dataclass(frozen=True)
class PreviewView:
    """A checked new-session form with its audience rounded (§5), as the sessions service previews it."""

    title: str
    phase: Phase
    space: SessionAudience
    communities: tuple[Community, ...]
    starts_at: datetime
    ends_at: datetime
    join_url: str | None
    capacity: int
    invited: str  # rounded text
    invited_is_zero: bool
    filtered: bool
    co_facilitators: tuple[str, ...]  # names (or e-mails) of the co-facilitators, for the facilitator only
    # No link given and Graph is configured: publishing asks Teams to make the meeting (design §8).
    teams_makes_link: bool = False


@dataclass(frozen=True)
class RosterLine:
    """One person on a session's roster: accepted (in the order they replied) or waiting (with their position)."""

    status: InvitationStatus
    position: int | None
    name: str | None
    email: str | None


def name_and_email(name: str | None, email: str | None) -> str:
    """A person on a list for the facilitators (roster, attendance): never anything else about them."""
    return f"{name or 'Name not known'} ({email or 'e-mail not known'})"


def see_sessions() -> dict[str, Any]:
    """The button back to the facilitator's list of sessions."""
    return submit(SEE_SESSIONS, SESSIONS_LIST)


def _journey_button(title: str, journey: str, step: str, nav: str, *, style: str | None = None) -> dict[str, Any]:
    """A button of the new-session journey (dialogs/new_session.py); its action names the step for readers of
    the card JSON."""
    return journey_submit(title, journey, step, nav, style=style, action=f"new_session_{step}")


def _choices(words: Iterable[Word]) -> list[dict[str, str]]:
    return [{"title": word.label, "value": word.value} for word in words]


def _text_input(input_id: str, label: str, value: str, *, required: bool, error: str,
                placeholder: str | None = None, max_length: int | None = None,
                style: str | None = None) -> dict[str, Any]:
    element: dict[str, Any] = {"type": "Input.Text", "id": input_id, "label": input_label(label, required),
                               "value": value, "isRequired": required}
    if required:
        element["errorMessage"] = error
    if placeholder:
        element["placeholder"] = placeholder
    if max_length:
        element["maxLength"] = max_length
    if style:
        element["style"] = style
    return element


def _when_inputs(form: dict[str, str], errors: dict[str, str]) -> list[dict[str, Any]]:
    return [
        {"type": "Input.Date", "id": "date", "label": input_label("Date", True), "value": form.get("date", ""),
         "isRequired": True, "errorMessage": "Choose the date of the session."},
        *field_error(errors, "date"),
        {"type": "Input.Time", "id": "start", "label": input_label("Start time, UK time", True),
         "value": form.get("start", ""), "isRequired": True, "errorMessage": "Give the start time, like 14:00."},
        *field_error(errors, "start"),
        {"type": "Input.Time", "id": "end", "label": input_label("End time, UK time", True),
         "value": form.get("end", ""), "isRequired": True, "errorMessage": "Give the end time, like 15:30."},
        *field_error(errors, "end"),
    ]


def _link_capacity_co_inputs(form: dict[str, str], errors: dict[str, str], *,
                             co_label: str) -> list[dict[str, Any]]:
    return [
        _text_input("join_url", "Teams meeting link", form.get("join_url", ""), required=False, error="",
                    placeholder="https://teams.microsoft.com/l/meetup-join/...", max_length=1000, style="Url"),
        para("Leave it empty if you don't have the link yet. You can add it later.", subtle=True),
        *field_error(errors, "join_url"),
        {"type": "Input.Number", "id": "capacity", "label": input_label("Number of places", True),
         "value": form.get("capacity", ""), "min": 1, "max": 1000, "isRequired": True,
         "errorMessage": "Give the number of places, from 1 to 1000."},
        *field_error(errors, "capacity"),
        _text_input("co_facilitators", co_label, form.get("co_facilitators", ""), required=False, error="",
                    placeholder="name@nhs.net, another.name@nhs.net", max_length=1000),
        para("Co-facilitators can change and cancel the session and see who is coming. They must be "
             "facilitators already.", subtle=True),
        *field_error(errors, "co_facilitators"),
    ]


def session_form(journey: str, form: dict[str, str], errors: dict[str, str]) -> Card:
    """The new-session form: everything on one card, with the facilitator's answers kept after an error."""
    body: list[dict[str, Any]] = [
        heading(NEW_SESSION),
        para("Fill in the details, then press Preview. Nothing is sent until you publish."),
    ]
    body += fix_count(errors)
    body += [
        _text_input("title", "Title", form.get("title", ""), required=True, error="Give the session a title.",
                    max_length=120),
        *field_error(errors, "title"),
        {"type": "Input.ChoiceSet", "id": "phase", "label": input_label("Phase", True), "style": "expanded",
         "value": form.get("phase", ""), "choices": _choices(Phase), "isRequired": True,
         "errorMessage": "Choose a phase.", "wrap": True},
        *field_error(errors, "phase"),
        {"type": "Input.ChoiceSet", "id": "space", "label": input_label("Who is it for?", True), "style": "expanded",
         "value": form.get("space", ""), "choices": _choices(SessionAudience), "isRequired": True,
         "errorMessage": "Choose who the session is for.", "wrap": True},
        *field_error(errors, "space"),
        {"type": "Input.ChoiceSet", "id": "communities",
         "label": input_label("Only invite people from these communities", False), "style": "expanded",
         "isMultiSelect": True, "value": form.get("communities", ""), "choices": _choices(Community),
         "wrap": True},
        para("Leave these empty to invite everyone in the space. If you choose any, people who chose not to "
             "share a community are not invited.", subtle=True),
        *field_error(errors, "communities"),
        *_when_inputs(form, errors),
        *_link_capacity_co_inputs(form, errors, co_label="Co-facilitators' e-mails"),
    ]
    return card(body, [
        _journey_button(PREVIEW, journey, "form", "next", style="positive"),
        no_inputs(_journey_button(CANCEL, journey, "form", "cancel")),
    ])


def _invited_text(view: PreviewView) -> str:
    if view.invited_is_zero:
        return ("No one matches this session yet. You can still publish it: people who sign up later and "
                "match are invited then.")
    return f"I will invite {view.invited} people."


def _join_link_text(view: PreviewView) -> str:
    if view.join_url:
        return "Added"
    return "Teams will make the meeting link when you publish" if view.teams_makes_link else "None yet"


def preview_card(journey: str, view: PreviewView) -> Card:
    rows = [
        ("Title", view.title),
        ("Phase", view.phase.label),
        ("For", view.space.label),
        ("Communities", ", ".join(community.label for community in view.communities) or "Everyone in the space"),
        ("When", uk_when(view.starts_at, view.ends_at)),
        ("Length", length_text(view.starts_at, view.ends_at)),
        ("Join link", _join_link_text(view)),
        ("Places", str(view.capacity)),
    ]
    if view.co_facilitators:
        rows.append(("Co-facilitators", ", ".join(view.co_facilitators)))
    body: list[dict[str, Any]] = [heading("Check your session"), facts(rows), para(_invited_text(view),
                                                                                    weight="Bolder")]
    if view.filtered:
        body.append(para("People who chose not to share a community are not included."))
    body.append(para(ROUNDING_NOTE, subtle=True))
    return card(body, [
        _journey_button(PUBLISH, journey, "preview", "publish", style="positive"),
        _journey_button(SAVE_DRAFT, journey, "preview", "draft"),
        _journey_button(BACK, journey, "preview", "back"),
        _journey_button(CANCEL, journey, "preview", "cancel"),
    ])


def created_card(title: str, *, published: bool, invited: str | None, invited_is_zero: bool) -> Card:
    if published and invited_is_zero:
        text = ("Your session is published. No one matches it yet: people who sign up later and match "
                "are invited then.")
    elif published:
        text = f"Your session is published. I'm sending invitations to {invited} people now."
    else:
        text = "Your session is saved as a draft. Nothing has been sent. You can publish it from your sessions."
    body = [heading(title), para(text)]
    if published and not invited_is_zero:
        body.append(para(ROUNDING_NOTE, subtle=True))
    return card(body, [see_sessions()])


def journey_stopped() -> Card:
    return card([heading("New session stopped"), para("Nothing was saved. Type \"new session\" to start again.")])


def session_rows(view: FacilitatorSessionView) -> list[tuple[str, str]]:
    """A managed session's (label, figure) rows, as the sessions card and the desk's Sessions page show them:
    seat figures exact, invited, declined and no reply rounded (design §5)."""
    status = view.status.label
    held = view.started and view.status == SessionStatus.PUBLISHED
    if held:
        status = "Finished" if view.ended else "Started"
    rows = [("When", uk_when(view.starts_at, view.ends_at)), ("Status", status),
            ("For", view.space.label), ("Places", str(view.capacity))]
    if view.figures is not None:
        rows += [
            ("Invited", view.figures.invited),
            (InvitationStatus.ACCEPTED.chart_label, str(view.figures.accepted)),
            (InvitationStatus.WAITING.chart_label, str(view.figures.waiting)),
            ("Places left", str(view.seats_left)),
            (InvitationStatus.DECLINED.chart_label, view.figures.declined),
            (InvitationStatus.INVITED.chart_label, view.figures.no_reply),
        ]
        if held:
            rows += [(AttendanceMark.ATTENDED.label, str(view.attended)),
                     (AttendanceMark.ABSENT.label, str(view.absent)),
                     ("Not marked yet", str(max(0, view.figures.accepted - view.attended - view.absent)))]
    return rows


def session_block(view: FacilitatorSessionView) -> list[dict[str, Any]]:
    """One session of the sessions card: its title, its rows and the buttons it has now."""
    held = view.started and view.status == SessionStatus.PUBLISHED
    actions: list[dict[str, Any]] = []
    open_for_changes = view.status != SessionStatus.CANCELLED and not view.started
    if view.status == SessionStatus.DRAFT and open_for_changes:
        actions.append(submit(PUBLISH, SESSION_PUBLISH, style="positive", session_id=view.session_id))
    if open_for_changes:
        actions.append(submit(CHANGE, SESSION_CHANGE_START, session_id=view.session_id))
    if held:
        actions.append(submit(MARK_ATTENDANCE, SESSION_ATTENDANCE, style="positive", session_id=view.session_id))
    if view.status == SessionStatus.PUBLISHED:
        actions.append(submit(ROSTER, SESSION_ROSTER, session_id=view.session_id))
    if open_for_changes:
        actions.append(submit(CANCEL_SESSION, SESSION_CANCEL_START, session_id=view.session_id))
    block: list[dict[str, Any]] = [
        {"type": "TextBlock", "text": view.title, "wrap": True, "weight": "Bolder", "size": "Medium",
         "separator": True},
        facts(session_rows(view)),
    ]
    if actions:
        block.append({"type": "ActionSet", "actions": actions})
    return block


def sessions_list(views: list[FacilitatorSessionView]) -> Card:
    body: list[dict[str, Any]] = [heading("Your sessions")]
    if not views:
        body.append(para("You have no upcoming or recent sessions. Type \"new session\" to create one."))
        return card(body)
    for view in views[:MAX_LISTED]:
        body += session_block(view)
    if len(views) > MAX_LISTED:
        body.append(para(f"Showing the first {MAX_LISTED} sessions.", subtle=True))
    body += [para(ROUNDING_NOTE, subtle=True), para(EXACT_NOTE, subtle=True)]
    return card(body)


def change_card(view: FacilitatorSessionView, errors: dict[str, str], form: dict[str, str]) -> Card:
    """Change time, link or places. The people who accepted or are waiting are told about a new time or link."""
    body: list[dict[str, Any]] = [
        heading(f"Change: {view.title}"),
        para("People who accepted or are waiting are told about a new time or join link. Their invitations "
             "are updated."),
    ]
    body += fix_count(errors)
    body += _when_inputs(form, errors)
    body += _link_capacity_co_inputs(form, errors, co_label="Add co-facilitators' e-mails")
    data = {"session_id": view.session_id, "change_no": view.change_no}
    return card(body, [
        submit(SAVE_CHANGES, SESSION_CHANGE, style="positive", **data),
        no_inputs(submit(BACK, SESSIONS_LIST)),
    ])


def changed_done(view: FacilitatorSessionView, *, unchanged: bool = False) -> Card:
    text = "Nothing was different, so nothing changed." if unchanged else (
        "Your changes are saved. People who accepted or are waiting will be told about a new time or link.")
    return card([heading(view.title), para(text), para(uk_when(view.starts_at, view.ends_at))],
                [see_sessions()])


def cancel_confirm(view: FacilitatorSessionView) -> Card:
    told = ""
    if view.figures is not None and (view.figures.accepted or view.figures.waiting):
        told = (f" The {view.figures.accepted} people who accepted and the {view.figures.waiting} people waiting "
                "will be told.")
    return card([
        heading(f"Cancel {view.title}?"),
        para(f"This cancels the session on {uk_when(view.starts_at, view.ends_at)} for everyone.{told} "
             "You can't undo this."),
    ], [
        submit(CANCEL_SESSION, SESSION_CANCEL, style="destructive", session_id=view.session_id,
               change_no=view.change_no),
        submit(KEEP_SESSION, SESSIONS_LIST),
    ])


def cancelled_done(view: FacilitatorSessionView) -> Card:
    return card([heading(f"Cancelled: {view.title}"),
                 para("The session is cancelled. Everyone who accepted or was waiting will be told.")],
                [see_sessions()])


def roster_card(view: FacilitatorSessionView, lines: list[RosterLine]) -> Card:
    accepted = [line for line in lines if line.status == InvitationStatus.ACCEPTED]
    waiting = [line for line in lines if line.status == InvitationStatus.WAITING]

    def who(line: RosterLine) -> str:
        return name_and_email(line.name, line.email)

    body: list[dict[str, Any]] = [
        heading(f"Who is coming: {view.title}"),
        para(uk_when(view.starts_at, view.ends_at)),
        para(KEEP_PRIVATE, subtle=True),
        para(f"Accepted ({len(accepted)} of {view.capacity} places)", weight="Bolder"),
    ]
    body += [para(who(line)) for line in accepted] or [para("No one yet.")]
    body.append(para(f"Waiting list ({len(waiting)})", weight="Bolder"))
    body += [para(f"{line.position}. {who(line)}") for line in waiting] or [para("No one is waiting.")]
    body.append(para(ROSTER_FILE_NOTE, subtle=True))
    return card(body, [submit(ROSTER_FILE, SESSION_ROSTER_CSV, session_id=view.session_id),
                       see_sessions()])


def not_yours() -> Card:
    return card([heading("Sorry, you can't do that"),
                 para("Only the session's facilitators can manage it. If you think you should, ask them to add "
                      f"you, or contact {CONTACT_EMAIL}.")], [see_sessions()])


def session_gone() -> Card:
    return card([heading("That session was not found"),
                 para("It may have been removed, so nothing was changed. Choose a session from your list.")],
                [see_sessions()])


def closed_for_changes(view: FacilitatorSessionView) -> Card:
    text = "This session is cancelled, so it can't change." if view.status == SessionStatus.CANCELLED else (
        "This session has started, so it can't change now.")
    return card([heading(view.title), para(text)], [see_sessions()])


def stale_change(view: FacilitatorSessionView) -> Card:
    return card([heading(view.title),
                 para("Someone changed this session after your card was made, so nothing was changed. "
                      "Here it is as it is now.")], [submit(CHANGE, SESSION_CHANGE_START,
                                                           session_id=view.session_id),
                                                    see_sessions()])

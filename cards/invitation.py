"""The invitation card and the messages about one person's place (design §4, content guide "Invitation").

The invitation card changes in place: its buttons are Action.Execute (the answer replaces the card) with an
Action.Submit fallback carrying the same data for clients without Universal Actions, and a refresh action so
Teams fetches the person's current status whenever they look at it. Seat figures are exact (design §5).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode

from cards.common import HELP, Card, card, execute, facts, heading, open_url, para, submit
from vocabulary.actions.people import SHOW_HELP
from vocabulary.actions.sessions import INVITATION_ACCEPT, INVITATION_DECLINE, INVITATION_RESEND, INVITATION_SHOW
from vocabulary.catalogue import CardAction
from vocabulary.uk_time import uk_when, utc_iso
from vocabulary.words import InvitationStatus, Phase

ACCEPT = "Accept"
DECLINE = "Decline"
ADD_TO_CALENDAR = "Add to my calendar"
JOIN = "Join the session"
# Neutral, so a calendar never says what the session is about (design §6).
CALENDAR_SUBJECT = "HNY Inc. allyship session"
OUTLOOK_COMPOSE = "https://outlook.office.com/calendar/deeplink/compose"

BOOKED = "You're booked."
NOT_REPLIED = "You have not replied yet."
DECLINED = "You said you can't come. You can still accept until the session starts."
CANCELLED = "This session has been cancelled. We're sorry. You don't need to do anything."
CLOSED = "This session has started, so replies are closed."


@dataclass(frozen=True)
class InvitationView:
    """One person's invitation as they see it (the sessions service returns it). Seat figures are exact (§5)."""

    session_id: int
    title: str
    phase: Phase
    starts_at: datetime
    ends_at: datetime
    seats_left: int
    status: InvitationStatus
    position: int | None  # waiting-list position
    join_url: str | None
    cancelled: bool
    closed: bool  # the session has started: replies are closed
    refresh_user_id: str | None = None  # the person's Teams user id, for the card's refresh
    note: str | None = None  # a one-off message for this answer ("Nothing changed: ...")
    # Minutes before the start of each reminder this person will still get (largest first): the card promises
    # only these.
    reminders: tuple[int, ...] = ()


def length_text(starts_at: datetime, ends_at: datetime) -> str:
    minutes = int((ends_at - starts_at).total_seconds() // 60)
    hours, rest = divmod(minutes, 60)
    parts = []
    if hours:
        parts.append(f"{hours} hour{'s' if hours != 1 else ''}")
    if rest:
        parts.append(f"{rest} minute{'s' if rest != 1 else ''}")
    return " ".join(parts) or "0 minutes"


def places_text(seats_left: int) -> str:
    if seats_left <= 0:
        return "no places left: you can join the waiting list"
    return f"{seats_left} place{'s' if seats_left != 1 else ''} left"


def seats_text(view: InvitationView) -> str:
    """The seat figure as it reads for this person: someone with the last place has no waiting list to join."""
    if view.seats_left > 0:
        return places_text(view.seats_left)
    if view.status == InvitationStatus.ACCEPTED:
        return "no other places left"
    if view.status == InvitationStatus.WAITING:
        return "no places left"
    return places_text(0)


def _before(minutes: int) -> str:
    if minutes == 24 * 60:
        return "the day before"
    if minutes == 60:
        return "an hour before"
    for size, unit in ((24 * 60, "day"), (60, "hour")):
        if minutes % size == 0:
            return f"{minutes // size} {unit}s before"
    return f"{minutes} minute{'s' if minutes != 1 else ''} before"


def booked_text(reminders: tuple[int, ...]) -> str:
    """"You're booked.", promising only the reminders that will really be sent (none when too little time is
    left for any)."""
    if not reminders:
        return BOOKED
    phrases = [_before(minutes) for minutes in sorted(set(reminders), reverse=True)]
    joined = phrases[0] if len(phrases) == 1 else ", ".join(phrases[:-1]) + " and " + phrases[-1]
    return f"{BOOKED} I'll remind you {joined}."


def calendar_link(starts_at: datetime, ends_at: datetime, join_url: str | None) -> str:
    """An Outlook on the web 'new event' link. The subject is neutral; the body is only the join link."""
    query = urlencode({
        "subject": CALENDAR_SUBJECT,
        "startdt": utc_iso(starts_at),
        "enddt": utc_iso(ends_at),
        "body": join_url or "The join link will follow in Teams.",
    }, quote_via=quote)
    return f"{OUTLOOK_COMPOSE}?{query}"


def status_text(view: InvitationView) -> str:
    if view.cancelled:
        return CANCELLED
    if view.status == InvitationStatus.ACCEPTED:
        text = booked_text(view.reminders)
    elif view.status == InvitationStatus.WAITING:
        text = (f"This session is full. You're number {view.position} on the waiting list. "
                "I'll tell you if a place opens up.")
    elif view.status == InvitationStatus.DECLINED:
        text = DECLINED
    else:
        text = NOT_REPLIED
    if view.closed:
        # After the start, say only what is still true.
        if view.status == InvitationStatus.ACCEPTED:
            return f"{CLOSED} You have a place."
        return CLOSED
    return text


def execute_or_submit(title: str, verb: CardAction[Any], *, style: str | None = None,
                      **data: Any) -> dict[str, Any]:
    """Action.Execute, falling back to an Action.Submit with the same name and data (design §9): the action is
    declared as both (vocabulary.catalogue.Press.BOTH)."""
    action = execute(title, verb, style=style, **data)
    action["fallback"] = submit(title, verb, style=style, **data)
    return action


def _summary(view: InvitationView) -> str:
    line = f"{uk_when(view.starts_at, view.ends_at)} · on Microsoft Teams"
    if not view.cancelled and not view.closed:
        line += f" · {seats_text(view)}"
    return line


def place_actions(view: InvitationView) -> list[dict[str, Any]]:
    """For someone with a place: add it to their calendar, and join, once there is a link."""
    actions = [open_url(ADD_TO_CALENDAR, calendar_link(view.starts_at, view.ends_at, view.join_url))]
    if view.join_url:
        actions.append(open_url(JOIN, view.join_url))
    return actions


def invitation_card(view: InvitationView) -> Card:
    # The reader's own status first, then the session and its seats (a seat figure reads differently for
    # someone who has a place).
    body: list[dict[str, Any]] = [
        heading(f"You're invited: {view.title}"),
        para(f"Your reply: {status_text(view)}", weight="Bolder"),
        para(_summary(view)),
        facts([
            ("Phase", view.phase.label),
            ("Length", length_text(view.starts_at, view.ends_at)),
        ]),
    ]
    if view.note:
        body.append(para(view.note))
    actions: list[dict[str, Any]] = []
    if not view.cancelled and not view.closed:
        actions += [execute_or_submit(ACCEPT, INVITATION_ACCEPT, style="positive", session_id=view.session_id),
                    execute_or_submit(DECLINE, INVITATION_DECLINE, session_id=view.session_id)]
    if view.status == InvitationStatus.ACCEPTED and not view.cancelled:
        actions += place_actions(view)
    result = card(body, actions, speak=f"You're invited: {view.title}. {status_text(view)}")
    if view.refresh_user_id and not view.cancelled:
        # Teams asks for the person's current card whenever they look at it (Universal Actions).
        result["refresh"] = {"action": {"type": "Action.Execute", "verb": INVITATION_SHOW.name,
                                        "data": INVITATION_SHOW.data(session_id=view.session_id)},
                             "userIds": [view.refresh_user_id]}
    return result


def promoted_card(view: InvitationView) -> Card:
    """Told to the first person waiting when a place opens up."""
    actions = [open_url(ADD_TO_CALENDAR, calendar_link(view.starts_at, view.ends_at, view.join_url))]
    return card([
        heading(f"A place opened up: {view.title}"),
        para(uk_when(view.starts_at, view.ends_at)),
        para(f"You were on the waiting list, and now you have a place. {booked_text(view.reminders)}"),
        para("If you can't come any more, press Decline on your invitation."),
    ], actions)


def changed_card(view: InvitationView, *, time_changed: bool, link_changed: bool) -> Card:
    """Told to accepted and waiting people when a session's time or join link changes."""
    what = "time and join link have" if time_changed and link_changed else (
        "time has" if time_changed else "join link has")
    body = [heading(f"The {what} changed: {view.title}"), para(f"When: {uk_when(view.starts_at, view.ends_at)}")]
    if link_changed:
        body.append(para("Use the new join link below." if view.join_url else
                         "There is no join link yet. I'll send it when there is one."))
    body.append(para(f"Your reply: {status_text(view)}"))
    if view.status in (InvitationStatus.ACCEPTED, InvitationStatus.WAITING):
        body.append(para("If you can't come at the new time, press Decline on your invitation."
                         if time_changed else "Nothing else has changed."))
    return card(body, place_actions(view) if view.status == InvitationStatus.ACCEPTED else [])


def cancelled_card(view: InvitationView) -> Card:
    return card([
        heading(f"Session cancelled: {view.title}"),
        para(f"The session on {uk_when(view.starts_at, view.ends_at)} has been cancelled. We're sorry."),
        para("You don't need to do anything. I'll send you an invitation when there is another session for you."),
    ])


def no_longer_matching_card(view: InvitationView) -> Card:
    """The person changed their answers and the session no longer fits them. Not accepted: their invitation
    card is replaced by this one, without buttons. Accepted: their place is kept, and this says so."""
    when = para(uk_when(view.starts_at, view.ends_at))
    if view.status == InvitationStatus.ACCEPTED:
        return card([
            heading(f"Your place is kept: {view.title}"), when,
            para("You changed your answers, and this session no longer matches them. Your place is kept. "
                 "Nothing changes for your booking."),
            para("If you can't come, press Decline on your invitation."),
        ], place_actions(view))
    waiting = " You're no longer on its waiting list." if view.status == InvitationStatus.WAITING else ""
    return card([
        heading(f"Invitation closed: {view.title}"), when,
        para(f"You changed your answers, and this session no longer matches them, so we've closed this "
             f"invitation.{waiting}"),
        para("You don't need to do anything. I'll send you an invitation when there's a session that fits "
             "your answers."),
    ])


def reply_confirmation(view: InvitationView) -> Card:
    """Said after an Action.Submit reply (clients without Universal Actions): the card itself is updated
    through the outbox, and this says what happened straight away."""
    actions = []
    if view.status == InvitationStatus.ACCEPTED and not view.cancelled:
        actions.append(open_url(ADD_TO_CALENDAR, calendar_link(view.starts_at, view.ends_at, view.join_url)))
    body = [heading(view.title), para(status_text(view))]
    if view.note:
        body.append(para(view.note))
    return card(body, actions)


SEND_AGAIN = "Send again"


def my_sessions_card(views: list[InvitationView]) -> Card:
    """"my sessions": the person's upcoming sessions with their reply, and a way to get a card again."""
    body: list[dict[str, Any]] = [heading("Your sessions")]
    if not views:
        body.append(para("You have no invitations to upcoming sessions yet. I'll message you here when there's "
                         "a session for you."))
        return card(body, [submit(HELP, SHOW_HELP)])
    body.append(para("Here are the upcoming sessions for you. Press \"Send again\" if you can't find the "
                     "invitation."))
    for view in views[:15]:
        body += [
            {"type": "TextBlock", "text": view.title, "wrap": True, "weight": "Bolder", "separator": True},
            para(uk_when(view.starts_at, view.ends_at)),
            para(f"Your reply: {status_text(view)}"),
            {"type": "ActionSet", "actions": [submit(SEND_AGAIN, INVITATION_RESEND, session_id=view.session_id)]},
        ]
    return card(body)


@dataclass(frozen=True)
class ReminderView:
    """A reminder to someone with a place (the reminders service writes it). `minutes_left` is counted when
    it is written."""

    session_id: int
    title: str
    starts_at: datetime
    ends_at: datetime
    join_url: str | None
    minutes_left: int


def time_left_text(minutes: int) -> str:
    """e.g. "in 45 minutes", "in about 1 hour", "in about 24 hours"."""
    if minutes < 60:
        return f"in {max(minutes, 1)} minute{'s' if max(minutes, 1) != 1 else ''}"
    hours = round(minutes / 60)
    return f"in about {hours} hour{'s' if hours != 1 else ''}"


def reminder_card(view: ReminderView) -> Card:
    """Sent before the start (24 hours and 1 hour by default) to people with a place, with the join link."""
    body = [
        heading(f"Reminder: {view.title}"),
        para(f"Your session starts {time_left_text(view.minutes_left)}."),
        para(f"When: {uk_when(view.starts_at, view.ends_at)}"),
    ]
    actions = []
    if view.join_url:
        body.append(para("Press \"Join the session\" to join on Microsoft Teams."))
        actions.append(open_url(JOIN, view.join_url))
    else:
        body.append(para("There is no join link yet. I'll send it when there is one."))
    body.append(para("If you can't come any more, press Decline on your invitation, so someone else can have "
                     "your place."))
    return card(body, actions)

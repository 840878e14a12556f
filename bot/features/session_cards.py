"""The sessions feature's side of its cards: `SessionCardMessages` (the cards the outbox sends about sessions, drawn
from the views the services return), what the activity feed says, and how a facilitator's refused or stale
press is answered."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.services.sessions import ActionResult, SessionForm
from bot.turns import Turn
from cards.attendance import ThanksView, thanks_card
from cards.basics import notice
from cards.common import Card
from cards.feed import invitation_feed, reminder_feed
from cards.invitation import (
    InvitationView,
    ReminderView,
    cancelled_card,
    changed_card,
    invitation_card,
    no_longer_matching_card,
    promoted_card,
    reminder_card,
)
from cards.sessions import (
    FacilitatorSessionView,
    cancelled_done,
    change_card,
    changed_done,
    closed_for_changes,
    not_yours,
    session_gone,
    stale_change,
)
from dialogs.new_session import saved_card
from vocabulary.uk_time import uk_clock, uk_date_iso
from vocabulary.words import SessionStatus

# Said when a command or button that shows names or figures is used outside the private chat.
CHANNEL_ONLY_PRIVATE = "Let's do this in our private chat, so only you see it. Message me there and type it again."


ALREADY_PUBLISHED = "This session is already published."


def refusal_card(result: ActionResult) -> Card | None:
    """The answer to a facilitator action refused, or about a session that is not there; None otherwise."""
    if result.outcome == "refused":
        return not_yours()
    if result.outcome == "not_found" or result.session is None:
        return session_gone()
    return None


async def answered_refusal(turn: Turn, result: ActionResult) -> bool:
    """Answers a facilitator action refused, or about a session that is not there; True when it did."""
    answer = refusal_card(result)
    if answer is None:
        return False
    await turn.reply_card(answer)
    return True


# What the chat answers to each facilitator action, as a card; the desk shows the same cards as pages. Each one
# takes a result that `refusal_card` has already answered as None.

def closed_card(view: FacilitatorSessionView) -> Card | None:
    """A change or cancel card is not opened for a cancelled or started session: this says why."""
    if view.status == SessionStatus.CANCELLED or view.started:
        return closed_for_changes(view)
    return None


def publish_reply(result: ActionResult) -> Card:
    assert result.session is not None
    if result.outcome == "closed":
        return closed_for_changes(result.session)
    if result.outcome == "unchanged":
        return notice(result.session.title, ALREADY_PUBLISHED)
    return saved_card(result.session.title, published=True, invited=result.invited)


def change_reply(result: ActionResult, form: SessionForm) -> Card:
    """After Save changes: the change card again with what to fix (answers kept), or what happened."""
    assert result.session is not None
    view = result.session
    if result.outcome in ("errors", "too_small"):
        return change_card(view, result.errors, form.to_dict())
    if result.outcome == "stale":
        return stale_change(view)
    if result.outcome == "closed":
        return closed_for_changes(view)
    return changed_done(view, unchanged=result.outcome == "unchanged")


def cancel_reply(result: ActionResult) -> Card:
    assert result.session is not None
    view = result.session
    if result.outcome == "stale":
        return stale_change(view)
    if result.outcome in ("closed", "unchanged"):
        return closed_for_changes(view)
    return cancelled_done(view)


def change_form(view: FacilitatorSessionView) -> dict[str, str]:
    """The change card's inputs, filled in with the session as it is (UK time)."""
    return {"date": uk_date_iso(view.starts_at), "start": uk_clock(view.starts_at), "end": uk_clock(view.ends_at),
            "join_url": view.join_url or "", "capacity": str(view.capacity), "co_facilitators": ""}


class FeedTexts:
    """The services' FeedMessages (bot/services/feed.py), drawn by cards/feed.py: what the activity feed says."""

    def invitation(self, title: str, starts_at: datetime, ends_at: datetime) -> dict[str, Any]:
        return invitation_feed(title, starts_at, ends_at)

    def reminder(self, title: str, starts_at: datetime, ends_at: datetime, *, has_link: bool) -> dict[str, Any]:
        return reminder_feed(title, starts_at, ends_at, has_link=has_link)


class SessionCardMessages:
    """What the outbox sends about sessions, drawn by cards/invitation.py and cards/attendance.py (the services'
    SessionMessages, ReminderMessages and ThanksMessages: they never build cards themselves)."""

    def invitation(self, view: InvitationView) -> dict[str, Any]:
        return invitation_card(view)

    def promoted(self, view: InvitationView) -> dict[str, Any]:
        return promoted_card(view)

    def changed(self, view: InvitationView, *, time_changed: bool, link_changed: bool) -> dict[str, Any]:
        return changed_card(view, time_changed=time_changed, link_changed=link_changed)

    def cancelled(self, view: InvitationView) -> dict[str, Any]:
        return cancelled_card(view)

    def reminder(self, view: ReminderView) -> dict[str, Any]:
        return reminder_card(view)

    def thanks(self, view: ThanksView) -> dict[str, Any]:
        return thanks_card(view)

    def no_longer_matching(self, view: InvitationView) -> dict[str, Any]:
        return no_longer_matching_card(view)

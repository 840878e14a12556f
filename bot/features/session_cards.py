"""The sessions feature's side of its cards: `SessionCardMessages` (the cards the outbox sends about sessions, drawn
from the views the services return), what the activity feed says, and how a facilitator's refused or stale
press is answered."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.services.sessions import ActionResult
from bot.turns import Turn
from cards.attendance import ThanksView, thanks_card
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
from cards.sessions import FacilitatorSessionView, not_yours, session_gone
from vocabulary.uk_time import uk_clock, uk_date_iso

# Said when a command or button that shows names or figures is used outside the private chat.
CHANNEL_ONLY_PRIVATE = "Let's do this in our private chat, so only you see it. Message me there and type it again."


async def answered_refusal(turn: Turn, result: ActionResult) -> bool:
    """Answers a facilitator action refused, or about a session that is not there; True when it did."""
    if result.outcome == "refused":
        await turn.reply_card(not_yours())
        return True
    if result.outcome == "not_found" or result.session is None:
        await turn.reply_card(session_gone())
        return True
    return False


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

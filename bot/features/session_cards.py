"""The sessions feature's side of its cards: the services' results as the cards' view data (services return view
data, cards take their own), `CardMessages` (the cards the outbox sends about sessions), and what a button about
one session sends back."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from bot.actions import ActionPayload, RecordId
from bot.clock import UK
from bot.services.attendance import ThanksState
from bot.services.reminders import ReminderState
from bot.services.sessions import ActionResult, InvitationState, SessionInfo
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
from cards.sessions import Figures, SessionView, not_yours, session_gone

# Said when a command or button that shows names or figures is used outside the private chat.
CHANNEL_ONLY_PRIVATE = "Let's do this in our private chat, so only you see it. Message me there and type it again."


class SessionRef(ActionPayload):
    """A button about one session: its id only (who pressed comes from Teams)."""

    session_id: RecordId


async def answered_refusal(turn: Turn, result: ActionResult) -> bool:
    """Answers a facilitator action refused, or about a session that is not there; True when it did."""
    if result.outcome == "refused":
        await turn.reply_card(not_yours())
        return True
    if result.outcome == "not_found" or result.session is None:
        await turn.reply_card(session_gone())
        return True
    return False


def invitation_view(state: InvitationState) -> InvitationView:
    return InvitationView(**asdict(state))


def session_view(info: SessionInfo) -> SessionView:
    figures = None
    if info.counts is not None:
        figures = Figures(invited=info.counts.invited.text, accepted=info.counts.accepted.value or 0,
                          waiting=info.counts.waiting.value or 0, declined=info.counts.declined.text,
                          no_reply=info.counts.no_reply.text)
    return SessionView(
        session_id=info.session_id, title=info.title, phase=info.phase, space=info.space,
        communities=info.communities, starts_at=info.starts_at, ends_at=info.ends_at, join_url=info.join_url,
        capacity=info.capacity, status=info.status, change_no=info.change_no, seats_left=info.seats_left,
        figures=figures, started=info.started, ended=info.ended, attended=info.attended, absent=info.absent)


def change_form(info: SessionInfo) -> dict[str, str]:
    """The change card's inputs, filled in with the session as it is (UK time)."""
    starts, ends = info.starts_at.astimezone(UK), info.ends_at.astimezone(UK)
    return {"date": starts.strftime("%Y-%m-%d"), "start": starts.strftime("%H:%M"), "end": ends.strftime("%H:%M"),
            "join_url": info.join_url or "", "capacity": str(info.capacity), "co_facilitators": ""}


class FeedTexts:
    """The services' FeedMessages (bot/services/feed.py), drawn by cards/feed.py: what the activity feed says."""

    def invitation(self, title: str, starts_at: datetime, ends_at: datetime) -> dict[str, Any]:
        return invitation_feed(title, starts_at, ends_at)

    def reminder(self, title: str, starts_at: datetime, ends_at: datetime, *, has_link: bool) -> dict[str, Any]:
        return reminder_feed(title, starts_at, ends_at, has_link=has_link)


class CardMessages:
    """What the outbox sends, drawn by cards/invitation.py (the service never builds cards itself)."""

    def invitation(self, state: InvitationState) -> dict[str, Any]:
        return invitation_card(invitation_view(state))

    def promoted(self, state: InvitationState) -> dict[str, Any]:
        return promoted_card(invitation_view(state))

    def changed(self, state: InvitationState, *, time_changed: bool, link_changed: bool) -> dict[str, Any]:
        return changed_card(invitation_view(state), time_changed=time_changed, link_changed=link_changed)

    def cancelled(self, state: InvitationState) -> dict[str, Any]:
        return cancelled_card(invitation_view(state))

    def reminder(self, state: ReminderState) -> dict[str, Any]:
        return reminder_card(ReminderView(**asdict(state)))

    def thanks(self, state: ThanksState) -> dict[str, Any]:
        return thanks_card(ThanksView(title=state.title, starts_at=state.starts_at, feedback_url=state.feedback_url))

    def no_longer_matching(self, state: InvitationState) -> dict[str, Any]:
        return no_longer_matching_card(invitation_view(state))

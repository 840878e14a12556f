"""What the sessions service returns, and how a session's row and an invitation become the cards' view data
(cards/invitation.py, cards/sessions.py: the service returns the views the cards take). Seat figures are exact;
the other counts go through suppression (design §5)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from bot.services.reminders import is_owed
from bot.services.suppression import Shown, session_counts
from cards.invitation import InvitationView
from cards.sessions import FacilitatorSessionView, Figures, RosterLine
from storage.models import Invitation, Person, TrainingSession
from storage.repositories.sessions import InvitationRepository, RosterRow, StatusCounts, session_communities
from vocabulary.words import InvitationStatus, Phase, SessionAudience, SessionStatus


@dataclass(frozen=True)
class ReplyResult:
    outcome: str  # done | unchanged | closed | cancelled | not_invited
    view: InvitationView | None


@dataclass(frozen=True)
class Roster:
    session: FacilitatorSessionView
    lines: tuple[RosterLine, ...]


@dataclass(frozen=True)
class RosterFile:
    """The roster as a CSV file, for a facilitator to download."""

    session_id: int
    name: str
    content: bytes


@dataclass(frozen=True)
class ActionResult:
    """The outcome of a facilitator action."""

    outcome: str  # done | refused | not_found | errors | stale | too_small | closed | unchanged
    session: FacilitatorSessionView | None = None
    errors: dict[str, str] = field(default_factory=dict)
    invited: Shown | None = None
    detail: str | None = None


class SessionMessages(Protocol):
    """Draws the cards the outbox sends. The feature implements it with cards/invitation.py."""

    def invitation(self, view: InvitationView) -> dict[str, Any]: ...

    def promoted(self, view: InvitationView) -> dict[str, Any]: ...

    def changed(self, view: InvitationView, *, time_changed: bool, link_changed: bool) -> dict[str, Any]: ...

    def cancelled(self, view: InvitationView) -> dict[str, Any]: ...

    def no_longer_matching(self, view: InvitationView) -> dict[str, Any]: ...


# -- rows to views -------------------------------------------------------------------------------------------

async def seats_left(session: AsyncSession, row: TrainingSession) -> int:
    """Places not taken: capacity less the people who accepted (never below 0)."""
    return max(0, row.capacity - await InvitationRepository(session).count_status(row.id, InvitationStatus.ACCEPTED))


async def session_view(session: AsyncSession, row: TrainingSession, now: datetime) -> FacilitatorSessionView:
    figures = await InvitationRepository(session).counts([row.id])
    return view_from(row, figures[row.id], now)


def view_from(row: TrainingSession, figures: StatusCounts, now: datetime) -> FacilitatorSessionView:
    """The session as its facilitators see it: exact seat figures, the other counts rounded (none for drafts)."""
    shown = None
    if row.status != SessionStatus.DRAFT:
        counts = session_counts(invited=figures.invited, accepted=figures.accepted, waiting=figures.waiting,
                                declined=figures.declined, no_reply=figures.no_reply)
        shown = Figures(invited=counts.invited.text, accepted=counts.accepted.value or 0,
                        waiting=counts.waiting.value or 0, declined=counts.declined.text,
                        no_reply=counts.no_reply.text)
    return FacilitatorSessionView(
        session_id=row.id, title=row.title, phase=Phase(row.phase), space=SessionAudience(row.space),
        communities=session_communities(row), starts_at=row.starts_at, ends_at=row.ends_at,
        join_url=row.join_url, capacity=row.capacity, status=SessionStatus(row.status), change_no=row.change_no,
        seats_left=max(0, row.capacity - figures.accepted), figures=shown, started=row.starts_at <= now,
        ended=row.ends_at <= now, attended=figures.attended, absent=figures.absent)


def roster_lines(rows: Sequence[RosterRow]) -> tuple[RosterLine, ...]:
    return tuple(RosterLine(InvitationStatus(status), position, name, email) for status, position, name, email in rows)


async def invitation_view(session: AsyncSession, row: TrainingSession, invitation: Invitation,
                          now: datetime, *, offsets: Sequence[int]) -> InvitationView:
    """`offsets`: the configured reminders (minutes before the start), to promise only those still to come."""
    seats = await seats_left(session, row)
    position = await InvitationRepository(session).waiting_position(invitation)
    person = await session.get(Person, invitation.person_id)
    return view_of(row, invitation, seats_left=seats, position=position, now=now,
                   refresh_user_id=person.teams_user_id if person else None, offsets=offsets)


async def invitation_views(session: AsyncSession, row: TrainingSession, invitations: Sequence[Invitation],
                           now: datetime, *, offsets: Sequence[int]) -> list[InvitationView]:
    """The views of many invitations to one session, from three queries however many there are."""
    repository = InvitationRepository(session)
    seats = await seats_left(session, row)
    positions = await repository.waiting_positions(row.id)
    chats = await repository.teams_user_ids(row.id)
    return [view_of(row, invitation, seats_left=seats, position=positions.get(invitation.id), now=now,
                    refresh_user_id=chats.get(invitation.person_id), offsets=offsets)
            for invitation in invitations]


def reminders_ahead(row: TrainingSession, invitation: Invitation, offsets: Sequence[int],
                    now: datetime) -> tuple[int, ...]:
    """The reminders the person will still get: only people with a place get any, each one whose time is still
    ahead and which bot/services/reminders.py owes them (someone booked 5 hours before gets no "24 hour" one)."""
    if invitation.status != InvitationStatus.ACCEPTED or row.status != SessionStatus.PUBLISHED:
        return ()
    seated = invitation.seated_at or invitation.replied_at or invitation.invited_at
    since = max(seated, row.time_set_at or row.created_at)
    return tuple(offset for offset in offsets
                 if row.starts_at - timedelta(minutes=offset) > now and is_owed(offset, offsets, row.starts_at, since))


def view_of(row: TrainingSession, invitation: Invitation, *, seats_left: int, position: int | None,
            now: datetime, refresh_user_id: str | None, offsets: Sequence[int]) -> InvitationView:
    return InvitationView(
        session_id=row.id, title=row.title, phase=Phase(row.phase), starts_at=row.starts_at, ends_at=row.ends_at,
        seats_left=seats_left, status=InvitationStatus(invitation.status), position=position, join_url=row.join_url,
        cancelled=row.status == SessionStatus.CANCELLED, closed=row.starts_at <= now,
        refresh_user_id=refresh_user_id, reminders=reminders_ahead(row, invitation, offsets, now))

"""What the sessions service returns (view data: the feature turns it into cards), and how a session's row and
an invitation become it. Seat figures are exact; the other counts go through suppression (design §5)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from bot.services.reminders import is_owed
from bot.services.suppression import SessionCounts, Shown, session_counts
from storage.models import Invitation, Person, TrainingSession
from storage.repositories.sessions import InvitationRepository, RosterEntry, StatusCounts, session_communities


@dataclass(frozen=True)
class InvitationState:
    """One person's invitation as they see it. Seat figures are exact (§5)."""

    session_id: int
    title: str
    phase: str
    starts_at: datetime
    ends_at: datetime
    seats_left: int
    status: str  # invited | accepted | waiting | declined
    position: int | None  # waiting-list position
    join_url: str | None
    cancelled: bool
    closed: bool  # the session has started: replies are closed
    refresh_user_id: str | None = None  # the person's Teams user id, for the card's refresh
    note: str | None = None  # a one-off message for this answer ("Nothing changed: ...")
    # Minutes before the start of each reminder this person will still get (largest first): the card promises
    # only these.
    reminders: tuple[int, ...] = ()


@dataclass(frozen=True)
class ReplyResult:
    outcome: str  # done | unchanged | closed | cancelled | not_invited
    state: InvitationState | None


@dataclass(frozen=True)
class SessionInfo:
    """A session as its facilitators see it."""

    session_id: int
    title: str
    phase: str
    space: str
    communities: tuple[str, ...]
    starts_at: datetime
    ends_at: datetime
    join_url: str | None
    capacity: int
    status: str  # draft | published | cancelled
    change_no: int
    seats_left: int
    counts: SessionCounts | None  # None for drafts
    started: bool
    ended: bool = False
    # People with a place marked as came / did not come. Exact, like the seat figures (design §5).
    attended: int = 0
    absent: int = 0


@dataclass(frozen=True)
class Roster:
    session: SessionInfo
    entries: tuple[RosterEntry, ...]


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
    session: SessionInfo | None = None
    errors: dict[str, str] = field(default_factory=dict)
    invited: Shown | None = None
    detail: str | None = None


class SessionMessages(Protocol):
    """Draws the cards the outbox sends. The feature implements it with cards/invitation.py."""

    def invitation(self, state: InvitationState) -> dict[str, Any]: ...

    def promoted(self, state: InvitationState) -> dict[str, Any]: ...

    def changed(self, state: InvitationState, *, time_changed: bool, link_changed: bool) -> dict[str, Any]: ...

    def cancelled(self, state: InvitationState) -> dict[str, Any]: ...

    def no_longer_matching(self, state: InvitationState) -> dict[str, Any]: ...


# -- rows to views -------------------------------------------------------------------------------------------

async def seats_left(session: AsyncSession, row: TrainingSession) -> int:
    """Places not taken: capacity less the people who accepted (never below 0)."""
    return max(0, row.capacity - await InvitationRepository(session).count_status(row.id, "accepted"))


async def session_info(session: AsyncSession, row: TrainingSession, now: datetime) -> SessionInfo:
    figures = await InvitationRepository(session).counts([row.id])
    return info_from(row, figures[row.id], now)


def info_from(row: TrainingSession, figures: StatusCounts, now: datetime) -> SessionInfo:
    counts = None if row.status == "draft" else session_counts(
        invited=figures.invited, accepted=figures.accepted, waiting=figures.waiting,
        declined=figures.declined, no_reply=figures.no_reply)
    return SessionInfo(
        session_id=row.id, title=row.title, phase=row.phase, space=row.space,
        communities=session_communities(row), starts_at=row.starts_at, ends_at=row.ends_at,
        join_url=row.join_url, capacity=row.capacity, status=row.status, change_no=row.change_no,
        seats_left=max(0, row.capacity - figures.accepted), counts=counts, started=row.starts_at <= now,
        ended=row.ends_at <= now, attended=figures.attended, absent=figures.absent)


async def invitation_state(session: AsyncSession, row: TrainingSession, invitation: Invitation,
                           now: datetime, *, offsets: Sequence[int]) -> InvitationState:
    """`offsets`: the configured reminders (minutes before the start), to promise only those still to come."""
    seats = await seats_left(session, row)
    position = await InvitationRepository(session).waiting_position(invitation)
    person = await session.get(Person, invitation.person_id)
    return state_of(row, invitation, seats_left=seats, position=position, now=now,
                    refresh_user_id=person.teams_user_id if person else None, offsets=offsets)


async def invitation_states(session: AsyncSession, row: TrainingSession, invitations: Sequence[Invitation],
                            now: datetime, *, offsets: Sequence[int]) -> list[InvitationState]:
    """The states of many invitations to one session, from three queries however many there are."""
    repository = InvitationRepository(session)
    seats = await seats_left(session, row)
    positions = await repository.waiting_positions(row.id)
    chats = await repository.teams_user_ids(row.id)
    return [state_of(row, invitation, seats_left=seats, position=positions.get(invitation.id), now=now,
                     refresh_user_id=chats.get(invitation.person_id), offsets=offsets)
            for invitation in invitations]


def reminders_ahead(row: TrainingSession, invitation: Invitation, offsets: Sequence[int],
                    now: datetime) -> tuple[int, ...]:
    """The reminders the person will still get: only people with a place get any, each one whose time is still
    ahead and which bot/services/reminders.py owes them (someone booked 5 hours before gets no "24 hour" one)."""
    if invitation.status != "accepted" or row.status != "published":
        return ()
    seated = invitation.seated_at or invitation.replied_at or invitation.invited_at
    since = max(seated, row.time_set_at or row.created_at)
    return tuple(offset for offset in offsets
                 if row.starts_at - timedelta(minutes=offset) > now and is_owed(offset, offsets, row.starts_at, since))


def state_of(row: TrainingSession, invitation: Invitation, *, seats_left: int, position: int | None,
             now: datetime, refresh_user_id: str | None, offsets: Sequence[int]) -> InvitationState:
    return InvitationState(
        session_id=row.id, title=row.title, phase=row.phase, starts_at=row.starts_at, ends_at=row.ends_at,
        seats_left=seats_left, status=invitation.status, position=position, join_url=row.join_url,
        cancelled=row.status == "cancelled", closed=row.starts_at <= now, refresh_user_id=refresh_user_id,
        reminders=reminders_ahead(row, invitation, offsets, now))

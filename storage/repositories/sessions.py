"""Sessions, their facilitators and invitations. Seat changes happen only while the session row is locked."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, delete, false, func, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import dialect_insert
from storage.models import (
    Invitation,
    OutboxMessage,
    Person,
    PrivacyNotice,
    SessionFacilitator,
    TrainingSession,
    Volunteer,
)
from vocabulary.words import Community, InvitationStatus, Phase, SessionAudience, SessionStatus

# A roster line: status (accepted | waiting), waiting-list position, name, e-mail.
RosterRow = tuple[str, int | None, str | None, str | None]
# A person with a place, for the attendance card: invitation id, person id, name, e-mail, came (None: not marked).
AttendanceRow = tuple[int, str, str | None, str | None, bool | None]


def eligible_condition(space: str, phase: str, communities: Iterable[str],
                       notice_version: int) -> ColumnElement[bool]:
    """The SQL twin of bot.services.eligibility.is_eligible, over Volunteer rows (a SessionAudience, a Phase
    and Community values)."""
    if space == SessionAudience.MINORITISED:
        space_ok: ColumnElement[bool] = Volunteer.space_minoritised.is_(True)
    elif space == SessionAudience.ALLY:
        space_ok = Volunteer.space_ally.is_(True)
    else:
        space_ok = or_(Volunteer.space_minoritised.is_(True), Volunteer.space_ally.is_(True))
    phase_ok = (Volunteer.phase_codesign if phase == Phase.CODESIGN else Volunteer.phase_train_the_trainer).is_(True)
    communities_ok: ColumnElement[bool] = true()
    chosen = [getattr(Volunteer, Community(name).column).is_(True) for name in communities]
    if chosen:
        communities_ok = or_(false(), *chosen)
    return and_(Volunteer.consent_version == notice_version, space_ok, phase_ok, communities_ok)


def filter_column(community: Community) -> str:
    """The session's column that says its communities filter includes `community`."""
    return f"filter_{community.value}"


def session_communities(row: TrainingSession) -> tuple[Community, ...]:
    """The session's communities filter (empty: everyone in its space), in the vocabulary's order."""
    return tuple(community for community in Community if getattr(row, filter_column(community)))


def session_filters(communities: Iterable[Community]) -> dict[str, bool]:
    """The session's filter columns for these communities, each set or not (a new session's row)."""
    chosen = set(communities)
    return {filter_column(community): community in chosen for community in Community}


@dataclass(frozen=True)
class StatusCounts:
    invited: int  # every invitation, whatever the reply
    accepted: int
    waiting: int
    declined: int
    no_reply: int
    attended: int = 0  # accepted people a facilitator marked as came
    absent: int = 0  # accepted people marked as did not come


class SessionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, row: TrainingSession) -> TrainingSession:
        self.session.add(row)
        await self.session.flush()
        return row

    async def get(self, session_id: int) -> TrainingSession | None:
        return await self.session.get(TrainingSession, session_id)

    async def lock(self, session_id: int) -> TrainingSession | None:
        """Read the session and hold its row until the transaction ends, so seat changes queue up.

        PostgreSQL: SELECT … FOR NO KEY UPDATE, the row lock UPDATE itself takes: lockers queue up, while
        inserts of invitations that point at the session (a sign-up's hook) do not wait, so a publish and a
        sign-up cannot deadlock. SQLite ignores FOR UPDATE, but there every transaction already holds the
        database's write lock from BEGIN (BEGIN IMMEDIATE, storage/db.py).
        `populate_existing` makes sure we see the row as it is now, not as this session cached it.
        """
        result = await self.session.execute(
            select(TrainingSession).where(TrainingSession.id == session_id)
            .with_for_update(key_share=True).execution_options(populate_existing=True))
        return result.scalars().first()

    async def latest_notice_version(self) -> int | None:
        result = await self.session.execute(select(func.max(PrivacyNotice.version)))
        value = result.scalar_one_or_none()
        return int(value) if value is not None else None

    async def eligible_recipients(self, row: TrainingSession, notice_version: int) -> list[tuple[str, str | None]]:
        """(person id, Teams user id) of the people eligible for the session whom Teams can reach, in a stable
        order. People Teams says cannot be reached are invited when they come back (the re-arm hook)."""
        result = await self.session.execute(
            select(Volunteer.person_id, Person.teams_user_id).join(Person, Person.id == Volunteer.person_id)
            .where(eligible_condition(row.space, row.phase, session_communities(row), notice_version),
                   Person.undeliverable_code.is_(None))
            .order_by(Volunteer.person_id))
        return [(person_id, teams_user_id) for person_id, teams_user_id in result.tuples()]

    async def count_eligible(self, *, space: str, phase: str, communities: Sequence[str],
                             notice_version: int) -> int:
        query = (select(func.count()).select_from(Volunteer).join(Person, Person.id == Volunteer.person_id)
                 .where(eligible_condition(space, phase, communities, notice_version),
                        Person.undeliverable_code.is_(None)))
        return int((await self.session.execute(query)).scalar_one())

    async def upcoming_published(self, now: datetime) -> list[TrainingSession]:
        result = await self.session.execute(
            select(TrainingSession)
            .where(TrainingSession.status == SessionStatus.PUBLISHED, TrainingSession.starts_at > now)
            .order_by(TrainingSession.starts_at, TrainingSession.id))
        return list(result.scalars())

    async def starting_between(self, after: datetime, until: datetime) -> list[int]:
        """Ids of published sessions that start after `after` and no later than `until` (reminders)."""
        result = await self.session.execute(
            select(TrainingSession.id)
            .where(TrainingSession.status == SessionStatus.PUBLISHED, TrainingSession.starts_at > after,
                   TrainingSession.starts_at <= until)
            .order_by(TrainingSession.starts_at, TrainingSession.id))
        return list(result.scalars())

    async def managed_by(self, person_id: str | None, since: datetime) -> list[TrainingSession]:
        """Sessions this person manages (None: every session, for admins), not yet ended, soonest first."""
        query = select(TrainingSession).where(TrainingSession.ends_at > since)
        if person_id is not None:
            query = query.where(TrainingSession.id.in_(
                select(SessionFacilitator.session_id).where(SessionFacilitator.person_id == person_id)))
        result = await self.session.execute(query.order_by(TrainingSession.starts_at, TrainingSession.id))
        return list(result.scalars())

    async def is_manager(self, session_id: int, person_id: str) -> bool:
        return await self.session.get(SessionFacilitator, (session_id, person_id)) is not None

    async def add_facilitator(self, session_id: int, person_id: str, by: str, now: datetime) -> bool:
        result = await self.session.execute(
            dialect_insert(self.session, SessionFacilitator)
            .values(session_id=session_id, person_id=person_id, added_by=by, added_at=now)
            .on_conflict_do_nothing(index_elements=["session_id", "person_id"]))
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def facilitator_ids(self, session_id: int) -> list[str]:
        result = await self.session.execute(
            select(SessionFacilitator.person_id).where(SessionFacilitator.session_id == session_id)
            .order_by(SessionFacilitator.added_at, SessionFacilitator.person_id))
        return list(result.scalars())

    async def remove_facilitator_everywhere(self, person_id: str) -> None:
        await self.session.execute(delete(SessionFacilitator).where(SessionFacilitator.person_id == person_id))


class InvitationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, session_id: int, person_id: str) -> Invitation | None:
        result = await self.session.execute(
            select(Invitation).where(Invitation.session_id == session_id, Invitation.person_id == person_id)
            .execution_options(populate_existing=True))
        return result.scalars().first()

    async def add_if_missing(self, session_id: int, person_id: str, now: datetime) -> Invitation | None:
        """Insert the invitation unless it exists (a publish and a sign-up may race); None if it existed."""
        statement = (dialect_insert(self.session, Invitation)
                     .values(session_id=session_id, person_id=person_id, status=InvitationStatus.INVITED.value,
                             rev=0, invited_at=now)
                     .on_conflict_do_nothing(index_elements=["session_id", "person_id"])
                     .returning(Invitation))
        return (await self.session.scalars(statement)).one_or_none()

    async def invited_ids(self, session_id: int) -> set[str]:
        result = await self.session.execute(select(Invitation.person_id).where(Invitation.session_id == session_id))
        return set(result.scalars())

    async def count_status(self, session_id: int, status: InvitationStatus) -> int:
        result = await self.session.execute(
            select(func.count()).select_from(Invitation)
            .where(Invitation.session_id == session_id, Invitation.status == status))
        return int(result.scalar_one())

    async def counts(self, session_ids: Sequence[int]) -> dict[int, StatusCounts]:
        """Raw figures per session, attendance marks included, from one grouped query."""
        if not session_ids:
            return {}
        result = await self.session.execute(
            select(Invitation.session_id, Invitation.status, Invitation.attended, func.count())
            .where(Invitation.session_id.in_(session_ids))
            .group_by(Invitation.session_id, Invitation.status, Invitation.attended))
        by_status: dict[int, Counter[str]] = {session_id: Counter() for session_id in session_ids}
        marks: dict[int, Counter[bool]] = {session_id: Counter() for session_id in session_ids}
        for session_id, status, attended, number in result.all():
            by_status[session_id][status] += number
            if status == InvitationStatus.ACCEPTED and attended is not None:
                marks[session_id][attended] += number
        return {
            session_id: StatusCounts(
                invited=figures.total(),
                accepted=figures[InvitationStatus.ACCEPTED],
                waiting=figures[InvitationStatus.WAITING],
                declined=figures[InvitationStatus.DECLINED],
                no_reply=figures[InvitationStatus.INVITED],
                attended=marks[session_id][True],
                absent=marks[session_id][False],
            )
            for session_id, figures in by_status.items()
        }

    async def first_waiting(self, session_id: int) -> Invitation | None:
        result = await self.session.execute(
            select(Invitation)
            .where(Invitation.session_id == session_id, Invitation.status == InvitationStatus.WAITING)
            .order_by(Invitation.waiting_seq).limit(1)
            .execution_options(populate_existing=True))
        return result.scalars().first()

    async def waiting_position(self, invitation: Invitation) -> int | None:
        """1 for the first person waiting; None when not waiting."""
        if invitation.status != InvitationStatus.WAITING or invitation.waiting_seq is None:
            return None
        result = await self.session.execute(
            select(func.count()).select_from(Invitation)
            .where(Invitation.session_id == invitation.session_id, Invitation.status == InvitationStatus.WAITING,
                   Invitation.waiting_seq <= invitation.waiting_seq))
        return int(result.scalar_one())

    async def waiting_positions(self, session_id: int) -> dict[int, int]:
        """Invitation id -> waiting-list position (1 for the first) of everyone waiting for the session."""
        result = await self.session.execute(
            select(Invitation.id)
            .where(Invitation.session_id == session_id, Invitation.status == InvitationStatus.WAITING)
            .order_by(Invitation.waiting_seq))
        return {invitation_id: position for position, invitation_id in enumerate(result.scalars(), start=1)}

    async def teams_user_ids(self, session_id: int) -> dict[str, str | None]:
        """Person id -> Teams user id of everyone invited to the session (for their cards' refresh)."""
        result = await self.session.execute(
            select(Person.id, Person.teams_user_id)
            .join(Invitation, Invitation.person_id == Person.id)
            .where(Invitation.session_id == session_id))
        return {person_id: teams_user_id for person_id, teams_user_id in result.all()}

    async def with_status(self, session_id: int, statuses: Sequence[InvitationStatus]) -> list[Invitation]:
        result = await self.session.execute(
            select(Invitation)
            .where(Invitation.session_id == session_id, Invitation.status.in_(statuses))
            .order_by(Invitation.id)
            .execution_options(populate_existing=True))
        return list(result.scalars())

    async def upcoming_of_person(self, person_id: str, now: datetime) -> list[tuple[TrainingSession, Invitation]]:
        """The person's invitations to published sessions that start after `now`, soonest first."""
        result = await self.session.execute(
            select(TrainingSession, Invitation)
            .join(Invitation, Invitation.session_id == TrainingSession.id)
            .where(Invitation.person_id == person_id, TrainingSession.status == SessionStatus.PUBLISHED,
                   TrainingSession.starts_at > now)
            .order_by(TrainingSession.starts_at, TrainingSession.id))
        return [(row, invitation) for row, invitation in result.tuples()]

    async def of_person(self, person_id: str) -> list[Invitation]:
        result = await self.session.execute(
            select(Invitation).where(Invitation.person_id == person_id).order_by(Invitation.session_id))
        return list(result.scalars())

    async def attendance(self, session_id: int) -> list[AttendanceRow]:
        """Accepted people with their marks, by name as a person reads a list (capitals or not, the same on
        both databases; anyone without a name last), then id, so the order is stable."""
        result = await self.session.execute(
            select(Invitation.id, Invitation.person_id, Person.display_name, Person.email, Invitation.attended)
            .join(Person, Person.id == Invitation.person_id)
            .where(Invitation.session_id == session_id, Invitation.status == InvitationStatus.ACCEPTED)
            .order_by(Person.display_name.is_(None), func.lower(Person.display_name), Invitation.person_id))
        return [(invitation_id, person_id, name, email, attended)
                for invitation_id, person_id, name, email, attended in result.all()]

    async def resends_since(self, person_id: str, since: datetime, session_id: int | None = None) -> int:
        """How many invitation cards were sent again to this person since then (a limit per hour), of one
        session's when `session_id` is given."""
        prefix = f"resend:{session_id}:{person_id}:" if session_id is not None else "resend:"
        result = await self.session.execute(
            select(func.count()).select_from(OutboxMessage)
            .where(OutboxMessage.person_id == person_id, OutboxMessage.key.startswith(prefix),
                   OutboxMessage.created_at >= since))
        return int(result.scalar_one())

    async def delete_of_person(self, person_id: str) -> None:
        await self.session.execute(delete(Invitation).where(Invitation.person_id == person_id))

    async def roster(self, session_id: int) -> list[RosterRow]:
        """Accepted people first (in the order they replied), then the waiting list in order."""
        result = await self.session.execute(
            select(Invitation.status, Invitation.waiting_seq, Person.display_name, Person.email)
            .join(Person, Person.id == Invitation.person_id)
            .where(Invitation.session_id == session_id,
                   Invitation.status.in_((InvitationStatus.ACCEPTED, InvitationStatus.WAITING)))
            .order_by(Invitation.status, Invitation.waiting_seq, Invitation.replied_at, Invitation.id))
        rows: list[RosterRow] = []
        position = 0
        for status, _, name, email in result.all():
            waiting = status == InvitationStatus.WAITING
            if waiting:
                position += 1
            rows.append((status, position if waiting else None, name, email))
        return rows

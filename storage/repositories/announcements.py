"""Announcements and their audiences: channels where the bot is installed, volunteers by space or phase, and the
people of a session (invited, booked or attended). Plain models and values only."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, String, and_, cast, false, func, literal, or_, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from storage.db import dialect_insert
from storage.models import (
    Announcement,
    ConversationRef,
    Invitation,
    Organisation,
    OutboxMessage,
    Person,
    TrainingSession,
    Volunteer,
)
from storage.models.announcements import AnnouncementChange
from storage.repositories.volunteers import consented
from vocabulary.words import (
    AnnouncementStatus,
    AudienceSessionPeople,
    InvitationStatus,
    OutboxKind,
    OutboxPurpose,
    OutboxStatus,
    Phase,
    SessionStatus,
    VolunteerSpace,
)

# The spaces an announcement may choose (vocabulary.words.ANNOUNCEMENT_SPACES) and the phases, by column.
_SPACE_COLUMNS = {VolunteerSpace.MINORITISED: Volunteer.space_minoritised, VolunteerSpace.ALLY: Volunteer.space_ally}
_PHASE_COLUMNS = {Phase.CODESIGN: Volunteer.phase_codesign, Phase.TRAIN_THE_TRAINER: Volunteer.phase_train_the_trainer}


@dataclass(frozen=True)
class ChannelRow:
    ref_id: int
    conversation_id: str
    team_name: str | None
    channel_name: str | None


@dataclass(frozen=True)
class AnnouncementOrganisationRow:
    """A partner organisation an announcement may be sent to."""

    organisation_id: int
    name: str


@dataclass(frozen=True)
class AnnouncementSessionRow:
    """A session whose people an announcement may be sent to."""

    session_id: int
    title: str
    starts_at: datetime


def is_thread(conversation_id: str) -> bool:
    """A reply thread inside a channel ("19:…;messageid=…"): announcements go to the channel itself."""
    return ";" in conversation_id


def _any_true(columns: Sequence[InstrumentedAttribute[bool]]) -> ColumnElement[bool]:
    return or_(false(), *[column.is_(True) for column in columns])


def _session_people(session_ids: Sequence[int], which: AudienceSessionPeople) -> Select[str]:
    query = select(Invitation.person_id).where(Invitation.session_id.in_(session_ids))
    if which == AudienceSessionPeople.BOOKED:
        return query.where(Invitation.status == InvitationStatus.ACCEPTED.value)
    if which == AudienceSessionPeople.ATTENDED:
        return query.where(Invitation.attended.is_(True))
    return query  # invited: every invitation, whatever the reply


def audience(spaces: Sequence[VolunteerSpace], phases: Sequence[Phase], session_ids: Sequence[int], *,
             organisations: Sequence[int] = (),
             session_people: AudienceSessionPeople = AudienceSessionPeople.BOOKED) -> Select[str] | None:
    """Person ids of the audience, each once: volunteers in any chosen space and (when phases are chosen)
    interested in any chosen phase, plus the chosen sessions' people (`session_people`: invited, booked or
    attended). Chosen organisations narrow all of that to volunteers from them, or alone choose everyone from
    them, across spaces. Only volunteers whose consent covers the current privacy notice, and never anyone who
    stopped announcements. None when no people were chosen."""
    chosen: list[ColumnElement[bool]] = []
    if spaces or phases:
        space_ok = _any_true([_SPACE_COLUMNS[s] for s in spaces]) if spaces else true()
        phase_ok = _any_true([_PHASE_COLUMNS[p] for p in phases]) if phases else true()
        chosen.append(and_(space_ok, phase_ok))
    if session_ids:
        chosen.append(Volunteer.person_id.in_(_session_people(session_ids, session_people)))
    if not chosen and organisations:
        chosen.append(true())
    if not chosen:
        return None
    query = (select(Volunteer.person_id).join(Person, Person.id == Volunteer.person_id)
             .where(or_(*chosen), consented(), Person.announcements_stopped.is_(False)))
    if organisations:
        query = query.where(Volunteer.organisation_id.in_(organisations))
    return query


class AnnouncementRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, row: Announcement) -> Announcement:
        self.session.add(row)
        await self.session.flush()
        return row

    async def get(self, announcement_id: int, *, lock: bool = False) -> Announcement | None:
        """With lock: hold the row until the transaction ends, so two instances never start or report one
        announcement twice (SQLite holds its write lock from BEGIN anyway)."""
        return await self.session.get(Announcement, announcement_id, with_for_update=lock or None)

    async def due(self, now: datetime) -> list[int]:
        result = await self.session.execute(
            select(Announcement.id).where(Announcement.status == AnnouncementStatus.SCHEDULED.value,
                                          Announcement.send_at <= now)
            .order_by(Announcement.send_at, Announcement.id))
        return list(result.scalars())

    async def in_flight(self) -> list[Announcement]:
        """Started (or stopped) announcements whose final report has not been made yet."""
        result = await self.session.execute(
            select(Announcement).where(
                Announcement.status.in_((AnnouncementStatus.SENDING.value, AnnouncementStatus.STOPPED.value)),
                Announcement.finished_at.is_(None))
            .order_by(Announcement.id))
        return list(result.scalars())

    async def forget_author(self, person_id: str) -> None:
        """The author's data is erased: keep the announcement, drop who wrote it and their progress card
        (the outbox deletes their messages in the same transaction)."""
        await self.session.execute(
            update(Announcement).where(Announcement.author_person_id == person_id)
            .values(author_person_id=None, progress_outbox_id=None))

    # -- final figures (operational retention, issue 23) ---------------------------------------------------------

    async def awaiting_figures(self, finished_before: datetime) -> list[int]:
        """Announcements that finished before then and have no final figures stored yet, oldest first."""
        result = await self.session.execute(
            select(Announcement.id).where(Announcement.finished_at < finished_before,
                                          Announcement.figures_stored_at.is_(None))
            .order_by(Announcement.id))
        return list(result.scalars())

    async def without_figures(self) -> list[int]:
        """Every announcement whose final figures are not stored yet (its messages keep their payloads)."""
        result = await self.session.execute(
            select(Announcement.id).where(Announcement.figures_stored_at.is_(None)).order_by(Announcement.id))
        return list(result.scalars())

    # -- edits and recalls after sending -------------------------------------------------------------------------

    async def add_change(self, row: AnnouncementChange) -> AnnouncementChange:
        self.session.add(row)
        await self.session.flush()
        return row

    async def latest_change(self, announcement_id: int) -> AnnouncementChange | None:
        result = await self.session.execute(
            select(AnnouncementChange).where(AnnouncementChange.announcement_id == announcement_id)
            .order_by(AnnouncementChange.id.desc()).limit(1))
        return result.scalar_one_or_none()

    async def open_changes(self) -> list[AnnouncementChange]:
        """Edits and recalls whose copies are still being updated, oldest first."""
        result = await self.session.execute(
            select(AnnouncementChange).where(AnnouncementChange.finished_at.is_(None)).order_by(AnnouncementChange.id))
        return list(result.scalars())

    async def delivered_copies(self, batch: str) -> int:
        """How many copies of an announcement reached Teams (raw: never shown)."""
        return int(await self.session.scalar(
            select(func.count()).where(OutboxMessage.batch == batch,
                                       OutboxMessage.purpose == OutboxPurpose.ANNOUNCEMENT.value,
                                       OutboxMessage.status == OutboxStatus.SENT.value)) or 0)

    async def enqueue_copy_updates(self, *, batch: str, change_batch: str, purpose: OutboxPurpose, person_payload: str,
                                   channel_payload: str, author_id: str | None, now: datetime) -> None:
        """One in-place update (an outbox "update" of that message) for every delivered copy of an announcement,
        in one INSERT … SELECT per kind of recipient however many copies there are. Each update keeps its copy's
        order key, so it never overtakes anything else queued to that chat, and an edit made after another one
        reaches each copy after it. Keys name the change and the copy, so enqueueing twice sends once."""
        original = OutboxMessage.__table__.alias("original")
        for to_people, payload in ((True, person_payload), (False, channel_payload)):
            same_for_all: dict[str, Any] = {"kind": OutboxKind.UPDATE.value, "payload": payload,
                                            "batch": change_batch, "author_id": author_id, "purpose": purpose,
                                            "status": OutboxStatus.PENDING.value,
                                            "due_at": now, "attempts": 0, "created_at": now}
            values: dict[str, Any] = {
                "key": literal(f"{change_batch}:", String) + cast(original.c.id, String),
                "person_id": original.c.person_id,
                "conversation_id": original.c.conversation_id,
                "order_key": original.c.order_key,
                "updates_id": original.c.id,
                **{name: literal(value, OutboxMessage.__table__.c[name].type) for name, value in same_for_all.items()},
            }
            recipient = original.c.person_id.is_not(None) if to_people else original.c.person_id.is_(None)
            rows = (select(*values.values())
                    .where(original.c.batch == batch, original.c.purpose == OutboxPurpose.ANNOUNCEMENT.value,
                           original.c.status == OutboxStatus.SENT.value, recipient)
                    .order_by(original.c.id))
            await self.session.execute(
                dialect_insert(self.session, OutboxMessage).from_select(list(values), rows)
                .on_conflict_do_nothing(index_elements=["key"]))

    # -- audiences -----------------------------------------------------------------------------------------------

    async def channels(self) -> list[ChannelRow]:
        """Channels where the bot is installed (not reply threads inside them)."""
        result = await self.session.execute(
            select(ConversationRef).where(ConversationRef.kind == "channel", ConversationRef.installed.is_(True))
            .order_by(ConversationRef.id))
        return [ChannelRow(ref.id, ref.conversation_id, ref.team_name, ref.channel_name)
                for ref in result.scalars() if not is_thread(ref.conversation_id)]

    async def sessions(self, since: datetime, limit: int) -> list[AnnouncementSessionRow]:
        """Published sessions that have not ended before `since`, soonest first."""
        result = await self.session.execute(
            select(TrainingSession.id, TrainingSession.title, TrainingSession.starts_at)
            .where(TrainingSession.status == SessionStatus.PUBLISHED.value, TrainingSession.ends_at >= since)
            .order_by(TrainingSession.starts_at, TrainingSession.id).limit(limit))
        return [AnnouncementSessionRow(*row) for row in result.all()]

    async def organisations(self) -> list[AnnouncementOrganisationRow]:
        """Partner organisations an announcement may be sent to, in the order the sign-up card lists them."""
        result = await self.session.execute(
            select(Organisation.id, Organisation.name).where(Organisation.retired.is_(False))
            .order_by(Organisation.position, Organisation.id))
        return [AnnouncementOrganisationRow(*row) for row in result.all()]

    async def count_people(self, *, spaces: Sequence[VolunteerSpace], phases: Sequence[Phase],
                           session_ids: Sequence[int], organisations: Sequence[int] = (),
                           session_people: AudienceSessionPeople = AudienceSessionPeople.BOOKED) -> int:
        """How many people the audience holds now (raw: show it only through bot.services.suppression)."""
        people = audience(spaces, phases, session_ids, organisations=organisations, session_people=session_people)
        if people is None:
            return 0
        return int(await self.session.scalar(select(func.count()).select_from(people.subquery())) or 0)

    # -- people who stop announcements ---------------------------------------------------------------------------

    async def set_stopped(self, person_id: str, stopped: bool) -> bool:
        """True when the setting changed."""
        result = await self.session.execute(
            update(Person).where(Person.id == person_id, Person.announcements_stopped.is_(not stopped))
            .values(announcements_stopped=stopped))
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def is_stopped(self, person_id: str) -> bool:
        result = await self.session.execute(select(Person.announcements_stopped).where(Person.id == person_id))
        return bool(result.scalar_one_or_none())

    async def pending_keys(self, *, batch: str | None = None, person_id: str | None = None) -> list[str]:
        """Keys of announcement messages that have not started to go: of one announcement, or to one person."""
        query = select(OutboxMessage.key).where(OutboxMessage.purpose == OutboxPurpose.ANNOUNCEMENT.value,
                                                OutboxMessage.status == OutboxStatus.PENDING.value)
        if batch is not None:
            query = query.where(OutboxMessage.batch == batch)
        if person_id is not None:
            query = query.where(OutboxMessage.person_id == person_id)
        return list((await self.session.execute(query)).scalars())

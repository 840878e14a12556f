"""Sign-ups, organisations, consent history and erasure (design §3, §6). Plain models and values only."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, String, Text, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import dialect_insert
from storage.models import (
    Base,
    ConsentRecord,
    ConversationRef,
    Erasure,
    Organisation,
    OutboxMessage,
    Person,
    PrivacyNotice,
    StateDocument,
    Volunteer,
)
from vocabulary.words import CONSENT_ENDED, OPEN_OUTBOX_STATUSES, ConsentAction, ErasureReason, OutboxStatus

_OPEN = [status.value for status in OPEN_OUTBOX_STATUSES]  # still to be sent
REDACTED_PAYLOAD = '{"text": "(removed: the person asked us to delete their data)"}'


def current_notice_version() -> Any:
    """The newest published privacy notice version, as a SQL scalar subquery."""
    return select(func.max(PrivacyNotice.version)).scalar_subquery()


def consented() -> ColumnElement[bool]:
    """SQL filter: volunteers whose consent covers the current privacy notice (design §6).

    Anyone behind it is asked again at their next message and must not be used for invitations until they
    agree: add `.where(consented())` to every query that chooses people to invite or count as active."""
    condition: ColumnElement[bool] = Volunteer.consent_version >= current_notice_version()
    return condition


class VolunteerRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, person_id: str, *, lock: bool = False) -> Volunteer | None:
        return await self.session.get(Volunteer, person_id, with_for_update=lock or None)

    async def lock_person(self, person_id: str) -> Person | None:
        """Serialises concurrent sign-ups of one person (a double press on PostgreSQL)."""
        return await self.session.get(Person, person_id, with_for_update=True)

    async def add(self, volunteer: Volunteer) -> None:
        self.session.add(volunteer)
        await self.session.flush()

    async def consent_behind(self, person_id: str) -> bool:
        """True when the person signed up but agreed only to an older privacy notice than the current one."""
        result = await self.session.execute(
            select(Volunteer.person_id).where(Volunteer.person_id == person_id, ~consented()))
        return result.first() is not None

    async def consented_ids(self) -> list[str]:
        result = await self.session.execute(select(Volunteer.person_id).where(consented()))
        return list(result.scalars())

    async def feed_wanted(self, person_ids: Sequence[str]) -> set[str]:
        """Those of `person_ids` who chose "Also tell me in my Teams activity feed"."""
        if not person_ids:
            return set()
        query = select(Volunteer.person_id).where(Volunteer.feed_notifications.is_(True))
        if len(person_ids) <= 500:  # a session's people; for a whole programme's, no list of bound ids
            query = query.where(Volunteer.person_id.in_(list(person_ids)))
        return set((await self.session.execute(query)).scalars()) & set(person_ids)


class OrganisationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def active(self) -> list[Organisation]:
        result = await self.session.execute(
            select(Organisation).where(Organisation.retired.is_(False))
            .order_by(Organisation.position, Organisation.id))
        return list(result.scalars())

    async def get(self, organisation_id: int) -> Organisation | None:
        return await self.session.get(Organisation, organisation_id)

    async def seed(self, names: list[str]) -> int:
        """Fill an empty list with `names`, in order; a list that has ever had a row is the admins' to keep
        (renames and retirements must outlive restarts, and nothing can delete a row). Returns how many were
        added: 0 when the list was not empty, or when another instance seeded it at the same moment."""
        if (await self.session.execute(select(Organisation.id).limit(1))).first() is not None:
            return 0
        added = 0
        for position, name in enumerate(dict.fromkeys(names), start=1):
            result = await self.session.execute(
                dialect_insert(self.session, Organisation).values(name=name, position=position, retired=False)
                .on_conflict_do_nothing(index_elements=["name"]))
            added += int(result.rowcount)  # type: ignore[attr-defined]
        return added


class ConsentRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def append(self, *, person_id: str, at: datetime, action: ConsentAction, notice_version: int,
                     notice_sha256: str, method: str) -> None:
        self.session.add(ConsentRecord(person_id=person_id, recorded_at=at, action=action.value,
                                       notice_version=notice_version, notice_sha256=notice_sha256, method=method))
        await self.session.flush()

    async def history(self, person_id: str) -> list[ConsentRecord]:
        result = await self.session.execute(
            select(ConsentRecord).where(ConsentRecord.person_id == person_id).order_by(ConsentRecord.id))
        return list(result.scalars())

    async def notice(self, version: int) -> PrivacyNotice | None:
        return await self.session.get(PrivacyNotice, version)

    async def ever_given(self, person_id: str) -> bool:
        result = await self.session.execute(
            select(ConsentRecord.id).where(ConsentRecord.person_id == person_id,
                                           ConsentRecord.action == ConsentAction.GIVEN.value).limit(1))
        return result.first() is not None

    async def ended_since(self, person_id: str, since: datetime) -> bool:
        """A withdrawal or erasure consent record at or after `since` (the one a restore may have lost)."""
        result = await self.session.execute(
            select(ConsentRecord.id).where(ConsentRecord.person_id == person_id,
                                           ConsentRecord.action.in_([action.value for action in CONSENT_ENDED]),
                                           ConsentRecord.recorded_at >= since).limit(1))
        return result.first() is not None


class ErasureRepository:
    """Hard-deletes one person's personal data. Consent records, erasures and audit rows stay (design §6)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def record(self, person_id: str, at: datetime, reason: ErasureReason) -> None:
        # An ORM write, not an upsert: the erasure log (bot/services/retention.py) listens for Erasure objects.
        # Erasures of one person are serialised by the lock on their people row.
        row = await self.session.get(Erasure, person_id)
        if row is None:
            self.session.add(Erasure(person_id=person_id, erased_at=at, reason=reason.value))
        else:
            row.erased_at, row.reason = at, reason.value
        await self.session.flush()

    async def erase(self, person_id: str, *, before: datetime | None = None) -> None:
        """Delete the person's rows. `before` (re-applying an erasure after a restore) keeps anything the
        person created after they were erased, such as a new sign-up."""
        person = await self.session.get(Person, person_id)
        if before is not None and person is not None and person.created_at >= before:
            person = None
        secrets = [person_id] + ([person.email] if person and person.email else [])
        name = person.display_name if person else None
        conversations = list((await self.session.execute(
            select(ConversationRef.conversation_id).where(ConversationRef.person_id == person_id))).scalars())

        volunteer_query = delete(Volunteer).where(Volunteer.person_id == person_id)
        if before is not None:
            volunteer_query = volunteer_query.where(Volunteer.signed_up_at < before)
        await self.session.execute(volunteer_query)
        if person is None:
            return
        # Dialog state of their chats can hold half-finished answers; the desk's form claims name them by id.
        state_keys = conversations + ([person.teams_user_id] if person.teams_user_id else []) + [person_id]
        for fragment in state_keys:
            await self.session.execute(
                delete(StateDocument).where(StateDocument.key.contains(fragment, autoescape=True)))
        await self.session.execute(delete(OutboxMessage).where(OutboxMessage.person_id == person_id))
        await self._redact_outbox(secrets, name)
        # Idempotency keys of messages to others may name them (e.g. "promoted:s1:<id>"); the key stays unique.
        await self.session.execute(
            update(OutboxMessage).where(OutboxMessage.key.contains(person_id, autoescape=True))
            .values(key=func.replace(OutboxMessage.key, person_id, "erased")))
        await self.session.execute(delete(ConversationRef).where(ConversationRef.person_id == person_id))
        await self.session.execute(delete(Person).where(Person.id == person_id))

    async def _redact_outbox(self, secrets: list[str], name: str | None) -> None:
        """Messages to other people that mention this person (e.g. a roster card) lose their text. A pending
        one naming their id or e-mail is cancelled; one that only shares their name (names are not unique) and
        is still to be sent is left alone rather than silencing someone else's message."""
        mentions = [OutboxMessage.payload.contains(secret, autoescape=True) for secret in secrets]
        await self.session.execute(
            update(OutboxMessage).where(or_(*mentions), OutboxMessage.status.in_(_OPEN))
            .values(status=OutboxStatus.CANCELLED.value, payload=REDACTED_PAYLOAD))
        if name and len(name) >= 4:
            mentions.append(OutboxMessage.payload.contains(name, autoescape=True))
        await self.session.execute(
            update(OutboxMessage).where(or_(*mentions), OutboxMessage.status.not_in(_OPEN))
            .values(payload=REDACTED_PAYLOAD))


class PersonalRecords:
    """Every row that names a person by id, across all tables, for "Get a copy of my data". Generic on
    purpose: a table another feature adds later (invitations, replies) is included without changes here."""

    SKIP = frozenset({"state_documents"})  # working state of a chat, not a record about the person
    HIDDEN_COLUMNS = frozenset({("outbox", "payload")})  # the messages themselves are already in their chat

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def rows_about(self, person_id: str, *, tables_done: frozenset[str]) -> dict[str, list[dict[str, Any]]]:
        found: dict[str, list[dict[str, Any]]] = {}
        for table in Base.metadata.sorted_tables:
            if table.name in tables_done or table.name in self.SKIP:
                continue
            columns = [column for column in table.columns
                       if column.name.endswith("person_id") and isinstance(column.type, String | Text)]
            if not columns:
                continue
            result = await self.session.execute(
                select(table).where(or_(*[column == person_id for column in columns])))
            rows = [{key: value for key, value in row._mapping.items()
                     if (table.name, key) not in self.HIDDEN_COLUMNS} for row in result]
            if rows:
                found[table.name] = rows
        return found

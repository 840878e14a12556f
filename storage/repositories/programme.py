"""Queries for running the programme (design §4): settings, the organisation list, privacy notice versions,
the adjustments follow-up list, and what the retention job and the erasure replay need to know."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from storage.db import dialect_insert
from storage.models import (
    Erasure,
    Organisation,
    Person,
    PrivacyNotice,
    ProgrammeSetting,
    Volunteer,
)
from storage.repositories.volunteers import consented


class SettingsRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def all(self) -> dict[str, str]:
        result = await self.session.execute(select(ProgrammeSetting.key, ProgrammeSetting.value))
        return {key: value for key, value in result.all()}

    async def get(self, key: str) -> str | None:
        row = await self.session.get(ProgrammeSetting, key)
        return row.value if row else None

    async def put(self, key: str, value: str, at: datetime, by: str) -> bool:
        """Store a value; False (and nothing written) when it is already the stored one."""
        # Two admins saving at once must not collide on a missing row: insert or do nothing, then compare.
        inserted = await self.session.execute(
            dialect_insert(self.session, ProgrammeSetting).values(key=key, value=value, updated_at=at, updated_by=by)
            .on_conflict_do_nothing(index_elements=["key"]))
        if inserted.rowcount:  # type: ignore[attr-defined]
            return True
        row = await self.session.get(ProgrammeSetting, key, with_for_update=True, populate_existing=True)
        assert row is not None
        if row.value == value:
            return False
        row.value, row.updated_at, row.updated_by = value, at, by
        await self.session.flush()
        return True

    async def delete(self, key: str) -> bool:
        row = await self.session.get(ProgrammeSetting, key, with_for_update=True)
        if row is None:
            return False
        await self.session.delete(row)
        await self.session.flush()
        return True

    async def advance(self, key: str, value: str, at: datetime, by: str) -> bool:
        """Move `key` forward to `value` only if its stored value sorts before it (ISO dates sort as text).
        True for exactly one caller, however many instances try at once: the row lock makes a second
        PostgreSQL transaction wait and then see the new value."""
        await self.session.execute(
            dialect_insert(self.session, ProgrammeSetting).values(key=key, value="", updated_at=at, updated_by=by)
            .on_conflict_do_nothing(index_elements=["key"]))
        result = await self.session.execute(
            update(ProgrammeSetting).where(ProgrammeSetting.key == key, ProgrammeSetting.value < value)
            .values(value=value, updated_at=at, updated_by=by))
        return bool(result.rowcount)  # type: ignore[attr-defined]


class OrganisationAdminRepository:
    """The whole organisation list, retired ones too (the sign-up choices are the journey's `active()`)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def all(self) -> list[Organisation]:
        result = await self.session.execute(select(Organisation).order_by(Organisation.position, Organisation.id))
        return list(result.scalars())

    async def get(self, organisation_id: int, *, lock: bool = False) -> Organisation | None:
        return await self.session.get(Organisation, organisation_id, with_for_update=lock or None)

    async def by_name(self, name: str) -> Organisation | None:
        """Names are matched without regard to case, so "Navigo" and "navigo" are one organisation."""
        result = await self.session.execute(
            select(Organisation).where(func.lower(Organisation.name) == name.lower()))
        return result.scalars().first()

    async def add(self, name: str) -> Organisation:
        top = (await self.session.execute(select(func.max(Organisation.position)))).scalar() or 0
        organisation = Organisation(name=name, position=top + 1, retired=False)
        self.session.add(organisation)
        await self.session.flush()
        return organisation

    async def count_active(self) -> int:
        result = await self.session.execute(
            select(func.count()).select_from(Organisation).where(Organisation.retired.is_(False)))
        return int(result.scalar_one())


class NoticeRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def all(self) -> list[PrivacyNotice]:
        result = await self.session.execute(select(PrivacyNotice).order_by(PrivacyNotice.version))
        return list(result.scalars())

    async def latest(self) -> PrivacyNotice | None:
        result = await self.session.execute(
            select(PrivacyNotice).order_by(PrivacyNotice.version.desc()).limit(1))
        return result.scalars().first()

    async def add(self, version: int, sha256: str, text: str, at: datetime) -> None:
        self.session.add(PrivacyNotice(version=version, sha256=sha256, text=text, published_at=at))
        await self.session.flush()

    async def volunteer_ids(self) -> list[str]:
        result = await self.session.execute(select(Volunteer.person_id).order_by(Volunteer.person_id))
        return list(result.scalars())


# Someone who asked for an adjustments conversation: only who they are and whether they were contacted, as
# (person id, name, e-mail, signed up at, contacted at, contacted by (id), contacted by (name)).
AdjustmentRequest = tuple[str, str | None, str | None, datetime, datetime | None, str | None, str | None]


class AdjustmentsRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def requests(self) -> list[AdjustmentRequest]:
        """Everyone who asked for an adjustments conversation, in no particular order. Only people whose consent
        covers the current privacy notice: the answer is special category data, not used until they agree again
        (design §6)."""
        facilitator = aliased(Person)
        result = await self.session.execute(
            select(Volunteer.person_id, Person.display_name, Person.email, Volunteer.signed_up_at,
                   Volunteer.adjustments_contacted_at, Volunteer.adjustments_contacted_by,
                   facilitator.display_name)
            .join(Person, Person.id == Volunteer.person_id)
            .outerjoin(facilitator, facilitator.id == Volunteer.adjustments_contacted_by)
            .where(Volunteer.adjustments_contact.is_(True), consented()))
        return [(person_id, name, email, signed_up_at, contacted_at, contacted_by, contacted_by_name)
                for person_id, name, email, signed_up_at, contacted_at, contacted_by, contacted_by_name in result.all()]

    async def mark(self, person_id: str, at: datetime | None, by: str | None) -> bool:
        """Set "contacted" (at, by) or clear it (None, None). False when it is already so, or the person no
        longer asks for a conversation: the first facilitator's mark is kept when two press at once."""
        already = (Volunteer.adjustments_contacted_at.is_(None) if at is None
                   else Volunteer.adjustments_contacted_at.is_not(None))
        result = await self.session.execute(
            update(Volunteer)
            .where(Volunteer.person_id == person_id, Volunteer.adjustments_contact.is_(True), ~already)
            .values(adjustments_contacted_at=at, adjustments_contacted_by=by))
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def asks(self, person_id: str) -> bool:
        result = await self.session.execute(
            select(Volunteer.person_id).where(Volunteer.person_id == person_id,
                                              Volunteer.adjustments_contact.is_(True)))
        return result.first() is not None


class RetentionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def person_ids(self) -> list[str]:
        result = await self.session.execute(select(Person.id).order_by(Person.id))
        return list(result.scalars())

    async def erasure_times(self) -> dict[str, datetime]:
        result = await self.session.execute(select(Erasure.person_id, Erasure.erased_at))
        return {person_id: at for person_id, at in result.all()}

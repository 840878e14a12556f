from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import dialect_insert
from storage.models import ConversationRef, Person


@dataclass(frozen=True)
class Contact:
    """What an inbound activity tells us about where to reach someone (no message content)."""

    conversation_id: str
    kind: str  # personal | channel | groupChat
    service_url: str
    tenant_id: str
    bot_id: str
    person_id: str | None = None
    teams_user_id: str | None = None
    display_name: str | None = None
    team_id: str | None = None
    team_name: str | None = None
    channel_name: str | None = None


class PeopleRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, person_id: str) -> Person | None:
        return await self.session.get(Person, person_id)

    async def by_ids(self, person_ids: list[str]) -> list[Person]:
        if not person_ids:
            return []
        return list((await self.session.execute(select(Person).where(Person.id.in_(person_ids)))).scalars())

    async def by_email(self, email: str) -> Person | None:
        result = await self.session.execute(select(Person).where(Person.email == email.strip().lower()))
        return result.scalars().first()

    async def upsert_seen(self, contact: Contact, now: datetime) -> tuple[Person, bool]:
        """Create or refresh the person; returns (person, was_undeliverable) so callers can re-arm sends.
        A new person's first activities arrive together (install sends two; people double-press): the insert
        is one INSERT ... ON CONFLICT, so the turns that lose the race update the row instead of failing."""
        assert contact.person_id
        inserted = await self.session.execute(
            dialect_insert(self.session, Person).values(
                id=contact.person_id,
                tenant_id=contact.tenant_id,
                display_name=contact.display_name,
                created_at=now,
                last_seen_at=now,
                announcements_stopped=False,
                teams_user_id=contact.teams_user_id,
                service_url=contact.service_url,
            ).on_conflict_do_nothing(index_elements=["id"]))
        person = await self.session.get(Person, contact.person_id, with_for_update=True, populate_existing=True)
        assert person is not None
        if inserted.rowcount:  # type: ignore[attr-defined]
            return person, False
        was_undeliverable = person.undeliverable_code is not None
        person.last_seen_at = now
        person.teams_user_id = contact.teams_user_id or person.teams_user_id
        person.service_url = contact.service_url or person.service_url
        person.undeliverable_code = None
        person.undeliverable_since = None
        if contact.display_name:
            person.display_name = contact.display_name
        return person, was_undeliverable

    async def mark_welcomed(self, person_id: str, now: datetime) -> bool:
        """True only for the first caller: Teams sends two activities for one install."""
        result = await self.session.execute(
            update(Person)
            .where(Person.id == person_id, Person.welcomed_at.is_(None))
            .values(welcomed_at=now)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def set_undeliverable(self, person_id: str, code: str, now: datetime) -> None:
        await self.session.execute(
            update(Person)
            .where(Person.id == person_id)
            .values(undeliverable_code=code, undeliverable_since=now)
        )


class ConversationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def by_conversation(self, conversation_id: str) -> ConversationRef | None:
        result = await self.session.execute(
            select(ConversationRef).where(ConversationRef.conversation_id == conversation_id)
        )
        return result.scalars().first()

    async def save(self, contact: Contact, now: datetime) -> ConversationRef:
        # INSERT ... ON CONFLICT first, so concurrent first activities in one chat never collide on its id.
        await self.session.execute(
            dialect_insert(self.session, ConversationRef).values(
                conversation_id=contact.conversation_id, kind=contact.kind, service_url=contact.service_url,
                updated_at=now,
            ).on_conflict_do_nothing(index_elements=["conversation_id"]))
        ref = (await self.session.execute(
            select(ConversationRef).where(ConversationRef.conversation_id == contact.conversation_id)
            .with_for_update().execution_options(populate_existing=True))).scalars().one()
        ref.kind = contact.kind
        ref.service_url = contact.service_url
        ref.tenant_id = contact.tenant_id
        ref.bot_id = contact.bot_id
        ref.installed = True
        ref.updated_at = now
        if contact.kind == "personal":
            ref.person_id = contact.person_id
            ref.teams_user_id = contact.teams_user_id
        else:
            ref.team_id = contact.team_id or ref.team_id
            ref.team_name = contact.team_name or ref.team_name
            ref.channel_name = contact.channel_name or ref.channel_name
        await self.session.flush()
        return ref

    async def personal(self, person_id: str) -> ConversationRef | None:
        result = await self.session.execute(
            select(ConversationRef)
            .where(ConversationRef.person_id == person_id, ConversationRef.kind == "personal")
            .order_by(ConversationRef.updated_at.desc())
        )
        return result.scalars().first()

    async def channels(self) -> list[ConversationRef]:
        result = await self.session.execute(
            select(ConversationRef)
            .where(ConversationRef.kind == "channel", ConversationRef.installed.is_(True))
            .order_by(ConversationRef.team_name, ConversationRef.channel_name)
        )
        return list(result.scalars())

    async def mark_welcomed(self, conversation_id: str, now: datetime) -> bool:
        result = await self.session.execute(
            update(ConversationRef)
            .where(ConversationRef.conversation_id == conversation_id, ConversationRef.welcomed_at.is_(None))
            .values(welcomed_at=now)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def mark_uninstalled(self, conversation_id: str) -> None:
        """The bot was removed: a later install is a new start, so it is welcomed again."""
        ref = await self.by_conversation(conversation_id)
        if ref is None:
            return
        ref.installed = False
        ref.welcomed_at = None
        if ref.kind == "personal" and ref.person_id:
            await self.session.execute(update(Person).where(Person.id == ref.person_id).values(welcomed_at=None))

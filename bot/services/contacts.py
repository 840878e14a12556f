"""Remembers where each person and channel can be reached, from every inbound activity (design §2, §7).

Someone who withdrew (or was erased by the retention job) and writes to the bot again gets a `people` row
back, because their chat reference needs it, but not their name or e-mail: only what is needed to answer them
(docs/privacy.md). Their name is kept again once they sign up again or hold a role granted in the bot."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from storage.db import Database
from storage.models import ConversationRef, Erasure, Person, RoleGrant, Volunteer
from storage.repositories.people import Contact, ConversationRepository, PeopleRepository

log = logging.getLogger(__name__)

# How stale `last_seen_at` may get before a turn writes it again; most turns then write nothing here.
SEEN_GRANULARITY = timedelta(hours=1)


def _unchanged(person: Person | None, ref: ConversationRef | None, contact: Contact, now: datetime) -> bool:
    if ref is None or not ref.installed or ref.service_url != contact.service_url or ref.kind != contact.kind:
        return False
    if contact.kind == "personal" and ref.person_id != contact.person_id:
        return False
    if contact.kind != "personal" and (
        (contact.team_name and contact.team_name != ref.team_name)
        or (contact.channel_name and contact.channel_name != ref.channel_name)
    ):
        return False
    if contact.person_id is None:
        return True
    return (
        person is not None
        and person.undeliverable_code is None
        and now - person.last_seen_at < SEEN_GRANULARITY
        and (not contact.display_name or contact.display_name == person.display_name)
        and (not contact.teams_user_id or contact.teams_user_id == person.teams_user_id)
        and contact.service_url == person.service_url
    )


async def keeps_identity(session: AsyncSession, person_id: str) -> bool:
    """May we store this person's name and e-mail? Not after they withdrew (or were erased by retention),
    until they sign up again or are given a role: then rosters and the roles list need their name."""
    if await session.get(Erasure, person_id) is None:
        return True
    if await session.get(Volunteer, person_id) is not None:
        return True
    role = await session.execute(select(RoleGrant.role).where(RoleGrant.person_id == person_id).limit(1))
    return role.first() is not None


async def forget_identities_of_erased(session: AsyncSession) -> int:
    """Clear the name and e-mail that came back for people who were erased and have not signed up again (rows
    re-created by their next message before this rule existed). Returns how many people were cleaned."""
    result = await session.execute(
        update(Person).where(or_(Person.display_name.is_not(None), Person.email.is_not(None)),
                             Person.id.in_(select(Erasure.person_id)),
                             Person.id.not_in(select(Volunteer.person_id)),
                             Person.id.not_in(select(RoleGrant.person_id)))
        .values(display_name=None, email=None))
    cleaned = int(result.rowcount or 0)  # type: ignore[attr-defined]
    if cleaned:
        log.info("names and e-mails forgotten for %d people who had been erased", cleaned)
    return cleaned


class ContactService:
    def __init__(self, database: Database, clock: Clock) -> None:
        self._database = database
        self._clock = clock

    async def record(self, contact: Contact) -> bool:
        """Save the person and conversation reference. Returns True when the person had been marked
        undeliverable and is now reachable again (the delivery engine re-arms their messages)."""
        now = self._clock.now()
        async with self._database.read() as session:
            person = await session.get(Person, contact.person_id) if contact.person_id else None
            ref = await ConversationRepository(session).by_conversation(contact.conversation_id)
            # Asked only when a name would be stored: most turns bring the name that is stored already.
            new_name = contact.display_name and (person is None or person.display_name != contact.display_name)
            if contact.person_id and new_name and not await keeps_identity(session, contact.person_id):
                contact = replace(contact, display_name=None)
        if _unchanged(person, ref, contact, now):
            return False
        rearmed = False
        async with self._database.transaction() as session:
            if contact.person_id:
                _, rearmed = await PeopleRepository(session).upsert_seen(contact, now)
            if contact.kind == "personal" and not contact.person_id:
                return False
            await ConversationRepository(session).save(contact, now)
        return rearmed

    async def first_welcome(self, person_id: str) -> bool:
        async with self._database.transaction() as session:
            return await PeopleRepository(session).mark_welcomed(person_id, self._clock.now())

    async def first_welcome_of_conversation(self, conversation_id: str) -> bool:
        async with self._database.transaction() as session:
            return await ConversationRepository(session).mark_welcomed(conversation_id, self._clock.now())

    async def uninstalled(self, conversation_id: str) -> None:
        async with self._database.transaction() as session:
            await ConversationRepository(session).mark_uninstalled(conversation_id)

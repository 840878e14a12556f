"""Remembers where each person and channel can be reached, from every inbound activity (design §2, §7)."""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.clock import Clock
from storage.db import Database
from storage.models import ConversationRef, Person
from storage.repositories.people import Contact, ConversationRepository, PeopleRepository

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

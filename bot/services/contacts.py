"""Remembers where each person and channel can be reached, from every inbound activity (design §2, §7)."""

from __future__ import annotations

from bot.clock import Clock
from storage.db import Database
from storage.repositories.people import Contact, ConversationRepository, PeopleRepository


class ContactService:
    def __init__(self, database: Database, clock: Clock) -> None:
        self._database = database
        self._clock = clock

    async def record(self, contact: Contact) -> bool:
        """Save the person and conversation reference. Returns True when the person had been marked
        undeliverable and is now reachable again (the delivery engine re-arms their messages)."""
        now = self._clock.now()
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

"""Names and e-mails of people who use the bot, cached on Person from Teams' member API (design §2), so that
an admin can give someone a role by typing their e-mail. Lookups and logs use ids only."""

from __future__ import annotations

from dataclasses import dataclass

from bot.services.contacts import keeps_identity
from storage.db import Database
from storage.repositories.people import PeopleRepository

# Column sizes of Person: longer values from Teams are not stored rather than cut.
MAX_NAME = 256
MAX_EMAIL = 320


@dataclass(frozen=True)
class KnownPerson:
    person_id: str
    display_name: str | None
    email: str | None


class Directory:
    def __init__(self, database: Database) -> None:
        self._database = database

    async def needs_identity(self, person_id: str) -> bool:
        """True when we have met this person but do not know their e-mail yet (and may keep it: not after
        they withdrew, until they sign up again or hold a role)."""
        async with self._database.read() as session:
            person = await PeopleRepository(session).get(person_id)
            return person is not None and not person.email and await keeps_identity(session, person_id)

    async def remember(self, person_id: str, display_name: str | None, email: str | None) -> bool:
        """Store what Teams told us about someone we have met; never creates a person, nor keeps the name of
        someone who withdrew (bot/services/contacts.py). True if stored."""
        email = (email or "").strip().lower()
        display_name = (display_name or "").strip()
        async with self._database.transaction() as session:
            person = await PeopleRepository(session).get(person_id)
            if person is None or not await keeps_identity(session, person_id):
                return False
            if email and len(email) <= MAX_EMAIL and "@" in email:
                person.email = email
            if display_name and len(display_name) <= MAX_NAME:
                person.display_name = display_name
            return True

    async def find_by_email(self, email: str) -> KnownPerson | None:
        async with self._database.read() as session:
            person = await PeopleRepository(session).by_email(email)
            return KnownPerson(person.id, person.display_name, person.email) if person else None

    async def find_many(self, person_ids: list[str]) -> dict[str, KnownPerson]:
        """Those of these people we have met, by id (one query, e.g. for everyone in an Entra group)."""
        async with self._database.read() as session:
            return {person.id: KnownPerson(person.id, person.display_name, person.email)
                    for person in await PeopleRepository(session).by_ids(person_ids)}

    async def find(self, person_id: str) -> KnownPerson | None:
        async with self._database.read() as session:
            person = await PeopleRepository(session).get(person_id)
            return KnownPerson(person.id, person.display_name, person.email) if person else None

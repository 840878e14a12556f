"""Finding a session's co-facilitators: by the e-mails a facilitator typed, by the people they @mentioned, and
their names for the preview. Only people who hold the facilitator role can be added."""

from __future__ import annotations

import re
from collections.abc import Sequence

from sqlalchemy import select

from bot.services.roles import RoleService, satisfies
from storage.db import Database
from storage.models import Person
from storage.repositories.people import PeopleRepository
from vocabulary.words import Role

MAX_CO_FACILITATORS = 20
_EMAILS = re.compile(r"[\s,;]+")


def _listed(items: Sequence[str]) -> str:
    """"a", "a and b", "a, b and c"."""
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def _what_to_fix(unknown: Sequence[str], not_facilitators: Sequence[str]) -> str:
    """Every e-mail to fix, in one message, so the form comes back once."""
    problems = []
    if unknown:
        problems.append(f"I don't know {_listed(unknown)} yet. Check the e-mail, or ask them to send me a message "
                        "first.")
    if len(not_facilitators) == 1:
        problems.append(f"{not_facilitators[0]} is not a facilitator yet. An admin can make them one.")
    elif not_facilitators:
        problems.append(f"{_listed(not_facilitators)} are not facilitators yet. An admin can make them facilitators.")
    return " ".join(problems)


class CoFacilitators:
    def __init__(self, database: Database, roles: RoleService) -> None:
        self._database = database
        self._roles = roles

    async def check(self, actor_id: str, emails_text: str, extra_ids: Sequence[str],
                    errors: dict[str, str]) -> tuple[str, ...]:
        """Person ids of the facilitators named by e-mail (`emails_text`, separated by commas, semicolons or
        spaces) and of those in `extra_ids` (@mentions), leaving out the actor; what to fix goes to `errors`.
        Roles come from RoleService, so facilitators through an Entra group count too."""
        emails = list(dict.fromkeys(email.lower() for email in _EMAILS.split(emails_text) if email))
        async with self._database.read() as session:
            people = PeopleRepository(session)
            named = [(email, await people.by_email(email) if "@" in email else None)
                     for email in emails[:MAX_CO_FACILITATORS]]
        found: list[str] = []
        unknown = [email for email, person in named if person is None]
        not_facilitators: list[str] = []
        for email, person in named:
            if person is None or person.id in found:
                continue
            if await self._is_facilitator(person.id):
                found.append(person.id)
            else:
                not_facilitators.append(email)
        for person_id in extra_ids:
            if person_id not in found and await self._is_facilitator(person_id):
                found.append(person_id)
        if len(emails) > MAX_CO_FACILITATORS:
            errors["co_facilitators"] = f"Add {MAX_CO_FACILITATORS} co-facilitators at most."
        elif unknown or not_facilitators:
            errors["co_facilitators"] = _what_to_fix(unknown, not_facilitators)
        return tuple(person_id for person_id in found if person_id != actor_id)

    async def _is_facilitator(self, person_id: str) -> bool:
        return satisfies(await self._roles.roles_of(person_id), Role.FACILITATOR)

    async def people_by_teams_ids(self, teams_user_ids: Sequence[str]) -> list[str]:
        """Person ids of the people with these Teams user ids (e.g. @mentions) whom we have met."""
        if not teams_user_ids:
            return []
        async with self._database.read() as session:
            result = await session.execute(select(Person.id).where(Person.teams_user_id.in_(list(teams_user_ids))))
            return sorted(set(result.scalars()))

    async def names_of(self, person_ids: Sequence[str]) -> tuple[str, ...]:
        """Their names (or e-mails) for the preview, in the order given, from one query."""
        async with self._database.read() as session:
            people = {person.id: person for person in await PeopleRepository(session).by_ids(list(person_ids))}
        names = []
        for person_id in person_ids:
            person = people.get(person_id)
            names.append((person.display_name or person.email if person else None) or "A facilitator")
        return tuple(names)

"""A desk form that creates something is acted on once (bot/desk/sent_forms.py), on SQLite and PostgreSQL: of
presses arriving together exactly one goes on, later ones learn what it made, a form whose answers needed
fixing can be sent again, claims go after a day, and erasing the person deletes theirs. The pages' own tests
(test_desk_sessions.py, test_desk_announcements.py) press the buttons on two web instances at once."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import select

from bot.clock import FixedClock
from bot.desk.sent_forms import KEPT, EarlierPress, SentForms
from storage.db import Database
from storage.models import Person, StateDocument
from storage.repositories.volunteers import ErasureRepository
from tests.doubles.teams import DEFAULT_TENANT_ID

PERSON = "3f2504e0-4f89-41d3-9a0c-0305e82c3301"


async def claims(db: Database) -> list[str]:
    async with db.read() as session:
        return sorted((await session.execute(select(StateDocument.key))).scalars())


async def test_of_presses_arriving_together_exactly_one_goes_on(db: Database, clock: FixedClock) -> None:
    forms = SentForms(db, clock)
    answers = await asyncio.gather(*(forms.claim(f"form-1:{PERSON}") for _ in range(5)))
    assert answers.count(None) == 1
    assert [answer for answer in answers if answer is not None] == [EarlierPress(None)] * 4  # still being made

    await forms.made(f"form-1:{PERSON}", 42)
    assert await forms.claim(f"form-1:{PERSON}") == EarlierPress(42)
    assert await forms.claim(f"form-2:{PERSON}") is None  # another form is its own


async def test_a_form_that_made_nothing_can_be_sent_again(db: Database, clock: FixedClock) -> None:
    forms = SentForms(db, clock)
    assert await forms.claim(f"form-1:{PERSON}") is None
    await forms.release(f"form-1:{PERSON}")
    assert await forms.claim(f"form-1:{PERSON}") is None


async def test_claims_are_kept_for_a_day(db: Database, clock: FixedClock) -> None:
    forms = SentForms(db, clock)
    assert await forms.claim(f"old:{PERSON}") is None
    clock.advance(KEPT + timedelta(minutes=1))
    assert await forms.claim(f"new:{PERSON}") is None
    assert await claims(db) == [f"desk-form:new:{PERSON}"]


async def test_erasing_the_person_deletes_their_claims(db: Database, clock: FixedClock) -> None:
    forms = SentForms(db, clock)
    now = clock.now()
    async with db.transaction() as session:
        session.add(Person(id=PERSON, tenant_id=DEFAULT_TENANT_ID, created_at=now, last_seen_at=now))
    assert await forms.claim(f"form-1:{PERSON}") is None
    await forms.made(f"form-1:{PERSON}", 7)
    async with db.transaction() as session:
        await ErasureRepository(session).erase(PERSON)
    assert await claims(db) == []

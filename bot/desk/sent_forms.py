"""A desk form that creates something (a new session, an announcement) is acted on once, whichever web instance
its presses reach: a double click, a reload of the last step, or a press sent again by the browser after a
timeout. The form carries a random id; the first press claims it in the database, so a second press finds the
claim and is shown what the first one made instead of making it again.

The claim is a document in `state_documents` (the table of the chat journeys' state, whose primary key gives
the upsert), kept for a day: long enough for any repeat of one press. Its key holds the form's id and the
person's (so erasure deletes it with their chat state), its data only the id of what was made."""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

from sqlalchemy import delete

from bot.clock import Clock
from storage.db import Database
from storage.models import StateDocument
from storage.repositories.state import StateConflict, StateRepository

PREFIX = "desk-form:"
KEPT = timedelta(days=1)
R = TypeVar("R")


@dataclass(frozen=True)
class EarlierPress:
    """What the first press of this form made: its record's id, or None while it is still being made (or when
    making it failed in a way that left the claim, e.g. a process that died mid-request)."""

    made_id: int | None


class SentForms:
    def __init__(self, database: Database, clock: Clock) -> None:
        self._database = database
        self._clock = clock

    async def once(self, form_id: str, make: Callable[[], Awaitable[R]],
                   made_id: Callable[[R], int | None]) -> R | EarlierPress:
        """`make()` for the first press of this form only; a later press gets what the first one made.
        `made_id` reads the id of what was made from the result: None (the answers need fixing) or an error
        lets the form be sent again."""
        earlier = await self.claim(form_id)
        if earlier is not None:
            return earlier
        try:
            result = await make()
        except BaseException:
            await self.release(form_id)
            raise
        made = made_id(result)
        if made is None:
            await self.release(form_id)
        else:
            await self.made(form_id, made)
        return result

    async def claim(self, form_id: str) -> EarlierPress | None:
        """None when this press is the first (go on and make it); otherwise what the first press made."""
        key, now = PREFIX + form_id, self._clock.now()
        try:
            async with self._database.transaction() as session:
                await session.execute(delete(StateDocument).where(
                    StateDocument.key.startswith(PREFIX), StateDocument.updated_at < now - KEPT))
                # A claim of its own (a new random id), so two presses never both find "the same document".
                await StateRepository(session).write(key, json.dumps({"claim": uuid.uuid4().hex}), None, now)
            return None
        except StateConflict:
            async with self._database.read() as session:
                found = (await StateRepository(session).read([key])).get(key)
            made = json.loads(found[1]).get("made") if found else None
            return EarlierPress(made if isinstance(made, int) else None)

    async def made(self, form_id: str, made_id: int) -> None:
        """The first press made record `made_id`: later presses go to it."""
        async with self._database.transaction() as session:
            await StateRepository(session).overwrite(PREFIX + form_id, json.dumps({"made": made_id}),
                                                     self._clock.now())

    async def release(self, form_id: str) -> None:
        """Nothing was made (the answers need fixing): the form may be sent again."""
        async with self._database.transaction() as session:
            await session.execute(delete(StateDocument).where(StateDocument.key == PREFIX + form_id))

"""botbuilder `Storage` on our database, so dialog state survives restarts and concurrent turns are detected.

Values are serialised with jsonpickle (botbuilder's own dependency, as its blob storage does), because dialog
state holds SDK objects such as prompt options. The database is trusted; nothing from a user is unpickled.
"""

from __future__ import annotations

from typing import Any

import jsonpickle
from botbuilder.core import Storage

from bot.clock import Clock
from storage.db import Database
from storage.repositories.state import StateConflict, StateRepository

__all__ = ["DatabaseStorage", "StateConflict"]


class DatabaseStorage(Storage):
    def __init__(self, database: Database, clock: Clock) -> None:
        self._database = database
        self._clock = clock

    async def read(self, keys: list[str]) -> dict[str, Any]:
        if not keys:
            return {}
        async with self._database.read() as session:
            rows = await StateRepository(session).read(keys)
        items: dict[str, Any] = {}
        for key, (etag, data) in rows.items():
            value = jsonpickle.decode(data, keys=True)
            if isinstance(value, dict):
                value["e_tag"] = str(etag)
            items[key] = value
        return items

    async def write(self, changes: dict[str, Any]) -> None:
        if not changes:
            return
        now = self._clock.now()
        async with self._database.transaction() as session:
            repository = StateRepository(session)
            for key, value in changes.items():
                etag = value.get("e_tag") if isinstance(value, dict) else getattr(value, "e_tag", None)
                stored = {k: v for k, v in value.items() if k != "e_tag"} if isinstance(value, dict) else value
                data = jsonpickle.encode(stored, keys=True)
                if etag == "*":
                    new_etag = await repository.overwrite(key, data, now)
                else:
                    new_etag = await repository.write(key, data, int(etag) if etag else None, now)
                # The turn keeps this dict cached; a second save in the same turn must not conflict with itself.
                if isinstance(value, dict):
                    value["e_tag"] = str(new_etag)

    async def delete(self, keys: list[str]) -> None:
        async with self._database.transaction() as session:
            await StateRepository(session).delete(keys)

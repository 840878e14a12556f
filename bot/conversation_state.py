"""Each chat's journey state, loaded for one turn and saved at its end, the same under either Teams SDK.

Neither SDK's state classes are used: ConversationState (botbuilder) pickles SDK objects with jsonpickle, and the
Agents SDK's AgentState caches what it loaded on a shared instance (microsoft/Agents-for-python issue 440) and its
Storage has no eTag. Here a `ConversationMemory` is made per turn, the document is plain JSON, and a write names
the version it read (the state row's version column): a turn that lost a race raises StateConflict and changes
nothing, so the other turn's work stands (bot/edge/*: the turn-error handler answers it kindly).

A document written by botbuilder 4.17 (jsonpickle, before this version) is read once as "no journey": the person's
open question is dropped, nothing they saved is touched, and the first message says so."""

from __future__ import annotations

import json
import logging
from typing import Any

from bot.activity import IncomingActivity
from bot.clock import Clock
from storage.db import Database
from storage.repositories.state import StateConflict, StateRepository

__all__ = ["ConversationMemory", "JourneyStore", "StateConflict", "state_key"]

log = logging.getLogger(__name__)

FORMAT = "hny.journeys/1"


def state_key(activity: IncomingActivity) -> str | None:
    """The row of this chat (the key botbuilder's ConversationState used, so one row per chat stays one row)."""
    if activity.conversation is None or not activity.conversation.id:
        return None
    return f"{activity.channel_id or 'msteams'}/conversations/{activity.conversation.id}"


def _encode(document: dict[str, Any]) -> str:
    return json.dumps(document, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def _had_open_journey(legacy: object) -> bool:
    """Whether a botbuilder 4.17 document had a dialog on its stack (its jsonpickle shape, read as plain JSON)."""
    if not isinstance(legacy, dict):
        return False
    dialog_state = legacy.get("DialogState")
    stack = dialog_state.get("_dialog_stack") if isinstance(dialog_state, dict) else None
    return isinstance(stack, list) and bool(stack)


class ConversationMemory:
    """One turn's view of one chat's stored state: the dialog stack, and whether an older one was dropped."""

    def __init__(self, store: JourneyStore, key: str | None, version: int | None, stored: str | None,
                 document: dict[str, Any], *, dropped_old_journey: bool = False) -> None:
        self._store = store
        self._key = key
        self._version = version
        self._stored = stored
        self.document = document
        self.dropped_old_journey = dropped_old_journey
        self._forgotten = False

    @property
    def stack(self) -> list[dict[str, Any]]:
        stack: list[dict[str, Any]] = self.document.setdefault("stack", [])
        return stack

    def forget(self) -> None:
        """After an erasure deleted this chat's row: the end of the turn must not write it back."""
        self._forgotten = True

    async def save(self) -> None:
        if self._forgotten or self._key is None:
            return
        data = _encode(self.document)
        if data == self._stored or (self._stored is None and not self.stack):
            return  # unchanged, or still empty: no write, so most turns cost no database write here
        self._version = await self._store.write(self._key, data, self._version)
        self._stored = data


class JourneyStore:
    def __init__(self, database: Database, clock: Clock) -> None:
        self._database = database
        self._clock = clock

    async def load(self, activity: IncomingActivity) -> ConversationMemory:
        key = state_key(activity)
        if key is None:
            return ConversationMemory(self, None, None, None, {"format": FORMAT, "stack": []})
        async with self._database.read() as session:
            row = (await StateRepository(session).read([key])).get(key)
        if row is None:
            return ConversationMemory(self, key, None, None, {"format": FORMAT, "stack": []})
        version, data = row
        try:
            document = json.loads(data)
        except ValueError:
            document = None
        if isinstance(document, dict) and document.get("format") == FORMAT and isinstance(
                document.get("stack"), list):
            return ConversationMemory(self, key, version, data, document)
        dropped = _had_open_journey(document)
        log.info("read a chat's state written before this version; its open journey restarts")
        # `stored` stays the old text, so the first save replaces it, at the version read.
        return ConversationMemory(self, key, version, data, {"format": FORMAT, "stack": []},
                                  dropped_old_journey=dropped)

    async def write(self, key: str, data: str, version: int | None) -> int:
        async with self._database.transaction() as session:
            return await StateRepository(session).write(key, data, version, self._clock.now())

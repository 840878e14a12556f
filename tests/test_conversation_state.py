"""Journey state in the database, the same under both Teams SDKs: built for each turn, plain JSON, and a write
based on an old read is refused (never lost); the loser is told kindly (tests/test_buttons_and_races.py)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from bot.activity import IncomingActivity
from bot.clock import SystemClock
from bot.conversation_state import ConversationMemory, JourneyStore, StateConflict
from storage.db import Database
from storage.repositories.state import StateRepository

LEGACY_ROWS = Path(__file__).parent / "data" / "state_written_by_botbuilder_4_17.json"


def chat(conversation_id: str) -> IncomingActivity:
    return IncomingActivity.from_json({"type": "message", "channelId": "msteams", "conversation": {
        "id": conversation_id}, "from": {"id": "29:1"}, "recipient": {"id": "28:bot"}, "serviceUrl": "https://x/"})


def open_question(journey: str) -> dict[str, Any]:
    return {"id": "express_interest", "state": {"stack": [{"id": "consent", "state": {"options": {
        "journey": journey, "view": {}}}}]}}


async def stored(db: Database, key: str) -> dict[str, Any] | None:
    async with db.read() as session:
        row = (await StateRepository(session).read([key])).get(key)
    return json.loads(row[1]) if row else None


async def test_a_journey_survives_a_new_store_object_as_plain_json(db: Database) -> None:
    memory = await JourneyStore(db, SystemClock()).load(chat("a:1"))
    memory.stack.append(open_question("j1"))
    await memory.save()
    again = await JourneyStore(db, SystemClock()).load(chat("a:1"))
    assert again.stack == [open_question("j1")]
    document = await stored(db, "msteams/conversations/a:1")
    assert document is not None and "py/object" not in json.dumps(document)


async def test_a_turn_with_no_journey_writes_nothing(db: Database) -> None:
    memory = await JourneyStore(db, SystemClock()).load(chat("a:2"))
    await memory.save()
    assert await stored(db, "msteams/conversations/a:2") is None


async def test_two_chats_interleaving_never_see_or_save_each_others_state(db: Database) -> None:
    """The Agents SDK's AgentState keeps what it loaded on the instance (Agents-for-python issue 440): one shared
    object leaked one chat's journey into another's save. Here each turn loads its own."""
    store = JourneyStore(db, SystemClock())
    first = await store.load(chat("a:first"))
    second = await store.load(chat("a:second"))
    first.stack.append(open_question("mine"))
    assert second.stack == []
    second.stack.append(open_question("theirs"))
    await second.save()
    await first.save()
    assert (await store.load(chat("a:first"))).stack == [open_question("mine")]
    assert (await store.load(chat("a:second"))).stack == [open_question("theirs")]


async def test_a_write_based_on_an_old_read_is_refused_and_the_newer_state_kept(db: Database) -> None:
    store = JourneyStore(db, SystemClock())
    start = await store.load(chat("a:3"))
    start.stack.append(open_question("j0"))
    await start.save()
    first, second = await store.load(chat("a:3")), await store.load(chat("a:3"))
    first.stack[0]["state"]["n"] = 1
    await first.save()
    second.stack[0]["state"]["n"] = 2
    with pytest.raises(StateConflict):
        await second.save()
    assert (await store.load(chat("a:3"))).stack[0]["state"]["n"] == 1


async def test_concurrent_writers_from_one_version_exactly_one_wins(db: Database) -> None:
    store = JourneyStore(db, SystemClock())
    start = await store.load(chat("a:4"))
    start.stack.append(open_question("j"))
    await start.save()
    copies = [await store.load(chat("a:4")) for _ in range(10)]
    for index, copy in enumerate(copies):
        copy.stack[0]["state"]["n"] = index

    async def attempt(copy: ConversationMemory) -> bool:
        try:
            await copy.save()
            return True
        except StateConflict:
            return False

    results = await asyncio.gather(*(attempt(copy) for copy in copies))
    assert results.count(True) == 1
    assert (await store.load(chat("a:4"))).stack[0]["state"]["n"] == results.index(True)


async def test_two_first_journeys_of_a_new_chat_cannot_both_win(db: Database) -> None:
    store = JourneyStore(db, SystemClock())
    one, other = await store.load(chat("a:5")), await store.load(chat("a:5"))
    one.stack.append(open_question("one"))
    other.stack.append(open_question("other"))
    results = await asyncio.gather(one.save(), other.save(), return_exceptions=True)
    assert sorted(isinstance(result, StateConflict) for result in results) == [False, True]


async def test_a_second_save_in_the_same_turn_does_not_conflict_with_itself(db: Database) -> None:
    memory = await JourneyStore(db, SystemClock()).load(chat("a:6"))
    memory.stack.append(open_question("j"))
    await memory.save()
    memory.stack[0]["state"]["n"] = 2
    await memory.save()
    assert (await JourneyStore(db, SystemClock()).load(chat("a:6"))).stack[0]["state"]["n"] == 2


async def test_a_forgotten_turn_writes_nothing_back(db: Database) -> None:
    memory = await JourneyStore(db, SystemClock()).load(chat("a:7"))
    memory.stack.append(open_question("j"))
    memory.forget()
    await memory.save()
    assert await stored(db, "msteams/conversations/a:7") is None


async def test_a_row_written_by_botbuilder_4_17_is_read_once_as_no_journey_and_replaced(db: Database) -> None:
    """A row exactly as the botbuilder version stored it (jsonpickle), part way through signing up."""
    (row,) = json.loads(LEGACY_ROWS.read_text(encoding="utf-8"))
    async with db.transaction() as session:
        await StateRepository(session).write(row["key"], row["data"], None, SystemClock().now())
    conversation_id = row["key"].split("/conversations/", 1)[1]
    memory = await JourneyStore(db, SystemClock()).load(chat(conversation_id))
    assert memory.stack == [] and memory.dropped_old_journey
    await memory.save()
    document = await stored(db, row["key"])
    assert document is not None and "py/object" not in json.dumps(document)
    again = await JourneyStore(db, SystemClock()).load(chat(conversation_id))
    assert not again.dropped_old_journey

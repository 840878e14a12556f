"""Dialog state in the database: a conflicting write is refused, never lost; the loser is told kindly."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bot.clock import SystemClock
from bot.state_storage import DatabaseStorage, StateConflict
from storage.db import Database


async def test_state_round_trips_and_survives_a_new_storage_object(db: Database) -> None:
    await DatabaseStorage(db, SystemClock()).write({"conv/1": {"step": "space", "answers": {"space": "ally"}}})
    restarted = DatabaseStorage(db, SystemClock())
    item = (await restarted.read(["conv/1"]))["conv/1"]
    assert item["answers"] == {"space": "ally"}
    assert item["e_tag"] == "1"


async def test_a_write_based_on_an_old_read_is_refused_and_the_newer_state_kept(db: Database) -> None:
    storage = DatabaseStorage(db, SystemClock())
    await storage.write({"conv/1": {"step": "start"}})
    first: dict[str, Any] = (await storage.read(["conv/1"]))["conv/1"]
    second: dict[str, Any] = (await storage.read(["conv/1"]))["conv/1"]
    first["step"] = "space"
    await storage.write({"conv/1": first})
    second["step"] = "communities"
    with pytest.raises(StateConflict):
        await storage.write({"conv/1": second})
    assert (await storage.read(["conv/1"]))["conv/1"]["step"] == "space"


async def test_concurrent_writers_from_one_version_exactly_one_wins(db: Database) -> None:
    storage = DatabaseStorage(db, SystemClock())
    await storage.write({"conv/1": {"n": 0}})
    copies = [dict((await storage.read(["conv/1"]))["conv/1"]) for _ in range(10)]
    for index, copy in enumerate(copies):
        copy["n"] = index + 1

    async def attempt(copy: dict[str, Any]) -> bool:
        try:
            await storage.write({"conv/1": copy})
            return True
        except StateConflict:
            return False

    results = await asyncio.gather(*(attempt(copy) for copy in copies))
    assert results.count(True) == 1
    winner = copies[results.index(True)]["n"]
    assert (await storage.read(["conv/1"]))["conv/1"]["n"] == winner


async def test_two_first_writes_of_a_new_document_cannot_both_win(db: Database) -> None:
    storage = DatabaseStorage(db, SystemClock())

    async def attempt(value: int) -> bool:
        try:
            await storage.write({"conv/new": {"n": value}})
            return True
        except StateConflict:
            return False

    results = await asyncio.gather(attempt(1), attempt(2))
    assert sorted(results) == [False, True]


async def test_a_second_save_in_the_same_turn_does_not_conflict_with_itself(db: Database) -> None:
    storage = DatabaseStorage(db, SystemClock())
    state: dict[str, Any] = {"n": 1}
    await storage.write({"conv/1": state})
    state = (await storage.read(["conv/1"]))["conv/1"]
    state["n"] = 2
    await storage.write({"conv/1": state})
    state["n"] = 3
    await storage.write({"conv/1": state})
    assert (await storage.read(["conv/1"]))["conv/1"]["n"] == 3

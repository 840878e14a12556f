"""The outbox API other features code against: enqueue in the caller's transaction, one message per key,
updates by outbox id, and what authors may ask afterwards."""

from __future__ import annotations

import json

import pytest

from bot.clock import FixedClock
from bot.delivery import outbox
from storage.db import Database
from tests.test_delivery_support import card, put, row, rows


def test_a_recipient_is_a_person_or_a_conversation() -> None:
    assert outbox.Recipient.person("p").order_key == "p:p"
    assert outbox.Recipient.channel("19:x@thread").order_key == "c:19:x@thread"
    with pytest.raises(ValueError):
        outbox.Recipient()
    with pytest.raises(ValueError):
        outbox.Recipient(person_id="p", conversation_id="c")


def test_a_message_is_a_card_or_a_text() -> None:
    assert json.loads(outbox.Message(text="hi").to_json()) == {"text": "hi"}
    assert json.loads(outbox.Message(card=card("x")).to_json()) == {"card": card("x")}
    with pytest.raises(ValueError):
        outbox.Message().to_json()


async def test_enqueue_is_part_of_the_callers_transaction(db: Database, clock: FixedClock) -> None:
    with pytest.raises(RuntimeError):
        async with db.transaction() as session:
            await outbox.enqueue(session, key="k", recipient=outbox.Recipient.person("p"),
                                 message=outbox.Message(text="x"), purpose="test", now=clock.now())
            raise RuntimeError("the change that caused it failed")
    assert await rows(db) == []


async def test_one_key_one_message_and_updates_point_at_their_original(db: Database, clock: FixedClock) -> None:
    first = await put(db, clock, "invite:s1:p1", person="p1", card=card("a"), batch="s1")
    again = await put(db, clock, "invite:s1:p1", person="p1", card=card("changed"), batch="s1")
    update = await put(db, clock, "change:s1:1:p1", person="p1", card=card("b"), updates=first, batch="s1")

    assert first == again
    original = await row(db, first)
    assert json.loads(original.payload) == {"card": card("a")}  # the first enqueue wins
    assert (original.kind, original.status, original.due_at, original.attempts) == ("send", "pending",
                                                                                    clock.now(), 0)
    changed = await row(db, update)
    assert (changed.kind, changed.updates_id, changed.order_key) == ("update", first, "p:p1")
    async with db.transaction() as session:
        assert await outbox.batch_progress(session, "s1") == {"pending": 2}
        assert await outbox.batch_failures(session, "s1") == []

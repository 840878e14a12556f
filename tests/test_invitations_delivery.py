"""The whole chain with the real delivery worker and the Teams double, on both databases: an invitation card
reaches the person's chat as its own message, and when someone else's Decline promotes them, the same Teams
message is updated in place (an update never overtakes the message it updates) and they are told."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.delivery.connector import ConnectorClient
from bot.delivery.leader import leadership_for
from bot.delivery.tokens import StaticTokenProvider
from bot.delivery.worker import DeliveryWorker
from tests.app_fixtures import BotHarness, card_text
from tests.doubles.teams import make_member
from tests.test_reminders_support import CONFIG
from tests.test_sessions_helpers import add_volunteer, invitation, outbox, press_execute, publish
from vocabulary.actions.sessions import INVITATION_ACCEPT, INVITATION_DECLINE


@pytest.fixture
async def worker(harness: BotHarness) -> AsyncIterator[DeliveryWorker]:
    database = harness.core.database
    connector = ConnectorClient(timeout_seconds=10.0)
    made = DeliveryWorker(database, harness.clock, connector, StaticTokenProvider(), CONFIG,
                          leadership=leadership_for(database.is_postgres, database.engine))
    yield made
    await made.stop()
    await connector.close()


async def test_a_promotion_updates_the_delivered_invitation_in_place(harness: BotHarness,
                                                                    worker: DeliveryWorker) -> None:
    first, second = make_member(3000), make_member(3001)
    for member in (first, second):
        await add_volunteer(harness, member, ally=True)
    session_id = await publish(harness, capacity=1)
    await worker.run_until_idle()
    chat = harness.teams.conversation_for(second.aad_object_id)
    assert chat is not None
    [delivered] = harness.teams.sent(chat)
    assert not delivered.get("text")  # the card goes alone, so it can be updated later (design §9)
    assert "You're invited: Allyship basics" in card_text(delivered["attachments"][0]["content"])

    await press_execute(harness, INVITATION_ACCEPT.name, {"session_id": session_id}, first)
    await press_execute(harness, INVITATION_ACCEPT.name, {"session_id": session_id}, second)
    await press_execute(harness, INVITATION_DECLINE.name, {"session_id": session_id}, first)
    await worker.run_until_idle()

    current = harness.teams.activity(chat, delivered["id"])
    assert current is not None
    assert "You're booked." in card_text(current["attachments"][0]["content"])
    # The note goes to the person's latest 1:1 chat (here the one their press came from).
    notes = [(item.conversation_id, card_text(attachment["content"])) for item in harness.teams.delivered
             for attachment in item.body.get("attachments") or [] if "A place opened up" in card_text(
                 attachment["content"])]
    assert [conversation for conversation, _ in notes] == [f"a:personal-{second.aad_object_id}"]
    assert len(harness.teams.sent(chat)) == 1  # the update replaced the card; no second invitation
    row = await invitation(harness, session_id, second)
    assert row is not None and row.status == "accepted"
    assert all(message.status == "sent" for message in await outbox(harness))

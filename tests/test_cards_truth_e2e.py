"""Cards say what is true for the reader (issue 19), through /api/messages on SQLite and PostgreSQL: a person's
own status comes before the seat figures, reminders are promised only when they will be sent, the sign-up
numbers the questions this person is asked, session figures never add up to an exact number invited, small
announcements show no figures, and nothing of a person is kept again after they withdraw."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from bot.delivery.connector import ConnectorClient
from bot.delivery.leader import leadership_for
from bot.delivery.tokens import StaticTokenProvider
from bot.delivery.worker import DeliveryWorker
from cards.invitation import VERB_ACCEPT, VERB_DECLINE, VERB_SHOW
from tests.app_fixtures import BotHarness, card_text, only_card
from tests.doubles.teams import make_member
from tests.signup_helpers import answer, last_card, navigate, organisation_id, step_of
from tests.test_reminders_support import CONFIG, reminders_of
from tests.test_sessions_helpers import FACILITATOR, add_volunteer, outbox, press_execute, publish


@pytest.fixture
async def worker(harness: BotHarness) -> AsyncIterator[DeliveryWorker]:
    database = harness.core.database
    connector = ConnectorClient(timeout_seconds=10.0)
    made = DeliveryWorker(database, harness.clock, connector, StaticTokenProvider(), CONFIG,
                          leadership=leadership_for(database.is_postgres, database.engine))
    yield made
    await made.stop()
    await connector.close()


def answer_card(body: dict[str, Any]) -> dict[str, Any]:
    """The card an Action.Execute press is answered with (what Teams puts in place of the old one)."""
    assert body["type"] == "application/vnd.microsoft.card.adaptive", body
    value: dict[str, Any] = body["value"]
    return value


def delivered_card(harness: BotHarness, member_id: str, heading: str) -> dict[str, Any]:
    """The card with this first line in the person's chat, as Teams shows it now (after updates in place)."""
    chats = {f"a:personal-{member_id}", harness.teams.conversation_for(member_id)}
    found = []
    for chat in sorted(chat for chat in chats if chat):
        for activity in harness.teams.sent(chat):
            current = harness.teams.activity(chat, activity["id"]) or activity
            for attachment in current.get("attachments") or []:
                if attachment["content"]["body"][0]["text"].startswith(heading):
                    found.append(attachment["content"])
    assert len(found) == 1, found
    return found[0]


# -- 1. the reader's own status first ------------------------------------------------------------------------------

async def test_the_person_with_the_last_place_is_not_offered_the_waiting_list(harness: BotHarness,
                                                                              worker: DeliveryWorker) -> None:
    first, second = make_member(19100), make_member(19101)
    for member in (first, second):
        await add_volunteer(harness, member, ally=True)
    session_id = await publish(harness, capacity=1)
    await worker.run_until_idle()

    text = card_text(answer_card(await press_execute(harness, VERB_ACCEPT, {"session_id": session_id}, first)))
    assert "waiting list" not in text
    assert "no other places left" in text
    # Their own status is said first, the seats after it.
    assert text.index("Your reply: You're booked.") < text.index("no other places left")
    # Someone who has not replied still reads the seats as they are for them (the card Teams refreshes).
    waiting = card_text(answer_card(await press_execute(harness, VERB_SHOW, {"session_id": session_id}, second)))
    assert "Your reply: You have not replied yet." in waiting
    assert "no places left: you can join the waiting list" in waiting

    # After a promotion the promoted person's own card, updated in place in Teams, says the same.
    await press_execute(harness, VERB_ACCEPT, {"session_id": session_id}, second)
    await press_execute(harness, VERB_DECLINE, {"session_id": session_id}, first)
    await worker.run_until_idle()
    promoted = card_text(delivered_card(harness, second.aad_object_id, "You're invited"))
    assert "Your reply: You're booked." in promoted
    assert "waiting list" not in promoted and "no other places left" in promoted


# -- 2. only the reminders that will be sent -----------------------------------------------------------------------

async def test_a_booking_less_than_a_day_ahead_promises_only_the_hour_before_reminder(
        harness: BotHarness, worker: DeliveryWorker) -> None:
    booked, waiting = make_member(19200), make_member(19201)
    for member in (booked, waiting):
        await add_volunteer(harness, member, ally=True)
    session_id = await publish(harness, capacity=1, starts_in=timedelta(hours=5))
    text = card_text(answer_card(await press_execute(harness, VERB_ACCEPT, {"session_id": session_id}, booked)))
    assert "You're booked. I'll remind you an hour before." in text
    assert "the day before" not in text

    # A place that opens up later says the same, in the note and on the card.
    await press_execute(harness, VERB_ACCEPT, {"session_id": session_id}, waiting)
    await press_execute(harness, VERB_DECLINE, {"session_id": session_id}, booked)
    await worker.run_until_idle()
    note = card_text(delivered_card(harness, waiting.aad_object_id, "A place opened up"))
    assert "I'll remind you an hour before." in note and "the day before" not in note
    mine = card_text(only_card(await harness.say("my sessions", waiting)))
    assert "I'll remind you an hour before." in mine and "the day before" not in mine

    # And that is what is sent: the hour-before reminder only.
    harness.clock.advance(timedelta(hours=4, minutes=1))
    await reminders_of(harness).tick()
    assert [message.key.split(":")[1] for message in await outbox(harness, "reminder:")] == ["60"]


async def test_a_booking_too_close_to_the_start_promises_no_reminder(harness: BotHarness) -> None:
    member = make_member(19210)
    await add_volunteer(harness, member, ally=True)
    session_id = await publish(harness, capacity=2, starts_in=timedelta(minutes=40))
    text = card_text(answer_card(await press_execute(harness, VERB_ACCEPT, {"session_id": session_id}, member)))
    assert "You're booked." in text and "remind" not in text


async def test_a_booking_days_ahead_promises_both_reminders(harness: BotHarness) -> None:
    member = make_member(19220)
    await add_volunteer(harness, member, ally=True)
    session_id = await publish(harness, capacity=2, starts_in=timedelta(days=3))
    text = card_text(answer_card(await press_execute(harness, VERB_ACCEPT, {"session_id": session_id}, member)))
    assert "You're booked. I'll remind you the day before and an hour before." in text


# -- 3. questions numbered among the ones this person is asked ------------------------------------------------------

def question_heading(card: dict[str, Any]) -> str:
    return next(block["text"] for block in card["body"] if block.get("size") == "Large")


async def walk(harness: BotHarness, space: str, card: dict[str, Any] | None = None) -> list[tuple[str, str]]:
    """(step, heading) of every question of a sign-up in `space`, by the buttons, from its first card."""
    card = card or last_card(await harness.say("express interest"))
    seen = []
    values: dict[str, dict[str, str]] = {"consent": {"agree": "true"}, "space": {"space": space},
                                         "communities": {"communities": "lgbtq"}, "phases": {"phases": "codesign"},
                                         "adjustments": {"adjustments": "no"}}
    while (step := step_of(card)) != "review":
        seen.append((step, question_heading(card)))
        given = values.get(step) or {"organisation": await organisation_id(card, "Navigo")}
        card = last_card(await answer(harness, card, **given))
    return seen


async def test_an_ally_is_told_5_questions_and_each_is_numbered_of_5(harness: BotHarness) -> None:
    first = last_card(await harness.say("express interest"))
    text = card_text(first)
    assert "There are 5 short questions. If you join the space for minoritised colleagues, there is 1 more." in text
    assert "6 short questions" not in text
    assert await walk(harness, "ally", first) == [
        ("consent", "Question 1 of 5: Your permission"), ("space", "Question 2 of 5: Your space"),
        ("organisation", "Question 3 of 5: Your organisation"),
        ("phases", "Question 4 of 5: What you'd like to do"), ("adjustments", "Question 5 of 5: Adjustments")]


async def test_someone_joining_the_minoritised_space_gets_6_questions_in_order(harness: BotHarness) -> None:
    assert [heading for _, heading in await walk(harness, "minoritised")] == [
        "Question 1 of 5: Your permission", "Question 2 of 5: Your space", "Question 3 of 6: Communities",
        "Question 4 of 6: Your organisation", "Question 5 of 6: What you'd like to do",
        "Question 6 of 6: Adjustments"]


async def test_going_back_and_choosing_the_ally_space_numbers_the_rest_again(harness: BotHarness) -> None:
    card = last_card(await harness.say("express interest"))
    card = last_card(await answer(harness, card, agree="true"))
    card = last_card(await answer(harness, card, space="both"))
    assert question_heading(card) == "Question 3 of 6: Communities"
    card = last_card(await navigate(harness, card, "back"))
    assert question_heading(card) == "Question 2 of 6: Your space"
    card = last_card(await answer(harness, card, space="ally"))
    assert question_heading(card) == "Question 3 of 5: Your organisation"


# -- 5. declined and no reply are suppressed with invited ----------------------------------------------------------

async def test_session_figures_never_add_up_to_an_exact_number_invited(harness: BotHarness) -> None:
    members = [make_member(19500 + index) for index in range(4)]
    for member in members:
        await add_volunteer(harness, member, ally=True)
    session_id = await publish(harness, capacity=3)
    for member in members:
        await press_execute(harness, VERB_ACCEPT, {"session_id": session_id}, member)
    text = card_text(only_card(await harness.say("sessions", FACILITATOR)))
    # Seats stay exact; the parts that are not seats read "fewer than 8" like the number invited.
    for expected in ("Invited\nfewer than 8", "Accepted\n3", "Waiting\n1", "Places left\n0",
                     "Declined\nfewer than 8", "No reply\nfewer than 8"):
        assert expected in text, expected
    assert "Declined\n0" not in text and "No reply\n0" not in text

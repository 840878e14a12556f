"""Cards say what is true for the reader (issue 19), through /api/messages on SQLite and PostgreSQL: a person's
own status comes before the seat figures, reminders are promised only when they will be sent, the sign-up
numbers the questions this person is asked, session figures never add up to an exact number invited, small
announcements show no figures, and nothing of a person is kept again after they withdraw."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from bot.clock import FixedClock
from bot.delivery.connector import ConnectorClient
from bot.delivery.leader import leadership_for
from bot.delivery.tokens import StaticTokenProvider
from bot.delivery.worker import DeliveryWorker
from storage.models import Erasure, Person
from storage.repositories.roles import RoleRepository
from tests.app_fixtures import BotHarness, all_text, card_text, only_card, texts_in
from tests.doubles.fixtures import DEFAULT_MEMBER
from tests.doubles.issuer import TokenIssuer
from tests.doubles.teams import Member, TeamsDouble, make_member
from tests.signup_helpers import answer, button_data, last_card, navigate, organisation_id, sign_up, step_of
from tests.test_announcements_helpers import (
    AUTHOR,
    Deliver,
    add_volunteers,
    announce,
    bot,
    deliver,
    personal_chat,
    progress_card,
    tick,
)
from tests.test_reminders_support import CONFIG, reminders_of, running
from tests.test_sessions_helpers import FACILITATOR, add_person, add_volunteer, outbox, press_execute, publish
from vocabulary.actions.sessions import INVITATION_ACCEPT, INVITATION_DECLINE, INVITATION_SHOW

__all__ = ["bot", "deliver"]  # fixtures, imported for pytest


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

    text = card_text(answer_card(await press_execute(harness, INVITATION_ACCEPT.name, {"session_id": session_id},
                                                     first)))
    assert "waiting list" not in text
    assert "no other places left" in text
    # Their own status is said first, the seats after it.
    assert text.index("Your reply: You're booked.") < text.index("no other places left")
    # Someone who has not replied still reads the seats as they are for them (the card Teams refreshes).
    waiting = card_text(answer_card(await press_execute(harness, INVITATION_SHOW.name, {"session_id": session_id},
                                                        second)))
    assert "Your reply: You have not replied yet." in waiting
    assert "no places left: you can join the waiting list" in waiting

    # After a promotion the promoted person's own card, updated in place in Teams, says the same.
    await press_execute(harness, INVITATION_ACCEPT.name, {"session_id": session_id}, second)
    await press_execute(harness, INVITATION_DECLINE.name, {"session_id": session_id}, first)
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
    text = card_text(answer_card(await press_execute(harness, INVITATION_ACCEPT.name, {"session_id": session_id},
                                                     booked)))
    assert "You're booked. I'll remind you an hour before." in text
    assert "the day before" not in text

    # A place that opens up later says the same, in the note and on the card.
    await press_execute(harness, INVITATION_ACCEPT.name, {"session_id": session_id}, waiting)
    await press_execute(harness, INVITATION_DECLINE.name, {"session_id": session_id}, booked)
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
    text = card_text(answer_card(await press_execute(harness, INVITATION_ACCEPT.name, {"session_id": session_id},
                                                     member)))
    assert "You're booked." in text and "remind" not in text


async def test_a_booking_days_ahead_promises_both_reminders(harness: BotHarness) -> None:
    member = make_member(19220)
    await add_volunteer(harness, member, ally=True)
    session_id = await publish(harness, capacity=2, starts_in=timedelta(days=3))
    text = card_text(answer_card(await press_execute(harness, INVITATION_ACCEPT.name, {"session_id": session_id},
                                                     member)))
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
        await press_execute(harness, INVITATION_ACCEPT.name, {"session_id": session_id}, member)
    text = card_text(only_card(await harness.say("sessions", FACILITATOR)))
    # Seats stay exact; the parts that are not seats read "fewer than 8" like the number invited.
    for expected in ("Invited\nfewer than 8", "Accepted\n3", "Waiting\n1", "Places left\n0",
                     "Declined\nfewer than 8", "No reply\nfewer than 8"):
        assert expected in text, expected
    assert "Declined\n0" not in text and "No reply\n0" not in text


# -- 6. no figures for an announcement to fewer than 8 people ------------------------------------------------------

def no_figures(text: str) -> None:
    assert "%" not in text and "▓" not in text, text
    assert not re.search(r"\d", text.replace("fewer than 8", "")), text  # not one exact figure


async def test_an_announcement_to_fewer_than_8_people_shows_no_percentage_and_no_figure(
        bot: BotHarness, deliver: Deliver) -> None:
    volunteers = await add_volunteers(bot, 5, first=19600)
    bot.teams.block(personal_chat(volunteers[0]))
    bot.teams.fail_next(503, path_contains=personal_chat(volunteers[1]), times=1)
    await announce(bot, spaces="minoritised", title="Co-design day in Hull")
    await tick(bot)
    await deliver()  # one cannot be reached, one waits to retry
    await tick(bot)
    await deliver()
    middle = card_text(await progress_card(bot))
    assert "Sending your announcement" in middle and "Some could not be delivered." in middle
    no_figures(middle)

    bot.clock.advance(timedelta(minutes=5))
    await deliver()
    await tick(bot)
    await deliver()
    final = card_text(await progress_card(bot))
    assert "Your announcement has gone" in final and "It has been sent." in final
    assert "Some could not be delivered." in final and "fewer than 8 people" in final
    no_figures(final)
    # The card changed only when its words did, so its updates cannot be counted either.
    author_chat = personal_chat(AUTHOR)
    puts = [request for request in bot.teams.requests if request.method == "PUT"
            and request.conversation_id == author_chat]
    assert len(puts) <= 3


async def test_stopping_an_announcement_to_fewer_than_8_people_reports_no_figure(
        bot: BotHarness, deliver: Deliver) -> None:
    volunteers = await add_volunteers(bot, 4, first=19650)
    for member in volunteers[:2]:
        bot.teams.fail_next(503, path_contains=personal_chat(member), times=1)
    await announce(bot, spaces="minoritised", title="Co-design day in Hull")
    await tick(bot)
    await deliver()
    card = await progress_card(bot)
    stop = next(action for action in card["actions"] if action["title"] == "Stop sending")
    answer = await press_execute(bot, stop["verb"], stop["data"], AUTHOR)
    text = card_text(answer["value"])
    assert "You stopped this announcement" in text and "Some were not sent, because you stopped it." in text
    no_figures(text)


# -- 7. nothing of a person is kept again after they withdraw -----------------------------------------------------

async def person_row(harness: BotHarness, person_id: str) -> Person | None:
    async with harness.core.database.read() as session:
        return await session.get(Person, person_id)


async def my_data(harness: BotHarness, member: Member = DEFAULT_MEMBER) -> dict[str, Any]:
    replies = await harness.say("my data", member)
    payload = re.search(r"```json\n(.*)\n```", "\n".join(texts_in(replies)[1:]), re.DOTALL)
    assert payload is not None
    data: dict[str, Any] = json.loads(payload.group(1))
    return data


async def test_after_withdrawing_the_next_message_keeps_no_name_until_they_sign_up_again(
        harness: BotHarness) -> None:
    harness.teams.set_limits(per_conversation=False, global_per_second=None)
    harness.teams.add_member(DEFAULT_MEMBER)  # Teams would tell the bot their name and e-mail if asked
    me = DEFAULT_MEMBER.aad_object_id
    await sign_up(harness)
    withdraw = last_card(await harness.say("withdraw"))
    assert "Your answers have been deleted" in all_text(
        await harness.press(button_data(withdraw, action="withdraw_confirm")))

    await harness.say("hello")  # answered, so their chat is kept: nothing else
    row = await person_row(harness, me)
    assert row is not None and row.display_name is None and row.email is None
    data = await my_data(harness)
    assert data["person"]["display_name"] is None and data["person"]["email"] is None
    assert data["sign_up"] is None
    assert "You withdrew, so your answers were deleted." in data["what_we_keep"]
    assert "not your name" in data["what_we_keep"]
    assert [record["action"] for record in data["consent_history"]] == ["given", "withdrawn"]

    # Signing up again brings their name back with their next message, as for anyone signed up.
    await sign_up(harness)
    await harness.say("my details")
    row = await person_row(harness, me)
    assert row is not None and row.display_name == DEFAULT_MEMBER.name
    assert "everything we hold about you" in (await my_data(harness))["what_we_keep"]


async def test_names_that_came_back_after_a_withdrawal_are_forgotten_at_start_up(
        db_url: str, token_issuer: TokenIssuer, teams_double: TeamsDouble, clock: FixedClock) -> None:
    came_back, signed_up_again, facilitator, never_left = (make_member(19700 + index) for index in range(4))
    async with running(db_url, token_issuer, teams_double, clock) as harness:
        for member in (came_back, signed_up_again, facilitator, never_left):
            await add_person(harness, member)
        await add_volunteer(harness, signed_up_again, ally=True)
        now = harness.clock.now()
        async with harness.core.database.transaction() as session:
            # Erased earlier; the old code then stored their name again when they next wrote to the bot.
            for member in (came_back, signed_up_again, facilitator):
                session.add(Erasure(person_id=member.aad_object_id, erased_at=now - timedelta(days=1),
                                    reason="withdrawn"))
            await RoleRepository(session).grant(facilitator.aad_object_id, "facilitator", "test", now)
    async with running(db_url, token_issuer, teams_double, clock) as harness:
        row = await person_row(harness, came_back.aad_object_id)
        assert row is not None and row.display_name is None and row.email is None
        for member in (signed_up_again, facilitator, never_left):
            kept = await person_row(harness, member.aad_object_id)
            assert kept is not None and kept.display_name == member.name and kept.email == member.email
        harness.teams.set_limits(per_conversation=False, global_per_second=None)
        data = await my_data(harness, came_back)
        assert data["person"]["display_name"] is None and "not your name" in data["what_we_keep"]

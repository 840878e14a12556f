"""Invitation replies end to end through /api/messages, on SQLite and PostgreSQL: exact seats under
concurrency, the waiting list and its promotions, Action.Execute with its Action.Submit fallback, card
updates through the outbox, stale and forged presses."""

from __future__ import annotations

import asyncio
import re
import time
from datetime import timedelta

from sqlalchemy import delete, select

from cards.invitation import CALENDAR_SUBJECT
from storage.models import Invitation, Person
from tests.app_fixtures import BotHarness, card_text, cards_in
from tests.doubles.teams import make_member
from tests.test_sessions_helpers import (
    FACILITATOR,
    add_volunteer,
    invitation,
    outbox,
    payload_card,
    press_execute,
    publish,
    service_of,
    statuses,
)
from vocabulary.actions.sessions import INVITATION_ACCEPT, INVITATION_DECLINE, INVITATION_SHOW

_POSITION = re.compile(r"You're number (\d+) on the waiting list")


def card_of(body: dict[str, object]) -> dict[str, object]:
    assert body["type"] == "application/vnd.microsoft.card.adaptive", body
    value = body["value"]
    assert isinstance(value, dict)
    return value


async def test_publishing_sends_each_volunteer_one_invitation_card_with_accept_and_decline(
        harness: BotHarness) -> None:
    volunteer = make_member(10)
    await add_volunteer(harness, volunteer, ally=True)
    session_id = await publish(harness, capacity=3)
    await service_of(harness).publish(FACILITATOR.aad_object_id, session_id)  # a second press: no second card
    messages = await outbox(harness, "invite:")
    assert [message.key for message in messages] == [f"invite:{session_id}:{volunteer.aad_object_id}"]
    assert messages[0].person_id == volunteer.aad_object_id
    card = payload_card(messages[0])
    text = card_text(card)
    assert "You're invited: Allyship basics" in text
    assert "(UK time)" in text and "3 places left" in text and "2 hours" in text and "Co-design" in text
    assert "You have not replied yet." in text
    actions = card["actions"]
    assert [action["title"] for action in actions] == ["Accept", "Decline"]
    for action, verb in zip(actions, (INVITATION_ACCEPT.name, INVITATION_DECLINE.name), strict=True):
        assert action["type"] == "Action.Execute" and action["verb"] == verb
        assert action["data"] == {"action": verb, "session_id": session_id}
        # Clients without Universal Actions press the same button as an Action.Submit.
        assert action["fallback"] == {"type": "Action.Submit", "title": action["title"],
                                      "data": {"action": verb, "session_id": session_id},
                                      **({"style": action["style"]} if "style" in action else {})}
    assert card["refresh"]["userIds"] == [volunteer.teams_user_id]
    assert card["refresh"]["action"]["verb"] == INVITATION_SHOW.name
    row = await invitation(harness, session_id, volunteer)
    assert row is not None and row.card_outbox_id == messages[0].id


async def test_accept_books_a_place_once_and_offers_the_calendar(harness: BotHarness) -> None:
    volunteer = make_member(11)
    await add_volunteer(harness, volunteer, minoritised=True)
    session_id = await publish(harness, capacity=2, join_url="https://teams.microsoft.com/l/meetup-join/19%3am")
    first = card_of(await press_execute(harness, INVITATION_ACCEPT.name, {"session_id": session_id}, volunteer))
    text = card_text(first)
    assert "You're booked. I'll remind you the day before and an hour before." in text
    assert "1 place left" in text
    calendar = [action for action in first["actions"] if action["title"] == "Add to my calendar"]
    assert len(calendar) == 1
    url = calendar[0]["url"]
    assert url.startswith("https://outlook.office.com/calendar/deeplink/compose?")
    assert "subject=HNY%20Inc.%20allyship%20session" in url and CALENDAR_SUBJECT not in url
    assert "body=https%3A%2F%2Fteams.microsoft.com%2Fl%2Fmeetup-join%2F19%253am" in url
    assert re.search(r"startdt=\d{4}-\d\d-\d\dT\d\d%3A\d\d%3A00Z", url)

    second = card_of(await press_execute(harness, INVITATION_ACCEPT.name, {"session_id": session_id}, volunteer))
    assert "You had already replied this way, so nothing changed." in card_text(second)
    assert "1 place left" in card_text(second)
    row = await invitation(harness, session_id, volunteer)
    assert row is not None and row.status == "accepted" and row.rev == 1


async def test_200_people_pressing_accept_at_once_get_exactly_20_places_and_180_distinct_positions(
        harness: BotHarness) -> None:
    harness.teams.set_limits(per_conversation=True, global_per_second=None)
    members = [make_member(1000 + index) for index in range(200)]
    for member in members:
        await add_volunteer(harness, member, ally=True)
    session_id = await publish(harness, capacity=20)

    started = time.perf_counter()
    bodies = await asyncio.gather(*(press_execute(harness, INVITATION_ACCEPT.name, {"session_id": session_id}, member)
                                    for member in members))
    elapsed = time.perf_counter() - started
    print(f"\n200 concurrent Accept presses on {harness.core.database.engine.dialect.name}: {elapsed:.2f} s")

    texts = [card_text(card_of(body)) for body in bodies]
    booked = [text for text in texts if "You're booked." in text]
    positions = sorted(int(match.group(1)) for text in texts if (match := _POSITION.search(text)))
    assert len(booked) == 20
    assert positions == list(range(1, 181))
    found = await statuses(harness, session_id)
    assert sorted(found.values()).count("accepted") == 20
    assert sorted(found.values()).count("waiting") == 180
    async with harness.core.database.transaction() as session:
        tickets = list((await session.execute(select(Invitation.waiting_seq).where(
            Invitation.session_id == session_id, Invitation.status == "waiting"))).scalars())
    assert sorted(tickets) == list(range(1, 181))


async def test_decline_promotes_the_first_waiting_person_who_is_told_and_whose_card_changes(
        harness: BotHarness) -> None:
    people = [make_member(20 + index) for index in range(5)]
    for member in people:
        await add_volunteer(harness, member, ally=True)
    session_id = await publish(harness, capacity=2)
    for member in people:
        await press_execute(harness, INVITATION_ACCEPT.name, {"session_id": session_id}, member)
    a, b, c, d, e = people
    assert [(await invitation(harness, session_id, m)).status for m in people] == [  # type: ignore[union-attr]
        "accepted", "accepted", "waiting", "waiting", "waiting"]

    declined = card_of(await press_execute(harness, INVITATION_DECLINE.name, {"session_id": session_id}, a))
    assert "You said you can't come." in card_text(declined)
    found = await statuses(harness, session_id)
    assert found[c.aad_object_id] == "accepted"
    assert found[d.aad_object_id] == "waiting"
    # d moved up to number 1.
    shown = card_of(await press_execute(harness, INVITATION_SHOW.name, {"session_id": session_id}, d))
    assert "You're number 1 on the waiting list" in card_text(shown)

    told = await outbox(harness, f"promoted:{session_id}:{c.aad_object_id}:")
    assert len(told) == 1 and told[0].person_id == c.aad_object_id
    assert "A place opened up" in card_text(payload_card(told[0]))
    updates = await outbox(harness, f"invite-card:{session_id}:{c.aad_object_id}:")
    invite = (await outbox(harness, f"invite:{session_id}:{c.aad_object_id}"))[0]
    assert len(updates) == 1 and updates[0].kind == "update" and updates[0].updates_id == invite.id
    assert "You're booked." in card_text(payload_card(updates[0]))

    # Declining again changes nothing; a waiting person declining promotes no one.
    await press_execute(harness, INVITATION_DECLINE.name, {"session_id": session_id}, a)
    await press_execute(harness, INVITATION_DECLINE.name, {"session_id": session_id}, e)
    assert len(await outbox(harness, "promoted:")) == 1
    # a changes their mind: the session is full, so a joins the end of the waiting list.
    again = card_of(await press_execute(harness, INVITATION_ACCEPT.name, {"session_id": session_id}, a))
    assert "You're number 2 on the waiting list" in card_text(again)
    assert b.aad_object_id in found


async def test_withdrawal_frees_the_place_promotes_the_next_and_deletes_the_invitations(
        harness: BotHarness) -> None:
    people = [make_member(30 + index) for index in range(3)]
    for member in people:
        await add_volunteer(harness, member, minoritised=True)
    session_id = await publish(harness, capacity=1)
    for member in people:
        await press_execute(harness, INVITATION_ACCEPT.name, {"session_id": session_id}, member)
    first, second, third = people
    # The colleague journey's withdrawal: its transaction runs the hook, then erases the person.
    async with harness.core.database.transaction() as session:
        await harness.core.hooks.erased(session, first.aad_object_id)
        await session.execute(delete(Person).where(Person.id == first.aad_object_id))
    found = await statuses(harness, session_id)
    assert first.aad_object_id not in found
    assert found[second.aad_object_id] == "accepted"
    assert found[third.aad_object_id] == "waiting"
    assert len(await outbox(harness, f"promoted:{session_id}:{second.aad_object_id}:")) == 1
    shown = card_of(await press_execute(harness, INVITATION_SHOW.name, {"session_id": session_id}, third))
    assert "You're number 1 on the waiting list" in card_text(shown)


async def test_the_submit_fallback_replies_and_updates_the_card_through_the_outbox(harness: BotHarness) -> None:
    volunteer = make_member(40)
    await add_volunteer(harness, volunteer, ally=True)
    session_id = await publish(harness, capacity=5)
    replies = await harness.press({"action": INVITATION_ACCEPT.name, "session_id": session_id}, volunteer)
    assert "You're booked." in card_text(cards_in(replies)[0])
    row = await invitation(harness, session_id, volunteer)
    assert row is not None and row.status == "accepted"
    updates = await outbox(harness, f"invite-card:{session_id}:{volunteer.aad_object_id}:")
    assert len(updates) == 1 and updates[0].updates_id == row.card_outbox_id
    # A second press: one effect, and no second update.
    replies = await harness.press({"action": INVITATION_ACCEPT.name, "session_id": session_id}, volunteer)
    assert "nothing changed" in card_text(cards_in(replies)[0])
    assert len(await outbox(harness, "invite-card:")) == 1
    replies = await harness.press({"action": INVITATION_DECLINE.name, "session_id": session_id}, volunteer)
    assert "You said you can't come." in card_text(cards_in(replies)[0])
    assert (await invitation(harness, session_id, volunteer)).status == "declined"  # type: ignore[union-attr]


async def test_a_forged_accept_never_acts_for_someone_else(harness: BotHarness) -> None:
    owner, other = make_member(50), make_member(51)
    await add_volunteer(harness, owner, ally=True)
    session_id = await publish(harness, capacity=5)
    await add_volunteer(harness, other, ally=False, minoritised=False)  # signed up, but matches no space
    # A payload naming the owner: refused as out of date, for both paths.
    body = await press_execute(harness, INVITATION_ACCEPT.name, {"session_id": session_id,
                                                      "person_id": owner.aad_object_id}, other)
    assert body["type"] == "application/vnd.microsoft.activity.message" and "out of date" in body["value"]
    replies = await harness.press({"action": INVITATION_ACCEPT.name, "session_id": session_id,
                                   "person_id": owner.aad_object_id}, other)
    assert "out of date" in card_text(cards_in(replies)[0])
    # The owner's own card pressed by someone else acts for the presser, who was not invited.
    body = await press_execute(harness, INVITATION_ACCEPT.name, {"session_id": session_id}, other)
    assert "This invitation is not for you" in body["value"]
    replies = await harness.press({"action": INVITATION_ACCEPT.name, "session_id": session_id}, other)
    assert "This invitation is not for you" in card_text(cards_in(replies)[0])
    assert await statuses(harness, session_id) == {owner.aad_object_id: "invited"}


async def test_replies_are_refused_kindly_after_the_start(harness: BotHarness) -> None:
    volunteer = make_member(60)
    await add_volunteer(harness, volunteer, ally=True)
    session_id = await publish(harness, capacity=5, starts_in=timedelta(hours=1))
    harness.clock.advance(timedelta(hours=1, minutes=5))
    card = card_of(await press_execute(harness, INVITATION_ACCEPT.name, {"session_id": session_id}, volunteer))
    assert "This session has started, so replies are closed." in card_text(card)
    assert "actions" not in card
    assert (await invitation(harness, session_id, volunteer)).status == "invited"  # type: ignore[union-attr]


async def test_a_stale_card_after_cancellation_changes_nothing_and_shows_the_cancellation(
        harness: BotHarness) -> None:
    booked, waiting, silent = make_member(70), make_member(71), make_member(72)
    for member in (booked, waiting, silent):
        await add_volunteer(harness, member, ally=True)
    session_id = await publish(harness, capacity=1)
    await press_execute(harness, INVITATION_ACCEPT.name, {"session_id": session_id}, booked)
    await press_execute(harness, INVITATION_ACCEPT.name, {"session_id": session_id}, waiting)
    result = await service_of(harness).cancel(FACILITATOR.aad_object_id, session_id)
    assert result.outcome == "done"
    told = {message.person_id for message in await outbox(harness, f"session-cancel:{session_id}:")}
    assert told == {booked.aad_object_id, waiting.aad_object_id}
    closed = await outbox(harness, f"invite-card:{session_id}:")
    assert {message.person_id for message in closed} == {booked.aad_object_id, waiting.aad_object_id,
                                                        silent.aad_object_id}
    assert all("actions" not in payload_card(message) for message in closed)

    card = card_of(await press_execute(harness, INVITATION_ACCEPT.name, {"session_id": session_id}, silent))
    assert "This session has been cancelled." in card_text(card)
    assert "actions" not in card
    replies = await harness.press({"action": INVITATION_DECLINE.name, "session_id": session_id}, booked)
    assert "cancelled" in card_text(cards_in(replies)[0])
    assert await statuses(harness, session_id) == {booked.aad_object_id: "accepted",
                                                   waiting.aad_object_id: "waiting",
                                                   silent.aad_object_id: "invited"}


async def test_withdrawing_through_the_colleague_journey_frees_the_place_for_the_next_person(
        harness: BotHarness) -> None:
    leaver, next_in_line = make_member(80), make_member(81)
    for member in (leaver, next_in_line):
        await add_volunteer(harness, member, ally=True)
    session_id = await publish(harness, capacity=1)
    await press_execute(harness, INVITATION_ACCEPT.name, {"session_id": session_id}, leaver)
    await press_execute(harness, INVITATION_ACCEPT.name, {"session_id": session_id}, next_in_line)
    replies = await harness.press({"action": "withdraw_confirm"}, leaver)
    assert "Your answers have been deleted." in replies[-1]["text"]
    assert await statuses(harness, session_id) == {next_in_line.aad_object_id: "accepted"}
    assert len(await outbox(harness, f"promoted:{session_id}:{next_in_line.aad_object_id}:")) == 1
    assert await outbox(harness, f"invite:{session_id}:{leaver.aad_object_id}") == []


async def test_a_new_sign_up_through_the_volunteer_service_is_invited_in_the_same_transaction(
        harness: BotHarness) -> None:
    from bot.services.volunteers import SignUpAnswers
    from vocabulary.words import Community, Phase, VolunteerSpace

    session_id = await publish(harness, space="minoritised", communities=["neurodivergent"])
    newcomer = make_member(90)
    await harness.say("hello", newcomer)
    volunteers = harness.core.volunteers
    organisation = (await volunteers.organisations())[0].id
    notice = await harness.core.notices.current()
    await volunteers.sign_up(newcomer.aad_object_id, SignUpAnswers(
        space=VolunteerSpace.MINORITISED, communities=frozenset({Community.NEURODIVERGENT}),
        organisation_id=organisation, phases=frozenset({Phase.CODESIGN}), adjustments_contact=False), notice.version)
    assert await statuses(harness, session_id) == {newcomer.aad_object_id: "invited"}
    assert len(await outbox(harness, f"invite:{session_id}:{newcomer.aad_object_id}")) == 1


async def test_my_sessions_lists_replies_and_sends_an_invitation_again_within_a_limit(
        harness: BotHarness) -> None:
    volunteer = make_member(95)
    await add_volunteer(harness, volunteer, ally=True)
    session_id = await publish(harness, capacity=3)
    await press_execute(harness, INVITATION_ACCEPT.name, {"session_id": session_id}, volunteer)
    # "my sessions" is for everyone: the facilitators' "sessions" does not take it.
    card = cards_in(await harness.say("my sessions", volunteer))[0]
    text = card_text(card)
    assert "Here are the upcoming sessions for you." in text and "You're booked." in text
    send_again = next(action for element in card["body"] if element["type"] == "ActionSet"
                      for action in element["actions"])
    replies = await harness.press(send_again["data"], volunteer)
    assert "I've sent your invitation again." in replies[0]["text"]
    [again] = await outbox(harness, f"resend:{session_id}:{volunteer.aad_object_id}:")
    assert "You're booked." in card_text(payload_card(again))
    # Later changes update the card sent last.
    row = await invitation(harness, session_id, volunteer)
    assert row is not None and row.card_outbox_id == again.id
    for _ in range(harness.core.settings.resend_limit_per_hour - 1):
        harness.clock.advance(timedelta(seconds=11))  # separate presses, not one double press
        await harness.press(send_again["data"], volunteer)
    harness.clock.advance(timedelta(seconds=11))
    replies = await harness.press(send_again["data"], volunteer)
    assert "didn't send it again" in replies[0]["text"]
    assert len(await outbox(harness, "resend:")) == harness.core.settings.resend_limit_per_hour
    # Someone not invited gets nothing.
    stranger = make_member(96)
    await add_volunteer(harness, stranger)
    replies = await harness.press(send_again["data"], stranger)
    assert "This invitation is not for you" in replies[0]["text"]

"""The facilitator's side end to end through /api/messages, on SQLite and PostgreSQL: the new-session journey,
UK time across the clock changes, who is invited, the sessions list, change, cancel, roster, and refusals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, select

from bot.services.sessions import SessionForm
from storage.models import Invitation, Person
from tests.app_fixtures import BotHarness, card_text, cards_in
from tests.doubles.teams import Member, make_member
from tests.test_sessions_helpers import (
    CO_FACILITATOR,
    COLLEAGUE,
    FACILITATOR,
    add_person,
    add_volunteer,
    audit_rows,
    invitation,
    make_facilitator,
    outbox,
    payload_card,
    press_execute,
    publish,
    service_of,
    session_row,
    statuses,
)
from vocabulary.actions.sessions import INVITATION_ACCEPT

LINK = "https://teams.microsoft.com/l/meetup-join/19%3ameeting_abc%40thread.v2/0?context=%7b%7d"


def form(**overrides: str) -> dict[str, str]:
    values = {"title": "Allyship basics", "phase": "codesign", "space": "open", "communities": "",
              "date": "2026-12-10", "start": "14:00", "end": "15:30", "join_url": "", "capacity": "12",
              "co_facilitators": ""}
    values.update(overrides)
    return values


def only_card(replies: list[dict[str, Any]]) -> dict[str, Any]:
    cards = cards_in(replies)
    assert len(cards) == 1, [card_text(card) for card in cards]
    return cards[0]


def envelope(card: dict[str, Any], title: str) -> dict[str, Any]:
    """The data of the button with this title (what Teams sends when it is pressed)."""
    for action in card.get("actions", []):
        if action["title"] == title:
            data: dict[str, Any] = action["data"]
            return data
    raise AssertionError(f"no {title} button")


def inputs(card: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {element["id"]: element for element in card["body"] if element["type"].startswith("Input.")}


async def start_and_fill(harness: BotHarness, values: dict[str, str],
                         member: Member = FACILITATOR) -> list[dict[str, Any]]:
    card = only_card(await harness.say("new session", member))
    return await harness.press({**envelope(card, "Preview"), **values}, member)


async def test_the_journey_previews_publishes_and_invites_through_the_outbox(harness: BotHarness) -> None:
    await make_facilitator(harness)
    for index in range(9):
        await add_volunteer(harness, make_member(100 + index), ally=True)
    card = only_card(await harness.say("new session", FACILITATOR))
    fields = inputs(card)
    # Design §9: every input says whether it is required, required ones are checked with a kind message.
    for element in fields.values():
        assert element["label"].endswith(("(required)", "(optional)")), element["label"]
        if element.get("isRequired"):
            assert element["label"].endswith("(required)") and element["errorMessage"]
    assert {name for name, element in fields.items() if element.get("isRequired")} == {
        "title", "phase", "space", "date", "start", "end", "capacity"}
    assert [action["title"] for action in card["actions"]] == ["Preview", "Cancel"]

    preview = only_card(await harness.press({**envelope(card, "Preview"), **form()}, FACILITATOR))
    text = card_text(preview)
    assert "Check your session" in text
    assert "I will invite 10 people." in text  # 9 people, rounded to the nearest 5 (design §5)
    assert "Thursday 10 December 2026, 14:00–15:30 (UK time)" in text
    assert "not share a community" not in text
    assert [action["title"] for action in preview["actions"]] == ["Publish", "Save as draft", "Back", "Cancel"]

    done = only_card(await harness.press(envelope(preview, "Publish"), FACILITATOR))
    assert "Your session is published. I'm sending invitations to 10 people now." in card_text(done)
    assert len(await outbox(harness, "invite:")) == 9
    audit = [(row.actor_id, row.action, row.outcome) for row in await audit_rows(harness)]
    assert (FACILITATOR.aad_object_id, "session.create", "done") in audit
    assert (FACILITATOR.aad_object_id, "session.publish", "done") in audit
    # Pressing Publish again on the old preview changes nothing.
    again = await harness.press(envelope(preview, "Publish"), FACILITATOR)
    assert "out of date" in card_text(only_card(again))
    assert len(await outbox(harness, "invite:")) == 9


async def test_mistakes_come_back_on_the_card_with_every_answer_kept(harness: BotHarness) -> None:
    await make_facilitator(harness)
    replies = await start_and_fill(harness, form(title="", capacity="0", join_url="http://evil.example/x",
                                                 end="13:00", co_facilitators="nobody@nhs.net"))
    card = only_card(replies)
    text = card_text(card)
    assert "Please fix 5 answers below." in text
    assert "Give the session a title." in text
    assert "whole number from 1 to 1000" in text
    assert "https://teams.microsoft.com/l/meetup-join/" in text
    assert "The end time must be after the start time" in text
    assert "I don't know nobody@nhs.net yet." in text
    assert inputs(card)["join_url"]["value"] == "http://evil.example/x"
    assert inputs(card)["date"]["value"] == "2026-12-10"
    assert await outbox(harness) == []


async def test_back_keeps_the_answers_and_save_as_draft_sends_nothing(harness: BotHarness) -> None:
    await make_facilitator(harness)
    await add_volunteer(harness, make_member(120), ally=True)
    preview = only_card(await start_and_fill(harness, form(title="Draft one")))
    back = only_card(await harness.press(envelope(preview, "Back"), FACILITATOR))
    assert inputs(back)["title"]["value"] == "Draft one"
    preview = only_card(await harness.press({**envelope(back, "Preview"), **form(title="Draft two")}, FACILITATOR))
    done = only_card(await harness.press(envelope(preview, "Save as draft"), FACILITATOR))
    assert "saved as a draft" in card_text(done)
    assert await outbox(harness) == []
    listing = only_card(await harness.say("sessions", FACILITATOR))
    assert "Draft two" in card_text(listing) and "Draft (not sent)" in card_text(listing)
    publish_button = next(action for element in listing["body"] if element["type"] == "ActionSet"
                          for action in element["actions"] if action["title"] == "Publish")
    published = only_card(await harness.press(publish_button["data"], FACILITATOR))
    assert "published" in card_text(published)
    assert len(await outbox(harness, "invite:")) == 1


async def test_a_preview_gone_out_of_date_comes_back_as_a_form_that_leads_on(harness: BotHarness) -> None:
    await make_facilitator(harness)
    preview = only_card(await start_and_fill(harness, form()))
    assert "Check your session" in card_text(preview)
    harness.clock.set(datetime(2026, 12, 11, 9, 0, tzinfo=UTC))  # the chosen day has gone by
    replies = await harness.say("help", FACILITATOR)  # the journey's card is shown again after the help
    fix = cards_in(replies)[-1]
    assert "This time has already passed." in card_text(fix)
    # The form it shows is the latest card: pressing Preview on it leads on, never "out of date".
    again = only_card(await harness.press({**envelope(fix, "Preview"), **form(date="2026-12-17")}, FACILITATOR))
    assert "Check your session" in card_text(again) and "Thursday 17 December 2026" in card_text(again)
    done = only_card(await harness.press(envelope(again, "Publish"), FACILITATOR))
    assert "Your session is published." in card_text(done)
    [published] = await service_of(harness).list_for(FACILITATOR.aad_object_id)
    assert published.starts_at == datetime(2026, 12, 17, 14, 0, tzinfo=UTC)  # the fixed form, not the old one


async def test_typing_cancel_stops_the_journey(harness: BotHarness) -> None:
    await make_facilitator(harness)
    await harness.say("new session", FACILITATOR)
    hint = await harness.say("what now", FACILITATOR)
    assert "Fill in the card and press Preview" in hint[0]["text"]
    stopped = only_card(await harness.say("cancel", FACILITATOR))
    assert "Nothing was saved." in card_text(stopped)


@pytest.mark.parametrize(("day", "start", "utc_start"), [
    ("2026-03-29", "10:00", datetime(2026, 3, 29, 9, 0, tzinfo=UTC)),  # British Summer Time has begun
    ("2026-03-28", "10:00", datetime(2026, 3, 28, 10, 0, tzinfo=UTC)),
    ("2026-10-25", "10:00", datetime(2026, 10, 25, 10, 0, tzinfo=UTC)),  # back to Greenwich Mean Time
    ("2026-10-24", "10:00", datetime(2026, 10, 24, 9, 0, tzinfo=UTC)),
])
async def test_uk_times_are_stored_in_utc_across_the_clock_changes(harness: BotHarness, day: str, start: str,
                                                                   utc_start: datetime) -> None:
    harness.clock.set(datetime(2026, 1, 5, 9, 0, tzinfo=UTC))
    await make_facilitator(harness)
    preview = only_card(await start_and_fill(harness, form(date=day, start=start, end="11:30")))
    assert f"{start}–11:30 (UK time)" in card_text(preview)
    await harness.press(envelope(preview, "Publish"), FACILITATOR)
    row = await session_row(harness, 1)
    assert row.starts_at == utc_start
    assert row.ends_at - row.starts_at == timedelta(hours=1, minutes=30)


@pytest.mark.parametrize(("day", "problem"), [
    ("2026-03-29", "The clocks go forward that night, so 01:30 on Sunday 29 March 2026 does not exist"),
    ("2026-10-25", "The clocks go back that night, so 01:30 on Sunday 25 October 2026 happens twice"),
])
async def test_impossible_or_ambiguous_uk_times_are_refused_kindly(harness: BotHarness, day: str,
                                                                   problem: str) -> None:
    harness.clock.set(datetime(2026, 1, 5, 9, 0, tzinfo=UTC))
    await make_facilitator(harness)
    card = only_card(await start_and_fill(harness, form(date=day, start="01:30", end="03:00")))
    assert problem in card_text(card)
    assert "Choose a time before 01:00 or from 02:00." in card_text(card)


async def test_filtered_preview_says_who_is_left_out(harness: BotHarness) -> None:
    await make_facilitator(harness)
    await add_volunteer(harness, make_member(130), minoritised=True, communities=["lgbtq"])
    await add_volunteer(harness, make_member(131), minoritised=True)  # chose not to share a community
    preview = only_card(await start_and_fill(harness, form(space="minoritised", communities="lgbtq,disability")))
    text = card_text(preview)
    assert "I will invite fewer than 8 people." in text
    assert "People who chose not to share a community are not included." in text
    await harness.press(envelope(preview, "Publish"), FACILITATOR)
    assert [message.person_id for message in await outbox(harness, "invite:")] == [make_member(130).aad_object_id]


async def test_who_is_invited_follows_space_phase_communities_consent_and_reachability(
        harness: BotHarness) -> None:
    people = {
        "minoritised": (make_member(200), dict(minoritised=True)),
        "ally": (make_member(201), dict(ally=True)),
        "both": (make_member(202), dict(minoritised=True, ally=True)),
        "ethnicity": (make_member(203), dict(minoritised=True, communities=["ethnicity"])),
        "train only": (make_member(204), dict(ally=True, minoritised=True, codesign=False, train=True)),
        "old consent": (make_member(205), dict(ally=True, minoritised=True, consent_version=0)),
        "unreachable": (make_member(206), dict(ally=True, minoritised=True, undeliverable=True)),
    }
    for member, answers in people.values():
        await add_volunteer(harness, member, **answers)  # type: ignore[arg-type]
    await add_person(harness, make_member(207))  # met the bot, never signed up

    async def invited(**options: Any) -> set[str]:
        session_id = await publish(harness, **options)
        ids = set(await statuses(harness, session_id))
        return {name for name, (member, _) in people.items() if member.aad_object_id in ids}

    assert await invited(space="minoritised") == {"minoritised", "both", "ethnicity"}
    assert await invited(space="ally") == {"ally", "both"}
    assert await invited(space="open") == {"minoritised", "ally", "both", "ethnicity"}
    assert await invited(space="open", phase="train_the_trainer") == {"train only"}
    assert await invited(space="minoritised", communities=["ethnicity", "lgbtq"]) == {"ethnicity"}
    assert await invited(space="open", communities=["disability"]) == set()


async def test_someone_who_becomes_eligible_later_is_invited_to_upcoming_sessions_only(
        harness: BotHarness) -> None:
    upcoming = await publish(harness, space="ally")
    soon = await publish(harness, space="ally", starts_in=timedelta(hours=2))
    harness.clock.advance(timedelta(hours=3))  # `soon` has started
    late = make_member(300)
    await add_volunteer(harness, late, ally=True)
    # The colleague journey calls the hook in the sign-up's transaction.
    async with harness.core.database.transaction() as session:
        await harness.core.hooks.changed(session, late.aad_object_id)
        await harness.core.hooks.changed(session, late.aad_object_id)  # twice: still one invitation
    assert [message.key for message in await outbox(harness, "invite:")] == [
        f"invite:{upcoming}:{late.aad_object_id}"]
    assert await statuses(harness, soon) == {}
    row = await invitation(harness, upcoming, late)
    assert row is not None and row.status == "invited"


async def test_people_teams_could_not_reach_are_invited_when_they_come_back(harness: BotHarness) -> None:
    away = make_member(310)
    await add_volunteer(harness, away, ally=True, undeliverable=True)
    session_id = await publish(harness, space="ally")
    assert await statuses(harness, session_id) == {}
    await harness.say("hello", away)  # the contact service re-arms them, and the re-arm hooks run
    assert set(await statuses(harness, session_id)) == {away.aad_object_id}


async def test_the_sessions_list_shows_figures_rounded_and_seats_exact(harness: BotHarness) -> None:
    members = [make_member(400 + index) for index in range(9)]
    for member in members:
        await add_volunteer(harness, member, ally=True)
    session_id = await publish(harness, capacity=3)
    for member in members[:4]:
        await press_execute(harness, INVITATION_ACCEPT.name, {"session_id": session_id}, member)
    text = card_text(only_card(await harness.say("sessions", FACILITATOR)))
    assert "Allyship basics" in text
    for expected in ("Invited\n10", "Accepted\n3", "Waiting\n1", "Places left\n0", "Declined\n0",
                     "No reply\nfewer than 8"):
        assert expected in text, expected
    assert "Numbers are rounded to the nearest 5." in text


async def test_changing_the_time_tells_accepted_and_waiting_people_and_updates_every_card(
        harness: BotHarness) -> None:
    booked, waiting, silent = make_member(500), make_member(501), make_member(502)
    for member in (booked, waiting, silent):
        await add_volunteer(harness, member, ally=True)
    session_id = await publish(harness, capacity=1)
    await press_execute(harness, INVITATION_ACCEPT.name, {"session_id": session_id}, booked)
    await press_execute(harness, INVITATION_ACCEPT.name, {"session_id": session_id}, waiting)

    listing = only_card(await harness.say("sessions", FACILITATOR))
    change_button = next(action for element in listing["body"] if element["type"] == "ActionSet"
                         for action in element["actions"] if action["title"] == "Change")
    change = only_card(await harness.press(change_button["data"], FACILITATOR))
    values = {name: element.get("value", "") for name, element in inputs(change).items()}
    assert values["start"] and values["capacity"] == "1"
    save = envelope(change, "Save changes")
    done = only_card(await harness.press({**save, **values, "start": "09:00", "end": "10:00", "join_url": LINK},
                                         FACILITATOR))
    assert "Your changes are saved." in card_text(done)
    told = await outbox(harness, f"session-change:{session_id}:1:")
    assert {message.person_id for message in told} == {booked.aad_object_id, waiting.aad_object_id}
    assert "The time and join link have changed" in card_text(payload_card(told[0]))
    updates = await outbox(harness, f"invite-card:{session_id}:")
    assert {message.person_id for message in updates} == {booked.aad_object_id, waiting.aad_object_id,
                                                         silent.aad_object_id}
    assert all(message.kind == "update" and message.updates_id for message in updates)
    assert "09:00–10:00 (UK time)" in card_text(payload_card(updates[0]))

    # The old change card is stale now: nothing changes.
    stale = only_card(await harness.press({**save, **values, "capacity": "5"}, FACILITATOR))
    assert "Someone changed this session" in card_text(stale)
    assert (await session_row(harness, session_id)).capacity == 1


async def test_raising_places_promotes_in_order_and_lowering_below_accepted_is_refused(harness: BotHarness) -> None:
    people = [make_member(600 + index) for index in range(4)]
    for member in people:
        await add_volunteer(harness, member, ally=True)
    session_id = await publish(harness, capacity=2)
    for member in people:
        await press_execute(harness, INVITATION_ACCEPT.name, {"session_id": session_id}, member)
    service = service_of(harness)
    row = await session_row(harness, session_id)
    day = row.starts_at.strftime("%Y-%m-%d")
    base = dict(date=day, start=f"{row.starts_at:%H:%M}", end=f"{row.ends_at:%H:%M}", join_url="",
                co_facilitators="")
    refused = await service.change(FACILITATOR.aad_object_id, session_id, 0, SessionForm(**base, capacity="1"))
    assert refused.outcome == "too_small"
    assert "2 people have already accepted" in refused.errors["capacity"]
    assert (await session_row(harness, session_id)).capacity == 2

    raised = await service.change(FACILITATOR.aad_object_id, session_id, 0, SessionForm(**base, capacity="3"))
    assert raised.outcome == "done"
    found = await statuses(harness, session_id)
    assert found[people[2].aad_object_id] == "accepted"
    assert found[people[3].aad_object_id] == "waiting"
    assert len(await outbox(harness, f"promoted:{session_id}:{people[2].aad_object_id}:")) == 1
    assert await outbox(harness, "session-change:") == []  # places are not news for the others


async def test_cancel_asks_first_then_tells_people(harness: BotHarness) -> None:
    booked = make_member(700)
    await add_volunteer(harness, booked, ally=True)
    session_id = await publish(harness, capacity=2)
    await press_execute(harness, INVITATION_ACCEPT.name, {"session_id": session_id}, booked)
    listing = only_card(await harness.say("sessions", FACILITATOR))
    cancel_button = next(action for element in listing["body"] if element["type"] == "ActionSet"
                         for action in element["actions"] if action["title"] == "Cancel the session")
    confirm = only_card(await harness.press(cancel_button["data"], FACILITATOR))
    assert "You can't undo this." in card_text(confirm)
    assert [action["title"] for action in confirm["actions"]] == ["Cancel the session", "Keep the session"]
    assert (await session_row(harness, session_id)).status == "published"
    done = only_card(await harness.press(envelope(confirm, "Cancel the session"), FACILITATOR))
    assert "The session is cancelled." in card_text(done)
    assert (await session_row(harness, session_id)).status == "cancelled"
    assert len(await outbox(harness, f"session-cancel:{session_id}:")) == 1


async def test_the_roster_shows_names_and_emails_of_accepted_and_waiting_people_only(harness: BotHarness) -> None:
    booked, waiting, declined = make_member(800), make_member(801), make_member(802)
    await add_volunteer(harness, booked, minoritised=True, communities=["lgbtq"])
    await add_volunteer(harness, waiting, minoritised=True)
    await add_volunteer(harness, declined, minoritised=True)
    session_id = await publish(harness, capacity=1, space="minoritised")
    await press_execute(harness, INVITATION_ACCEPT.name, {"session_id": session_id}, booked)
    await press_execute(harness, INVITATION_ACCEPT.name, {"session_id": session_id}, waiting)
    await press_execute(harness, "invitation_decline", {"session_id": session_id}, declined)
    roster = only_card(await harness.press({"action": "session_roster", "session_id": session_id}, FACILITATOR))
    text = card_text(roster)
    assert f"{booked.name} ({booked.email})" in text
    assert f"1. {waiting.name} ({waiting.email})" in text
    assert declined.name not in text
    assert "LGBT" not in text and "communit" not in text.lower()
    assert (FACILITATOR.aad_object_id, "session.roster", str(session_id), "done") in [
        (row.actor_id, row.action, row.record_id, row.outcome) for row in await audit_rows(harness)]


async def test_a_colleague_calling_a_facilitator_action_is_refused_audited_and_changes_nothing(
        harness: BotHarness) -> None:
    booked = make_member(900 + 50)
    await add_volunteer(harness, booked, ally=True)
    session_id = await publish(harness, capacity=1)
    await add_person(harness, COLLEAGUE)
    for value in ({"action": "session_cancel", "session_id": session_id, "change_no": 0},
                  {"action": "session_roster", "session_id": session_id},
                  {"action": "session_change", "session_id": session_id, "change_no": 0, "capacity": "100"}):
        replies = await harness.press(value, COLLEAGUE)
        assert "Only facilitators can do that." in card_text(only_card(replies))
    replies = await harness.say("new session", COLLEAGUE)
    assert "Only facilitators can do that." in card_text(only_card(replies))
    refused = [(row.action, row.outcome) for row in await audit_rows(harness)
               if row.actor_id == COLLEAGUE.aad_object_id]
    assert refused == [("session_cancel", "refused"), ("session_roster", "refused"),
                       ("session_change", "refused"), ("command.new session", "refused")]
    row = await session_row(harness, session_id)
    assert (row.status, row.capacity, row.change_no) == ("published", 1, 0)


async def test_only_the_sessions_facilitators_manage_it_and_co_facilitators_do(harness: BotHarness) -> None:
    other = make_member(903)
    await make_facilitator(harness, other)
    await make_facilitator(harness, CO_FACILITATOR)
    await make_facilitator(harness)
    preview = only_card(await start_and_fill(harness, form(co_facilitators=CO_FACILITATOR.email.upper())))
    assert f"Co-facilitators\n{CO_FACILITATOR.name}" in card_text(preview)
    await harness.press(envelope(preview, "Publish"), FACILITATOR)
    session_id = 1
    refused = only_card(await harness.press({"action": "session_roster", "session_id": session_id}, other))
    assert "Only the session's facilitators can manage it." in card_text(refused)
    assert ("session.roster", "refused") in [(row.action, row.outcome) for row in await audit_rows(harness)
                                             if row.actor_id == other.aad_object_id]
    assert "Allyship basics" not in card_text(only_card(await harness.say("sessions", other)))
    assert "Allyship basics" in card_text(only_card(await harness.say("sessions", CO_FACILITATOR)))
    roster = only_card(await harness.press({"action": "session_roster", "session_id": session_id}, CO_FACILITATOR))
    assert "Who is coming" in card_text(roster)


async def test_a_co_facilitator_must_be_known_and_a_facilitator(harness: BotHarness) -> None:
    await make_facilitator(harness)
    await add_person(harness, COLLEAGUE)
    card = only_card(await start_and_fill(harness, form(co_facilitators=COLLEAGUE.email)))
    assert f"{COLLEAGUE.email} is not a facilitator yet." in card_text(card)
    card = only_card(await start_and_fill(harness, form(co_facilitators="stranger@nhs.net")))
    assert "I don't know stranger@nhs.net yet." in card_text(card)


async def test_erasure_deletes_invitations_even_when_the_person_row_goes_first(harness: BotHarness) -> None:
    # Invitations also go with the person row itself (ON DELETE CASCADE), whatever deletes it.
    member = make_member(960)
    await add_volunteer(harness, member, ally=True)
    session_id = await publish(harness)
    async with harness.core.database.transaction() as session:
        await session.execute(delete(Person).where(Person.id == member.aad_object_id))
    async with harness.core.database.transaction() as session:
        assert (await session.execute(select(Invitation))).first() is None
    assert await statuses(harness, session_id) == {}


async def test_an_at_mentioned_facilitator_becomes_a_co_facilitator(harness: BotHarness) -> None:
    await make_facilitator(harness)
    await make_facilitator(harness, CO_FACILITATOR)
    mention = {"type": "mention", "text": f"<at>{CO_FACILITATOR.name}</at>",
               "mentioned": {"id": CO_FACILITATOR.teams_user_id, "name": CO_FACILITATOR.name}}
    card = only_card(await harness.say(f"new session <at>{CO_FACILITATOR.name}</at>", FACILITATOR,
                                       entities=[mention]))
    preview = only_card(await harness.press({**envelope(card, "Preview"), **form()}, FACILITATOR))
    assert f"Co-facilitators\n{CO_FACILITATOR.name}" in card_text(preview)
    await harness.press(envelope(preview, "Publish"), FACILITATOR)
    assert "Allyship basics" in card_text(only_card(await harness.say("sessions", CO_FACILITATOR)))

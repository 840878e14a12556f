"""Announcement audiences by organisation and by a session's people (issue 24, part 2), end to end through
/api/messages, the delivery worker and the Teams double, on SQLite and PostgreSQL: organisations within a space
or across, everyone invited to / booked on / who came to a session, the preview's size rounded (design §5), and
an audience narrowed by organisation or attendance that holds 1 to 7 people refused, when it is chosen and
again when it starts. Audiences by space alone and by booking keep "fewer than 8"."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from cards.announcements import AudienceOrganisationOption, AudienceView, ChannelOption, SessionOption
from cards.announcements import audience_card as draw_audience
from storage.models import Invitation, Organisation, Person, Volunteer
from tests.app_fixtures import BotHarness, card_text, nodes
from tests.doubles.teams import Member
from tests.signup_helpers import button_data, inputs, last_card
from tests.test_announcements_helpers import (
    AUTHOR,
    Deliver,
    add_session,
    add_volunteers,
    announcement_cards,
    announcements,
    bot,
    choice_values,
    deliver,
    progress_card,
    start,
    tick,
    when,
    write,
)

__all__ = ["bot", "deliver"]

HULL = "Hull University Teaching Hospitals NHS Trust"
NAVIGO = "Navigo"
YORK = "City of York Council"
TOO_FEW = "Fewer than 8 people match this"


async def organisation_names(harness: BotHarness) -> dict[str, int]:
    async with harness.core.database.read() as session:
        rows = (await session.execute(select(Organisation.name, Organisation.id))).all()
    return {name: organisation_id for name, organisation_id in rows}


async def from_organisation(harness: BotHarness, members: list[Member], name: str) -> None:
    ids = await organisation_names(harness)
    found = [organisation_id for full, organisation_id in ids.items() if full.startswith(name)]
    assert found, f"no organisation {name} in {sorted(ids)}"
    async with harness.core.database.transaction() as session:
        await session.execute(update(Volunteer).where(Volunteer.person_id.in_([m.aad_object_id for m in members]))
                              .values(organisation_id=found[0]))


async def audience_card(harness: BotHarness) -> dict[str, Any]:
    return last_card(await write(harness, await start(harness)))


async def choose(harness: BotHarness, card: dict[str, Any], *, organisations: list[str] | None = None,
                 sessions: list[str] | None = None, session_people: str = "", spaces: str = "") -> dict[str, Any]:
    values: dict[str, Any] = {"spaces": spaces, "phases": ""}
    if organisations:
        values["organisations"] = choice_values(card, "organisations", organisations)
    if sessions:
        values["sessions"] = choice_values(card, "sessions", sessions)
        values["session_people"] = session_people
    return last_card(await harness.press({**button_data(card, nav="next"), **values}, AUTHOR))


async def send(harness: BotHarness, deliver: Deliver, preview: dict[str, Any]) -> None:
    await harness.press(button_data(last_card(await when(harness, preview)), nav="send"), AUTHOR)
    await tick(harness)
    await deliver()


def got_it(harness: BotHarness, members: list[Member]) -> list[bool]:
    return [len(announcement_cards(harness, m)) == 1 for m in members]


async def test_volunteers_by_organisation_across_spaces_and_within_a_space(bot: BotHarness,
                                                                          deliver: Deliver) -> None:
    hull_minoritised = await add_volunteers(bot, 10, first=100, spaces=("minoritised",))
    hull_allies = await add_volunteers(bot, 4, first=200, spaces=("ally",))
    navigo_allies = await add_volunteers(bot, 9, first=300, spaces=("ally",))
    elsewhere = await add_volunteers(bot, 3, first=400, spaces=("ally",))
    await from_organisation(bot, hull_minoritised + hull_allies, HULL)
    await from_organisation(bot, navigo_allies, NAVIGO)

    card = await audience_card(bot)
    organisations = inputs(card)["organisations"]
    assert organisations["label"] == "Volunteers from these organisations (optional)"
    assert organisations["isMultiSelect"] is True
    assert "Another organisation" in [c["title"] for c in organisations["choices"]]

    preview = await choose(bot, card, organisations=[HULL])
    text = card_text(preview)
    assert "15 people" in text and HULL in text  # 14 raw, rounded (design §5)
    await send(bot, deliver, preview)
    assert got_it(bot, hull_minoritised + hull_allies) == [True] * 14
    assert got_it(bot, navigo_allies + elsewhere) == [False] * 12

    preview = await choose(bot, await audience_card(bot), organisations=[HULL, NAVIGO], spaces="ally")
    text = card_text(preview)
    assert "15 people" in text and "Active allies" in text and NAVIGO in text  # 13 raw
    await send(bot, deliver, preview)
    assert [len(announcement_cards(bot, m)) for m in hull_allies + navigo_allies] == [2] * 4 + [1] * 9
    assert [len(announcement_cards(bot, m)) for m in hull_minoritised + elsewhere] == [1] * 10 + [0] * 3


async def test_fewer_than_8_people_by_organisation_or_attendance_is_refused_but_by_space_it_is_not(
        bot: BotHarness, deliver: Deliver) -> None:
    york = await add_volunteers(bot, 3, first=100, spaces=("ally",))
    await from_organisation(bot, york, YORK)
    came = await add_volunteers(bot, 5, first=200)
    await add_session(bot, "Allyship basics", accepted=came, others={}, days_ahead=-1)
    async with bot.core.database.transaction() as session:
        await session.execute(update(Invitation).values(attended=True))

    card = await audience_card(bot)
    refused = await choose(bot, card, organisations=[YORK])
    text = card_text(refused)
    assert "Who should get it?" in text and TOO_FEW in text and "could show who they are" in text
    assert "Check your announcement" not in text  # refused, not previewed
    refused = await choose(bot, refused, sessions=["Allyship basics"], session_people="attended")
    assert TOO_FEW in card_text(refused)

    # By space alone, and by booking, a small audience is previewed as "fewer than 8", as before.
    by_space = await choose(bot, refused, spaces="ally")
    assert "fewer than 8 people" in card_text(by_space) and TOO_FEW not in card_text(by_space)
    back = last_card(await bot.press(button_data(by_space, nav="back"), AUTHOR))
    booked = await choose(bot, back, sessions=["Allyship basics"], session_people="booked")
    assert "fewer than 8 people" in card_text(booked) and "Booked on" in card_text(booked)
    assert await announcements(bot) == []

    card = last_card(await bot.press(button_data(booked, nav="back"), AUTHOR))
    forged = last_card(await bot.press({**button_data(card, nav="next"), "organisations": "99999"}, AUTHOR))
    assert "can't be chosen any more" in card_text(forged)
    forged = last_card(await bot.press({**button_data(forged, nav="next"), "session_people": "all"}, AUTHOR))
    assert "Choose who from the sessions should get it." in card_text(forged)


async def test_everyone_invited_to_booked_on_or_who_came_to_a_session(bot: BotHarness, deliver: Deliver) -> None:
    came = await add_volunteers(bot, 8, first=100)
    booked_not_came = await add_volunteers(bot, 2, first=200)
    waiting = await add_volunteers(bot, 2, first=300)
    declined = await add_volunteers(bot, 1, first=400)
    await add_session(bot, "Train the trainer day", accepted=came + booked_not_came,
                      others={"waiting": waiting, "declined": declined}, days_ahead=-2)
    async with bot.core.database.transaction() as session:
        await session.execute(update(Invitation).where(
            Invitation.person_id.in_([m.aad_object_id for m in came])).values(attended=True))

    card = await audience_card(bot)
    assert [c["title"] for c in inputs(card)["session_people"]["choices"]] == [
        "People booked on them", "Everyone invited to them", "People who came to them"]
    preview = await choose(bot, card, sessions=["Train the trainer day"], session_people="attended")
    assert "Came to" in card_text(preview) and "10 people" in card_text(preview)  # 8 raw
    await send(bot, deliver, preview)
    assert got_it(bot, came) == [True] * 8
    assert got_it(bot, booked_not_came + waiting + declined) == [False] * 5

    preview = await choose(bot, await audience_card(bot), sessions=["Train the trainer day"],
                           session_people="invited")
    assert "Invited to" in card_text(preview) and "15 people" in card_text(preview)  # 13 raw
    await send(bot, deliver, preview)
    assert [len(announcement_cards(bot, m)) for m in came + booked_not_came + waiting + declined] == \
        [2] * 8 + [1] * 5


async def test_an_audience_by_organisation_that_falls_below_8_before_it_starts_reaches_nobody(
        bot: BotHarness, deliver: Deliver) -> None:
    navigo = await add_volunteers(bot, 8, first=100)
    await from_organisation(bot, navigo, NAVIGO)
    preview = await choose(bot, await audience_card(bot), organisations=[NAVIGO])
    assert "10 people" in card_text(preview)
    confirm = last_card(await when(bot, preview, mode="later", date="2026-11-27", time="09:30"))
    await bot.press(button_data(confirm, nav="send"), AUTHOR)
    async with bot.core.database.transaction() as session:  # one of them stops announcements meanwhile
        await session.execute(update(Person).where(Person.id == navigo[0].aad_object_id)
                              .values(announcements_stopped=True))

    bot.clock.advance(timedelta(days=1))
    await tick(bot)
    await deliver()
    await tick(bot)
    await deliver()
    assert got_it(bot, navigo) == [False] * 8
    assert "Nothing to send" in card_text(await progress_card(bot))


def test_the_audience_card_with_every_organisation_and_session_stays_small_and_labelled() -> None:
    thursday = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)  # shown as "Session 3 (Thu 26 Nov, 10:00)"
    view = AudienceView(channels=tuple(ChannelOption(n, f"Team {n} › Channel") for n in range(50)),
                        sessions=tuple(SessionOption(n, f"Session {n}", thursday) for n in range(20)),
                        organisations=tuple(AudienceOrganisationOption(n, "O" * 200) for n in range(60)))
    card = draw_audience("j", view, {"organisations": ["3"], "session_people": ["attended"]},
                         {"audience": "Fewer than 8 people match this."})
    assert len(json.dumps(card).encode()) < 80 * 1024
    found = {node["id"]: node for node in nodes(card) if str(node.get("type", "")).startswith("Input.")}
    assert found["organisations"]["style"] == "compact" and found["organisations"]["value"] == "3"
    assert found["session_people"]["value"] == "attended"
    assert all(str(node["label"]).endswith("(optional)") for node in found.values())

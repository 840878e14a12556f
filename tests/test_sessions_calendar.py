"""With Microsoft Graph configured (design §8), sessions write calendar jobs in the transaction of each change,
and the Teams meeting Graph makes becomes the session's join link. Graph itself is tested with its own double
in the calendar sync's tests; here we check what the sessions feature asks of it."""

from __future__ import annotations

from sqlalchemy import select

from bot.clock import FixedClock
from bot.features.session_cards import SessionCardMessages
from bot.services.sessions import SessionForm, SessionService
from storage.models import GraphJob
from tests.app_fixtures import BotHarness, card_text, start_harness
from tests.doubles.graph import GraphDouble
from tests.doubles.issuer import TokenIssuer
from tests.doubles.teams import TeamsDouble, make_member
from tests.test_sessions_e2e import envelope, form, only_card, start_and_fill
from tests.test_sessions_helpers import FACILITATOR, add_volunteer, draft, make_facilitator, outbox, session_row

MEETING = "https://teams.microsoft.com/l/meetup-join/19%3ameeting_graph%40thread.v2/0"


async def jobs(harness: BotHarness) -> list[tuple[str, str | None]]:
    async with harness.core.database.transaction() as session:
        rows = (await session.execute(select(GraphJob).order_by(GraphJob.id))).scalars()
        return [(row.kind, row.person_id) for row in rows]


async def test_calendar_jobs_follow_publish_replies_changes_and_cancel(harness: BotHarness) -> None:
    service = SessionService(harness.core.database, harness.clock, harness.core.audit, harness.core.roles,
                             SessionCardMessages(), calendar=True)
    first, second = make_member(4000), make_member(4001)
    for member in (first, second):
        await add_volunteer(harness, member, ally=True)
    await make_facilitator(harness)
    created = await service.create(FACILITATOR.aad_object_id, draft(harness, capacity=1), publish=True)
    assert created.session is not None
    session_id = created.session.session_id
    await service.reply(first.aad_object_id, session_id, "accept")
    await service.reply(second.aad_object_id, session_id, "accept")  # waiting: not in the calendar
    await service.reply(first.aad_object_id, session_id, "decline")  # second is promoted
    row = await session_row(harness, session_id)
    later = row.starts_at.replace(hour=(row.starts_at.hour + 1) % 24)
    form = SessionForm(date=f"{later:%Y-%m-%d}", start=f"{later:%H:%M}", end=f"{later:%H}:59", capacity="1")
    assert (await service.change(FACILITATOR.aad_object_id, session_id, 0, form)).outcome == "done"
    assert (await service.cancel(FACILITATOR.aad_object_id, session_id)).outcome == "done"
    assert await jobs(harness) == [
        ("create", None), ("add_attendee", first.aad_object_id), ("remove_attendee", first.aad_object_id),
        ("add_attendee", second.aad_object_id), ("update_time", None), ("cancel", None)]


async def test_the_meeting_graph_made_becomes_the_join_link_and_people_are_told(harness: BotHarness) -> None:
    service = SessionService(harness.core.database, harness.clock, harness.core.audit, harness.core.roles,
                             SessionCardMessages(), calendar=True)
    booked = make_member(4010)
    await add_volunteer(harness, booked, ally=True)
    await make_facilitator(harness)
    created = await service.create(FACILITATOR.aad_object_id, draft(harness), publish=True)
    assert created.session is not None
    session_id = created.session.session_id
    await service.reply(booked.aad_object_id, session_id, "accept")
    async with harness.core.database.transaction() as session:
        await service.on_calendar_ready(session, session_id, MEETING)
    async with harness.core.database.transaction() as session:
        await service.on_calendar_ready(session, session_id, MEETING + "x")  # a link is kept once set
    assert (await session_row(harness, session_id)).join_url == MEETING
    told = await outbox(harness, f"session-change:{session_id}:1:")
    assert [message.person_id for message in told] == [booked.aad_object_id]
    # A session published with a link of its own gets no meeting from Graph.
    created = await service.create(FACILITATOR.aad_object_id, draft(harness, join_url=MEETING), publish=True)
    assert [kind for kind, _ in await jobs(harness)].count("create") == 1


async def test_the_preview_says_teams_will_make_the_link_when_graph_is_on(
        db_url: str, token_issuer: TokenIssuer, teams_double: TeamsDouble, clock: FixedClock,
        harness: BotHarness) -> None:
    # Without Graph, a session with no link has none until a facilitator adds one.
    await make_facilitator(harness)
    assert "Join link\nNone yet" in card_text(only_card(await start_and_fill(harness, form())))
    async with GraphDouble() as graph:
        async for with_graph in start_harness(db_url, token_issuer, teams_double, clock, **graph.settings()):
            without_link = only_card(await start_and_fill(with_graph, form()))
            assert "Join link\nTeams will make the meeting link when you publish" in card_text(without_link)
            back = only_card(await with_graph.press(envelope(without_link, "Back"), FACILITATOR))
            with_link = only_card(await with_graph.press({**envelope(back, "Preview"), **form(join_url=MEETING)},
                                                         FACILITATOR))
            assert "Join link\nAdded" in card_text(with_link)

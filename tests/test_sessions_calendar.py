"""With Microsoft Graph configured (design §8), sessions write calendar jobs in the transaction of each change,
and the Teams meeting Graph makes becomes the session's join link. Graph itself is tested with its own double
in the calendar sync's tests; here we check what the sessions feature asks of it."""

from __future__ import annotations

from sqlalchemy import select

from bot.features.sessions import CardMessages
from bot.services.sessions import SessionForm, SessionService
from storage.models import GraphJob
from tests.app_fixtures import BotHarness
from tests.doubles.teams import make_member
from tests.test_sessions_helpers import FACILITATOR, add_volunteer, draft, make_facilitator, outbox, session_row

MEETING = "https://teams.microsoft.com/l/meetup-join/19%3ameeting_graph%40thread.v2/0"


async def jobs(harness: BotHarness) -> list[tuple[str, str | None]]:
    async with harness.core.database.transaction() as session:
        rows = (await session.execute(select(GraphJob).order_by(GraphJob.id))).scalars()
        return [(row.kind, row.person_id) for row in rows]


async def test_calendar_jobs_follow_publish_replies_changes_and_cancel(harness: BotHarness) -> None:
    service = SessionService(harness.core.database, harness.clock, harness.core.audit, CardMessages(),
                             calendar=True)
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
    service = SessionService(harness.core.database, harness.clock, harness.core.audit, CardMessages(),
                             calendar=True)
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

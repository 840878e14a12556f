"""The calendar (create a Teams meeting, attendees, time, cancel) and the durable calendar sync: jobs written in
the session's transaction, run in order per session, retried on 429/503 as Graph asks, failures reported."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import FixedClock
from bot.graph.calendar import NEUTRAL_SUBJECT, CalendarClient
from bot.graph.calendar_sync import CalendarSync, enqueue_calendar_job
from bot.graph.client import GraphClient
from bot.graph.errors import GraphNotFound
from bot.hooks import DomainHooks
from storage.db import Database
from storage.models import GraphEvent, GraphJob, OutboxMessage, Person
from tests.doubles.graph import DEFAULT_MAILBOX, GraphDouble
from tests.graph_fixtures import FIXED_TOKEN, client

__all__ = ["client"]  # the fixture, used here by name

START = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
SESSION_START = datetime(2026, 12, 3, 14, 0, tzinfo=UTC)
SESSION_END = SESSION_START + timedelta(hours=2)
FACILITATOR = "33333333-0000-4000-8000-000000000001"
ADA = "11111111-0000-4000-8000-000000000001"
BEN = "11111111-0000-4000-8000-000000000002"


@pytest.fixture
async def graph() -> AsyncIterator[GraphDouble]:
    async with GraphDouble() as double:
        yield double


@pytest.fixture
def calendar(client: GraphClient) -> CalendarClient:
    return CalendarClient(client, DEFAULT_MAILBOX)


@dataclass
class Recorded:
    ready: list[tuple[int, str]] = field(default_factory=list)
    failed: list[tuple[int, str]] = field(default_factory=list)


@dataclass
class Sync:
    sync: CalendarSync
    clock: FixedClock
    db: Database
    hooks: Recorded

    async def enqueue(self, kind: str, session_id: int = 1, person_id: str | None = None, **values: object) -> int:
        async with self.db.transaction() as session:
            return await enqueue_calendar_job(session, kind, session_id, person_id,  # type: ignore[arg-type]
                                              now=self.clock.now(), **values)  # type: ignore[arg-type]

    async def jobs(self) -> list[GraphJob]:
        async with self.db.transaction() as session:
            return list((await session.scalars(select(GraphJob).order_by(GraphJob.id))).all())

    async def event(self, session_id: int = 1) -> GraphEvent | None:
        async with self.db.transaction() as session:
            return await session.get(GraphEvent, session_id)

    async def outbox(self) -> list[OutboxMessage]:
        async with self.db.transaction() as session:
            return list((await session.scalars(select(OutboxMessage))).all())


@pytest.fixture
async def sync(db: Database, calendar: CalendarClient) -> Sync:
    clock = FixedClock(START)
    hooks = DomainHooks()
    recorded = Recorded()

    async def ready(_: AsyncSession, session_id: int, join_url: str) -> None:
        recorded.ready.append((session_id, join_url))

    async def failed(_: AsyncSession, session_id: int, kind: str) -> None:
        recorded.failed.append((session_id, kind))

    hooks.calendar_ready.append(ready)
    hooks.calendar_failed.append(failed)
    async with db.transaction() as session:
        for person_id, email in ((ADA, "ada@hny.test"), (BEN, "ben@hny.test"), (FACILITATOR, "fac@hny.test")):
            session.add(Person(id=person_id, email=email, display_name="Someone", created_at=START,
                               last_seen_at=START))
    return Sync(CalendarSync(db, calendar, clock, hooks, organiser_mailbox=DEFAULT_MAILBOX, max_attempts=3),
                clock, db, recorded)


# -- the calendar client ---------------------------------------------------------------------------------------


async def test_a_session_becomes_a_teams_meeting_with_hidden_attendees(calendar: CalendarClient,
                                                                       graph: GraphDouble) -> None:
    london = SESSION_START.astimezone(__import__("zoneinfo").ZoneInfo("Europe/London"))
    created = await calendar.create_event(london, SESSION_END, transaction_id="hny-1")
    assert created.join_url and created.join_url.startswith("https://teams.microsoft.com/")
    (request,) = graph.graph_requests("POST", "/events")
    assert request.path == f"/users/{DEFAULT_MAILBOX}/events"
    body = request.body
    assert body["subject"] == NEUTRAL_SUBJECT == "HNY Inc. allyship session"
    assert body["isOnlineMeeting"] is True and body["onlineMeetingProvider"] == "teamsForBusiness"
    assert body["hideAttendees"] is True and body["attendees"] == []
    assert body["start"] == {"dateTime": "2026-12-03T14:00:00", "timeZone": "UTC"}
    assert body["end"] == {"dateTime": "2026-12-03T16:00:00", "timeZone": "UTC"}
    assert body["transactionId"] == "hny-1"
    # A retried POST with the same transaction id is the same event.
    again = await calendar.create_event(SESSION_START, SESSION_END, transaction_id="hny-1")
    assert again.event_id == created.event_id and len(graph.events) == 1


async def test_attendees_are_added_and_removed_by_address_only(calendar: CalendarClient, graph: GraphDouble) -> None:
    event = await calendar.create_event(SESSION_START, SESSION_END)
    assert await calendar.add_attendee(event.event_id, "ada@hny.test")
    assert await calendar.add_attendee(event.event_id, "ben@hny.test")
    assert not await calendar.add_attendee(event.event_id, "ADA@hny.test")  # already there
    stored = graph.events[event.event_id]
    assert [a["emailAddress"]["address"] for a in stored.body["attendees"]] == ["ada@hny.test", "ben@hny.test"]
    assert all(set(patch) == {"attendees"} for patch in stored.patches)  # only the changed attendees get mail
    assert all("name" not in a["emailAddress"] for a in stored.body["attendees"])

    assert await calendar.remove_attendee(event.event_id, "ada@hny.test")
    assert not await calendar.remove_attendee(event.event_id, "ada@hny.test")
    assert [a["emailAddress"]["address"] for a in stored.body["attendees"]] == ["ben@hny.test"]


async def test_time_changes_and_cancellation(calendar: CalendarClient, graph: GraphDouble) -> None:
    event = await calendar.create_event(SESSION_START, SESSION_END)
    later = SESSION_START + timedelta(days=1)
    await calendar.update_time(event.event_id, later, later + timedelta(hours=1))
    assert graph.events[event.event_id].patches[-1] == {
        "start": {"dateTime": "2026-12-04T14:00:00", "timeZone": "UTC"},
        "end": {"dateTime": "2026-12-04T15:00:00", "timeZone": "UTC"}}
    await calendar.cancel(event.event_id)
    assert graph.events[event.event_id].cancelled
    assert graph.graph_requests("POST", "/cancel")[0].status == 202
    with pytest.raises(GraphNotFound):
        await calendar.cancel(event.event_id)
    with pytest.raises(ValueError):
        await CalendarClient(calendar._client, "").create_event(SESSION_START, SESSION_END)


# -- the durable sync ------------------------------------------------------------------------------------------


async def test_jobs_create_the_meeting_then_add_people(sync: Sync, graph: GraphDouble) -> None:
    await sync.enqueue("create", start_at=SESSION_START, end_at=SESSION_END, author_id=FACILITATOR)
    await sync.enqueue("add_attendee", person_id=ADA, author_id=FACILITATOR)
    await sync.enqueue("add_attendee", person_id=BEN, author_id=FACILITATOR)
    assert await sync.sync.run_due() == 3
    event = await sync.event()
    assert event is not None and event.join_url
    assert sync.hooks.ready == [(1, event.join_url)]
    stored = graph.events[event.event_id]
    assert [a["emailAddress"]["address"] for a in stored.body["attendees"]] == ["ada@hny.test", "ben@hny.test"]
    assert [job.status for job in await sync.jobs()] == ["done", "done", "done"]
    assert await sync.sync.run_due() == 0


async def test_jobs_of_a_session_wait_for_the_ones_before_them(sync: Sync, graph: GraphDouble) -> None:
    await sync.enqueue("create", start_at=SESSION_START, end_at=SESSION_END)
    await sync.enqueue("add_attendee", person_id=ADA)
    await sync.enqueue("create", session_id=2, start_at=SESSION_START, end_at=SESSION_END)
    graph.fail(503, times=4, method="POST", path_contains="/events")  # session 1's create: all client retries
    await sync.sync.run_due()
    jobs = await sync.jobs()
    assert [job.status for job in jobs] == ["pending", "pending", "done"]  # session 2 is not held up
    assert jobs[0].last_status == 503 and jobs[0].due_at > sync.clock.now()
    assert jobs[1].attempts == 0  # never tried before the create
    sync.clock.advance(timedelta(minutes=1))
    await sync.sync.run_due()
    assert [job.status for job in await sync.jobs()] == ["done", "done", "done"]


async def test_a_long_retry_after_reschedules_the_job_for_then(sync: Sync, graph: GraphDouble) -> None:
    await sync.enqueue("create", start_at=SESSION_START, end_at=SESSION_END)
    graph.fail(429, retry_after=900)
    await sync.sync.run_due()
    (job,) = await sync.jobs()
    assert job.status == "pending" and job.last_status == 429 and job.due_at == START + timedelta(seconds=900)
    sync.clock.advance(timedelta(seconds=899))
    assert await sync.sync.run_due() == 0
    sync.clock.advance(timedelta(seconds=1))
    assert await sync.sync.run_due() == 1
    assert (await sync.jobs())[0].status == "done"


async def test_a_refusal_fails_the_job_and_tells_the_facilitator_once(sync: Sync, graph: GraphDouble) -> None:
    await sync.enqueue("create", start_at=SESSION_START, end_at=SESSION_END, author_id=FACILITATOR)
    await sync.enqueue("add_attendee", person_id=ADA, author_id=FACILITATOR)
    graph.fail(403, code="ErrorAccessDenied", method="POST")
    await sync.sync.run_due()
    create, add = await sync.jobs()
    assert (create.status, create.last_status, create.last_error) == ("failed", 403, "ErrorAccessDenied")
    assert (add.status, add.last_error) == ("skipped", "no_event")
    assert sync.hooks.failed == [(1, "create")]
    (message,) = await sync.outbox()
    assert message.person_id == FACILITATOR and message.key == "calendar-failed:1:create"
    text = json.loads(message.payload)["text"]
    assert "Thursday 3 December at 14:00" in text and "The session is saved" in text


async def test_transient_failures_give_up_after_the_attempts(sync: Sync, graph: GraphDouble) -> None:
    await sync.enqueue("create", start_at=SESSION_START, end_at=SESSION_END, author_id=FACILITATOR)
    graph.fail(503, times=100)
    for _ in range(3):
        await sync.sync.run_due()
        sync.clock.advance(timedelta(hours=1))
    (job,) = await sync.jobs()
    assert (job.status, job.attempts, job.last_status) == ("failed", 3, 503)
    assert sync.hooks.failed == [(1, "create")] and len(await sync.outbox()) == 1


async def test_refused_credentials_keep_jobs_waiting_and_show_in_health(sync: Sync, graph: GraphDouble) -> None:
    await sync.enqueue("create", start_at=SESSION_START, end_at=SESSION_END, author_id=FACILITATOR)
    graph.revoke_tokens()  # the fixed token is no longer accepted, and a static source cannot renew it
    for _ in range(6):
        await sync.sync.run_due()
        sync.clock.advance(timedelta(hours=1))
    (job,) = await sync.jobs()
    assert job.status == "pending" and job.last_status == 401
    assert not sync.sync.health().healthy and await sync.outbox() == []
    graph.accept_token(FIXED_TOKEN)
    await sync.sync.run_due()
    assert (await sync.jobs())[0].status == "done" and sync.sync.health().healthy


async def test_a_withdrawn_person_is_still_taken_off_the_meeting(sync: Sync, graph: GraphDouble) -> None:
    await sync.enqueue("create", start_at=SESSION_START, end_at=SESSION_END)
    await sync.enqueue("add_attendee", person_id=ADA)
    await sync.sync.run_due()
    # Withdrawal: the removal is written, then the person is erased, in one transaction.
    async with sync.db.transaction() as session:
        await enqueue_calendar_job(session, "remove_attendee", 1, ADA, now=sync.clock.now())
        await sync.sync.on_person_erased(session, ADA)
        await session.execute(delete(Person).where(Person.id == ADA))
    await sync.sync.run_due()
    event = await sync.event()
    assert event is not None and graph.events[event.event_id].body["attendees"] == []
    jobs = await sync.jobs()
    assert jobs[-1].status == "done" and all(job.attendee_email is None for job in jobs)
    assert all(job.person_id is None for job in jobs if job.kind != "create")


async def test_an_erased_person_is_not_added_later(sync: Sync, graph: GraphDouble) -> None:
    await sync.enqueue("create", start_at=SESSION_START, end_at=SESSION_END)
    await sync.enqueue("add_attendee", person_id=BEN)
    async with sync.db.transaction() as session:
        await sync.sync.on_person_erased(session, BEN)
        await session.execute(delete(Person).where(Person.id == BEN))
    await sync.sync.run_due()
    create, add = await sync.jobs()
    assert create.status == "done" and (add.status, add.last_error, add.person_id) == ("skipped", "erased", None)
    assert graph.events[(await sync.event()).event_id].body["attendees"] == []  # type: ignore[union-attr]


async def test_time_changes_and_cancellation_reach_the_meeting(sync: Sync, graph: GraphDouble) -> None:
    await sync.enqueue("create", start_at=SESSION_START, end_at=SESSION_END)
    later = SESSION_START + timedelta(days=7)
    await sync.enqueue("update_time", start_at=later, end_at=later + timedelta(hours=2))
    await sync.enqueue("cancel")
    await sync.enqueue("add_attendee", person_id=ADA)
    await sync.sync.run_due()
    event = await sync.event()
    assert event is not None and event.cancelled_at == START
    stored = graph.events[event.event_id]
    assert stored.cancelled and stored.body["start"]["dateTime"] == "2026-12-10T14:00:00"
    assert [job.status for job in await sync.jobs()] == ["done", "done", "done", "skipped"]
    await sync.enqueue("cancel")  # twice: nothing left to cancel
    await sync.sync.run_due()
    assert (await sync.jobs())[-1].status == "skipped"


async def test_a_late_join_link_is_fetched_again(sync: Sync, graph: GraphDouble) -> None:
    graph.join_url_after_gets = 1  # the POST and the first GET come back without it
    await sync.enqueue("create", start_at=SESSION_START, end_at=SESSION_END)
    await sync.sync.run_due()
    (job,) = await sync.jobs()
    event = await sync.event()
    assert job.status == "pending" and job.last_error == "join_url_pending"
    assert event is not None and event.join_url is None and sync.hooks.ready == []
    sync.clock.advance(timedelta(seconds=30))
    await sync.sync.run_due()
    event = await sync.event()
    assert event is not None and event.join_url and sync.hooks.ready == [(1, event.join_url)]
    assert len(graph.events) == 1 and len(graph.graph_requests("POST")) == 1


async def test_a_job_whose_worker_died_is_taken_again_after_its_lease(sync: Sync, graph: GraphDouble) -> None:
    await sync.enqueue("create", start_at=SESSION_START, end_at=SESSION_END)
    claimed = await sync.sync._claim()  # a worker claims it, then dies
    assert claimed is not None
    assert await sync.sync.run_due() == 0
    sync.clock.advance(timedelta(minutes=3))
    assert await sync.sync.run_due() == 1
    assert (await sync.jobs())[0].status == "done" and len(graph.events) == 1


async def test_two_workers_never_run_one_job_twice(sync: Sync, db: Database, calendar: CalendarClient) -> None:
    other = CalendarSync(db, calendar, sync.clock, DomainHooks(), organiser_mailbox=DEFAULT_MAILBOX)
    for session_id in range(1, 6):
        await sync.enqueue("create", session_id=session_id, start_at=SESSION_START, end_at=SESSION_END)
    import asyncio

    counts = await asyncio.gather(sync.sync.run_due(), other.run_due())
    assert sum(counts) == 5
    assert all(job.attempts == 1 and job.status == "done" for job in await sync.jobs())


async def test_enqueue_checks_what_each_kind_needs(sync: Sync) -> None:
    with pytest.raises(ValueError):
        await sync.enqueue("create")
    with pytest.raises(ValueError):
        await sync.enqueue("update_time", start_at=SESSION_END, end_at=SESSION_START)
    with pytest.raises(ValueError):
        await sync.enqueue("add_attendee")
    with pytest.raises(ValueError):
        await sync.enqueue("rename")

"""Graph in the running bot: off by default; when on, group roles join the role checks, /healthz reports it, the
calendar worker runs as a background task, other features share one set of Graph objects, and nothing the bot
logs while using Graph names or addresses anyone."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.app import CORE, WIRING, create_app
from bot.clock import UK, FixedClock
from bot.delivery.tokens import StaticTokenProvider
from bot.features.programme import PROGRAMME, RETENTION
from bot.graph.calendar_sync import enqueue_calendar_job
from bot.graph.services import GRAPH
from storage.models import GraphJob, OutboxMessage, Person
from tests.app_fixtures import START, BotHarness, bot_settings, start_harness
from tests.doubles.graph import GraphDouble
from tests.doubles.issuer import TokenIssuer
from tests.doubles.teams import DEFAULT_TENANT_ID, TeamsDouble

FAC = "44444444-0000-4000-8000-000000000001"
ADMIN = "44444444-0000-4000-8000-000000000002"
ADA = "44444444-0000-4000-8000-000000000003"
FACILITATORS = "55555555-0000-4000-8000-00000000000f"
ADMINS = "55555555-0000-4000-8000-00000000000a"
NAMES = ("Fay Facilitator", "Ada Lovelace-Example", "Chris Admin")
EMAILS = ("fay@hny.test", "ada.lovelace@hny.test", "chris@hny.test")


@pytest.fixture
async def graph() -> AsyncIterator[GraphDouble]:
    async with GraphDouble() as double:
        double.add_user(FAC, NAMES[0], EMAILS[0])
        double.add_user(ADA, NAMES[1], EMAILS[1])
        double.add_user(ADMIN, NAMES[2], EMAILS[2])
        double.add_group(FACILITATORS, users=[FAC])
        double.add_group(ADMINS, users=[ADMIN])
        yield double


@pytest.fixture
async def graph_harness(db_url: str, token_issuer: TokenIssuer, teams_double: TeamsDouble, clock: FixedClock,
                        graph: GraphDouble) -> AsyncIterator[BotHarness]:
    async for harness in start_harness(db_url, token_issuer, teams_double, clock, **graph.settings(
            facilitator_group_ids=[FACILITATORS], admin_group_ids=[ADMINS])):
        yield harness


async def _health(harness: BotHarness) -> dict[str, object]:
    async with harness.http.get(harness.server.make_url("/healthz")) as response:
        body: dict[str, object] = await response.json()
        return body


async def test_graph_is_off_unless_enabled(harness: BotHarness) -> None:
    assert GRAPH not in harness.app
    assert harness.app[WIRING].graph is None
    assert "graph" not in await _health(harness)
    assert await harness.core.roles.roles_of(FAC) == set()


async def test_group_members_hold_roles_in_the_running_bot(graph_harness: BotHarness) -> None:
    roles = graph_harness.core.roles
    assert await roles.roles_of(FAC) == {"facilitator"}
    assert await roles.roles_of(ADMIN) == {"admin"}
    assert await roles.roles_of(ADA) == set()
    health = await _health(graph_harness)
    assert health["graph"] == {"calendar": "ok"}


async def test_features_share_one_set_of_graph_objects(graph_harness: BotHarness) -> None:
    graph = graph_harness.app[WIRING].graph
    assert graph is not None and graph is graph_harness.app[GRAPH]
    user = await graph.resolve_user_by_email(EMAILS[1])
    assert user is not None and user.id == ADA


async def test_the_calendar_worker_runs_in_the_background(db_url: str, token_issuer: TokenIssuer,
                                                          clock: FixedClock, graph: GraphDouble) -> None:
    app = create_app(bot_settings(db_url, token_issuer, **graph.settings(run_worker=True)), clock=clock,
                     outbound=StaticTokenProvider())
    core = app[CORE]
    async with core.database.transaction() as session:
        await enqueue_calendar_job(session, "create", 7, now=clock.now(), start_at=START + timedelta(days=3),
                                   end_at=START + timedelta(days=3, hours=1))
    # Only the calendar job is driven here, as the job runner would, not the other features' ones.
    (job,) = [job for job in app[WIRING].jobs if job.name == "calendar"]
    await job.start()
    try:
        for _ in range(500):
            if graph.live_events():
                break
            await asyncio.sleep(0.01)
    finally:
        await job.stop()
        await app[GRAPH].close()
        await core.database.dispose()
    assert len(graph.live_events()) == 1


async def test_graph_work_logs_no_names_or_addresses(graph_harness: BotHarness, graph: GraphDouble,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    core = graph_harness.core
    service = graph_harness.app[GRAPH]
    async with core.database.transaction() as session:
        for person_id, name, email in zip((FAC, ADA, ADMIN), NAMES, EMAILS, strict=True):
            session.add(Person(id=person_id, display_name=name, email=email, tenant_id=DEFAULT_TENANT_ID,
                               created_at=START, last_seen_at=START))
    # The bot's own logs at every level (libraries' debug logs, e.g. SQL parameters, are off in production).
    with caplog.at_level(logging.DEBUG, logger="bot"):
        graph.fail(429, retry_after=0)
        assert await service.resolve_user_by_email(EMAILS[1]) is not None
        assert await service.resolve_user_by_email("nobody.known@hny.test") is None
        await core.roles.roles_of(FAC)
        async with core.database.transaction() as session:
            await enqueue_calendar_job(session, "create", 2, now=START, start_at=START + timedelta(days=1),
                                       end_at=START + timedelta(days=1, hours=1), author_id=FAC)
            await enqueue_calendar_job(session, "create", 1, now=START, start_at=START + timedelta(days=1),
                                       end_at=START + timedelta(days=1, hours=1), author_id=FAC)
            await enqueue_calendar_job(session, "add_attendee", 1, ADA, now=START, author_id=FAC)
            await enqueue_calendar_job(session, "remove_attendee", 1, ADA, now=START, author_id=FAC)
        graph.fail(503, times=4, method="PATCH", retry_after=0)
        graph.fail(403, method="POST", path_contains="/events")
        for _ in range(3):
            await service.sync.run_due()
            core.clock.advance(timedelta(hours=1))  # type: ignore[attr-defined]
        await service.installer.install_for(ADA)
        graph.blocked_installs.add(ADMIN)
        await service.installer.install_for(ADMIN)
    text = "\n".join(record.getMessage() for record in caplog.records if record.name.startswith("bot")).lower()
    assert "calendar sync" in text and "graph" in text  # it did log, with ids and codes
    for secret in (*NAMES, *EMAILS, "nobody.known"):
        assert secret.lower() not in text, secret
    async with core.database.transaction() as session:
        jobs = (await session.execute(GraphJob.__table__.select())).all()
    assert sorted(job.status for job in jobs) == ["done", "done", "done", "failed"]
    assert all(job.attendee_email is None for job in jobs)
    assert len(graph.graph_requests("PATCH")) == 6  # 4 refused with 503, then the add and the removal


async def test_admins_through_a_group_are_warned_before_personal_data_is_deleted(graph_harness: BotHarness,
                                                                                   clock: FixedClock) -> None:
    """The retention warning goes to every admin, including those who are admins only through the Entra group."""
    harness = graph_harness
    today = clock.now().astimezone(UK).date()
    end = today + timedelta(days=14) - timedelta(days=harness.core.settings.retention_days)
    await harness.app[PROGRAMME].set_end_date(ADMIN, end)

    result = await harness.app[RETENTION].run_if_due()

    assert (result.status, result.warned) == ("warned", 1)
    async with harness.core.database.read() as session:
        warned = (await session.execute(select(OutboxMessage.person_id).where(
            OutboxMessage.purpose == "retention-warning"))).scalars().all()
    assert warned == [ADMIN]

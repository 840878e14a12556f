"""The delivery feature inside the real app: its worker sends what services enqueue, re-arms people who write
again, and reports through /healthz and /metrics."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy import update

from bot.app import CORE
from bot.clock import FixedClock
from bot.delivery.tokens import StaticTokenProvider
from storage.db import Database
from storage.models import OutboxMessage
from storage.repositories.outbox import OutboxRepository
from tests.app_fixtures import BotHarness, served, start_harness
from tests.doubles.fixtures import DEFAULT_MEMBER, make_activity
from tests.doubles.issuer import TokenIssuer
from tests.doubles.teams import TeamsDouble
from tests.test_delivery_support import add_person, chat_id, eventually, put, rows, texts


async def get_json(http: aiohttp.ClientSession, server: TestServer, path: str) -> tuple[int, dict[str, Any]]:
    async with http.get(server.make_url(path)) as response:
        return response.status, await response.json()


async def test_the_app_runs_the_worker_and_reports_it(
        db_url: str, token_issuer: TokenIssuer, teams_double: TeamsDouble, clock: FixedClock) -> None:
    async with served(db_url, token_issuer, clock, StaticTokenProvider(), run_worker=True) as (app, http, server):
        database: Database = app[CORE].database
        await add_person(database, clock, DEFAULT_MEMBER, teams_double.url)
        await put(database, clock, "k", person=DEFAULT_MEMBER.aad_object_id, text="from a service")

        await teams_double.wait_for_sent(1, chat_id(DEFAULT_MEMBER))

        async def recorded() -> bool:  # the outcome is recorded just after Teams answered
            return (await get_json(http, server, "/healthz"))[1]["delivery"]["backlog"] == 0

        await eventually(recorded)
        status, health = await get_json(http, server, "/healthz")
        assert status == 200 and health["status"] == "ok"
        delivery = health["delivery"]
        assert delivery["worker"] == "running" and delivery["credentials"] == "ok"
        assert delivery["backlog"] == 0 and delivery["oldest_pending_age_seconds"] is None
        assert delivery["last_heartbeat"] is not None

        async with http.get(server.make_url("/metrics")) as response:
            assert response.status == 200
            assert response.content_type == "text/plain"
            metrics = await response.text()
        assert 'delivery_sends_total{outcome="sent"} 1.0' in metrics
        assert "delivery_backlog 0.0" in metrics
        assert "delivery_throttled_total 0.0" in metrics
        assert "delivery_oldest_pending_age_seconds 0.0" in metrics
    assert texts(teams_double, chat_id(DEFAULT_MEMBER)) == ["from a service"]


async def test_healthz_fails_while_credentials_are_refused(
        db_url: str, token_issuer: TokenIssuer, teams_double: TeamsDouble, clock: FixedClock) -> None:
    tokens = StaticTokenProvider()
    tokens.refuse = True
    async with served(db_url, token_issuer, clock, tokens, run_worker=True) as (app, http, server):
        database: Database = app[CORE].database
        await add_person(database, clock, DEFAULT_MEMBER, teams_double.url)
        await put(database, clock, "k", person=DEFAULT_MEMBER.aad_object_id, text="waiting")
        async def failing() -> bool:
            return (await get_json(http, server, "/healthz"))[0] == 503

        await eventually(failing)
        status, health = await get_json(http, server, "/healthz")
        assert status == 503
        assert health["delivery"]["credentials"] == "refused: TokenRefused"
        assert health["delivery"]["backlog"] == 1
        clock.advance(timedelta(seconds=90))
        assert (await get_json(http, server, "/healthz"))[1]["delivery"]["oldest_pending_age_seconds"] == 90.0
        async with http.get(server.make_url("/metrics")) as response:
            assert "delivery_credentials_refused 1.0" in await response.text()

        tokens.refuse = False
        await teams_double.wait_for_sent(1, chat_id(DEFAULT_MEMBER))
    assert [m.status for m in await _rows(db_url)] == ["sent"]


async def test_healthz_fails_when_no_worker_is_alive_and_messages_wait(
        db_url: str, token_issuer: TokenIssuer, teams_double: TeamsDouble, clock: FixedClock) -> None:
    async with served(db_url, token_issuer, clock, run_worker=False) as (app, http, server):
        status, health = await get_json(http, server, "/healthz")
        assert status == 200 and health["delivery"]["worker"] == "none"  # nothing waits: nothing is wrong

        database: Database = app[CORE].database
        await add_person(database, clock, DEFAULT_MEMBER, teams_double.url)
        await put(database, clock, "k", person=DEFAULT_MEMBER.aad_object_id, text="stuck")
        status, health = await get_json(http, server, "/healthz")
        assert status == 503 and health["delivery"]["backlog"] == 1


@pytest.mark.parametrize("comes_back_by", ["message", "reinstall"])
async def test_a_person_who_writes_again_or_reinstalls_is_rearmed(
        comes_back_by: str, db_url: str, token_issuer: TokenIssuer, teams_double: TeamsDouble,
        clock: FixedClock) -> None:
    async for harness in start_harness(db_url, token_issuer, teams_double, clock):
        await _rearm_through_the_handler(harness, teams_double, clock, comes_back_by)


async def _rearm_through_the_handler(harness: BotHarness, teams: TeamsDouble, clock: FixedClock,
                                     comes_back_by: str) -> None:
    database = harness.core.database
    await add_person(database, clock, DEFAULT_MEMBER, teams.url, with_chat=False)
    first = await put(database, clock, "k1", person=DEFAULT_MEMBER.aad_object_id, text="one")
    await put(database, clock, "k2", person=DEFAULT_MEMBER.aad_object_id, text="two")
    async with database.transaction() as session:  # as the worker leaves them after a 403 and a skip
        await OutboxRepository(session).mark_person_undeliverable(
            DEFAULT_MEMBER.aad_object_id, "ConversationBlockedByUser", clock.now())
        await session.execute(update(OutboxMessage).values(status="undeliverable",
                                                           last_error="ConversationBlockedByUser"))

    if comes_back_by == "message":
        await harness.say("hello")
    else:
        response = await harness.post(make_activity(teams.url, text=None, activity_type="installationUpdate",
                                                    action="add"))
        assert response.status in (200, 201)

    statuses = {m.id: m.status for m in await rows(database)}
    assert statuses[first] == "pending"
    assert set(statuses.values()) == {"pending"}


async def _rows(db_url: str) -> list[Any]:
    database = Database(db_url)
    try:
        return await rows(database)
    finally:
        await database.dispose()

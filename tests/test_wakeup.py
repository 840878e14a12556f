"""Wake-up (issue 23, item 3): on PostgreSQL a committed enqueue reaches the delivery worker through LISTEN/NOTIFY,
so a message goes without waiting for the worker's poll; a lost listening connection falls back to polling and
connects again; on SQLite polling is the only way, as before.

The workers here poll once an hour while they listen, so only NOTIFY can explain a message that goes within the
test's timeout."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta

import aiohttp
import asyncpg
import pytest
from aiohttp.test_utils import TestServer

from bot.app import create_app
from bot.clock import FixedClock
from bot.delivery.tokens import StaticTokenProvider
from bot.delivery.wakeup import OutboxListener, engine_connect
from bot.features.delivery import DELIVERY, TOKENS
from bot.features.sessions import SESSIONS
from storage.db import Database
from tests.app_fixtures import BotHarness, bot_settings
from tests.db_fixtures import _asyncpg_dsn
from tests.doubles.issuer import TokenIssuer
from tests.doubles.teams import TeamsDouble, make_member
from tests.test_delivery_support import WorkerFactory, add_people, chat_id, eventually, make_worker, put, texts
from tests.test_sessions_helpers import FACILITATOR, add_volunteer, draft, make_facilitator

__all__ = ["make_worker"]

AN_HOUR = 3600.0


@pytest.fixture
async def pg(db: Database) -> Database:
    if not db.is_postgres:
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's")
    return db


async def test_a_message_enqueued_goes_at_once_not_at_the_next_poll(
        pg: Database, clock: FixedClock, teams_double: TeamsDouble, make_worker: WorkerFactory) -> None:
    [member] = await add_people(pg, clock, teams_double, 1)
    worker = make_worker(poll_seconds=AN_HOUR, listen_poll_seconds=AN_HOUR)
    worker.start()

    async def asleep_listening() -> bool:
        return worker.status().listening and worker.waiting

    await eventually(asleep_listening)  # asleep for an hour unless NOTIFY wakes it
    await put(pg, clock, "now", person=member.aad_object_id, text="straight away")

    await teams_double.wait_for_sent(1, chat_id(member), timeout=10)
    assert texts(teams_double, chat_id(member)) == ["straight away"]


async def test_a_message_due_later_waits_for_its_time(
        pg: Database, clock: FixedClock, teams_double: TeamsDouble, make_worker: WorkerFactory) -> None:
    """NOTIFY is for what may go now: a message due later is neither sent early nor lost."""
    first, second = await add_people(pg, clock, teams_double, 2)
    worker = make_worker(poll_seconds=AN_HOUR, listen_poll_seconds=AN_HOUR)
    worker.start()

    async def asleep_listening() -> bool:
        return worker.status().listening and worker.waiting

    await eventually(asleep_listening)
    await put(pg, clock, "later", person=first.aad_object_id, text="tomorrow",
              due_at=clock.now() + timedelta(days=1))
    await put(pg, clock, "now", person=second.aad_object_id, text="today")

    await teams_double.wait_for_sent(1, chat_id(second), timeout=10)
    assert texts(teams_double, chat_id(first)) == []


async def test_the_listener_drops_the_worker_polls_then_listens_again(
        pg: Database, clock: FixedClock, teams_double: TeamsDouble, make_worker: WorkerFactory) -> None:
    first, second, third = await add_people(pg, clock, teams_double, 3)
    may_connect = asyncio.Event()
    may_connect.set()
    connect = engine_connect(pg.engine)

    async def gated_connect() -> asyncpg.Connection:
        await may_connect.wait()  # holds a reconnection back while the test looks at the fallback
        return await connect()

    listener = OutboxListener(gated_connect, check_seconds=0.2, retry_seconds=0.05, retry_cap_seconds=0.2)
    # Fast polling without a listener, an hour's with one: which of the two sent a message is plain.
    worker = make_worker(poll_seconds=0.05, listen_poll_seconds=AN_HOUR, wakeup=listener)
    worker.start()

    async def is_listening() -> bool:
        return worker.status().listening

    async def is_polling() -> bool:
        return not worker.status().listening

    await eventually(is_listening)
    await put(pg, clock, "a", person=first.aad_object_id, text="first")
    await teams_double.wait_for_sent(1, chat_id(first), timeout=10)

    # The listening connection is cut by the server (as a failover or a network cut would) and cannot come back.
    may_connect.clear()
    pid = listener.server_pid
    assert pid is not None
    admin = await asyncpg.connect(_asyncpg_dsn(pg.url))
    try:
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
    finally:
        await admin.close()
    await eventually(is_polling)

    await put(pg, clock, "b", person=second.aad_object_id, text="second")
    await teams_double.wait_for_sent(1, chat_id(second), timeout=10)  # found by the poll
    status = worker.status()
    assert status.alive and status.state == "running"

    async def asleep_listening() -> bool:
        return worker.status().listening and worker.waiting

    may_connect.set()
    await eventually(asleep_listening)
    await put(pg, clock, "c", person=third.aad_object_id, text="third")
    await teams_double.wait_for_sent(1, chat_id(third), timeout=10)  # NOTIFY again: the poll is an hour
    assert [texts(teams_double, chat_id(m)) for m in (first, second, third)] == [["first"], ["second"], ["third"]]
    assert teams_double.duplicates() == {}


async def test_on_sqlite_the_worker_polls(db: Database, clock: FixedClock, teams_double: TeamsDouble,
                                          make_worker: WorkerFactory) -> None:
    if db.is_postgres:
        pytest.skip("the SQLite path")
    [member] = await add_people(db, clock, teams_double, 1)
    worker = make_worker(poll_seconds=0.05, listen_poll_seconds=AN_HOUR)
    worker.start()
    await put(db, clock, "k", person=member.aad_object_id, text="polled")

    await teams_double.wait_for_sent(1, chat_id(member), timeout=10)
    assert not worker.status().listening


@pytest.fixture
async def bot_with_worker(pg: Database, token_issuer: TokenIssuer, teams_double: TeamsDouble,
                          clock: FixedClock) -> AsyncIterator[BotHarness]:
    """The whole app with RUN_WORKER=true, its delivery worker polling once an hour while it listens."""
    app = create_app(bot_settings(pg.url, token_issuer, run_worker=True), clock=clock,
                     outbound=StaticTokenProvider())
    app[TOKENS] = StaticTokenProvider()
    runtime = app[DELIVERY]
    runtime.config = replace(runtime.config, poll_seconds=AN_HOUR, listen_poll_seconds=AN_HOUR,
                             heartbeat_seconds=0.2)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as http:
            yield BotHarness(server=server, http=http, issuer=token_issuer, teams=teams_double, clock=clock, app=app)
    finally:
        await server.close()


async def test_a_facilitators_publish_reaches_the_invitees_without_waiting_for_the_poll(
        bot_with_worker: BotHarness, teams_double: TeamsDouble) -> None:
    harness = bot_with_worker
    invitees = [make_member(7400 + i) for i in range(3)]
    for member in invitees:
        await add_volunteer(harness, member, ally=True)
    await make_facilitator(harness)
    runtime = harness.app[DELIVERY]

    async def asleep_listening() -> bool:
        worker = runtime.worker
        return worker is not None and worker.status().listening and worker.waiting

    await eventually(asleep_listening)  # asleep for an hour unless NOTIFY wakes it
    result = await harness.app[SESSIONS].create(FACILITATOR.aad_object_id, draft(harness), publish=True)
    assert result.outcome == "done"

    # Each invitee's 1:1 chat is opened through the Connector, then the invitation goes into it.
    await teams_double.wait_for(lambda: all(teams_double.conversation_for(m.aad_object_id)
                                            and teams_double.sent(teams_double.conversation_for(m.aad_object_id))
                                            for m in invitees), timeout=10)
    assert teams_double.duplicates() == {}

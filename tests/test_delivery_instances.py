"""Several workers on one outbox (design §7): one worker sends at a time (one rate budget), another takes over
when it stops, and no message is sent twice; on PostgreSQL claims never overlap either. On SQLite the other
worker is another process started on the same file by mistake (its own engine): it stands by."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from bot.clock import FixedClock
from bot.delivery.leader import SoleInstance
from storage.db import Database
from storage.repositories.outbox import OutboxRepository
from tests.doubles.teams import TeamsDouble
from tests.test_delivery_support import (
    WorkerFactory,
    add_people,
    chat_id,
    eventually,
    make_worker,
    put,
    rows,
    texts,
)

__all__ = ["make_worker"]


@pytest.fixture
async def pg(db: Database) -> Database:
    if not db.is_postgres:
        pytest.skip("several instances share an outbox only on PostgreSQL")
    return db


@pytest.fixture
async def second_pool(db: Database) -> AsyncIterator[Database]:
    """A second engine: another process as far as the database can tell (its own sessions and locks)."""
    other = Database(db.url)
    yield other
    await other.dispose()


async def enqueue_many(db: Database, clock: FixedClock, teams: TeamsDouble, count: int) -> None:
    teams.set_limits(global_per_second=None)
    for member in await add_people(db, clock, teams, count):
        await put(db, clock, f"k:{member.aad_object_id}", person=member.aad_object_id, text=f"to {member.name}")


async def test_concurrent_claims_skip_each_others_rows(pg: Database, second_pool: Database, clock: FixedClock,
                                                       teams_double: TeamsDouble) -> None:
    await enqueue_many(pg, clock, teams_double, 40)
    lease = clock.now() + timedelta(seconds=30)
    async with pg.transaction() as first_session:
        first = await OutboxRepository(first_session).claim(owner="a", now=clock.now(), lease_until=lease, limit=25,
                                                            max_attempts=8, skip_locked=True)
        # The first transaction still holds its row locks: the second must skip those rows, not wait for them.
        async with asyncio.timeout(5), second_pool.transaction() as second_session:
            second = await OutboxRepository(second_session).claim(
                owner="b", now=clock.now(), lease_until=lease, limit=25, max_attempts=8, skip_locked=True)
    assert len(first) == 25 and len(second) == 15
    assert not {m.id for m in first} & {m.id for m in second}


async def test_two_workers_deliver_everything_once_with_one_sender(
        db: Database, second_pool: Database, clock: FixedClock, teams_double: TeamsDouble,
        make_worker: WorkerFactory) -> None:
    await enqueue_many(db, clock, teams_double, 120)
    teams_double.latency(20, 10)
    a = make_worker(rate_per_second=200.0)
    b = make_worker(database=second_pool, rate_per_second=200.0)
    a.start()
    b.start()

    await teams_double.wait_for(lambda: len(teams_double.sent()) >= 120, timeout=20)

    async def all_sent() -> bool:
        return {m.status for m in await rows(db)} == {"sent"}

    await eventually(all_sent)
    assert teams_double.duplicates() == {}
    assert len(teams_double.sent()) == 120
    assert sorted([a.status().leader, b.status().leader]) == [False, True]  # one rate budget: one sender


async def test_a_standby_worker_takes_over_when_the_sender_stops(
        db: Database, second_pool: Database, clock: FixedClock, teams_double: TeamsDouble,
        make_worker: WorkerFactory) -> None:
    await enqueue_many(db, clock, teams_double, 80)
    teams_double.latency(20, 10)
    a = make_worker(rate_per_second=40.0)
    a.start()
    await teams_double.wait_for(lambda: len(teams_double.sent()) >= 10, timeout=10)
    b = make_worker(database=second_pool, rate_per_second=200.0, heartbeat_seconds=0.05)
    b.start()
    await a.stop()  # graceful: what waited for its turn goes back to pending at once

    await teams_double.wait_for(lambda: len(teams_double.sent()) >= 80, timeout=20)
    assert b.status().leader
    assert teams_double.duplicates() == {}


async def test_two_senders_at_once_still_never_send_a_message_twice(
        pg: Database, second_pool: Database, clock: FixedClock, teams_double: TeamsDouble,
        make_worker: WorkerFactory) -> None:
    """Even without leadership (e.g. a leader that lost its session while requests were in the air) claims
    with SKIP LOCKED keep two senders apart."""
    await enqueue_many(pg, clock, teams_double, 120)
    teams_double.latency(20, 10)
    a = make_worker(leadership=SoleInstance(), rate_per_second=200.0)
    b = make_worker(database=second_pool, leadership=SoleInstance(), rate_per_second=200.0)

    await asyncio.gather(a.run_until_idle(timeout=20), b.run_until_idle(timeout=20))

    assert teams_double.duplicates() == {}
    assert len(teams_double.sent()) == 120
    senders = {r.authorization for r in teams_double.requests}
    assert senders == {"Bearer test-token"}
    assert {m.status for m in await rows(pg)} == {"sent"}
    owners = {m.sent_conversation_id for m in await rows(pg)}
    assert len(owners) == 120



async def test_a_new_sender_keeps_to_the_chats_window_the_last_sender_filled(
        db: Database, clock: FixedClock, teams_double: TeamsDouble, make_worker: WorkerFactory) -> None:
    """Issue 23 item 2: the sender changes hands while one chat's window at Teams (7 per second, 8 per 2 s) is
    full of the old sender's requests. The new one reads them back from outbox_attempts and waits its turn, so
    Teams answers no 429 (each would pause every chat for its Retry-After)."""
    [member] = await add_people(db, clock, teams_double, 1)
    for n in range(12):
        await put(db, clock, f"m{n}", person=member.aad_object_id, text=f"message {n}")
    first = make_worker()
    first.start()
    await teams_double.wait_for(lambda: len(teams_double.sent()) >= 7, timeout=20)
    await first.stop()  # what waited for its turn goes back at once: the next sender can take over at once

    await make_worker().run_until_idle(timeout=20)

    assert texts(teams_double, chat_id(member)) == [f"message {n}" for n in range(12)]
    assert {r.status for r in teams_double.requests} == {201}
    times = sorted(r.at for r in teams_double.requests)  # where Teams counts: at the double
    for i in range(len(times) - 7):
        assert times[i + 7] - times[i] >= 1.0
    for i in range(len(times) - 8):
        assert times[i + 8] - times[i] >= 2.0

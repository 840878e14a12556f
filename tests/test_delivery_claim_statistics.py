"""The claimer keeps the outbox's planner statistics fresh on PostgreSQL (bot.delivery.claiming.refresh_statistics):
a broadcast enqueued on top of stale statistics made PostgreSQL plan the claim as a read of every pending row and
a sort (690 ms a claim at 100,000 pending, bench/delivery.py), so once enough rows changed the claimer runs
ANALYZE itself before it claims. On SQLite there is nothing to do."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import text

from bot.clock import FixedClock
from bot.delivery import outbox
from bot.delivery.claiming import Claims, Delivery, refresh_statistics
from storage.db import Database


async def enqueue(db: Database, clock: FixedClock, count: int) -> None:
    async with db.transaction() as session:
        for i in range(count):
            await outbox.enqueue(session, key=f"stats:{i}", recipient=outbox.Recipient.person(f"p{i}"),
                                 message=outbox.Message(text=f"message {i}"), purpose="test", now=clock.now())
        if db.is_postgres:
            # A backend reports its row counts to the statistics system when it is next idle, at most once a
            # second unless asked: asked, it reports them before it answers the COMMIT.
            await session.execute(text("SELECT pg_stat_force_next_flush()"))


async def last_analyzed(db: Database) -> datetime | None:
    async with db.read() as session:
        value: datetime | None = (await session.execute(text(
            "SELECT greatest(last_analyze, last_autoanalyze) FROM pg_stat_user_tables "
            "WHERE relid = 'outbox'::regclass"))).scalar()
        return value


async def test_the_outbox_is_analysed_once_enough_rows_changed(db: Database, clock: FixedClock) -> None:
    await enqueue(db, clock, 20)
    # Far more changes asked for than any test database holds: nothing is done.
    assert await refresh_statistics(db, after_changes=10**9) is False
    analysed = await refresh_statistics(db, after_changes=20)
    assert analysed is db.is_postgres
    if db.is_postgres:
        assert await last_analyzed(db) is not None
        # ANALYZE starts the count again: nothing changed since, so nothing is done.
        assert await refresh_statistics(db, after_changes=1) is False


async def test_a_claim_analyses_first_then_claims(db: Database, clock: FixedClock) -> None:
    await enqueue(db, clock, 5)
    before = await last_analyzed(db) if db.is_postgres else None
    carried: list[int] = []

    async def deliver(delivery: Delivery) -> bool:
        carried.append(delivery.claimed.id)
        return False

    claims = Claims(db, clock, "test-worker", lease_seconds=15, max_attempts=5, max_in_flight=10,
                    deliver=deliver, wake=lambda: None, analyze_after_changes=5)
    assert await claims.claim(10) == 5
    await claims.all_done()
    assert len(carried) == 5
    if db.is_postgres:
        after = await last_analyzed(db)
        assert after is not None and (before is None or after > before)

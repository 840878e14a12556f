"""Claiming (design §7): which messages this worker holds. Due messages are claimed in batches, at most one per
recipient at a time (so each recipient's messages go in order), and each is carried by a task of its own; the
heartbeat renews the leases of what is held, and a message whose lease ran out (its worker died) is claimed
again by whoever claims next.

On PostgreSQL the claimer also keeps the outbox's planner statistics fresh (refresh_statistics): the claim query's
plan depends on them, and a broadcast changes the table faster than autovacuum analyses it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import text

from bot.clock import Clock
from storage.db import Database
from storage.repositories.outbox import Attempt, Claimed, OutboxRepository


@dataclass
class Delivery:
    """One claimed message on its way, with the requests made for it so far."""

    claimed: Claimed
    attempts: list[Attempt] = field(default_factory=list)


# PostgreSQL plans the claim from the outbox's statistics. Right after a broadcast is enqueued they still describe
# the table as it was before (autovacuum analyses a minute or more later, and on a table that holds many finished
# messages its 10 % threshold may not be reached during a broadcast at all). Measured with 100,000 just enqueued
# (bench/delivery.py): the planner, expecting a handful of pending rows, read every pending row, looked for an
# earlier open message for each and sorted them all, 690 ms a claim; once analysed it reads the (status, due_at,
# id) index in order and stops at the batch, 0.6 ms. So the claimer analyses the outbox itself once this many rows
# were inserted, updated or deleted since the last ANALYZE (by anyone). Sending changes two rows a message, so at
# 50 messages/s that is one ANALYZE (about 0.1 to 0.3 s at 100,000 rows) every 100 s.
ANALYZE_AFTER_CHANGES = 10_000


async def refresh_statistics(database: Database, *, after_changes: int = ANALYZE_AFTER_CHANGES) -> bool:
    """ANALYZE the outbox on PostgreSQL when at least `after_changes` of its rows changed since it was last
    analysed; True when it did. Nothing on SQLite (its planner does not mislead this query)."""
    if not database.is_postgres:
        return False
    async with database.transaction() as session:
        changed = (await session.execute(text(
            "SELECT n_mod_since_analyze FROM pg_stat_user_tables WHERE relid = 'outbox'::regclass"))).scalar()
        if changed is None or changed < after_changes:
            return False
        await session.execute(text("ANALYZE outbox"))
    return True


# Carries one message to its recorded outcome; True when its recipient has another message due behind it.
Deliver = Callable[[Delivery], Awaitable[bool]]


class Claims:
    def __init__(self, database: Database, clock: Clock, owner: str, *, lease_seconds: float, max_attempts: int,
                 max_in_flight: int, deliver: Deliver, wake: Callable[[], None],
                 analyze_after_changes: int = ANALYZE_AFTER_CHANGES) -> None:
        """`deliver` carries each claimed message; `wake` asks the worker's loop to claim again (a finished
        message's recipient has another waiting, or half the room is free); `analyze_after_changes`: see
        refresh_statistics."""
        self._db = database
        self._clock = clock
        self._owner = owner
        self._lease = timedelta(seconds=lease_seconds)
        self._max_attempts = max_attempts
        self._max_in_flight = max_in_flight
        self._deliver = deliver
        self._wake = wake
        self._analyze_after_changes = analyze_after_changes
        self._tasks: dict[int, asyncio.Task[None]] = {}

    @property
    def in_flight(self) -> int:
        """Messages held: waiting for their turn, in the air, or having their outcome written."""
        return len(self._tasks)

    def lease_until(self, now: datetime) -> datetime:
        return now + self._lease

    async def claim(self, room: int) -> int:
        """Claim up to `room` due messages and start carrying each; how many were claimed."""
        if room <= 0:
            return 0
        await refresh_statistics(self._db, after_changes=self._analyze_after_changes)
        now = self._clock.now()
        async with self._db.transaction() as session:
            claimed = await OutboxRepository(session).claim(
                owner=self._owner, now=now, lease_until=self.lease_until(now), limit=room,
                max_attempts=self._max_attempts, skip_locked=self._db.is_postgres)
        for message in claimed:
            if message.id in self._tasks:  # our own lease ran out while we still hold it (database hiccup)
                continue
            self._tasks[message.id] = asyncio.create_task(self._carry(Delivery(message)),
                                                          name=f"deliver-{message.id}")
        return len(claimed)

    async def renew_leases(self, now: datetime) -> None:
        if self._tasks:
            async with self._db.transaction() as session:
                await OutboxRepository(session).renew_leases(self._owner, self.lease_until(now))

    async def first_done(self) -> None:
        """Wait until one of the held messages is done."""
        if self._tasks:
            await asyncio.wait(list(self._tasks.values()), return_when=asyncio.FIRST_COMPLETED)

    async def all_done(self) -> None:
        """Wait until every held message is done."""
        if self._tasks:
            await asyncio.gather(*self._tasks.values(), return_exceptions=True)

    async def _carry(self, delivery: Delivery) -> None:
        try:
            successor = await self._deliver(delivery)
        finally:
            self._tasks.pop(delivery.claimed.id, None)
        if successor or len(self._tasks) <= self._max_in_flight // 2:
            self._wake()

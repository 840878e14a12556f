"""Claiming (design §7): which messages this worker holds. Due messages are claimed in batches, at most one per
recipient at a time (so each recipient's messages go in order), and each is carried by a task of its own; the
heartbeat renews the leases of what is held, and a message whose lease ran out (its worker died) is claimed
again by whoever claims next."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.clock import Clock
from storage.db import Database
from storage.repositories.outbox import Attempt, Claimed, OutboxRepository


@dataclass
class Delivery:
    """One claimed message on its way, with the requests made for it so far."""

    claimed: Claimed
    attempts: list[Attempt] = field(default_factory=list)


# Carries one message to its recorded outcome; True when its recipient has another message due behind it.
Deliver = Callable[[Delivery], Awaitable[bool]]


class Claims:
    def __init__(self, database: Database, clock: Clock, owner: str, *, lease_seconds: float, max_attempts: int,
                 max_in_flight: int, deliver: Deliver, wake: Callable[[], None]) -> None:
        """`deliver` carries each claimed message; `wake` asks the worker's loop to claim again (a finished
        message's recipient has another waiting, or half the room is free)."""
        self._db = database
        self._clock = clock
        self._owner = owner
        self._lease = timedelta(seconds=lease_seconds)
        self._max_attempts = max_attempts
        self._max_in_flight = max_in_flight
        self._deliver = deliver
        self._wake = wake
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

"""Crash safety (design §7) with the real command: `python -m bot worker` is killed with SIGKILL while requests
are in the air, restarted, and every message arrives; only messages in flight at the kill may arrive twice."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.clock import FixedClock
from storage.db import Database
from tests.doubles.teams import TeamsDouble
from tests.test_delivery_support import add_people, eventually, put, rows

REPO = Path(__file__).resolve().parents[1]
LEASE_SECONDS = 5


@asynccontextmanager
async def worker_process(db_url: str) -> AsyncIterator[asyncio.subprocess.Process]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("MICROSOFT_", "DATABASE_"))}
    env.update(DATABASE_URL=db_url, SEND_RATE_PER_SECOND="20", DELIVERY_LEASE_SECONDS=str(LEASE_SECONDS),
               LOG_LEVEL="WARNING")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "worker", "--static-token", "crash-test", "--poll-seconds", "0.05",
        "--heartbeat-seconds", "0.5", cwd=REPO, env=env, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE)
    try:
        yield process
    finally:
        if process.returncode is None:
            process.terminate()
            await process.wait()


@pytest.mark.slow
async def test_after_kill_9_and_a_restart_every_message_arrives(db: Database, db_url: str,
                                                                 teams_double: TeamsDouble) -> None:
    # The worker process keeps real time, so the messages are due by the system clock.
    clock = FixedClock(datetime.now(UTC) - timedelta(minutes=1))
    teams_double.set_limits(global_per_second=None)
    teams_double.latency(150, 50)  # requests stay in the air long enough to be cut off
    members = await add_people(db, clock, teams_double, 40)
    for member in members:
        await put(db, clock, f"k:{member.aad_object_id}", person=member.aad_object_id, text=f"to {member.name}")

    async with worker_process(db_url) as first:
        await teams_double.wait_for(lambda: len(teams_double.sent()) >= 15, timeout=30)
        first.send_signal(signal.SIGKILL)
        await first.wait()
    in_flight = sum(1 for message in await rows(db) if message.status == "sending")

    async with worker_process(db_url) as second:
        async def all_sent() -> bool:
            return {message.status for message in await rows(db)} == {"sent"}

        await eventually(all_sent, timeout=LEASE_SECONDS + 30)
        second.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(second.wait(), 20) == 0

    delivered = teams_double.send_counts()
    assert len(delivered) == len(members), "every recipient got their message"
    duplicated = sum(teams_double.duplicates().values()) - len(teams_double.duplicates())
    assert duplicated <= in_flight

"""Wake-up benchmark (issue 23, item 3): how long from a facilitator's Publish to the first invitation's request
at the Teams double, with the delivery worker in its own process (`python -m bot worker`, as deployed).

Each round publishes a new session to the same invitees through the service the chat's and the desk's Publish
call (SessionService.create(..., publish=True): the invitations go into the outbox in its transaction), then
waits until the double has every invitation of the round. A random pause before each round spreads the Publish
over the worker's poll. Figures: "publish": from the call to the first invitation's request at the double;
"commit": from the call's return (its transaction committed) to that request. Median and range of the rounds.

    .venv/bin/python bench/wakeup.py [--rounds 9] [--invitees 20] [--database-url postgresql+asyncpg://...]
    .venv/bin/python bench/wakeup.py --code-dir /tmp/before   # the worker from another tree (e.g. before)

SQLite file by default; with --database-url a new PostgreSQL database of that name is made and dropped.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import aiohttp
from aiohttp.test_utils import TestServer

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scratch_db import scratch_database  # noqa: E402  (bench/, beside this script)

from bot.app import create_app  # noqa: E402
from bot.clock import FixedClock  # noqa: E402
from storage.migrate import upgrade_sync  # noqa: E402
from tests.app_fixtures import BotHarness, bot_settings  # noqa: E402
from tests.doubles.issuer import StaticCredentialsFactory, TokenIssuer  # noqa: E402
from tests.doubles.teams import TeamsDouble  # noqa: E402
from tests.test_announcements_helpers import add_volunteers, personal_chat  # noqa: E402
from tests.test_sessions_helpers import FACILITATOR, draft, make_facilitator, service_of  # noqa: E402


def start_worker(url: str, code_dir: str, extra: list[str]) -> subprocess.Popen[bytes]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("MICROSOFT_", "DATABASE_"))}
    env.update(DATABASE_URL=url, SEND_RATE_PER_SECOND="50", LOG_LEVEL="WARNING", QUIET_HOURS_START="00:00",
               QUIET_HOURS_END="00:00", ERASURE_LOG_PATH=f"{tempfile.mkdtemp(prefix='hny-wakeup-')}/erasures.log")
    return subprocess.Popen([sys.executable, "-m", "bot", "worker", "--static-token", "bench", *extra],
                            cwd=code_dir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def run(args: argparse.Namespace) -> None:
    issuer = TokenIssuer().start()
    teams = await TeamsDouble(global_limit=50).start()
    try:
        async with scratch_database(args.database_url) as url:
            await asyncio.to_thread(upgrade_sync, url)
            await measure(args, url, issuer, teams)
    finally:
        await teams.stop()
        issuer.stop()


async def measure(args: argparse.Namespace, url: str, issuer: TokenIssuer, teams: TeamsDouble) -> None:
    clock = FixedClock(datetime.now(UTC))
    app = create_app(bot_settings(url, issuer, quiet_hours_start=time(0), quiet_hours_end=time(0)), clock=clock,
                     credentials_factory=StaticCredentialsFactory(issuer.app_id))
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()  # runs the app's start-up steps (the privacy notice the volunteers agreed to)
    worker: subprocess.Popen[bytes] | None = None
    try:
        async with aiohttp.ClientSession() as http:
            harness = BotHarness(server=server, http=http, issuer=issuer, teams=teams, clock=clock, app=app)
            invitees = await add_volunteers(harness, args.invitees, first=6000, spaces=("ally",))
            await make_facilitator(harness)
            chats = {personal_chat(member) for member in invitees}
            worker = start_worker(url, args.code_dir, args.worker_arg)
            loop = asyncio.get_running_loop()
            publish, commit = [], []
            for round_no in range(args.rounds + 1):  # the first is a warm-up: the worker starting
                await asyncio.sleep(random.uniform(0.5, 1.5))  # a bench: spreads the Publish over the poll
                clock.set(datetime.now(UTC))
                seen = len(teams.requests)
                started = loop.time()
                result = await service_of(harness).create(
                    FACILITATOR.aad_object_id, draft(harness, space="ally", starts_in=timedelta(days=7)),
                    publish=True)
                committed = loop.time()
                assert result.outcome == "done"

                def round_requests(seen: int = seen) -> list[float]:
                    return [r.at for r in teams.requests[seen:] if r.conversation_id in chats]

                await teams.wait_for(lambda: len(round_requests()) >= len(chats), timeout=120)
                first = min(round_requests())
                if round_no:
                    publish.append((first - started) * 1000)
                    commit.append((first - committed) * 1000)
                    print(f"round {round_no}: publish {publish[-1]:.1f} ms, commit {commit[-1]:.1f} ms", flush=True)
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(timeout=30)
        await server.close()
    database = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
    print(f"{database}, worker from {args.code_dir} {' '.join(args.worker_arg)}, {args.rounds} rounds, "
          f"{args.invitees} invitees: publish → first invitation at the double: median "
          f"{statistics.median(publish):.1f} ms "
          f"({min(publish):.1f} to {max(publish):.1f}); commit → first invitation: median "
          f"{statistics.median(commit):.1f} ms ({min(commit):.1f} to {max(commit):.1f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--invitees", type=int, default=20)
    parser.add_argument("--database-url", default=None,
                        help="postgresql+asyncpg://user@host:port/new_name (made and dropped); default SQLite")
    parser.add_argument("--code-dir", default=str(ROOT), help="the tree the worker runs from")
    parser.add_argument("--worker-arg", action="append", default=[], help="an extra argument for the worker")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()

"""Two web instances and two workers on one PostgreSQL, as docs/deploy.md describes them (issue 23, item 2), as real
processes against the Teams double: web instances with RUN_WORKER=false serve the turns, `python -m bot worker`
twice runs the background jobs. A broadcast in progress survives SIGKILL of the sending worker: the other takes
over within the lease, nothing is lost, duplicates stay within what was in flight; only one worker sends at a time
(each worker sends its own static token, so the double tells them apart); the new sender starts its rate windows
from outbox_attempts, so no second at the double holds more than Teams' 50 and nothing is answered 429; a
reminder that both workers' ticks find due fires once.

PostgreSQL only. The web instances are this module run as a program (`python -m tests.test_failover web ...`):
the real app, whose replies take a static outbound token as the other tests' (there is no token service here).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from sqlalchemy import func, select

from bot.app import create_app
from bot.clock import FixedClock
from bot.delivery.tokens import StaticTokenProvider
from bot.settings import Settings
from storage.db import Database
from storage.models import OutboxMessage
from tests.app_fixtures import BotHarness, bot_settings
from tests.doubles.issuer import TokenIssuer
from tests.doubles.teams import DEFAULT_TENANT_ID, TeamsDouble, make_member
from tests.test_announcements_helpers import AUTHOR, add_volunteers, announce
from tests.test_reminders_e2e import reminders_in_chat
from tests.test_sessions_helpers import add_volunteer, press_execute, publish
from vocabulary.actions.sessions import INVITATION_ACCEPT
from vocabulary.words import Role

ROOT = Path(__file__).resolve().parent.parent
RECIPIENTS = 400
LEASE_SECONDS = 8
TEAMS_LIMIT = 50  # requests per second for the app, Teams' documented limit; the workers send at it
WORKER_TOKENS = ("worker-1", "worker-2")
# No quiet hours: the test must not depend on the time of day it runs at.
NO_QUIET_HOURS = {"QUIET_HOURS_START": "00:00", "QUIET_HOURS_END": "00:00"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def child_env(**values: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("MICROSOFT_", "DATABASE_", "TEST_DATABASE"))}
    env.update(NO_QUIET_HOURS, LOG_LEVEL="WARNING", PYTHONUNBUFFERED="1", **values)
    return env


@dataclass
class Remote(BotHarness):
    """A harness whose turns go to a web instance in another process."""

    base_url: str = ""

    @property
    def url(self) -> str:
        return f"{self.base_url}api/messages"


@pytest.fixture
def pg_url(db_url: str) -> str:
    if not db_url.startswith("postgresql"):
        pytest.skip("several instances share one database only on PostgreSQL")
    return db_url


class Processes:
    """The bot's processes, killed at the end whatever happened; their logs under tmp_path for a failure."""

    def __init__(self, logs: Path) -> None:
        self._logs = logs
        self.running: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, command: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        log = (self._logs / f"{name}.log").open("wb")
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        self.running[name] = process
        return process

    def log(self, name: str) -> str:
        return (self._logs / f"{name}.log").read_text(errors="replace")[-4000:]

    def stop_all(self) -> None:
        for process in self.running.values():
            if process.poll() is None:
                process.terminate()
        for process in self.running.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    running = Processes(tmp_path)
    try:
        yield running
    finally:
        running.stop_all()


async def until(condition: Callable[[], Awaitable[bool]], timeout: float = 30.0) -> None:  # noqa: ASYNC109
    """Poll a condition that other processes make true, with a timeout."""
    async with asyncio.timeout(timeout):
        while not await condition():  # noqa: ASYNC110 (other processes' progress: nothing to wait on here)
            await asyncio.sleep(0.05)


async def web_instance(processes: Processes, name: str, db_url: str, issuer: TokenIssuer,
                       tmp_path: Path) -> str:
    port = free_port()
    processes.start(name, [sys.executable, "-m", "tests.test_failover", "web", "--port", str(port),
                           "--database-url", db_url, "--app-id", issuer.app_id, "--metadata-url",
                           issuer.metadata_url, "--issuer", issuer.issuer,
                           "--erasure-log", str(tmp_path / f"erasures-{name}.log")], child_env())
    base = f"http://127.0.0.1:{port}/"

    async def answers() -> bool:
        try:
            async with aiohttp.ClientSession() as http, http.get(base + "healthz") as response:
                return response.status in (200, 503)
        except aiohttp.ClientError:
            return False

    try:
        await until(answers, timeout=60)
    except TimeoutError:
        raise AssertionError(f"{name} did not start:\n{processes.log(name)}") from None
    return base


def start_worker(processes: Processes, name: str, token: str, db_url: str, tmp_path: Path) -> int:
    process = processes.start(name, [
        sys.executable, "-m", "bot", "worker", "--static-token", token, "--heartbeat-seconds", "0.2"],
        child_env(DATABASE_URL=db_url, SEND_RATE_PER_SECOND=str(TEAMS_LIMIT),
                  DELIVERY_LEASE_SECONDS=str(LEASE_SECONDS), ERASURE_LOG_PATH=str(tmp_path / f"erasures-{name}.log")))
    return process.pid


def busiest_second(times: list[float]) -> int:
    ordered = sorted(times)
    return max((sum(1 for t in ordered if start <= t < start + 1.0) for start in ordered), default=0)


async def announcement_statuses(database: Database) -> Counter[str]:
    async with database.read() as session:
        rows = await session.execute(select(OutboxMessage.status, func.count())
                                     .where(OutboxMessage.purpose == "announcement").group_by(OutboxMessage.status))
        return Counter({status: int(n) for status, n in rows.all()})


async def held_by(database: Database, pid: int, *, leased_after: datetime | None = None) -> int:
    """Messages claimed by the worker process `pid` (its id is host:pid:random), still within their lease."""
    async with database.read() as session:
        query = select(func.count()).where(OutboxMessage.status == "sending",
                                           OutboxMessage.lease_owner.like(f"%:{pid}:%"))
        if leased_after is not None:
            query = query.where(OutboxMessage.lease_until > leased_after)
        return int((await session.execute(query)).scalar_one())


@asynccontextmanager
async def setup_bot(db_url: str, issuer: TokenIssuer, teams: TeamsDouble) -> AsyncIterator[BotHarness]:
    """The app in this process, for writing the world through its services (it serves no turn of the test)."""
    clock = FixedClock(datetime.now(UTC))
    app = create_app(bot_settings(db_url, issuer, quiet_hours_start=time(0), quiet_hours_end=time(0)), clock=clock,
                     outbound=StaticTokenProvider())
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as http:
            yield BotHarness(server=server, http=http, issuer=issuer, teams=teams, clock=clock, app=app)
    finally:
        await server.close()


async def test_a_broadcast_survives_the_sending_worker_killed_and_a_reminder_fires_once(
        pg_url: str, token_issuer: TokenIssuer, teams_double: TeamsDouble, processes: Processes,
        tmp_path: Path) -> None:
    teams = teams_double
    teams.set_limits(per_conversation=True, global_per_second=TEAMS_LIMIT)
    teams.latency(20, 10)
    booked = make_member(7500)

    # The world: volunteers who chat with the bot, an author, a session starting in 59 minutes (its last
    # reminder, owed to everyone with a place, is due) with one place taken below.
    async with setup_bot(pg_url, token_issuer, teams) as local:
        volunteers = await add_volunteers(local, RECIPIENTS, first=8000)
        await local.core.roles.grant("test", AUTHOR.aad_object_id, Role.FACILITATOR)
        await add_volunteer(local, booked, ally=True)
        session_id = await publish(local, space="ally", capacity=5, starts_in=timedelta(minutes=59),
                                   join_url="https://teams.microsoft.com/l/meetup-join/19%3afailover/0")

        web_a, web_b = await asyncio.gather(web_instance(processes, "web-a", pg_url, token_issuer, tmp_path),
                                            web_instance(processes, "web-b", pg_url, token_issuer, tmp_path))
        harness = {name: Remote(server=local.server, http=local.http, issuer=token_issuer, teams=teams,
                                clock=local.clock, app=local.app, base_url=base)
                   for name, base in (("a", web_a), ("b", web_b))}
        # Turns go to either instance, as a load balancer would send them.
        await press_execute(harness["b"], INVITATION_ACCEPT.name, {"session_id": session_id}, booked)
        await announce(harness["a"], spaces="minoritised")
        database = local.core.database

        # Two workers beside them.
        pids = {token: start_worker(processes, f"worker-{n}", token, pg_url, tmp_path)
                for n, token in enumerate(WORKER_TOKENS, start=1)}

        def by(token: str) -> list[float]:
            return [r.at for r in teams.requests if r.authorization == f"Bearer {token}"]

        personal = {f"a:personal-{member.aad_object_id}" for member in volunteers}

        def announced() -> int:
            return sum(1 for r in teams.requests if r.route == "send" and r.status == 201
                       and r.conversation_id in personal)

        await teams.wait_for(lambda: announced() >= RECIPIENTS // 3, timeout=60)
        leader = WORKER_TOKENS[0] if len(by(WORKER_TOKENS[0])) > len(by(WORKER_TOKENS[1])) else WORKER_TOKENS[1]
        other = WORKER_TOKENS[1] if leader == WORKER_TOKENS[0] else WORKER_TOKENS[0]
        assert by(other) == [], "only the leader sends"

        os.kill(pids[leader], signal.SIGKILL)
        processes.running[f"worker-{WORKER_TOKENS.index(leader) + 1}"].wait()
        killed_at = asyncio.get_running_loop().time()  # the double's clock: monotonic, in this process
        in_flight = await held_by(database, pids[leader])

        # The other takes over while the dead one's claims are still within their lease.
        await teams.wait_for(lambda: bool(by(other)), timeout=LEASE_SECONDS)
        assert in_flight == 0 or await held_by(database, pids[leader], leased_after=datetime.now(UTC)) > 0

        async def all_sent() -> bool:
            statuses = await announcement_statuses(database)
            return bool(statuses) and set(statuses) == {"sent"}

        await until(all_sent, timeout=LEASE_SECONDS + 40)
        await teams.wait_for(lambda: len(reminders_in_chat(teams, booked)) >= 1, timeout=30)

        async with aiohttp.ClientSession() as http, http.get(web_b + "healthz") as response:
            health = await response.json()

    # 0 lost: every volunteer has the announcement; duplicates only among the messages in flight at the kill.
    reached = {d.conversation_id for d in teams.delivered if d.conversation_id in personal}
    assert reached == personal
    extra = sum(n - 1 for n in teams.duplicates().values())
    assert extra <= in_flight
    # Only the leader sent: the dead worker's requests all came before the first of the new sender's.
    assert max(by(leader)) < min(by(other))
    # The takeover sent no burst over Teams' limit: the double's busiest second, and no 429 at all.
    requests = [r for r in teams.requests if r.route in ("send", "update", "create")]
    assert busiest_second([r.at for r in requests]) <= TEAMS_LIMIT
    assert not [r for r in requests if r.status == 429]
    # The reminder went once though both workers' ticks found it due (and the killed one had run its tick too).
    assert len(reminders_in_chat(teams, booked)) == 1
    assert health["status"] == "ok" and health["delivery"]["worker"] == "running"

    around = Counter(int(r.at - killed_at + 100) - 100 for r in requests if -3 <= r.at - killed_at < 6)
    print(f"\nin flight at the kill: {in_flight}; duplicates: {extra}; requests per second around the kill "
          f"(0 = the second after it): {dict(sorted(around.items()))}; busiest sliding second: "
          f"{busiest_second([r.at for r in requests])}")


# -- a web instance, run as a program ---------------------------------------------------------------------------

def serve_web(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--app-id", required=True)
    parser.add_argument("--metadata-url", required=True)
    parser.add_argument("--issuer", required=True)
    parser.add_argument("--erasure-log", required=True)
    args = parser.parse_args(argv)
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, microsoft_app_id=args.app_id, microsoft_app_password="test-password",
        microsoft_app_tenant_id=DEFAULT_TENANT_ID, microsoft_app_type="SingleTenant",
        to_bot_from_channel_openid_metadata_url=args.metadata_url, to_bot_from_channel_token_issuer=args.issuer,
        database_url=args.database_url, allowed_tenants=[DEFAULT_TENANT_ID],
        allowed_service_url_hosts=["http://127.0.0.1"], run_worker=False, erasure_log_path=args.erasure_log)
    app = create_app(settings, outbound=StaticTokenProvider())
    web.run_app(app, host="127.0.0.1", port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    if sys.argv[1:2] == ["web"]:
        serve_web(sys.argv[2:])

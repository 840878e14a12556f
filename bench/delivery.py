"""Delivery benchmark (issue 4): N recipients, one message each, sent by `python -m bot worker` through the Bot
Connector double running in its own process with Teams' limits (50 requests/s for the app, per-conversation
windows) and network latency with jitter.

Runs:
  a  no faults: target at least 0.95 of the limit, 0 lost, 0 duplicated
  b  faults: 2 % 503, 1 % 429 (Retry-After 1 s), 1 % of recipients blocked (403): 0 lost, 0 duplicated
  c  run a, with the worker killed by SIGKILL at 50 % and restarted: 0 lost, duplicates <= messages in flight
  clients  (extra) the direct aiohttp client against botbuilder's ConnectorClient, no limits, 50 ms latency

    .venv/bin/python bench/delivery.py [--recipients 10000] [--runs a,b,c] [--database-url postgresql://...]

SQLite file database by default; with --database-url (a PostgreSQL server) each run gets its own new database.
Besides the rate, losses and duplicates, each run prints the time to reach everyone against the floor the limit
sets, the worker's claim timed against the filled table before the worker starts (and, on PostgreSQL, the
EXPLAIN ANALYZE plan of its due query), and the outbox table's and indexes' sizes when seeded and after the run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import event, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scratch_db import scratch_database  # noqa: E402  (bench/, beside this script)
from sqlalchemy import func, insert, select  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from bot.delivery import outbox  # noqa: E402
from bot.delivery.claiming import refresh_statistics  # noqa: E402
from storage.db import Database  # noqa: E402
from storage.migrate import upgrade_sync  # noqa: E402
from storage.models import ConversationRef, OutboxAttempt, OutboxMessage, Person  # noqa: E402
from storage.repositories.outbox import OutboxRepository  # noqa: E402
from tests.doubles.teams import DEFAULT_TENANT_ID, make_member  # noqa: E402

LIMIT = 50
CODE_ROOT = Path(outbox.__file__).resolve().parents[2]  # where the imports came from (a worktree, say)


@dataclass
class Result:
    run: str
    recipients: int
    seconds: float
    message_rate: float
    request_rate: float
    delivered: int
    undeliverable: int
    failed: int
    duplicated: int
    lost: int
    in_flight_at_kill: int | None
    peak_rss_mb: float
    cpu_seconds: float
    statuses: dict[str, int]
    claim_stale: ClaimTiming | None = None
    analyze_ms: float | None = None
    claim: ClaimTiming | None = None
    sizes_seeded: TableSizes | None = None
    sizes_after: TableSizes | None = None


@dataclass
class ClaimTiming:
    """The worker's claim (OutboxRepository.claim, as bot.delivery.claiming calls it) timed against the filled
    table before the worker starts, each call rolled back; and the due query's plan from EXPLAIN ANALYZE."""

    pending: int
    limit: int
    calls: int
    mean_ms: float
    median_ms: float
    max_ms: float
    explain_ms: float | None
    plan: str | None


@dataclass
class TableSizes:
    """PostgreSQL's sizes of the outbox and its attempts: heap and TOAST (table), indexes, and their total."""

    outbox_table_mb: float
    outbox_indexes_mb: float
    outbox_total_mb: float
    attempts_total_mb: float
    index_mb: dict[str, float]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time the process has used so far (Linux)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def peak_rss_mb(pid: int) -> float:
    """The process's high-water mark of resident memory (Linux), read before it exits."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


@asynccontextmanager
async def database_for(run: str, base_url: str | None) -> AsyncIterator[str]:
    """A new, migrated database for one run (on the PostgreSQL server of `base_url`, or a SQLite file)."""
    url = None
    if base_url is not None:
        url = make_url(base_url).set(drivername="postgresql+asyncpg", database=f"hny_bench_delivery_{run}_"
                                     f"{uuid.uuid4().hex[:6]}").render_as_string(hide_password=False)
    async with scratch_database(url) as new_url:
        await asyncio.to_thread(upgrade_sync, new_url)  # Alembic's env runs its own event loop
        yield new_url


async def seed(url: str, service_url: str, recipients: int) -> None:
    """People with a 1:1 conversation reference (they have talked to the bot) and one card each, enqueued
    through the outbox API as a feature would."""
    database = Database(url)
    now = datetime.now(UTC)
    try:
        people, refs = [], []
        for i in range(recipients):
            member = make_member(i)
            people.append(dict(id=member.aad_object_id, tenant_id=DEFAULT_TENANT_ID, created_at=now,
                               last_seen_at=now, announcements_stopped=False, teams_user_id=member.teams_user_id,
                               service_url=service_url))
            refs.append(dict(conversation_id=conversation_of(i), kind="personal", person_id=member.aad_object_id,
                             teams_user_id=member.teams_user_id, service_url=service_url,
                             tenant_id=DEFAULT_TENANT_ID, bot_id="28:bench", installed=True, updated_at=now))
        async with database.transaction() as session:
            await session.execute(insert(Person), people)
            await session.execute(insert(ConversationRef), refs)
        for start in range(0, recipients, 1000):
            async with database.transaction() as session:
                for i in range(start, min(start + 1000, recipients)):
                    member = make_member(i)
                    card = {"type": "AdaptiveCard", "version": "1.5",
                            "body": [{"type": "TextBlock", "text": f"Invitation {i}", "wrap": True}]}
                    await outbox.enqueue(session, key=f"bench:{i}", recipient=outbox.Recipient.person(
                        member.aad_object_id), message=outbox.Message(card=card), purpose="announcement",
                        now=now, batch="bench")
    finally:
        await database.dispose()


def conversation_of(i: int) -> str:
    return f"a:bench-{i:06d}"


def blocked_every(recipients: int) -> list[str]:
    """1 % of recipients: every hundredth."""
    return [conversation_of(i) for i in range(recipients) if i % 100 == 42]


# The double keeps every request and body it has seen; with 10,000 and more, a full garbage collection stalls
# its event loop for tens of milliseconds, after which it stamps a stall's worth of requests with one late time.
# Its sliding second then holds more than was sent in any second, and it answers 429 (10 per 10,000 measured,
# none with its collector off). That is the double's clock, not Teams', so by default it runs with its
# collector off; --double-gc on shows the other figure.
DOUBLE_WITHOUT_GC = ("-c", "import gc, runpy; gc.disable(); "
                     "runpy.run_module('tests.doubles.teams', run_name='__main__', alter_sys=True)")


@asynccontextmanager
async def double_process(*extra: str, gc_on: bool = False) -> AsyncIterator[str]:
    module = ("-m", "tests.doubles.teams") if gc_on else DOUBLE_WITHOUT_GC
    process = await asyncio.create_subprocess_exec(
        sys.executable, *module, "--port", str(free_port()), *extra, cwd=ROOT, stdout=asyncio.subprocess.PIPE)
    try:
        assert process.stdout is not None
        url = (await asyncio.wait_for(process.stdout.readline(), 30)).decode().strip()
        yield url
    finally:
        process.terminate()
        await process.wait()


def start_worker(url: str, rate: float, lease_seconds: int) -> subprocess.Popen[bytes]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("MICROSOFT_", "DATABASE_"))}
    env.update(DATABASE_URL=url, SEND_RATE_PER_SECOND=str(rate), DELIVERY_LEASE_SECONDS=str(lease_seconds),
               LOG_LEVEL="WARNING")
    return subprocess.Popen([sys.executable, "-m", "bot", "worker", "--static-token", "bench"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def counts(url: str) -> dict[str, int]:
    database = Database(url)
    try:
        async with database.read() as session:
            rows = await session.execute(select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status))
            return {status: int(n) for status, n in rows.all()}
    finally:
        await database.dispose()


async def span(url: str) -> tuple[float, int]:
    """Seconds from the first request to the last recorded outcome, and how many requests were made."""
    database = Database(url)
    try:
        async with database.read() as session:
            first, requests = (await session.execute(
                select(func.min(OutboxAttempt.at), func.count()).where(OutboxAttempt.operation != "claim"))).one()
            last = (await session.execute(select(func.max(OutboxMessage.finished_at)))).scalar_one()
        return ((last - first).total_seconds() if first and last else 0.0), int(requests)
    finally:
        await database.dispose()


CLAIM_CALLS = 20


async def time_claims(url: str, pending: int, limit: int = 100, calls: int = CLAIM_CALLS) -> ClaimTiming:
    """Time the claim the worker makes (`limit` = its max_in_flight, 100 by default) against the table as it
    is, `calls` times, each in a transaction that is rolled back so the table is left as found. On PostgreSQL
    also EXPLAIN ANALYZE the due-messages query the claim sent (captured from the cursor)."""
    database = Database(url)
    postgres = database.is_postgres
    captured: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        if "FOR UPDATE" in statement and "EXISTS" in statement:
            captured.append((statement, parameters))

    event.listen(database.engine.sync_engine, "before_cursor_execute", capture)
    times: list[float] = []
    try:
        for _ in range(calls):
            async with database.sessions() as session:
                await session.begin()
                now = datetime.now(UTC)
                started = time.perf_counter()
                await OutboxRepository(session).claim(owner="bench-claim-timer", now=now, lease_until=now,
                                                      limit=limit, max_attempts=5, skip_locked=postgres)
                times.append((time.perf_counter() - started) * 1000)
                await session.rollback()
        explain_ms, plan = None, None
        if postgres and captured:
            statement, parameters = captured[-1]
            async with database.engine.connect() as connection:
                rows = (await connection.exec_driver_sql(
                    "EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)).scalars().all()
                await connection.rollback()
            plan = "\n".join(rows)
            for line in rows:
                if line.startswith("Execution Time:"):
                    explain_ms = float(line.split()[2])
    finally:
        event.remove(database.engine.sync_engine, "before_cursor_execute", capture)
        await database.dispose()
    ordered = sorted(times)
    return ClaimTiming(pending=pending, limit=limit, calls=calls, mean_ms=sum(times) / len(times),
                       median_ms=ordered[len(ordered) // 2], max_ms=ordered[-1], explain_ms=explain_ms, plan=plan)


async def table_sizes(url: str) -> TableSizes | None:
    """Sizes on PostgreSQL (None on SQLite), after an ANALYZE-free read of the catalogue."""
    database = Database(url)
    try:
        if not database.is_postgres:
            return None
        mb = 1024 * 1024
        async with database.read() as session:
            table, indexes, total, attempts = (await session.execute(text(
                "SELECT pg_table_size('outbox'), pg_indexes_size('outbox'), pg_total_relation_size('outbox'), "
                "pg_total_relation_size('outbox_attempts')"))).one()
            per_index = (await session.execute(text(
                "SELECT indexrelid::regclass::text, pg_relation_size(indexrelid) FROM pg_index "
                "WHERE indrelid = 'outbox'::regclass ORDER BY 2 DESC"))).all()
        return TableSizes(outbox_table_mb=table / mb, outbox_indexes_mb=indexes / mb, outbox_total_mb=total / mb,
                          attempts_total_mb=attempts / mb, index_mb={name: size / mb for name, size in per_index})
    finally:
        await database.dispose()


async def double_stats(service_url: str) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http, http.get(service_url + "_double/stats") as response:
        result: dict[str, Any] = await response.json()
        return result


async def wait_until(url: str, done: Any, limit_s: float) -> dict[str, int]:
    deadline = time.monotonic() + limit_s
    while True:
        current = await counts(url)
        if done(current):
            return current
        if time.monotonic() > deadline:
            raise RuntimeError(f"not finished in {limit_s:.0f}s: {current}")
        await asyncio.sleep(1.0)  # polling another process's progress


async def delivery_run(run: str, recipients: int, rate: float, base_url: str | None, latency: float,
                       jitter: float, lease_seconds: int, double_gc: bool, measure_claims: bool = True) -> Result:
    extra = ["--global-limit", str(LIMIT), "--latency-ms", str(latency), "--jitter-ms", str(jitter)]
    blocked: list[str] = []
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as block_file:
        if run == "b":
            blocked = blocked_every(recipients)
            block_file.write("\n".join(blocked))
            extra += ["--p503", "0.02", "--p429", "0.01", "--retry-after", "1", "--block-file", block_file.name]
    try:
        async with double_process(*extra, gc_on=double_gc) as service_url, database_for(run, base_url) as url:
            await seed(url, service_url, recipients)
            claim_stale, analyze_ms, claim = None, None, None
            if measure_claims:
                # As the worker finds the table right after the enqueue, then after the claim path's ANALYZE
                # (bot.delivery.claiming.refresh_statistics; on SQLite it does nothing, so it is timed once).
                claim_stale = await time_claims(url, recipients)
                database = Database(url)
                try:
                    started = time.perf_counter()
                    analyzed = await refresh_statistics(database)
                    elapsed_ms = (time.perf_counter() - started) * 1000
                finally:
                    await database.dispose()
                if analyzed:
                    analyze_ms, claim = elapsed_ms, await time_claims(url, recipients)
            sizes_seeded = await table_sizes(url)
            limit_s = recipients / rate * 4 + 180
            worker = start_worker(url, rate, lease_seconds)
            peak, in_flight, cpu = 0.0, None, 0.0
            try:
                if run == "c":
                    await wait_until(url, lambda c: c.get("sent", 0) >= recipients // 2, limit_s)
                    peak, cpu = peak_rss_mb(worker.pid), cpu_seconds(worker.pid)
                    worker.send_signal(signal.SIGKILL)
                    worker.wait()
                    in_flight = (await counts(url)).get("sending", 0)
                    worker = start_worker(url, rate, lease_seconds)
                await wait_until(url, lambda c: not c.get("pending") and not c.get("sending"), limit_s)
                peak, cpu = max(peak, peak_rss_mb(worker.pid)), cpu + cpu_seconds(worker.pid)
            finally:
                worker.terminate()
                worker.wait(timeout=30)
            statuses = await counts(url)
            seconds, requests = await span(url)
            sizes_after = await table_sizes(url)
            stats = await double_stats(service_url)
    finally:
        os.unlink(block_file.name)
    reached = int(stats["conversations_with_deliveries"])
    undeliverable, failed = statuses.get("undeliverable", 0), statuses.get("failed", 0)
    return Result(
        run=run, recipients=recipients, seconds=seconds,
        message_rate=statuses.get("sent", 0) / seconds if seconds else 0.0,
        request_rate=requests / seconds if seconds else 0.0,
        delivered=reached, undeliverable=undeliverable, failed=failed,
        duplicated=int(stats["duplicate_deliveries"]), lost=recipients - reached - undeliverable - failed,
        in_flight_at_kill=in_flight, peak_rss_mb=peak, cpu_seconds=cpu, statuses=dict(stats["by_status"]),
        claim_stale=claim_stale, analyze_ms=analyze_ms, claim=claim, sizes_seeded=sizes_seeded, sizes_after=sizes_after,
    )


async def clients_run(messages: int, concurrency: int) -> None:
    """Throughput of the two ways to call the Connector, with no limits and 50 ms ± 10 ms latency."""
    from botbuilder.schema import Activity
    from botframework.connector.aio import ConnectorClient as BotbuilderClient
    from botframework.connector.auth import AppCredentials

    from bot.delivery.connector import ConnectorClient

    class Fixed(AppCredentials):  # type: ignore[misc]
        def get_access_token(self, force_refresh: bool = False) -> str:
            return "bench"

    async with double_process("--global-limit", "0", "--no-limits", "--latency-ms", "50", "--jitter-ms",
                              "10") as service_url:
        direct = ConnectorClient()
        botbuilder = BotbuilderClient(Fixed(app_id="bench"), base_url=service_url)
        gate = asyncio.Semaphore(concurrency)

        async def one_direct(i: int) -> None:
            async with gate:
                reply = await direct.send(service_url, f"a:direct-{i}", {"type": "message", "text": "x"}, "bench")
                assert reply.ok

        async def one_botbuilder(i: int) -> None:
            async with gate:
                await botbuilder.conversations.send_to_conversation(
                    f"a:botbuilder-{i}", Activity(type="message", text="x"))

        for name, one in (("direct aiohttp", one_direct), ("botbuilder ConnectorClient", one_botbuilder)):
            started = time.monotonic()
            await asyncio.gather(*(one(i) for i in range(messages)))
            elapsed = time.monotonic() - started
            print(f"  {name:28s} {messages} sends, {concurrency} at once: {messages / elapsed:7.1f} sends/s")
        await direct.close()


def report(result: Result) -> None:
    kill = f", in flight at kill {result.in_flight_at_kill}" if result.in_flight_at_kill is not None else ""
    print(f"run {result.run}: {result.recipients} recipients in {result.seconds:.1f}s; "
          f"{result.message_rate:.2f} messages/s = {result.message_rate / LIMIT:.3f} of the {LIMIT}/s limit "
          f"(requests {result.request_rate:.2f}/s = {result.request_rate / LIMIT:.3f})")
    print(f"       delivered {result.delivered}, undeliverable {result.undeliverable}, failed {result.failed}, "
          f"duplicated {result.duplicated}, lost {result.lost}{kill}")
    print(f"       worker peak RSS {result.peak_rss_mb:.0f} MB, CPU {result.cpu_seconds:.1f}s "
          f"({result.cpu_seconds / result.seconds if result.seconds else 0:.0%} of one core)")
    print(f"       double answered: {result.statuses}", flush=True)
    floor = result.recipients / LIMIT
    print(f"       time to reach everyone {result.seconds / 60:.1f} min (the floor at {LIMIT}/s is "
          f"{floor / 60:.1f} min; {result.seconds / floor:.3f} of it)")
    analyzed = f"after the claim path's ANALYZE ({result.analyze_ms:.0f} ms)" if result.analyze_ms else ""
    for label, c in (("statistics as enqueued", result.claim_stale), (analyzed, result.claim)):
        if c is None:
            continue
        explain = f"; EXPLAIN ANALYZE of its due query {c.explain_ms:.1f} ms" if c.explain_ms is not None else ""
        print(f"       claim of {c.limit} at {c.pending} pending, {label} ({c.calls} calls, rolled back): mean "
              f"{c.mean_ms:.1f} ms, median {c.median_ms:.1f} ms, max {c.max_ms:.1f} ms{explain}")
        if c.plan:
            print("         " + c.plan.replace("\n", "\n         "))
    for label, sizes in (("seeded", result.sizes_seeded), ("after the run", result.sizes_after)):
        if sizes is not None:
            print(f"       outbox {label}: table {sizes.outbox_table_mb:.1f} MB, indexes {sizes.outbox_indexes_mb:.1f} "
                  f"MB, total {sizes.outbox_total_mb:.1f} MB; outbox_attempts total {sizes.attempts_total_mb:.1f} MB")
            print("         indexes: " + ", ".join(f"{name} {size:.1f} MB" for name, size in sizes.index_mb.items()))


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipients", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=50.0, help="the worker's SEND_RATE_PER_SECOND")
    parser.add_argument("--runs", default="a,b,c", help="comma-separated: a, b, c, clients")
    parser.add_argument("--database-url", default=None, help="PostgreSQL server (default: a SQLite file)")
    parser.add_argument("--latency-ms", type=float, default=40.0)
    parser.add_argument("--jitter-ms", type=float, default=10.0)
    parser.add_argument("--lease-seconds", type=int, default=15)
    parser.add_argument("--double-gc", choices=("on", "off"), default="off",
                        help="the double's garbage collector (off by default: see DOUBLE_WITHOUT_GC)")
    args = parser.parse_args()
    print(f"delivery benchmark {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {platform.python_implementation()} "
          f"{platform.python_version()}; {os.cpu_count()} CPUs; load {os.getloadavg()[0]:.1f}; "
          f"database {'PostgreSQL' if args.database_url else 'SQLite file'}; double latency "
          f"{args.latency_ms:.0f} ± {args.jitter_ms:.0f} ms, its GC {args.double_gc}; worker rate {args.rate}/s; "
          f"code from {CODE_ROOT}", flush=True)
    for run in args.runs.split(","):
        if run == "clients":
            await clients_run(600, 50)
            continue
        report(await delivery_run(run, args.recipients, args.rate, args.database_url, args.latency_ms,
                                  args.jitter_ms, args.lease_seconds, args.double_gc == "on"))


if __name__ == "__main__":
    asyncio.run(main())

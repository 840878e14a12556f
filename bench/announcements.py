"""Benchmark of starting an announcement to many volunteers: the tick that chooses the audience and queues one
outbox message per person, in one transaction, and the author's audience preview.

    .venv/bin/python bench/announcements.py                           # a temporary SQLite file
    .venv/bin/python bench/announcements.py --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/hny_bench_announce

For PostgreSQL the database named in the URL is created, and dropped at the end, by this script; it refuses a
database that already exists, so it never touches real data.

For each size (default 1,000, 10,000 and 50,000, one database grown from one size to the next) it seeds that
many volunteers, all in the minoritised space and all agreed to the current privacy notice (so every one is in
the audience), stores one announcement to the minoritised space, due now, and times `AnnouncementService.tick()`
with a FixedClock: it finds the announcement due and `_start`s it, the transaction that writes every outbox row.
Between rounds the outbox is emptied and the announcement set back to scheduled (then, on PostgreSQL, VACUUM
ANALYZE, not timed). It also times `AnnouncementService.preview` (the audience count the author sees, rounded)
and counts the SQL statements the tick sends. The service is built as bot/features/announcements.py builds it,
with that feature's AnnouncementCards (CardMessages before issue 20), so the card stored per person is the real
one.

Before and after: `--code-dir DIR` imports bot, cards, dialogs and storage from DIR instead of the tree holding
this script (DIR goes to the front of sys.path before anything of the bot is imported; the relative path is
taken from the current directory). So the same script measures an older commit checked out in a worktree:

    git worktree add /tmp/ann-before 73ec333~1
    cd /tmp/ann-before && /work/main/.venv/bin/python /work/main/bench/announcements.py --code-dir .

Only public calls that did not change in 73ec333 are used (tick, preview, AudienceChoice.from_json, the models,
the feature's cards), so both trees run it; the output names the code's commit and which way it queues people
(per-person `enqueue()` or one INSERT … SELECT: `AnnouncementRepository.queue_people` at first,
`bot.delivery.outbox.enqueue_to_people` later).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from scratch_db import on_scratch_database  # bench/, beside this script
from sqlalchemy import delete, event, func, insert, select, text, update

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)  # 09:00 UK: outside quiet hours
AUTHOR = "00000000-0000-4000-8000-000000000001"
CHUNK = 5_000
HERE = Path(__file__).resolve().parent.parent
SCHEDULED = "scheduled"  # the stored status (vocabulary.words.AnnouncementStatus), written so older trees run it


def code_commit(code_dir: str) -> str:
    try:
        return subprocess.run(["git", "-C", code_dir, "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"


def volunteers(first: int, last: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """People and volunteers `first` to `last - 1`: all in the minoritised space, all consented (notice 2)."""
    people, signups = [], []
    for index in range(first, last):
        person_id = f"00000000-0000-4000-a000-{index:012d}"
        people.append({"id": person_id, "tenant_id": "", "created_at": NOW, "last_seen_at": NOW,
                       "announcements_stopped": False})
        signups.append({
            "person_id": person_id, "space_minoritised": True, "space_ally": index % 7 == 0,
            "community_ethnicity": index % 2 == 0, "community_disability": index % 3 == 0,
            "community_neurodivergent": index % 4 == 0, "community_lgbtq": index % 5 == 0,
            "phase_codesign": index % 4 != 0, "phase_train_the_trainer": index % 2 == 1,
            "adjustments_contact": index % 10 == 0, "consent_version": 2,
            "signed_up_at": NOW - timedelta(minutes=index % (180 * 24 * 60)), "updated_at": NOW})
    return people, signups


async def create_schema(database: Any) -> int:
    """Tables, the privacy notices (2 is current) and the announcement; returns the announcement's id."""
    from storage.models import Announcement, Base, PrivacyNotice

    async with database.engine.begin() as connection:
        await connection.run_sync(Base.metadata.create_all)
    async with database.transaction() as session:
        for version in (1, 2):
            session.add(PrivacyNotice(version=version, sha256="0" * 64, text=f"v{version}", published_at=NOW))
        # What AnnouncementService.create stores for "send now" to the minoritised space.
        row = Announcement(
            author_person_id=AUTHOR, title="Co-design day in Hull",
            body="Join us on Friday to shape the training. " * 10, link_url="https://www.nhs.uk/allyship",
            link_title="Find out more",
            audience=json.dumps({"channels": [], "spaces": ["minoritised"], "phases": [], "sessions": []}),
            status=SCHEDULED, requested_at=NOW, send_at=NOW, quiet_hours_confirmed=False, created_at=NOW,
            started_at=None, stopped_at=None, finished_at=None, recipients=0, progress_outbox_id=None,
            progress_updates=0, progress_shown=None)
        session.add(row)
        await session.flush()
        return int(row.id)


async def grow(database: Any, first: int, last: int) -> None:
    from storage.models import Person, Volunteer

    people, signups = volunteers(first, last)
    for start in range(0, len(people), CHUNK):
        async with database.transaction() as session:
            await session.execute(insert(Person), people[start:start + CHUNK])
            await session.execute(insert(Volunteer), signups[start:start + CHUNK])


async def analyse(database: Any, table: str | None = None) -> None:
    async with database.engine.connect() as connection:
        if database.is_postgres:
            autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
            await autocommit.execute(text(f"VACUUM ANALYZE {table or ''}"))
        else:
            await connection.exec_driver_sql(f"ANALYZE {table or ''}")


async def reset(database: Any, announcement_id: int) -> None:
    """Empty the outbox and set the announcement back to scheduled, as it was stored."""
    from storage.models import Announcement, OutboxMessage

    async with database.transaction() as session:
        # outbox.updates_id references outbox.id (ON DELETE CASCADE) and had no index before 4e0e8df (the
        # "before" code's schema): without one, both databases look for each deleted row's updates in the whole
        # table, and emptying 50,000 rows takes minutes. Dropped again before the tick, so the tick writes the
        # schema of the code under test.
        await session.execute(text("CREATE INDEX bench_outbox_updates ON outbox (updates_id)"))
        await session.execute(delete(OutboxMessage))
        await session.execute(text("DROP INDEX bench_outbox_updates"))
        await session.execute(update(Announcement).where(Announcement.id == announcement_id).values(
            status=SCHEDULED, send_at=NOW, started_at=None, finished_at=None, recipients=0,
            progress_outbox_id=None, progress_updates=0, progress_shown=None))
    if database.is_postgres:
        await analyse(database, "outbox")


async def queued(database: Any, announcement_id: int) -> tuple[int, int, str]:
    """Outbox rows of the announcement's batch, the recipients the row says, and its status."""
    from storage.models import Announcement, OutboxMessage

    async with database.read() as session:
        rows = await session.scalar(select(func.count()).select_from(OutboxMessage)
                                    .where(OutboxMessage.batch == f"announcement:{announcement_id}"))
        row = await session.get(Announcement, announcement_id)
        assert row is not None
        return int(rows or 0), row.recipients, row.status


async def measure_size(database: Any, service: Any, announcement_id: int, size: int,
                       args: argparse.Namespace) -> dict[str, Any]:
    from bot.services.announcements import AudienceChoice

    statements = 0

    def count(*_: Any) -> None:
        nonlocal statements
        statements += 1

    # Every statement of the tick, its reads too (on SQLite they go through a read-only engine of their own).
    engines = [engine for engine in (database.engine, getattr(database, "_read_engine", None)) if engine is not None]
    ticks: list[float] = []
    counted: list[int] = []
    for _ in range(args.rounds):
        await reset(database, announcement_id)
        statements = 0
        for engine in engines:
            event.listen(engine.sync_engine, "before_cursor_execute", count)
        started = time.perf_counter()
        await service.tick()
        ticks.append(time.perf_counter() - started)
        for engine in engines:
            event.remove(engine.sync_engine, "before_cursor_execute", count)
        counted.append(statements)
        rows, recipients, status = await queued(database, announcement_id)
        if rows != size or recipients != size or status != "sending":
            raise SystemExit(f"expected {size} queued and sending, found {rows} rows, recipients {recipients}, "
                             f"status {status}")
    choice = AudienceChoice.from_json({"spaces": ["minoritised"]})
    previews: list[float] = []
    shown = None
    for _ in range(args.preview_rounds):
        started = time.perf_counter()
        preview = await service.preview(choice)
        previews.append(time.perf_counter() - started)
        shown = getattr(preview.people, "text", preview.people)  # the rounded text the author reads
    return {"size": size, "rows": rows, "ticks": ticks, "tick": statistics.median(ticks),
            "statements": statistics.median(counted), "preview": statistics.median(previews), "shown": shown}


async def measure(url: str, args: argparse.Namespace) -> None:
    from bot.clock import FixedClock
    from bot.features import announcements as feature_module
    from bot.services import announcements as service_module
    from bot.services.announcements import AnnouncementService
    from bot.services.roles import Audit, RoleService
    from storage.db import Database
    from storage.repositories.announcements import AnnouncementRepository

    # The service was one module until issue 20, then a package whose `service` module queues the people.
    queues_in = getattr(service_module, "service", service_module)
    bulk = hasattr(AnnouncementRepository, "queue_people") or hasattr(queues_in, "enqueue_to_people")
    backend = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
    way = "one INSERT … SELECT" if bulk else "one enqueue() per person"
    print(f"{backend}; code {code_commit(args.code_dir)} from {Path(sys.modules['bot'].__file__ or '').parent.parent}"
          f": {way}; median of {args.rounds} rounds (preview {args.preview_rounds})", flush=True)
    database = Database(url, pool_size=2)
    results = []
    try:
        clock = FixedClock(NOW)
        audit = Audit(clock)
        cards = getattr(feature_module, "AnnouncementCards", None) or feature_module.CardMessages
        service = AnnouncementService(database, clock, audit, RoleService(database, clock, audit), cards(),
                                      quiet_start=args.quiet_start, quiet_end=args.quiet_end)
        announcement_id = await create_schema(database)
        have = 0
        for size in sorted(args.sizes):
            started = time.perf_counter()
            await grow(database, have, size)
            await analyse(database)
            have = size
            seeded = time.perf_counter() - started
            result = await measure_size(database, service, announcement_id, size, args)
            results.append(result)
            rounds = ", ".join(f"{t:.2f}" for t in result["ticks"])
            print(f"  {size:>7,} volunteers (seeded in {seeded:.1f} s): queued {result['rows']:,} rows, "
                  f"{result['statements']:,.0f} statements; tick {result['tick'] * 1000:,.1f} ms "
                  f"({rounds} s) = {result['tick'] * 1000 / (size / 1000):.1f} ms per 1,000; "
                  f"preview {result['preview'] * 1000:.1f} ms ({result['shown']}); "
                  f"load average {os.getloadavg()[0]:.1f}", flush=True)
    finally:
        await database.dispose()
    print("| database | code | N | rows queued | statements | tick (median) | per 1,000 | preview |")
    for result in results:
        print(f"| {backend} | {code_commit(args.code_dir)} | {result['size']:,} | {result['rows']:,} "
              f"| {result['statements']:,.0f} | {result['tick'] * 1000:,.1f} ms "
              f"| {result['tick'] * 1000 / (result['size'] / 1000):.1f} ms | {result['preview'] * 1000:.1f} ms |")


async def run(args: argparse.Namespace) -> None:
    await on_scratch_database(args.database_url, lambda url: measure(url, args))


def uk_time(value: str) -> Any:
    return datetime.strptime(value, "%H:%M").time()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", help="postgresql+asyncpg://…/new_db (created and dropped); "
                        "default: a temporary SQLite file")
    parser.add_argument("--code-dir", default=str(HERE),
                        help="import the bot's packages from this tree (default: the one holding this script)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 50_000])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--preview-rounds", type=int, default=5)
    parser.add_argument("--quiet-start", type=uk_time, default="20:00", help="the bot's default QUIET_HOURS_START")
    parser.add_argument("--quiet-end", type=uk_time, default="08:00", help="the bot's default QUIET_HOURS_END")
    args = parser.parse_args()
    args.code_dir = os.path.abspath(args.code_dir)
    # Before any of the bot's modules is imported (they are imported inside the functions above), so these
    # win over the editable install, which points at /work/main.
    sys.path.insert(0, args.code_dir)
    asyncio.run(run(args))


if __name__ == "__main__":
    main()

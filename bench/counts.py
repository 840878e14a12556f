"""Benchmark of the counts snapshot (issue 9): build and read, against one grouped count of the same table.

    .venv/bin/python bench/counts.py                                  # a temporary SQLite file
    .venv/bin/python bench/counts.py --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/hny_bench_counts

For PostgreSQL the database named in the URL is created, and dropped at the end, by this script; it refuses a
database that already exists, so it never touches real data.

Seeds 100,000 volunteers with realistic spreads over spaces, communities, organisations and phases and, when the
sessions tables exist in the models, 50 upcoming sessions of 2,000 invitations each, whose figures reach the
snapshot through the providers listed in SESSION_FIGURES_PROVIDERS (the sessions feature's), as in the bot.
Target: building the snapshot within 10x the single `GROUP BY space` count.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from scratch_db import on_scratch_database  # bench/, beside this script
from sqlalchemy import Table, func, insert, select, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.cli.report import report_rows
from bot.clock import FixedClock
from bot.features.counts import SESSION_FIGURES_PROVIDERS, counts_view
from bot.services.counts import CountsService
from bot.services.roles import Audit
from cards.counts import counts_card, size_of
from storage.db import Database
from storage.models import Base, Organisation, Person, PrivacyNotice, Volunteer

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
CHUNK = 5_000

# Partner organisations (design §3) with a long-tailed spread of sign-ups: big trusts, small partners.
ORGANISATIONS = [
    ("Hull University Teaching Hospitals NHS Trust", 14), ("York and Scarborough Teaching Hospitals NHS FT", 13),
    ("Northern Lincolnshire and Goole NHS FT", 9), ("Harrogate and District NHS FT", 6),
    ("Humber Teaching NHS FT", 8), ("Tees, Esk and Wear Valleys NHS FT", 7),
    ("Yorkshire Ambulance Service NHS Trust", 6), ("NHS Humber and North Yorkshire ICB", 4),
    ("City Health Care Partnership", 3), ("Navigo", 2), ("Hull City Council", 4),
    ("East Riding of Yorkshire Council", 3), ("North East Lincolnshire Council", 2),
    ("North Lincolnshire Council", 2), ("North Yorkshire Council", 4), ("City of York Council", 3),
    ("Primary care", 5), ("Hospices", 0.004), ("Voluntary and community sector", 1), ("Another organisation", 1),
]


def seeded_volunteers(count: int, organisation_ids: list[int], rng: random.Random) -> list[dict[str, Any]]:
    weights = [weight for _, weight in ORGANISATIONS] + [2]  # the last: no organisation given
    choices: list[int | None] = [*organisation_ids, None]
    rows = []
    for index in range(count):
        space = rng.random()
        minoritised, ally = (True, False) if space < 0.55 else (False, True) if space < 0.85 else (True, True)
        phase = rng.random()
        rows.append({
            "person_id": f"00000000-0000-4000-a000-{index:012d}",
            "space_minoritised": minoritised,
            "space_ally": ally,
            # Communities are asked only in the minoritised space; about a fifth say "I'd rather not say".
            "community_ethnicity": minoritised and rng.random() < 0.45,
            "community_disability": minoritised and rng.random() < 0.30,
            "community_neurodivergent": minoritised and rng.random() < 0.25,
            "community_lgbtq": minoritised and rng.random() < 0.20,
            "organisation_id": rng.choices(choices, weights)[0],
            "phase_codesign": phase < 0.75,
            "phase_train_the_trainer": phase > 0.45,
            "adjustments_contact": rng.random() < 0.1,
            "consent_version": 1 if rng.random() < 0.03 else 2,  # a few have not agreed to notice 2 yet
            "signed_up_at": NOW - timedelta(minutes=rng.randrange(180 * 24 * 60)),
            "updated_at": NOW,
        })
    return rows


def sessions_tables() -> tuple[Table, Table] | None:
    tables = Base.metadata.tables
    if "training_sessions" in tables and "invitations" in tables:
        return tables["training_sessions"], tables["invitations"]
    return None


async def seed(database: Database, volunteers: int, sessions: int, invitations: int,
               rng: random.Random) -> bool:
    async with database.engine.begin() as connection:
        await connection.run_sync(Base.metadata.create_all)
    async with database.transaction() as session:
        for version in (1, 2):
            session.add(PrivacyNotice(version=version, sha256="0" * 64, text=f"v{version}", published_at=NOW))
        organisations = [Organisation(name=name, position=i, retired=False)
                         for i, (name, _) in enumerate(ORGANISATIONS)]
        session.add_all(organisations)
        await session.flush()
        organisation_ids = [organisation.id for organisation in organisations]
    rows = seeded_volunteers(volunteers, organisation_ids, rng)
    for start in range(0, len(rows), CHUNK):
        chunk = rows[start:start + CHUNK]
        async with database.transaction() as session:
            await session.execute(insert(Person), [
                {"id": row["person_id"], "tenant_id": "", "created_at": NOW, "last_seen_at": NOW,
                 "announcements_stopped": False} for row in chunk])
            await session.execute(insert(Volunteer), chunk)

    tables = sessions_tables()
    if tables is None or not sessions:
        return False
    training_sessions, invitation_table = tables
    people = [row["person_id"] for row in rows]
    statuses = ["invited", "accepted", "declined", "waiting"]
    for number in range(sessions):
        async with database.transaction() as session:
            session_id = (await session.execute(insert(training_sessions).values(
                title=f"Allyship session {number + 1}", phase="codesign", space="open", filter_ethnicity=False,
                filter_disability=False, filter_neurodivergent=False, filter_lgbtq=False,
                starts_at=NOW + timedelta(days=number + 1), ends_at=NOW + timedelta(days=number + 1, hours=2),
                capacity=40, status="published", change_no=0, next_waiting_seq=1,
                created_by="00000000-0000-4000-8000-000000000001", created_at=NOW, updated_at=NOW,
                published_at=NOW).returning(training_sessions.c.id))).scalar_one()
            invited = rng.sample(people, invitations)
            batch = [{"session_id": session_id, "person_id": person_id,
                      "status": rng.choices(statuses, [55, 2, 30, 1])[0], "rev": 0, "invited_at": NOW}
                     for person_id in invited]
            for start in range(0, len(batch), CHUNK):
                await session.execute(insert(invitation_table), batch[start:start + CHUNK])
    return True


async def interleaved(runs: int, actions: dict[str, Callable[[], Awaitable[object]]]
                      ) -> tuple[dict[str, float], dict[str, object]]:
    """Median seconds per action over `runs` rounds, after one warm-up round. The actions take turns in each
    round, so a busy machine (other jobs on its 2 cores) slows them alike and the ratios stay fair."""
    results = {name: await action() for name, action in actions.items()}
    times: dict[str, list[float]] = {name: [] for name in actions}
    for _ in range(runs):
        for name, action in actions.items():
            started = time.perf_counter()
            results[name] = await action()
            times[name].append(time.perf_counter() - started)
    return {name: statistics.median(values) for name, values in times.items()}, results


async def measure(url: str, args: argparse.Namespace) -> None:
    database = Database(url, pool_size=2)
    try:
        started = time.perf_counter()
        with_sessions = await seed(database, args.volunteers, args.sessions, args.invitations,
                                   random.Random(args.seed))
        seeded = time.perf_counter() - started
        if database.is_postgres:
            async with database.engine.connect() as connection:
                autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
                await autocommit.execute(text("VACUUM ANALYZE"))
        else:
            async with database.engine.connect() as connection:
                await connection.exec_driver_sql("ANALYZE")

        clock = FixedClock(NOW)
        # The providers the bot and the CLI load (the sessions feature's), so the figures are the real cost.
        providers = SESSION_FIGURES_PROVIDERS if with_sessions else ()
        service = CountsService(database, clock, Audit(clock), refresh_hours=24, providers=providers)

        async def grouped_count() -> object:
            async with database.transaction() as session:
                return (await session.execute(
                    select(Volunteer.space_minoritised, Volunteer.space_ally, func.count())
                    .group_by(Volunteer.space_minoritised, Volunteer.space_ally))).all()

        async def build() -> object:
            return await service.rebuild()

        async def volunteers_only() -> object:
            from bot.services.counts import compute_figures

            async with database.transaction() as session:
                return await compute_figures(session, NOW)

        async def read() -> object:
            report = await service.report("bench", "counts.view")  # reuses the snapshot, writes an audit row
            return counts_card(counts_view(report, 24)), report_rows(report)

        medians, results = await interleaved(args.runs, {
            "count": grouped_count, "figures": volunteers_only, "build": build, "read": read})
        baseline, figures_only, building, reading = (medians[name] for name in ("count", "figures", "build", "read"))
        snapshot = results["build"]
        card = results["read"][0]  # type: ignore[index]
    finally:
        await database.dispose()

    backend = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
    raw = snapshot.raw  # type: ignore[attr-defined]
    print(f"{backend}: {args.volunteers:,} volunteers ({raw.active:,} active), "
          + (f"{len(raw.sessions)} upcoming sessions of {args.invitations:,} invitations"
             if with_sessions else "no sessions tables in the models: volunteers only")
          + f"; seeded in {seeded:.1f} s; median of {args.runs} runs; load average {os.getloadavg()[0]:.1f}")
    print(f"  one grouped count (GROUP BY space)       {baseline * 1000:8.1f} ms")
    print(f"  volunteer figures (one grouped query)    {figures_only * 1000:8.1f} ms")
    print(f"  snapshot build (figures, sessions, save) {building * 1000:8.1f} ms"
          f"  = {building / baseline:.1f}x the grouped count (target 10x)")
    print(f"  report read (reuse, audit, card, CSV)    {reading * 1000:8.1f} ms"
          f"  card {size_of(card) / 1024:.1f} KB")


async def run(args: argparse.Namespace) -> None:
    await on_scratch_database(args.database_url, lambda url: measure(url, args))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", help="postgresql+asyncpg://…/new_db (created and dropped); "
                        "default: a temporary SQLite file")
    parser.add_argument("--volunteers", type=int, default=100_000)
    parser.add_argument("--sessions", type=int, default=50)
    parser.add_argument("--invitations", type=int, default=2_000, help="per session")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--seed", type=int, default=9)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()

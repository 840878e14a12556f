"""Counts for admins (issue 9, design §4 "Counts", §5): figures from SQL aggregates, the snapshot window,
session figures through providers, the CLI report and CSV, and no raw figure from 1 to 7 anywhere."""

from __future__ import annotations

import asyncio
import csv
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.__main__ import main
from bot.cli.report import report_rows
from bot.clock import FixedClock
from bot.features.counts import counts_view
from bot.services.counts import (
    NOT_GIVEN,
    CountsService,
    SessionFigures,
    compute_figures,
    report_from,
)
from bot.services.roles import Audit
from bot.services.suppression import FOOTER, OTHER_ORGANISATIONS, TWO_OR_MORE
from cards.counts import counts_card
from storage.db import Database
from storage.models import AuditEntry, CountsSnapshot, Organisation, Person, PrivacyNotice, Volunteer
from tests.app_fixtures import nodes

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
OLD = NOW - timedelta(days=30)
COMMUNITIES = ("ethnicity", "disability", "neurodivergent", "lgbtq")


@dataclass(frozen=True)
class Spec:
    """One volunteer to seed."""

    minoritised: bool = False
    ally: bool = False
    communities: tuple[str, ...] = ()
    organisation: int | None = None
    codesign: bool = False
    train_the_trainer: bool = False
    signed_up_at: datetime = OLD
    consent_version: int = 2


@dataclass
class Seeder:
    """Seeds rows straight through the session, as the colleague journey would have stored them."""

    next_id: int = 1
    organisations: dict[str, int] = field(default_factory=dict)

    async def notices(self, session: AsyncSession, versions: Sequence[int] = (1, 2)) -> None:
        for version in versions:
            session.add(PrivacyNotice(version=version, sha256="0" * 64, text=f"notice {version}", published_at=OLD))
        await session.flush()

    async def organisation(self, session: AsyncSession, name: str, position: int = 0) -> int:
        row = Organisation(name=name, position=position, retired=False)
        session.add(row)
        await session.flush()
        self.organisations[name] = row.id
        return row.id

    async def volunteers(self, session: AsyncSession, specs: Sequence[Spec]) -> None:
        if not specs:
            return
        ids = [f"00000000-0000-4000-9000-{self.next_id + i:012d}" for i in range(len(specs))]
        self.next_id += len(specs)
        await session.execute(insert(Person), [
            {"id": person_id, "tenant_id": "", "created_at": OLD, "last_seen_at": OLD, "announcements_stopped": False}
            for person_id in ids
        ])
        await session.execute(insert(Volunteer), [
            {
                "person_id": person_id,
                "space_minoritised": spec.minoritised,
                "space_ally": spec.ally,
                **{f"community_{key}": key in spec.communities for key in COMMUNITIES},
                "organisation_id": spec.organisation,
                "phase_codesign": spec.codesign,
                "phase_train_the_trainer": spec.train_the_trainer,
                "adjustments_contact": False,
                "consent_version": spec.consent_version,
                "signed_up_at": spec.signed_up_at,
                "updated_at": spec.signed_up_at,
            }
            for person_id, spec in zip(ids, specs, strict=True)
        ])


def many(count: int, **fields: Any) -> list[Spec]:
    return [Spec(**fields)] * count


def service(db: Database, clock: FixedClock, *providers: Any, refresh_hours: int = 24) -> CountsService:
    return CountsService(db, clock, Audit(clock), refresh_hours=refresh_hours, providers=list(providers))


async def seed_example(db: Database) -> Seeder:
    """40 active volunteers with known figures, plus people who must not be counted."""
    seeder = Seeder()
    async with db.transaction() as session:
        await seeder.notices(session)
        hull = await seeder.organisation(session, "Hull University Teaching Hospitals NHS Trust", 1)
        york = await seeder.organisation(session, "York and Scarborough Teaching Hospitals NHS FT", 2)
        navigo = await seeder.organisation(session, "Navigo", 3)
        await seeder.organisation(session, "Humber Teaching NHS FT", 4)  # nobody: never a row
        await seeder.volunteers(session, [
            # 12 minoritised only, at Hull: ethnicity; 5 of them also disability (two or more).
            *many(7, minoritised=True, communities=("ethnicity",), organisation=hull, codesign=True),
            *many(5, minoritised=True, communities=("ethnicity", "disability"), organisation=hull, codesign=True,
                  train_the_trainer=True),
            # 10 in both spaces at York, neurodivergent; 3 of them new this week.
            *many(7, minoritised=True, ally=True, communities=("neurodivergent",), organisation=york,
                  train_the_trainer=True),
            *many(3, minoritised=True, ally=True, communities=("neurodivergent",), organisation=york,
                  train_the_trainer=True, signed_up_at=NOW - timedelta(days=2)),
            # 15 allies at York, 3 at Navigo (small: merged), all co-design.
            *many(15, ally=True, organisation=york, codesign=True),
            *many(3, ally=True, organisation=navigo, codesign=True, signed_up_at=NOW - timedelta(days=6)),
            # Consented to notice 1 only: asked again, not counted until they agree (design §6).
            *many(9, minoritised=True, communities=("lgbtq",), organisation=hull, consent_version=1),
        ])
    return seeder


async def test_figures_from_seeded_data(db: Database) -> None:
    await seed_example(db)
    snapshot = await service(db, FixedClock(NOW)).current()
    raw = snapshot.raw
    assert raw.notice_version == 2
    assert raw.active == 40
    assert raw.new_last_7_days == 6
    assert raw.space == {"minoritised": 22, "ally": 28, "both": 10}
    assert raw.communities == {"ethnicity": 12, "disability": 5, "neurodivergent": 10, "lgbtq": 0}
    assert raw.two_or_more == 5
    assert raw.phases == {"codesign": 30, "train_the_trainer": 15}
    assert raw.organisations == [
        ("Hull University Teaching Hospitals NHS Trust", 12),
        ("York and Scarborough Teaching Hospitals NHS FT", 25),
        ("Navigo", 3),
    ]

    report = report_from(snapshot)
    assert report.active.text == "40"
    assert report.new_last_7_days.text == "fewer than 8"
    assert [(c.label, c.shown.text, c.percent) for c in report.space.rows] == [
        ("Minoritised colleagues", "20", "50%"), ("Active allies", "30", "75%"), ("In both spaces", "10", "25%")]
    assert report.space.total.text == "40"
    assert [(c.label, c.shown.text) for c in report.communities.rows] == [
        ("Ethnically minoritised or from a culturally diverse background", "10"),
        ("Disabled or living with a long-term health condition (physical and/or mental health)", "fewer than 8"),
        ("Neurodivergent", "10"),
        ("LGBT+", "0"),
        (TWO_OR_MORE, "fewer than 8"),
    ]
    assert all(cell.percent is None for cell in report.communities.rows)  # a part is suppressed
    # Navigo (3) is small, so the next smallest (Hull) is merged in with it: no small organisation by name.
    assert [(c.label, c.shown.text) for c in report.organisations.rows] == [
        ("York and Scarborough Teaching Hospitals NHS FT", "25"), (OTHER_ORGANISATIONS, "15")]
    assert [(c.label, c.shown.text) for c in report.phases.rows] == [("Co-design", "30"), ("Train the trainer", "15")]


async def test_no_organisation_is_a_row_of_its_own(db: Database) -> None:
    seeder = Seeder()
    async with db.transaction() as session:
        await seeder.notices(session)
        await seeder.volunteers(session, many(9, ally=True))
    snapshot = await service(db, FixedClock(NOW)).current()
    assert snapshot.raw.organisations == [(NOT_GIVEN, 9)]


async def test_nobody_is_active_before_a_notice_is_published(db: Database) -> None:
    async with db.transaction() as session:
        await Seeder().volunteers(session, many(3, ally=True, consent_version=1))
    raw = (await service(db, FixedClock(NOW)).current()).raw
    assert raw.notice_version is None and raw.active == 0 and raw.organisations == []


async def test_no_volunteer_row_is_loaded(db: Database) -> None:
    """Figures come from aggregates: no statement selects a volunteer's columns without aggregating them."""
    await seed_example(db)
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    from sqlalchemy import event

    event.listen(db.engine.sync_engine, "before_cursor_execute", record)
    try:
        async with db.transaction() as session:
            await compute_figures(session, NOW)
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", record)
    volunteer_queries = [s for s in statements if "FROM volunteers" in s]
    assert len(volunteer_queries) == 1
    assert "GROUP BY volunteers.organisation_id" in volunteer_queries[0]


async def snapshots(db: Database) -> int:
    async with db.transaction() as session:
        return int((await session.execute(select(func.count()).select_from(CountsSnapshot))).scalar_one())


async def test_snapshot_is_reused_within_the_window_and_rebuilt_after(db: Database) -> None:
    seeder = await seed_example(db)
    clock = FixedClock(NOW)
    counts = service(db, clock)
    first = await counts.current()

    async with db.transaction() as session:  # a sign-up after the snapshot
        await seeder.volunteers(session, many(10, ally=True, signed_up_at=NOW + timedelta(hours=1)))

    clock.advance(timedelta(hours=23, minutes=59))
    again = await counts.current()
    assert (again.id, again.taken_at, again.raw) == (first.id, first.taken_at, first.raw)
    # A second instance (or the CLI) reuses it too.
    assert (await service(db, clock).current()).id == first.id

    clock.advance(timedelta(minutes=1))
    rebuilt = await counts.current()
    assert rebuilt.id != first.id
    assert rebuilt.taken_at == NOW + timedelta(hours=24)
    assert rebuilt.raw.active == 50
    assert await snapshots(db) == 1  # only the latest raw figures are kept


async def test_refresh_hours_setting_is_the_window(db: Database) -> None:
    await seed_example(db)
    clock = FixedClock(NOW)
    counts = service(db, clock, refresh_hours=2)
    first = await counts.current()
    clock.advance(timedelta(hours=1, minutes=59))
    assert (await counts.current()).id == first.id
    clock.advance(timedelta(minutes=1))
    assert (await counts.current()).id != first.id


async def test_concurrent_readers_build_one_snapshot(db: Database) -> None:
    await seed_example(db)
    clock = FixedClock(NOW)
    # Several readers in one instance and across two instances (each with its own in-process lock).
    one, two = service(db, clock), service(db, clock)
    results = await asyncio.gather(*(counts.current() for counts in [one, two] * 4))
    assert len({snapshot.id for snapshot in results}) == 1
    assert await snapshots(db) == 1


@dataclass
class FakeSessions:
    """A session figures provider, as the sessions feature will register one."""

    rows: list[SessionFigures]
    calls: int = 0

    async def __call__(self, session: AsyncSession, now: datetime) -> Sequence[SessionFigures]:
        self.calls += 1
        return self.rows


async def test_session_figures_come_from_providers_and_follow_the_rules(db: Database) -> None:
    await seed_example(db)
    provider = FakeSessions([
        SessionFigures("Allyship basics", NOW + timedelta(days=3), invited=23, accepted=5, declined=3, waiting=2,
                       no_reply=13),
        SessionFigures("Already started", NOW - timedelta(hours=1), invited=40, accepted=20, declined=0, waiting=0,
                       no_reply=20),
        SessionFigures("Co-design workshop", NOW + timedelta(days=1), invited=120, accepted=30, declined=41,
                       waiting=0, no_reply=49),
    ])
    clock = FixedClock(NOW)
    counts = service(db, clock, provider)
    report = report_from(await counts.current())
    await counts.current()
    assert provider.calls == 1  # only when a snapshot is built
    assert [row.title for row in report.sessions] == ["Co-design workshop", "Allyship basics"]
    basics = report.sessions[1].counts
    assert (basics.invited.text, basics.accepted.text, basics.declined.text, basics.waiting.text,
            basics.no_reply.text) == ("25", "5", "fewer than 8", "2", "15")


async def test_report_writes_an_audit_row(db: Database) -> None:
    await seed_example(db)
    counts = service(db, FixedClock(NOW))
    await counts.report("00000000-0000-4000-8000-000000000001", "counts.view")
    async with db.transaction() as session:
        rows = (await session.execute(select(AuditEntry))).scalars().all()
        snapshot_id = (await session.execute(select(CountsSnapshot.id))).scalar_one()
    assert [(r.actor_id, r.action, r.record_id, r.outcome) for r in rows] == [
        ("00000000-0000-4000-8000-000000000001", "counts.view", f"counts_snapshot:{snapshot_id}", "done")]


# --- CLI -------------------------------------------------------------------------------------------


async def test_cli_prints_the_table_and_writes_the_csv(db: Database, db_url: str, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    await seed_example(db)
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.delenv("MICROSOFT_APP_ID", raising=False)
    path = tmp_path / "counts.csv"

    assert await asyncio.to_thread(main, ["report", "counts", "--csv", str(path)]) == 0

    out = capsys.readouterr().out
    assert "Figures from " in out and "(UK time)" in out
    assert out.count(FOOTER) == 4  # under each of the four tables
    assert re.search(r"Active volunteers \(agreed to the current privacy notice\)\s+40", out)
    assert re.search(r"Disabled or living with a long-term health condition \(physical and/or mental health\)"
                     r"\s+fewer than 8", out)
    assert "Navigo" not in out  # merged into "Other organisations"

    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["Table", "Row", "Figure", "Per cent"]
    assert rows[1][:2] == ["Snapshot", "Figures from"] and rows[1][2].endswith("(UK time)")
    assert ["By space", "Minoritised colleagues", "20", "50%"] in rows
    assert ["By organisation", OTHER_ORGANISATIONS, "15", "38%"] in rows
    # Every table ends with the rounding note (design §5), the last row of each table's block.
    tables = [row[0] for row in rows[1:] if row[0] not in ("Snapshot", "Summary", "Sessions")]
    for name in dict.fromkeys(tables):
        assert [row for row in rows if row[0] == name][-1][1:3] == ["Note", FOOTER]
    assert len(dict.fromkeys(tables)) >= 4

    async with db.transaction() as session:
        audit = (await session.execute(select(AuditEntry))).scalars().all()
    assert [(row.actor_id, row.action, row.outcome) for row in audit] == [("cli", "report.counts", "done")]

    # A second run within the window reuses the snapshot, and is audited again.
    assert await asyncio.to_thread(main, ["report", "counts"]) == 0
    assert await snapshots(db) == 1
    async with db.transaction() as session:
        assert int((await session.execute(select(func.count()).select_from(AuditEntry))).scalar_one()) == 2


# --- no raw figure from 1 to 7, anywhere -------------------------------------------------------------

SAFE = re.compile(r"^(0|fewer than 8|[1-9]\d{0,2}(,\d{3})*)$")


def assert_safe_figure(text: str) -> None:
    """0, "fewer than 8", or a multiple of 5 of at least 10 (design §5)."""
    assert SAFE.match(text), text
    if text not in {"0", "fewer than 8"}:
        value = int(text.replace(",", ""))
        assert value >= 10 and value % 5 == 0, text


def card_figures(node: Any) -> tuple[list[str], list[Any], list[str]]:
    """Fact values, chart values and chart fallback texts of a card."""
    values: list[str] = []
    chart: list[Any] = []
    fallbacks: list[str] = []
    for item in nodes(node):
        if item.get("type") == "FactSet":
            values.extend(fact["value"] for fact in item["facts"])
        if str(item.get("type", "")).startswith("Chart."):
            chart.extend(point["y"] for point in item["data"])
            fallbacks.append(item["fallback"]["text"])
    return values, chart, fallbacks


volunteer_specs = st.builds(
    Spec,
    minoritised=st.booleans(),
    ally=st.booleans(),
    communities=st.lists(st.sampled_from(COMMUNITIES), unique=True, max_size=4).map(tuple),
    organisation=st.sampled_from([None, 0, 1, 2, 3]),
    codesign=st.booleans(),
    train_the_trainer=st.booleans(),
    signed_up_at=st.sampled_from([OLD, NOW - timedelta(days=1)]),
    consent_version=st.sampled_from([1, 2, 2, 2]),
)
# Clusters of identical people, so that figures land on both sides of 8 often.
populations = st.lists(st.tuples(volunteer_specs, st.integers(1, 12)), max_size=8)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(population=populations)
async def test_no_cell_of_the_card_or_csv_shows_a_raw_figure_from_1_to_7(
        db: Database, population: list[tuple[Spec, int]]) -> None:
    async with db.transaction() as session:
        for model in (Volunteer, Person, Organisation, PrivacyNotice, CountsSnapshot):
            await session.execute(delete(model))
        seeder = Seeder(next_id=1)
        await seeder.notices(session)
        ids = [await seeder.organisation(session, f"Organisation {i}", i) for i in range(4)]
        specs = [replace(spec, organisation=None if spec.organisation is None else ids[spec.organisation])
                 for spec, size in population for _ in range(size)]
        await seeder.volunteers(session, specs)

    report = report_from(await service(db, FixedClock(NOW)).rebuild())
    card = counts_card(counts_view(report, 24))
    values, chart, fallbacks = card_figures(card)
    for value in values:
        assert_safe_figure(re.sub(r" \(\d+%\)$", "", value))
    for point in chart:
        assert isinstance(point, int) and (point == 0 or (point >= 10 and point % 5 == 0))
    for text in fallbacks:
        for number in re.findall(r"\d+(?:,\d{3})*", text.replace("fewer than 8", "")):
            assert_safe_figure(number)

    for table, label, figure, _percent in report_rows(report):
        if table not in {"Snapshot", "Sessions"} and label != "Note":
            assert_safe_figure(figure)

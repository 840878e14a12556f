"""Counts for admins that never identify a person (design §4 "Counts", §5).

Raw figures are computed with SQL aggregates (no volunteer row is loaded) into a snapshot, taken at most once
every COUNTS_REFRESH_HOURS, so that watching the figures cannot reveal one person's sign-up. Reading the report
reuses the latest snapshot while it is younger than that. The raw figures stay in the database; what leaves
this module is a `CountsReport`, whose every figure went through bot.services.suppression.

"Active" means consented to the current privacy notice (the latest published version): §6 says a new notice
version asks for consent again before the data is used, and counting is a use. Withdrawn people have no
Volunteer row at all (erasure is a hard delete).

Session figures come from providers, because sessions belong to another feature. How to plug one in:

1. Write `async def session_figures(session: AsyncSession, now: datetime) -> Sequence[SessionFigures]`
   returning one row per upcoming session (start after `now`), with raw figures, computed with grouped SQL.
2. Pass it to CountsService(providers=...) where the service is built: the counts feature
   (bot/features/counts.py) and `python -m bot report counts` (bot/cli/report.py) pass
   bot.services.sessions.roster.session_figures; tests and benchmarks pass their own.
"""

from __future__ import annotations

import asyncio
import logging
import operator
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from functools import reduce
from typing import Any, Protocol

from sqlalchemy import ColumnElement, case, delete, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.services.roles import Audit
from bot.services.suppression import (
    FOOTER,
    OTHER_ORGANISATIONS,
    SessionCounts,
    Shown,
    Table,
    build_table,
    community_table,
    session_counts,
    shown,
)
from storage.db import Database
from storage.models import CountsSnapshot, Organisation, PrivacyNotice, Volunteer
from vocabulary.words import Community, Phase, VolunteerSpace

log = logging.getLogger(__name__)

NEW_WINDOW = timedelta(days=7)
# Any 64-bit number, the same in every instance: serialises snapshot builds across instances on PostgreSQL.
_BUILD_LOCK_KEY = 0x484E59_434F554E  # "HNY" "COUN"
NOT_GIVEN = "Organisation not given"


@dataclass(frozen=True)
class SessionFigures:
    """Raw figures for one upcoming session, as a provider returns them."""

    title: str
    starts_at: datetime
    invited: int
    accepted: int
    declined: int
    waiting: int
    no_reply: int


class SessionFiguresProvider(Protocol):
    async def __call__(self, session: AsyncSession, now: datetime) -> Sequence[SessionFigures]:
        """Raw figures of every session starting after `now`, read in the snapshot's transaction."""
        ...


@dataclass(frozen=True)
class RawFigures:
    """Raw counts of active volunteers. Server-side only: never shown without suppression."""

    notice_version: int | None  # the notice "active" refers to; None when none is published yet
    active: int
    new_last_7_days: int
    space: dict[str, int]  # by VolunteerSpace value (a person in both counts in all three)
    communities: dict[str, int]  # by Community value, among people in the minoritised space
    two_or_more: int
    organisations: list[tuple[str, int]]  # every active person in exactly one row
    phases: dict[str, int]  # by Phase value
    sessions: list[SessionFigures]

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["organisations"] = [list(row) for row in self.organisations]
        data["sessions"] = [{**asdict(row), "starts_at": row.starts_at.isoformat()} for row in self.sessions]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RawFigures:
        return cls(
            notice_version=data["notice_version"],
            active=data["active"],
            new_last_7_days=data["new_last_7_days"],
            space=dict(data["space"]),
            communities=dict(data["communities"]),
            two_or_more=data["two_or_more"],
            organisations=[(str(name), int(raw)) for name, raw in data["organisations"]],
            phases=dict(data["phases"]),
            sessions=[
                SessionFigures(**{**row, "starts_at": datetime.fromisoformat(row["starts_at"]).astimezone(UTC)})
                for row in data["sessions"]
            ],
        )


@dataclass(frozen=True)
class Snapshot:
    id: int
    taken_at: datetime
    raw: RawFigures


@dataclass(frozen=True)
class UpcomingSessionCounts:
    """One upcoming session's figures, made safe by suppression.session_counts."""

    title: str
    starts_at: datetime
    counts: SessionCounts


@dataclass(frozen=True)
class CountsReport:
    """What may be shown (design §5): every figure went through suppression. No raw figure is in here."""

    taken_at: datetime
    active: Shown
    new_last_7_days: Shown
    space: Table
    communities: Table
    organisations: Table
    phases: Table
    sessions: tuple[UpcomingSessionCounts, ...]
    footer: str = FOOTER


def report_from(snapshot: Snapshot) -> CountsReport:
    """The safe view of a snapshot. Every table is made by suppression.build_table or community_table."""
    raw = snapshot.raw
    space = build_table(
        "By space",
        [(space.label, raw.space[space.value]) for space in VolunteerSpace],
        total=raw.active,
        percentages=True,
    )
    communities = community_table(
        "By community (people in the minoritised space; a person may choose several)",
        [(community.label, raw.communities[community.value]) for community in Community],
        raw.two_or_more,
        total=raw.space[VolunteerSpace.MINORITISED.value],
        percentages=True,
    )
    organisations = build_table(
        "By organisation", raw.organisations, total=None, merge_small_into=OTHER_ORGANISATIONS, percentages=True
    )
    phases = build_table(
        "By phase (a person may choose both)",
        [(phase.label, raw.phases[phase.value]) for phase in Phase],
        total=raw.active,
        percentages=True,
    )
    sessions: list[UpcomingSessionCounts] = []
    for row in sorted(raw.sessions, key=lambda row: row.starts_at):
        try:
            counts = session_counts(invited=row.invited, accepted=row.accepted, waiting=row.waiting,
                                    declined=row.declined, no_reply=row.no_reply)
        except ValueError:
            # A provider's bug must not hide every other figure: the row is left out, and logged without its
            # title (logs keep to ids and actions).
            log.warning("counts: left out a session whose replies outnumber its invitations")
            continue
        sessions.append(UpcomingSessionCounts(row.title, row.starts_at, counts))
    return CountsReport(
        taken_at=snapshot.taken_at,
        active=shown(raw.active),
        new_last_7_days=shown(raw.new_last_7_days),
        space=space,
        communities=communities,
        organisations=organisations,
        phases=phases,
        sessions=tuple(sessions),
    )


def _flag(condition: ColumnElement[bool]) -> ColumnElement[Any]:
    # COUNT(*) FILTER (WHERE …) is SUM(CASE WHEN … THEN 1 ELSE 0 END) in standard SQL (SQLite 3.30+,
    # PostgreSQL): measured about a third faster than SUM(CASE) on SQLite, the same on PostgreSQL.
    return func.count().filter(condition)


async def compute_figures(session: AsyncSession, now: datetime,
                          providers: Sequence[SessionFiguresProvider] = ()) -> RawFigures:
    """Every volunteer figure in one grouped query (per organisation, summed here over a few dozen groups), so
    the figures are consistent with each other and no person's row is loaded."""
    version = (await session.execute(select(func.max(PrivacyNotice.version)))).scalar_one_or_none()
    v = Volunteer
    minoritised = v.space_minoritised.is_(True)
    ally = v.space_ally.is_(True)
    chosen = reduce(operator.add, [case((getattr(v, community.column).is_(True), 1), else_=0)
                                   for community in Community])
    # Keyed by the words' values: the spaces, communities and phases never clash with the other names.
    columns: dict[str, ColumnElement[Any]] = {
        "active": func.count(),
        "new": _flag(v.signed_up_at >= now - NEW_WINDOW),
        VolunteerSpace.MINORITISED.value: _flag(minoritised),
        VolunteerSpace.ALLY.value: _flag(ally),
        VolunteerSpace.BOTH.value: _flag(minoritised & ally),
        # Communities are counted only in the minoritised space, where the question is asked (design §3).
        **{community.value: _flag(minoritised & getattr(v, community.column).is_(True)) for community in Community},
        "two_or_more": _flag(minoritised & (chosen >= 2)),
        **{phase.value: _flag(getattr(v, phase.column).is_(True)) for phase in Phase},
    }
    # No published notice means no one can have consented yet: nobody is active.
    groups: list[Any] = []
    if version is not None:
        query = (
            select(v.organisation_id, *(column.label(name) for name, column in columns.items()))
            # The same rule as the colleague journey's "consented" filter (storage.repositories.volunteers).
            .where(v.consent_version >= version)
            .group_by(v.organisation_id)
        )
        groups = [row._mapping for row in await session.execute(query)]
    totals = {name: sum(int(group[name] or 0) for group in groups) for name in columns}

    names = dict((await session.execute(
        select(Organisation.id, Organisation.name).order_by(Organisation.position, Organisation.name))).tuples().all())
    order = {organisation_id: index for index, organisation_id in enumerate(names)}
    by_organisation = sorted(
        ((group["organisation_id"], int(group["active"])) for group in groups),
        key=lambda row: (row[0] is None, order.get(row[0], len(order))),
    )
    # The foreign key keeps every organisation id known; no organisation given is a row of its own.
    organisations = [(NOT_GIVEN if organisation_id is None else names[organisation_id], raw)
                     for organisation_id, raw in by_organisation]

    sessions: list[SessionFigures] = []
    for provider in providers:
        sessions.extend(row for row in await provider(session, now) if row.starts_at > now)

    return RawFigures(
        notice_version=version,
        active=totals["active"],
        new_last_7_days=totals["new"],
        space={space.value: totals[space.value] for space in VolunteerSpace},
        communities={community.value: totals[community.value] for community in Community},
        two_or_more=totals["two_or_more"],
        organisations=organisations,
        phases={phase.value: totals[phase.value] for phase in Phase},
        sessions=sessions,
    )


class CountsService:
    """Builds snapshots and the safe report. One per app (or CLI run); builds are serialised."""

    def __init__(self, database: Database, clock: Clock, audit: Audit, *, refresh_hours: int,
                 providers: Sequence[SessionFiguresProvider] = ()) -> None:
        self._database = database
        self._clock = clock
        self._audit = audit
        self.refresh = timedelta(hours=refresh_hours)
        # Other features may append here at registration too.
        self.session_providers: list[SessionFiguresProvider] = list(providers)
        self._build_lock = asyncio.Lock()

    def _fresh(self, row: CountsSnapshot | None, now: datetime) -> bool:
        # A snapshot from the "future" (another instance's clock a little ahead) is fresh too, within reason.
        return row is not None and -self.refresh < now - row.taken_at < self.refresh

    async def current(self) -> Snapshot:
        """The latest snapshot while it is younger than the refresh window; otherwise a new one."""
        # Most readings reuse the snapshot: look without the write lock, which only a build needs.
        async with self._database.read() as session:
            row = await _latest(session)
            if self._fresh(row, self._clock.now()):
                assert row is not None
                return _snapshot(row)
        # Only one build at a time: in this process by the lock, across processes by the database (SQLite's
        # BEGIN IMMEDIATE holds the write lock for the whole transaction; PostgreSQL takes an advisory lock).
        async with self._build_lock:
            return await self._build(force=False)

    async def rebuild(self) -> Snapshot:
        """A new snapshot now, whatever the age of the latest (benchmarks and tests)."""
        async with self._build_lock:
            return await self._build(force=True)

    async def _build(self, *, force: bool) -> Snapshot:
        async with self._database.transaction() as session:
            if self._database.is_postgres:
                await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _BUILD_LOCK_KEY})
            now = self._clock.now()
            row = await _latest(session)
            if not force and self._fresh(row, now):
                assert row is not None
                return _snapshot(row)  # another builder finished while we waited
            raw = await compute_figures(session, now, self.session_providers)
            row = CountsSnapshot(taken_at=now, figures=raw.to_json())
            session.add(row)
            await session.flush()
            # Keep only the latest: no history of raw figures builds up to be compared.
            await session.execute(delete(CountsSnapshot).where(CountsSnapshot.id != row.id))
            log.info("counts snapshot %d taken", row.id)
            return Snapshot(row.id, row.taken_at, raw)

    async def report(self, actor_id: str, action: str) -> CountsReport:
        """The safe report, with an audit row naming who read it and which snapshot (ids only)."""
        snapshot = await self.current()
        async with self._database.transaction() as session:
            await self._audit.record(session, actor_id, action, f"counts_snapshot:{snapshot.id}")
        return report_from(snapshot)


async def _latest(session: AsyncSession) -> CountsSnapshot | None:
    result = await session.execute(select(CountsSnapshot).order_by(CountsSnapshot.taken_at.desc(),
                                                                   CountsSnapshot.id.desc()).limit(1))
    return result.scalars().first()


def _snapshot(row: CountsSnapshot) -> Snapshot:
    return Snapshot(row.id, row.taken_at, RawFigures.from_json(row.figures))

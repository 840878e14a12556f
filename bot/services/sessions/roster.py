"""What facilitators read about their sessions: the list with figures, one session, who is coming and the same
as a CSV file (names and e-mails, never communities); and each upcoming session's raw figures for the admins'
counts (design §4 "Counts"). Every read by a facilitator is audited."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bot.services.counts import SessionFigures
from bot.services.csv_export import csv_bytes
from bot.services.sessions.deps import Deps
from bot.services.sessions.views import ActionResult, Roster, RosterFile, roster_lines, session_view, view_from
from cards.sessions import FacilitatorSessionView, RosterLine
from storage.repositories.sessions import InvitationRepository, SessionRepository
from vocabulary.uk_time import uk_date_iso

# Finished sessions stay in the facilitators' list this long, so they can mark who came.
RECENT_DAYS = 30


def roster_csv(lines: Sequence[RosterLine]) -> bytes:
    """Status, waiting position, name and e-mail of each person (never communities)."""
    return csv_bytes(["Status", "Waiting list position", "Name", "E-mail"], [
        (line.status.chart_label, str(line.position) if line.position is not None else "", line.name, line.email)
        for line in lines])


class FacilitatorViews:
    def __init__(self, deps: Deps) -> None:
        self._deps = deps

    async def list_for(self, actor_id: str) -> list[FacilitatorSessionView]:
        """Sessions the person manages (admins: all): those not yet ended, soonest first, then those that
        ended in the last RECENT_DAYS days, latest first (to mark who came)."""
        now = self._deps.clock.now()
        actor = await self._deps.actor(actor_id)
        async with self._deps.database.transaction() as session:
            rows = await SessionRepository(session).managed_by(None if actor.admin else actor_id,
                                                               now - timedelta(days=RECENT_DAYS))
            figures = await InvitationRepository(session).counts([row.id for row in rows])
            views = [view_from(row, figures[row.id], now) for row in rows]
            await self._deps.audit.record(session, actor_id, "session.list")
        coming = [view for view in views if not view.ended]
        finished = sorted((view for view in views if view.ended), key=lambda view: view.starts_at, reverse=True)
        return coming + finished

    async def info(self, actor_id: str, session_id: int, action: str) -> ActionResult:
        """One managed session, for a change or cancel card; audited under `action`."""
        actor = await self._deps.actor(actor_id)
        async with self._deps.database.transaction() as session:
            row = await self._deps.managed(session, actor, session_id, action)
            if isinstance(row, ActionResult):
                return row
            await self._deps.audit.record(session, actor_id, action, str(session_id))
            return ActionResult("done", session=await session_view(session, row, self._deps.clock.now()))

    async def roster(self, actor_id: str, session_id: int) -> Roster | ActionResult:
        """Names and e-mails of accepted and waiting people (never communities)."""
        actor = await self._deps.actor(actor_id)
        async with self._deps.database.transaction() as session:
            row = await self._deps.managed(session, actor, session_id, "session.roster")
            if isinstance(row, ActionResult):
                return row
            lines = roster_lines(await InvitationRepository(session).roster(session_id))
            await self._deps.audit.record(session, actor_id, "session.roster", str(session_id))
            return Roster(await session_view(session, row, self._deps.clock.now()), lines)

    async def roster_file(self, actor_id: str, session_id: int, action: str) -> RosterFile | ActionResult:
        """The roster as CSV, checked like the roster itself and audited under `action` (offering the file,
        then making it when the facilitator says where to save it)."""
        actor = await self._deps.actor(actor_id)
        async with self._deps.database.transaction() as session:
            row = await self._deps.managed(session, actor, session_id, action)
            if isinstance(row, ActionResult):
                return row
            lines = roster_lines(await InvitationRepository(session).roster(session_id))
            await self._deps.audit.record(session, actor_id, action, str(session_id))
        return RosterFile(session_id, f"hny-inc-session-{session_id}-{uk_date_iso(row.starts_at)}.csv",
                          roster_csv(lines))


async def session_figures(session: AsyncSession, now: datetime) -> Sequence[SessionFigures]:
    """Raw figures of every published session starting after `now`, for the admins' counts snapshot
    (listed in bot.features.counts.SESSION_FIGURES_PROVIDERS). Counts rounds what it shows (design §5)."""
    rows = await SessionRepository(session).upcoming_published(now)
    figures = await InvitationRepository(session).counts([row.id for row in rows])
    return [SessionFigures(title=row.title, starts_at=row.starts_at, invited=figures[row.id].invited,
                           accepted=figures[row.id].accepted, declined=figures[row.id].declined,
                           waiting=figures[row.id].waiting, no_reply=figures[row.id].no_reply)
            for row in rows]

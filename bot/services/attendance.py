"""Attendance after a session (issue 7): the session's facilitators (co-facilitators included; admins too, as for
every session action) mark who came, once the session has started. People marked as came get a thank-you
through the outbox, with the feedback link the facilitator gave, if any. No botbuilder here.

Figures are exact: they are about one session's own places, like its seat figures (design §5), and the
facilitator sees these people by name anyway. Audit rows name ids only (the session, or the invitation).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.delivery.outbox import Message, Recipient, cancel, enqueue, pending_keys_like, statuses_starting
from bot.services.links import is_https_link
from bot.services.roles import Audit, RoleService
from bot.services.sessions.access import Actor, managed_session
from cards.attendance import AttendanceLine, AttendanceView, ThanksView
from storage.db import Database
from storage.models import TrainingSession
from storage.repositories.sessions import InvitationRepository
from vocabulary.actions.sessions import ATTENDANCE_PAGE_SIZE as PAGE_SIZE
from vocabulary.words import InvitationStatus, OutboxPurpose, OutboxStatus, SessionStatus

log = logging.getLogger(__name__)

PURPOSE = OutboxPurpose.THANKS


class ThanksMessages(Protocol):
    """Draws the thank-you card; the feature implements it with cards/attendance.py."""

    def thanks(self, view: ThanksView) -> dict[str, Any]: ...


@dataclass(frozen=True)
class AttendanceResult:
    outcome: str  # done | next_page | errors | refused | not_found | too_early | closed
    # The page to show next (next_page, errors), or the session's last page.
    sheet: AttendanceView | None = None
    errors: dict[str, str] = field(default_factory=dict)
    attended: int = 0
    absent: int = 0
    not_marked: int = 0
    thanked: int = 0  # thank-yous enqueued by this save


def check_feedback_link(text: str) -> tuple[str | None, str | None]:
    """(link, None), (None, None) for no link, or (None, what to fix)."""
    text = text.strip()
    if not text:
        return None, None
    if not is_https_link(text):
        return None, "Paste a link that starts with https://, or leave it empty."
    return text, None


def thanks_prefix(session_id: int, person_id: str) -> str:
    return f"thanks:{session_id}:{person_id}:"


class AttendanceService:
    def __init__(self, database: Database, clock: Clock, audit: Audit, roles: RoleService,
                 messages: ThanksMessages) -> None:
        self._database = database
        self._clock = clock
        self._audit = audit
        self._roles = roles
        self._messages = messages

    async def sheet(self, actor_id: str, session_id: int, page: int = 0) -> AttendanceResult:
        """The attendance card's page, for someone who manages the session."""
        now = self._clock.now()
        actor = await Actor.of(self._roles, actor_id)
        async with self._database.transaction() as session:
            row = await self._open(session, actor, session_id, "session.attendance.open", now)
            if isinstance(row, AttendanceResult):
                return row
            await self._audit.record(session, actor_id, "session.attendance.open", str(session_id))
            return AttendanceResult("done", sheet=await self._sheet(session, row, page))

    async def save(self, actor_id: str, session_id: int, page: int, marks: Mapping[int, bool | None],
                   feedback_text: str) -> AttendanceResult:
        """Save one page's marks (invitation id -> came, did not come, or not marked) and the feedback link.
        Marks for people who no longer have a place (a stale card) are left out."""
        now = self._clock.now()
        link, problem = check_feedback_link(feedback_text)
        actor = await Actor.of(self._roles, actor_id)
        async with self._database.transaction() as session:
            row = await self._open(session, actor, session_id, "session.attendance", now, lock=True)
            if isinstance(row, AttendanceResult):
                return row
            if problem:
                return AttendanceResult("errors", sheet=await self._sheet(session, row, page),
                                        errors={"feedback_url": problem})
            if link != row.feedback_url:
                row.feedback_url = link
                row.updated_at = now
                await self._audit.record(session, actor_id, "session.feedback_link", str(row.id))
            invitations = InvitationRepository(session)
            by_id = {invitation.id: invitation
                     for invitation in await invitations.with_status(row.id, (InvitationStatus.ACCEPTED,))}
            thanked = 0
            for invitation_id, attended in marks.items():
                invitation = by_id.get(invitation_id)
                if invitation is None:
                    continue
                if invitation.attended != attended:
                    invitation.attended = attended
                    invitation.attendance_marked_at = now
                    await self._audit.record(session, actor_id, "session.attendance.mark", str(invitation.id))
                thanked += await self._thank_or_withdraw(session, row, invitation.person_id, attended, now)
            await session.flush()
            await self._audit.record(session, actor_id, "session.attendance", str(row.id))
            figures = (await invitations.counts([row.id]))[row.id]
            sheet = await self._sheet(session, row, page + 1)
        log.info("attendance saved: session=%d page=%d thanked=%d", session_id, page, thanked)
        more = page + 1 < sheet.pages
        return AttendanceResult("next_page" if more else "done", sheet=sheet,
                                attended=figures.attended, absent=figures.absent,
                                not_marked=figures.accepted - figures.attended - figures.absent, thanked=thanked)

    async def _thank_or_withdraw(self, session: AsyncSession, row: TrainingSession, person_id: str,
                                 attended: bool | None, now: datetime) -> int:
        """One thank-you per person who came. Marked otherwise before it went: it is withdrawn, and marking
        them as came again sends a new one."""
        prefix = thanks_prefix(row.id, person_id)
        if not attended:
            await cancel(session, await pending_keys_like(session, prefix + "%"), now)
            return 0
        statuses = await statuses_starting(session, prefix)
        if any(status != OutboxStatus.CANCELLED for status in statuses):
            return 0
        view = ThanksView(title=row.title, starts_at=row.starts_at, feedback_url=row.feedback_url)
        await enqueue(session, key=f"{prefix}{len(statuses) + 1}", recipient=Recipient.person(person_id),
                      message=Message(card=self._messages.thanks(view)), purpose=PURPOSE, now=now,
                      batch=f"session:{row.id}")
        return 1

    async def _open(self, session: AsyncSession, actor: Actor, session_id: int, action: str, now: datetime, *,
                    lock: bool = False) -> TrainingSession | AttendanceResult:
        """The session, if the actor manages it and it has started; else why not (refusals are audited)."""
        row = await managed_session(session, self._audit, actor, session_id, action, lock=lock)
        if isinstance(row, str):
            return AttendanceResult(row)
        if row.status != SessionStatus.PUBLISHED:
            return AttendanceResult("closed", sheet=self._empty_sheet(row))
        if row.starts_at > now:
            return AttendanceResult("too_early", sheet=self._empty_sheet(row))
        return row

    @staticmethod
    def _empty_sheet(row: TrainingSession) -> AttendanceView:
        return AttendanceView(session_id=row.id, title=row.title, starts_at=row.starts_at, ends_at=row.ends_at,
                              lines=(), page=0, pages=1, total=0, feedback_url=row.feedback_url)

    @staticmethod
    async def _sheet(session: AsyncSession, row: TrainingSession, page: int) -> AttendanceView:
        """One page of people with a place, with their marks as saved."""
        lines = [AttendanceLine(*entry) for entry in await InvitationRepository(session).attendance(row.id)]
        pages = max(1, -(-len(lines) // PAGE_SIZE))
        page = min(max(page, 0), pages - 1)
        return AttendanceView(session_id=row.id, title=row.title, starts_at=row.starts_at, ends_at=row.ends_at,
                              lines=tuple(lines[page * PAGE_SIZE:(page + 1) * PAGE_SIZE]), page=page, pages=pages,
                              total=len(lines), feedback_url=row.feedback_url)

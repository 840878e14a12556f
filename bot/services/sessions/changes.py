"""Changing a session (time, link, places, co-facilitators) and cancelling it, by one of its facilitators; and the
Teams meeting link arriving from Graph. People who accepted or are waiting are told about a new time or link,
or the cancellation, and every invitation card is updated in place."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.delivery.outbox import Message, Recipient, enqueue
from bot.log_format import Fields
from bot.services import reminders
from bot.services.sessions.co_facilitators import CoFacilitators
from bot.services.sessions.deps import Deps
from bot.services.sessions.forms import SessionForm, check_capacity, check_link, check_times, is_teams_meeting_link
from bot.services.sessions.seats import Seats
from bot.services.sessions.views import ActionResult, invitation_views, session_view
from cards.invitation import InvitationView
from storage.models import TrainingSession
from storage.repositories.sessions import InvitationRepository, SessionRepository
from vocabulary.words import AuditOutcome, GraphJobKind, InvitationStatus, OutboxPurpose, SessionStatus

log = logging.getLogger(__name__)


class Changes:
    def __init__(self, deps: Deps, co_facilitators: CoFacilitators, seats: Seats) -> None:
        self._deps = deps
        self._co_facilitators = co_facilitators
        self._seats = seats

    async def change(self, actor_id: str, session_id: int, seen_change_no: int, form: SessionForm) -> ActionResult:
        """Change time, link, capacity or add co-facilitators. Accepted and waiting people are told about a new
        time or link, and every invitation card is updated. The form holds date, start, end, join_url,
        capacity and co_facilitators."""
        now = self._deps.clock.now()
        audit = self._deps.audit
        errors: dict[str, str] = {}
        starts_at, ends_at = check_times(form, now, errors)
        capacity = check_capacity(form.capacity, errors)
        join_url = check_link(form.join_url, errors)
        co_ids = await self._co_facilitators.check(actor_id, form.co_facilitators, (), errors)
        actor = await self._deps.actor(actor_id)
        async with self._deps.database.transaction() as session:
            row = await self._deps.managed(session, actor, session_id, "session.change", lock=True)
            if isinstance(row, ActionResult):
                return row
            info = await session_view(session, row, now)
            if row.status == SessionStatus.CANCELLED or row.starts_at <= now:
                await audit.record(session, actor_id, "session.change", str(session_id), AuditOutcome.REFUSED)
                return ActionResult("closed", session=info)
            if row.change_no != seen_change_no:
                return ActionResult("stale", session=info)
            if errors or starts_at is None or ends_at is None or capacity is None:
                return ActionResult("errors", session=info, errors=errors)
            accepted = await InvitationRepository(session).count_status(row.id, InvitationStatus.ACCEPTED)
            if capacity < accepted:
                return ActionResult("too_small", session=info, errors={"capacity": (
                    f"{accepted} people have already accepted, so the session needs at least {accepted} places. "
                    "You can't make it smaller than that. If you need fewer people, talk to them first.")})
            time_changed = (starts_at, ends_at) != (row.starts_at, row.ends_at)
            link_changed = join_url != row.join_url
            capacity_changed = capacity != row.capacity
            repository = SessionRepository(session)
            added = [person_id for person_id in co_ids if await repository.add_facilitator(
                row.id, person_id, actor_id, now)]
            if not (time_changed or link_changed or capacity_changed or added):
                return ActionResult("unchanged", session=info)
            if time_changed:
                # Reminders name the start time: those for the old time that have not gone yet never will.
                await reminders.cancel_pending(session, row.id, row.starts_at, now)
                row.time_set_at = now
            row.starts_at, row.ends_at, row.join_url, row.capacity = starts_at, ends_at, join_url, capacity
            row.change_no += 1
            row.updated_at = now
            await session.flush()
            for _ in added:
                await audit.record(session, actor_id, "session.co_facilitator.add", str(row.id))
            await audit.record(session, actor_id, "session.change", str(row.id))
            if row.status == SessionStatus.PUBLISHED:
                if capacity_changed:
                    await self._seats.fill(session, row, now)
                if time_changed:
                    await self._deps.calendar_job(session, GraphJobKind.UPDATE_TIME, row, now, author_id=actor_id)
                if time_changed or link_changed:
                    await self._tell_about_change(session, row, now, time_changed=time_changed,
                                                  link_changed=link_changed)
            info = await session_view(session, row, now)
        log.info("session changed", extra=Fields(session_id=session_id, change_no=info.change_no))
        return ActionResult("done", session=info)

    async def on_calendar_ready(self, session: AsyncSession, session_id: int, join_url: str) -> None:
        """Graph made the session's Teams meeting: its link becomes the join link, unless a facilitator gave
        one meanwhile, and people who accepted or are waiting are told as for any new link."""
        now = self._deps.clock.now()
        row = await SessionRepository(session).lock(session_id)
        if row is None or row.join_url or row.status != SessionStatus.PUBLISHED or row.starts_at <= now \
                or not is_teams_meeting_link(join_url):
            return
        row.join_url = join_url
        row.change_no += 1
        row.updated_at = now
        await session.flush()
        await self._tell_about_change(session, row, now, time_changed=False, link_changed=True)
        log.info("session has its Teams meeting", extra=Fields(session_id=session_id))

    async def cancel(self, actor_id: str, session_id: int, seen_change_no: int | None = None) -> ActionResult:
        """Cancel: accepted and waiting people are told, and every invitation card is closed.
        `seen_change_no`: the session's change number on the confirm card; a newer one means it is stale."""
        now = self._deps.clock.now()
        actor = await self._deps.actor(actor_id)
        async with self._deps.database.transaction() as session:
            row = await self._deps.managed(session, actor, session_id, "session.cancel", lock=True)
            if isinstance(row, ActionResult):
                return row
            if row.status == SessionStatus.CANCELLED:
                return ActionResult("unchanged", session=await session_view(session, row, now))
            if row.starts_at <= now:
                await self._deps.audit.record(session, actor_id, "session.cancel", str(session_id),
                                              AuditOutcome.REFUSED)
                return ActionResult("closed", session=await session_view(session, row, now))
            if seen_change_no is not None and seen_change_no != row.change_no:
                return ActionResult("stale", session=await session_view(session, row, now))
            was_published = row.status == SessionStatus.PUBLISHED
            row.status = SessionStatus.CANCELLED.value
            row.cancelled_at = now
            row.updated_at = now
            row.change_no += 1
            await session.flush()
            await self._deps.audit.record(session, actor_id, "session.cancel", str(row.id))
            if was_published:
                await self._deps.calendar_job(session, GraphJobKind.CANCEL, row, now, author_id=actor_id)
                await reminders.cancel_pending(session, row.id, row.starts_at, now)
                await self._tell_everyone(session, row, now, key=f"session-cancel:{row.id}",
                                          purpose=OutboxPurpose.SESSION_CANCEL, card=self._deps.messages.cancelled)
            info = await session_view(session, row, now)
        log.info("session cancelled", extra=Fields(session_id=session_id))
        return ActionResult("done", session=info)

    async def _tell_about_change(self, session: AsyncSession, row: TrainingSession, now: datetime, *,
                                 time_changed: bool, link_changed: bool) -> None:
        def card(view: InvitationView) -> dict[str, Any]:
            return self._deps.messages.changed(view, time_changed=time_changed, link_changed=link_changed)

        await self._tell_everyone(session, row, now, key=f"session-change:{row.id}:{row.change_no}",
                                  purpose=OutboxPurpose.SESSION_CHANGE, card=card)

    async def _tell_everyone(self, session: AsyncSession, row: TrainingSession, now: datetime, *, key: str,
                             purpose: OutboxPurpose, card: Callable[[InvitationView], dict[str, Any]]) -> None:
        """Every invitation card is updated in place, and people who accepted or are waiting are sent `card`,
        keyed `key` and the person, so each is told once."""
        invitations = await InvitationRepository(session).with_status(row.id, tuple(InvitationStatus))
        views = await invitation_views(session, row, invitations, now, offsets=self._deps.reminder_offsets)
        for invitation, view in zip(invitations, views, strict=True):
            invitation.rev += 1
            if invitation.status in (InvitationStatus.ACCEPTED, InvitationStatus.WAITING):
                await enqueue(session, key=f"{key}:{invitation.person_id}",
                              recipient=Recipient.person(invitation.person_id),
                              message=Message(card=card(view)), purpose=purpose, now=now, batch=f"session:{row.id}")
            await self._deps.update_card(session, invitation, view, now)
        await session.flush()

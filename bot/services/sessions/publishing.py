"""Creating a session (as a draft or published at once) and publishing a draft: the eligible people are invited
in the same transaction, and without a join link Graph is asked to make the Teams meeting (design §8)."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.log_format import Fields
from bot.services.sessions.deps import Deps
from bot.services.sessions.forms import IN_THE_PAST, SessionDraft
from bot.services.sessions.invitations import Invitations
from bot.services.sessions.views import ActionResult, session_view
from bot.services.suppression import shown
from storage.models import TrainingSession
from storage.repositories.sessions import SessionRepository, session_filters
from vocabulary.words import GraphJobKind, Role, SessionStatus

log = logging.getLogger(__name__)


class Publishing:
    def __init__(self, deps: Deps, invitations: Invitations) -> None:
        self._deps = deps
        self._invitations = invitations

    async def create(self, actor_id: str, draft: SessionDraft, *, publish: bool) -> ActionResult:
        now = self._deps.clock.now()
        if draft.starts_at <= now:
            return ActionResult("closed", detail=IN_THE_PAST)
        # Checked again here: the role may have been taken away while the form was open (refusals are audited).
        if not await self._deps.roles.require(actor_id, Role.FACILITATOR, "session.create"):
            return ActionResult("refused")
        audit = self._deps.audit
        async with self._deps.database.transaction() as session:
            row = await SessionRepository(session).add(TrainingSession(
                title=draft.title, phase=draft.phase, space=draft.space,
                **session_filters(draft.communities),
                starts_at=draft.starts_at, ends_at=draft.ends_at, join_url=draft.join_url,
                capacity=draft.capacity, status=SessionStatus.DRAFT.value, change_no=0, next_waiting_seq=1,
                created_by=actor_id, created_at=now, updated_at=now, published_at=None, cancelled_at=None,
                time_set_at=now))
            repository = SessionRepository(session)
            await repository.add_facilitator(row.id, actor_id, actor_id, now)
            for person_id in draft.co_facilitator_ids:
                await repository.add_facilitator(row.id, person_id, actor_id, now)
                await audit.record(session, actor_id, "session.co_facilitator.add", str(row.id))
            await audit.record(session, actor_id, "session.create", str(row.id))
            invited = None
            if publish:
                invited = shown(await self._publish(session, row, actor_id, now))
            info = await session_view(session, row, now)
        log.info("session created", extra=Fields(session_id=row.id, outcome="published" if publish else "draft"))
        return ActionResult("done", session=info, invited=invited)

    async def publish(self, actor_id: str, session_id: int) -> ActionResult:
        now = self._deps.clock.now()
        actor = await self._deps.actor(actor_id)
        async with self._deps.database.transaction() as session:
            row = await self._deps.managed(session, actor, session_id, "session.publish", lock=True)
            if isinstance(row, ActionResult):
                return row
            if row.status != SessionStatus.DRAFT:
                return ActionResult("unchanged", session=await session_view(session, row, now))
            if row.starts_at <= now:
                return ActionResult("closed", session=await session_view(session, row, now))
            invited = shown(await self._publish(session, row, actor_id, now))
            info = await session_view(session, row, now)
        log.info("session published", extra=Fields(session_id=session_id))
        return ActionResult("done", session=info, invited=invited)

    async def _publish(self, session: AsyncSession, row: TrainingSession, actor_id: str, now: datetime) -> int:
        row.status = SessionStatus.PUBLISHED.value
        row.published_at = now
        row.updated_at = now
        await session.flush()
        await self._deps.audit.record(session, actor_id, "session.publish", str(row.id))
        if row.join_url is None:
            await self._deps.calendar_job(session, GraphJobKind.CREATE, row, now, author_id=actor_id)
        return await self._invitations.invite_eligible(session, row, now)

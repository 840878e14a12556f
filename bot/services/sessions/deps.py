"""What every part of the sessions service is built with, and what they all do the same way: know who acts, check
that they manage the session, ask Graph to update the calendar, and update a person's invitation card in place."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.delivery.outbox import Message, Recipient, enqueue
from bot.graph.calendar_sync import enqueue_calendar_job
from bot.services.feed import FeedMessages
from bot.services.roles import Audit, RoleService
from bot.services.sessions.access import Actor, managed_session
from bot.services.sessions.views import ActionResult, SessionMessages
from cards.invitation import InvitationView
from storage.db import Database
from storage.models import Invitation, TrainingSession
from vocabulary.words import GraphJobKind, OutboxPurpose


@dataclass(frozen=True)
class Deps:
    database: Database
    clock: Clock
    audit: Audit
    roles: RoleService
    messages: SessionMessages
    # Microsoft Graph is configured (design §8): a session published without a join link gets a Teams meeting
    # made for it, and accepted people are added to its calendar event (attendees hidden). The jobs are
    # written in the same transaction as the change; bot/graph/calendar_sync.py carries them out later.
    calendar: bool = False
    # The configured reminders, minutes before the start (largest first): cards promise only those still due.
    reminder_offsets: tuple[int, ...] = ()
    # Graph is on (issue 24): an invitation also goes to the activity feed of people who chose it.
    feed: FeedMessages | None = None

    async def actor(self, actor_id: str) -> Actor:
        """Who acts, with their roles from RoleService (Entra groups too); ask before opening a transaction."""
        return await Actor.of(self.roles, actor_id)

    async def managed(self, session: AsyncSession, actor: Actor, session_id: int, action: str, *,
                      lock: bool = False) -> TrainingSession | ActionResult:
        """The session, if the actor manages it; else a refusal (audited) to return as it is."""
        row = await managed_session(session, self.audit, actor, session_id, action, lock=lock)
        return ActionResult(row) if isinstance(row, str) else row

    async def calendar_job(self, session: AsyncSession, kind: GraphJobKind, row: TrainingSession, now: datetime, *,
                           person_id: str | None = None, author_id: str | None = None) -> None:
        if not self.calendar:
            return
        await enqueue_calendar_job(session, kind, row.id, person_id, now=now, start_at=row.starts_at,
                                   end_at=row.ends_at, author_id=author_id or row.created_by)

    async def update_card(self, session: AsyncSession, invitation: Invitation, view: InvitationView,
                          now: datetime) -> None:
        """Replace the person's invitation card in place (the outbox sends an update of that message)."""
        if invitation.card_outbox_id is None:
            return
        await enqueue(session, key=f"invite-card:{invitation.session_id}:{invitation.person_id}:{invitation.rev}",
                      recipient=Recipient.person(invitation.person_id),
                      message=Message(card=self.messages.invitation(view)), purpose=OutboxPurpose.INVITATION_UPDATE,
                      now=now, updates=invitation.card_outbox_id, batch=f"session:{invitation.session_id}")

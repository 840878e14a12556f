"""A person's own invitations: one as it is now (a card refresh), "my sessions", and sending an invitation card
again when they cannot find it (limited per hour, audited)."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import replace
from datetime import timedelta

from bot.delivery.outbox import Message, Recipient, enqueue, is_enqueued
from bot.log_format import Fields
from bot.services.sessions.deps import Deps
from bot.services.sessions.views import invitation_view
from cards.invitation import InvitationView
from storage.repositories.sessions import InvitationRepository, SessionRepository
from vocabulary.words import AuditOutcome, OutboxPurpose, SessionStatus

# Presses of "Send again" this close together are one request pressed twice: it sends one card.
DOUBLE_PRESS = timedelta(seconds=10)

log = logging.getLogger(__name__)


class MyInvitations:
    def __init__(self, deps: Deps) -> None:
        self._deps = deps

    async def invitation(self, person_id: str, session_id: int, *, note: str | None = None) -> InvitationView | None:
        """The person's own invitation as it is now (a card refresh), or None if they were not invited."""
        now = self._deps.clock.now()
        # Teams asks for this whenever the person looks at their card: a read, never the write lock.
        async with self._deps.database.read() as session:
            row = await SessionRepository(session).get(session_id)
            invitation = await InvitationRepository(session).get(session_id, person_id) if row and person_id else None
            if row is None or invitation is None:
                return None
            view = await invitation_view(session, row, invitation, now, offsets=self._deps.reminder_offsets)
        return replace(view, note=note) if note else view

    async def my_sessions(self, person_id: str) -> list[InvitationView]:
        """The person's invitations to upcoming published sessions, soonest first ("my sessions")."""
        now = self._deps.clock.now()
        async with self._deps.database.read() as session:
            return [await invitation_view(session, row, invitation, now, offsets=self._deps.reminder_offsets)
                    for row, invitation in await InvitationRepository(session).upcoming_of_person(person_id, now)]

    async def resend(self, person_id: str, session_id: int, limit_per_hour: int, request_id: str) -> str:
        """Send the person's invitation card again through the outbox ("I can't find my invitation"). The new
        message becomes the card that later changes update. Returns done | limit | not_invited | closed.

        `request_id` names this request (the edge uses the id of the press Teams sent): each press is its own
        resend, within `limit_per_hour` for the person, and the same press delivered twice sends one card."""
        now = self._deps.clock.now()
        audit = self._deps.audit
        key = f"resend:{session_id}:{person_id}:{hashlib.sha256(request_id.encode()).hexdigest()[:24]}"
        async with self._deps.database.transaction() as session:
            row = await SessionRepository(session).lock(session_id)
            invitations = InvitationRepository(session)
            invitation = await invitations.get(session_id, person_id) if row is not None else None
            if row is None or invitation is None:
                return "not_invited"
            if row.status != SessionStatus.PUBLISHED or row.starts_at <= now:
                return "closed"
            if await is_enqueued(session, key):
                return "done"  # this very request was taken already
            if await invitations.resends_since(person_id, now - DOUBLE_PRESS, session_id):
                return "done"  # a double press: Teams sends each press with its own id
            if await invitations.resends_since(person_id, now - timedelta(hours=1)) >= limit_per_hour:
                await audit.record(session, person_id, "invitation.resend", str(session_id), AuditOutcome.REFUSED)
                return "limit"
            invitation.rev += 1
            view = await invitation_view(session, row, invitation, now, offsets=self._deps.reminder_offsets)
            invitation.card_outbox_id = await enqueue(
                session, key=key, recipient=Recipient.person(person_id),
                message=Message(card=self._deps.messages.invitation(view)), purpose=OutboxPurpose.INVITATION, now=now,
                batch=f"session:{session_id}")
            await audit.record(session, person_id, "invitation.resend", str(session_id))
        log.info("invitation sent again", extra=Fields(session_id=session_id, person=person_id))
        return "done"

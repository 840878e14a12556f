"""Seats: Accept and Decline, the waiting list, and promotion from it, first come first served.

Every change of a session's seats happens while its row is locked (see the package's docstring), so exactly
`capacity` people hold a place however many press Accept at once. A freed seat goes to the first person
waiting, who is told, and whose invitation card is updated in place."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.delivery.outbox import Message, Recipient, enqueue
from bot.log_format import Fields
from bot.services import reminders
from bot.services.sessions.deps import Deps
from bot.services.sessions.views import ReplyResult, invitation_view, seats_left
from storage.models import Invitation, TrainingSession
from storage.repositories.sessions import InvitationRepository, SessionRepository
from vocabulary.words import GraphJobKind, InvitationStatus, OutboxPurpose, SessionStatus

log = logging.getLogger(__name__)


class Seats:
    def __init__(self, deps: Deps) -> None:
        self._deps = deps

    async def reply(self, person_id: str, session_id: int, answer: str, *, update_card: bool = False) -> ReplyResult:
        """Accept or decline for the person who pressed (never a person named in a payload).

        `update_card`: also update the invitation card in place through the outbox (an Action.Submit reply;
        an Action.Execute reply is answered with the new card, which Teams puts in place itself)."""
        if answer not in ("accept", "decline"):
            raise ValueError(f"unknown answer {answer!r}")
        now = self._deps.clock.now()
        async with self._deps.database.transaction() as session:
            row = await SessionRepository(session).lock(session_id)
            invitations = InvitationRepository(session)
            invitation = await invitations.get(session_id, person_id) if row is not None and person_id else None
            if row is None or invitation is None:
                return ReplyResult("not_invited", None)
            outcome = "done"
            if row.status == SessionStatus.CANCELLED:
                outcome = "cancelled"
            elif row.starts_at <= now:
                outcome = "closed"
            elif answer == "accept":
                outcome = await self._accept(session, row, invitation, now)
            else:
                outcome = await self._decline(session, row, invitation, now)
            view = await invitation_view(session, row, invitation, now, offsets=self._deps.reminder_offsets)
            if outcome == "done" and update_card:
                await self._deps.update_card(session, invitation, view, now)
        if outcome == "done":
            log.info("invitation reply", extra=Fields(session_id=session_id, person=person_id, action=answer,
                                                      outcome=view.status))
        return ReplyResult(outcome, view)

    async def _accept(self, session: AsyncSession, row: TrainingSession, invitation: Invitation,
                      now: datetime) -> str:
        if invitation.status in (InvitationStatus.ACCEPTED, InvitationStatus.WAITING):
            return "unchanged"
        if await seats_left(session, row) > 0:
            invitation.status = InvitationStatus.ACCEPTED.value
            invitation.waiting_seq = None
            invitation.seated_at = now
            await self._deps.calendar_job(session, GraphJobKind.ADD_ATTENDEE, row, now, person_id=invitation.person_id)
        else:
            invitation.status = InvitationStatus.WAITING.value
            invitation.waiting_seq = row.next_waiting_seq
            row.next_waiting_seq += 1
        invitation.rev += 1
        invitation.replied_at = now
        await session.flush()
        return "done"

    async def _decline(self, session: AsyncSession, row: TrainingSession, invitation: Invitation,
                       now: datetime) -> str:
        if invitation.status == InvitationStatus.DECLINED:
            return "unchanged"
        held_seat = invitation.status == InvitationStatus.ACCEPTED
        invitation.status = InvitationStatus.DECLINED.value
        invitation.waiting_seq = None
        invitation.rev += 1
        invitation.replied_at = now
        await session.flush()
        if held_seat:
            await self.free_seat(session, row, invitation.person_id, now)
            await self.fill(session, row, now)
        return "done"

    async def free_seat(self, session: AsyncSession, row: TrainingSession, person_id: str, now: datetime) -> None:
        """Someone gives up a place: out of the calendar event, and no reminders for them."""
        await self._deps.calendar_job(session, GraphJobKind.REMOVE_ATTENDEE, row, now, person_id=person_id)
        await reminders.cancel_pending(session, row.id, row.starts_at, now, person_id=person_id)

    async def fill(self, session: AsyncSession, row: TrainingSession, now: datetime) -> int:
        """Promote waiting people, first come first served, while there are free seats. The session row must
        be locked. Each promoted person is told, and their invitation card is updated in place."""
        invitations = InvitationRepository(session)
        free = await seats_left(session, row)
        promoted = 0
        while free > 0:
            invitation = await invitations.first_waiting(row.id)
            if invitation is None:
                break
            invitation.status = InvitationStatus.ACCEPTED.value
            invitation.waiting_seq = None
            invitation.seated_at = now
            invitation.rev += 1
            await session.flush()
            free -= 1
            promoted += 1
            await self._deps.calendar_job(session, GraphJobKind.ADD_ATTENDEE, row, now, person_id=invitation.person_id)
            view = await invitation_view(session, row, invitation, now, offsets=self._deps.reminder_offsets)
            await enqueue(session, key=f"promoted:{row.id}:{invitation.person_id}:{invitation.rev}",
                          recipient=Recipient.person(invitation.person_id),
                          message=Message(card=self._deps.messages.promoted(view)), purpose=OutboxPurpose.PROMOTION,
                          now=now, batch=f"session:{row.id}")
            await self._deps.update_card(session, invitation, view, now)
            log.info("promoted from the waiting list", extra=Fields(session_id=row.id, person=invitation.person_id))
        return promoted

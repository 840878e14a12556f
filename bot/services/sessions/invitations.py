"""Who is invited: every eligible person when a session is published, and later people who become eligible
(sign-up, changed answers, renewed consent, a chat Teams can reach again). Invitations are withdrawn from
people whose changed answers no longer match, and removed with everything else when someone withdraws.

The hooks here run inside the colleague journey's transaction (bot.core hooks), so a change of answers and
what it does to invitations are written together or not at all."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import or_, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.delivery.outbox import Message, Recipient, cancel, enqueue, feed_key
from bot.log_format import Fields
from bot.services.eligibility import Criteria, EligibilityAnswers, answers_match, is_eligible
from bot.services.feed import enqueue_feed, wanting_feed
from bot.services.sessions.deps import Deps
from bot.services.sessions.seats import Seats
from bot.services.sessions.views import invitation_view, seats_left, view_of
from storage.models import Invitation, OutboxMessage, Person, TrainingSession, Volunteer
from storage.repositories.sessions import InvitationRepository, SessionRepository, session_communities
from vocabulary.words import (
    Community,
    InvitationStatus,
    OutboxPurpose,
    OutboxStatus,
    Phase,
    SessionAudience,
    SessionStatus,
)

log = logging.getLogger(__name__)


def answers_of(volunteer: Volunteer) -> EligibilityAnswers:
    return EligibilityAnswers(
        consent_version=volunteer.consent_version, space_minoritised=volunteer.space_minoritised,
        space_ally=volunteer.space_ally, phase_codesign=volunteer.phase_codesign,
        phase_train_the_trainer=volunteer.phase_train_the_trainer,
        communities=frozenset(community for community in Community if getattr(volunteer, community.column)))


def criteria_of(row: TrainingSession) -> Criteria:
    return Criteria(SessionAudience(row.space), Phase(row.phase), frozenset(session_communities(row)))


class Invitations:
    def __init__(self, deps: Deps, seats: Seats) -> None:
        self._deps = deps
        self._seats = seats

    async def invite_eligible(self, session: AsyncSession, row: TrainingSession, now: datetime) -> int:
        """Invite every eligible person not yet invited (publishing); returns how many were invited now."""
        repository = SessionRepository(session)
        version = await repository.latest_notice_version()
        if version is None:
            return 0
        already = await InvitationRepository(session).invited_ids(row.id)
        seats = await seats_left(session, row)
        recipients = [(person_id, teams_user_id)
                      for person_id, teams_user_id in await repository.eligible_recipients(row, version)
                      if person_id not in already]
        feed = (await wanting_feed(session, [person_id for person_id, _ in recipients])
                if self._deps.feed is not None else set())
        done = 0
        for person_id, teams_user_id in recipients:
            if await self._invite(session, row, person_id, teams_user_id, seats, now, feed=person_id in feed):
                done += 1
        await session.flush()
        return done

    async def on_volunteer_changed(self, session: AsyncSession, person_id: str) -> None:
        """A sign-up, changed answers or renewed consent: invite them to upcoming published sessions.
        Runs in the colleague journey's transaction. Existing invitations are kept as they are. Their answers
        are read once and matched to each session by the rules (bot/services/eligibility.py), whose SQL twin
        `invite_eligible` uses."""
        version = await SessionRepository(session).latest_notice_version()
        volunteer = await session.get(Volunteer, person_id)
        person = await session.get(Person, person_id)
        if version is None or volunteer is None or person is None or person.undeliverable_code is not None:
            return  # not signed up, or Teams cannot reach them: the re-arm hook invites them when it can
        answers = answers_of(volunteer)
        now = self._deps.clock.now()
        invited = 0
        for row in await SessionRepository(session).upcoming_published(now):
            if is_eligible(criteria_of(row), answers, version) and await self._invite(
                    session, row, person_id, person.teams_user_id, await seats_left(session, row), now,
                    feed=volunteer.feed_notifications):
                invited += 1
        await session.flush()
        if invited:
            log.info("invited a volunteer to upcoming sessions", extra=Fields(person=person_id, count=invited))

    async def _invite(self, session: AsyncSession, row: TrainingSession, person_id: str, teams_user_id: str | None,
                      seats: int, now: datetime, *, feed: bool = False) -> bool:
        """Invite one eligible person and send their card; False when they were invited already. `feed`: they
        chose the activity feed too, which gets a notification when Graph is on."""
        invitation = await InvitationRepository(session).add_if_missing(row.id, person_id, now)
        if invitation is None:
            return False
        view = view_of(row, invitation, seats_left=seats, position=None, now=now, refresh_user_id=teams_user_id,
                       offsets=self._deps.reminder_offsets)
        key = f"invite:{row.id}:{person_id}"
        invitation.card_outbox_id = await enqueue(
            session, key=key, recipient=Recipient.person(person_id),
            message=Message(card=self._deps.messages.invitation(view)), purpose=OutboxPurpose.INVITATION, now=now,
            batch=f"session:{row.id}", author_id=row.created_by)
        if feed and self._deps.feed is not None:
            await enqueue_feed(session, chat_key=key, person_id=person_id, purpose=OutboxPurpose.INVITATION, now=now,
                               notification=self._deps.feed.invitation(row.title, row.starts_at, row.ends_at))
        return True

    async def on_rearmed(self, person_id: str) -> None:
        """Someone Teams could not reach came back: invite them to what they missed."""
        async with self._deps.database.transaction() as session:
            await self.on_volunteer_changed(session, person_id)

    async def withdraw_unmatched(self, session: AsyncSession, person_id: str) -> None:
        """Changed answers that no longer match an upcoming published session: an invitation the person has
        not accepted (no reply, waiting or declined) is withdrawn. Its card is closed in place with a kind line
        and the invitation is deleted, so "my sessions", the figures and the roster forget it. An accepted
        place is kept, and the person is told once that nothing changes for their booking. Runs in the
        colleague journey's transaction; consent is not looked at (a new privacy notice withdraws nothing)."""
        volunteer = await session.get(Volunteer, person_id)
        if volunteer is None:
            return
        answers = answers_of(volunteer)
        now = self._deps.clock.now()
        repository = SessionRepository(session)
        invitations = InvitationRepository(session)
        # In session id order, as every other path that locks several sessions.
        for session_id in [item.session_id for item in await invitations.of_person(person_id)]:
            row = await repository.get(session_id)
            if row is None or row.status != SessionStatus.PUBLISHED or row.starts_at <= now or answers_match(
                    criteria_of(row), answers):
                continue
            row = await repository.lock(session_id)  # a press of Accept at this moment waits, or went first
            invitation = await invitations.get(session_id, person_id)
            if row is None or invitation is None:
                continue
            card = self._deps.messages.no_longer_matching(await invitation_view(
                session, row, invitation, now, offsets=self._deps.reminder_offsets))
            if invitation.status == InvitationStatus.ACCEPTED:
                await enqueue(session, key=f"place-kept:{row.id}:{person_id}", recipient=Recipient.person(
                    person_id), message=Message(card=card), purpose=OutboxPurpose.PLACE_KEPT, now=now,
                    batch=f"session:{row.id}")
                continue
            await self._withdraw(session, row, invitation, card, now)

    async def _withdraw(self, session: AsyncSession, row: TrainingSession, invitation: Invitation,
                        card: dict[str, Any], now: datetime) -> None:
        """Close the invitation's card in place with `card` (or never send it), then delete the invitation."""
        person_id = invitation.person_id
        original = (await session.get(OutboxMessage, invitation.card_outbox_id)
                    if invitation.card_outbox_id is not None else None)
        if original is not None:  # a feed notification of it that has not gone yet is withdrawn in any case
            await cancel(session, [feed_key(original.key)], now)
        if original is not None and original.status == OutboxStatus.PENDING:
            await cancel(session, [original.key], now)  # never sent: there is no card to close
        elif original is not None:
            await enqueue(session, key=f"invite-withdrawn:{original.id}", recipient=Recipient.person(
                person_id), message=Message(card=card), purpose=OutboxPurpose.INVITATION_UPDATE, now=now,
                updates=original.id, batch=f"session:{row.id}")
        # Matching again later is a new cause: the keys of this invitation's messages step aside, so a new
        # invitation (and its replies, updates and reminders) reaches the person again.
        suffix = f"#withdrawn{invitation.card_outbox_id or invitation.id}"
        await session.execute(
            update(OutboxMessage).where(
                OutboxMessage.person_id == person_id,
                or_(OutboxMessage.key.endswith(f":{row.id}:{person_id}", autoescape=True),
                    OutboxMessage.key.contains(f":{row.id}:{person_id}:", autoescape=True)))
            .values(key=OutboxMessage.key + suffix))
        await session.delete(invitation)
        await session.flush()
        await self._deps.audit.record(session, person_id, "invitation.withdraw", str(row.id))
        log.info("invitation withdrawn, answers no longer match", extra=Fields(session_id=row.id, person=person_id))

    async def on_person_erased(self, session: AsyncSession, person_id: str) -> None:
        """A withdrawal: free their seats (the next waiting person is promoted and told), then delete their
        invitations. Runs in the withdrawal's transaction, before their other rows are deleted."""
        now = self._deps.clock.now()
        invitations = InvitationRepository(session)
        repository = SessionRepository(session)
        # Lock sessions in id order, so two withdrawals never wait for each other in a circle.
        for invitation in sorted(await invitations.of_person(person_id), key=lambda item: item.session_id):
            row = await repository.lock(invitation.session_id)
            held_seat = invitation.status == InvitationStatus.ACCEPTED
            if row is not None and held_seat:
                # Before the person's e-mail is erased later in this transaction (calendar_sync reads it now).
                await self._seats.free_seat(session, row, person_id, now)
            await session.delete(invitation)
            await session.flush()
            if row is not None and held_seat and row.status == SessionStatus.PUBLISHED and row.starts_at > now:
                await self._seats.fill(session, row, now)
        await invitations.delete_of_person(person_id)
        await repository.remove_facilitator_everywhere(person_id)

"""Reminders before a session (design §4 Invitation card, §7): by default 24 hours and 1 hour before the start,
to people who have a place, with the join link. No botbuilder here.

Driven from the database, not from timers: `tick()` looks at the published sessions starting soon and, for the
reminder whose time has come, enqueues one message per person with a place. The key names the offset, the start
time, the session and the person, so a tick that runs twice, a restart or a second instance never sends a
reminder twice, and a session moved to a new time gets reminders for its new time (the old time's reminders
that have not gone yet are withdrawn by the sessions service when the time changes).

Which reminder is due: the one with the smallest offset whose time has come. So a bot that was down, or a
session moved to 30 minutes from now, sends one "1 hour" reminder, never a "24 hour" one half an hour before.
Who is owed it: people who had their place, and whose session had its start time, when the reminder's time
came. Someone who gets a place 5 hours before the start is owed only the 1 hour reminder. The last reminder
(the smallest offset) is owed to everyone with a place, because it carries the join link.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.delivery.outbox import Message, Recipient, cancel, enqueue, feed_key, keys_starting, pending_keys_like
from bot.log_format import Fields
from bot.services.feed import FeedMessages, enqueue_feed, wanting_feed
from cards.invitation import ReminderView
from storage.db import Database
from storage.models import Invitation, TrainingSession
from storage.repositories.sessions import InvitationRepository, SessionRepository
from vocabulary.uk_time import utc_iso
from vocabulary.words import InvitationStatus, OutboxPurpose, SessionStatus

log = logging.getLogger(__name__)

PURPOSE = OutboxPurpose.REMINDER


class ReminderMessages(Protocol):
    """Draws the reminder card; the feature implements it with cards/invitation.py."""

    def reminder(self, view: ReminderView) -> dict[str, Any]: ...


def reminder_key(offset_minutes: int, starts_at: datetime, session_id: int, person_id: str) -> str:
    """The start time is in the key as UTC, e.g. 2026-12-03T10:00:00Z: a session moved to a new time gets new
    reminders."""
    return f"reminder:{offset_minutes}:{utc_iso(starts_at)}:{session_id}:{person_id}"


def clean_offsets(offsets: Sequence[int]) -> tuple[int, ...]:
    """Positive offsets, largest first, each once."""
    return tuple(sorted({offset for offset in offsets if offset > 0}, reverse=True))


def offset_due(offsets: Sequence[int], starts_at: datetime, now: datetime) -> int | None:
    """The reminder to send now: the smallest offset whose time has come, while the start is still ahead."""
    if starts_at <= now:
        return None
    due = [offset for offset in offsets if starts_at - timedelta(minutes=offset) <= now]
    return min(due) if due else None


def is_owed(offset: int, offsets: Sequence[int], starts_at: datetime, since: datetime) -> bool:
    """Owed when the person had their place (and the session its start time) by the reminder's time. The last
    reminder is owed to everyone with a place."""
    return offset == min(offsets) or starts_at - timedelta(minutes=offset) >= since


async def cancel_pending(session: AsyncSession, session_id: int, starts_at: datetime, now: datetime, *,
                         person_id: str | None = None) -> int:
    """Withdraw reminders for this start time that have not gone yet: of one person (who lost their place) or
    of everyone (the time changed, or the session was cancelled). Returns how many were withdrawn."""
    # The key ends with ":<start>:<session>:<person>", so the pattern cannot match another session's keys.
    pattern = f"reminder:%:{utc_iso(starts_at)}:{session_id}:{person_id or '%'}"
    # Their activity-feed notifications too, also those whose chat reminder has gone already.
    keys = await pending_keys_like(session, pattern) + await pending_keys_like(session, feed_key(pattern))
    return await cancel(session, keys, now) if keys else 0


class ReminderService:
    def __init__(self, database: Database, clock: Clock, messages: ReminderMessages,
                 offsets_minutes: Sequence[int], *, feed: FeedMessages | None = None) -> None:
        """`feed`: Graph is on, so reminders also go to the activity feed of people who chose it."""
        self._database = database
        self._clock = clock
        self._messages = messages
        self._feed = feed
        self.offsets = clean_offsets(offsets_minutes)

    async def tick(self) -> int:
        """Enqueue every reminder that is due and not yet enqueued; returns how many were enqueued now.
        Safe to run often, after a restart and on several instances at once."""
        if not self.offsets:
            return 0
        now = self._clock.now()
        async with self._database.read() as session:
            candidates = await SessionRepository(session).starting_between(
                now, now + timedelta(minutes=max(self.offsets)))
            # Most ticks find nothing missing: look first without taking any lock.
            wanted = [session_id for session_id in candidates if await self._missing(session, session_id, now)]
        enqueued = 0
        for session_id in wanted:
            enqueued += await self._remind(session_id)
        await self._withdraw_late(now)
        return enqueued

    async def _withdraw_late(self, now: datetime) -> None:
        """A reminder still waiting when its session has started (the worker could not send for a while) would
        say "starts in 45 minutes" too late: withdraw it. Sessions that started in the last day are looked at."""
        async with self._database.read() as session:
            repository = SessionRepository(session)
            late = []
            for session_id in await repository.starting_between(now - timedelta(days=1), now):
                row = await repository.get(session_id)
                pattern = f"reminder:%:{utc_iso(row.starts_at)}:{row.id}:%" if row is not None else ""
                if row is not None and (await pending_keys_like(session, pattern)
                                        or await pending_keys_like(session, feed_key(pattern))):
                    late.append((row.id, row.starts_at))
        for session_id, starts_at in late:
            async with self._database.transaction() as session:
                withdrawn = await cancel_pending(session, session_id, starts_at, now)
            log.info("reminders withdrawn after the start", extra=Fields(session_id=session_id, count=withdrawn))

    async def _missing(self, session: AsyncSession, session_id: int, now: datetime, *,
                       row: TrainingSession | None = None) -> list[tuple[int, Invitation]]:
        """(offset, invitation) for each person owed a due reminder that has not been enqueued yet."""
        row = row or await SessionRepository(session).get(session_id)
        if row is None or row.status != SessionStatus.PUBLISHED:
            return []
        offset = offset_due(self.offsets, row.starts_at, now)
        if offset is None:
            return []
        prefix = f"reminder:{offset}:{utc_iso(row.starts_at)}:{row.id}:"
        already = await keys_starting(session, prefix)
        time_set = row.time_set_at or row.created_at
        missing = []
        for invitation in await InvitationRepository(session).with_status(row.id, (InvitationStatus.ACCEPTED,)):
            if prefix + invitation.person_id in already:
                continue
            seated = invitation.seated_at or invitation.replied_at or invitation.invited_at
            if is_owed(offset, self.offsets, row.starts_at, max(seated, time_set)):
                missing.append((offset, invitation))
        return missing

    async def _remind(self, session_id: int) -> int:
        now = self._clock.now()
        async with self._database.transaction() as session:
            # Under the session's row lock: a change of time waits, so no reminder for an old time slips in
            # after that change withdrew the old time's reminders.
            row = await SessionRepository(session).lock(session_id)
            if row is None:
                return 0
            missing = await self._missing(session, session_id, now, row=row)
            view = ReminderView(session_id=row.id, title=row.title, starts_at=row.starts_at, ends_at=row.ends_at,
                                join_url=row.join_url, minutes_left=int((row.starts_at - now).total_seconds() // 60))
            card = self._messages.reminder(view)
            feed = (await wanting_feed(session, [invitation.person_id for _, invitation in missing])
                    if self._feed is not None and missing else set())
            for offset, invitation in missing:
                key = reminder_key(offset, row.starts_at, row.id, invitation.person_id)
                await enqueue(session, key=key, recipient=Recipient.person(invitation.person_id),
                              message=Message(card=card), purpose=PURPOSE, now=now, batch=f"session:{row.id}")
                if self._feed is not None and invitation.person_id in feed:
                    await enqueue_feed(session, chat_key=key, person_id=invitation.person_id, purpose=PURPOSE,
                                       now=now, notification=self._feed.reminder(
                                           row.title, row.starts_at, row.ends_at, has_link=bool(row.join_url)))
        if missing:
            log.info("reminders enqueued", extra=Fields(session_id=session_id, count=len(missing)))
        return len(missing)

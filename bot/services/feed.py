"""Teams activity-feed notifications beside invitations and reminders (issue 24, part 4; design §7).

When Graph is on, the feature gives the invitation and reminder services a `FeedMessages` (else None). For each
person who chose "Also tell me in my Teams activity feed", the services then enqueue one more outbox message in
the same transaction as the chat message: the feed notification, keyed by the chat message's key with "feed:"
in front, so a cause reaches the feed once however often it is enqueued. It is ordered behind the chat message
(the same recipient queue), so the notification never arrives before the card it points to. The delivery worker
sends it through Graph with the same pacing. The chat message itself is unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from bot.delivery.outbox import Message, Recipient, enqueue, feed_key
from storage.repositories.volunteers import VolunteerRepository
from vocabulary.words import OutboxPurpose


class FeedMessages(Protocol):
    """What the feed says (the feature implements it with cards/feed.py): outbox feed payloads."""

    def invitation(self, title: str, starts_at: datetime, ends_at: datetime) -> dict[str, Any]: ...

    def reminder(self, title: str, starts_at: datetime, ends_at: datetime, *, has_link: bool) -> dict[str, Any]: ...


async def wanting_feed(session: AsyncSession, person_ids: Sequence[str]) -> set[str]:
    """Those of `person_ids` who chose the activity feed too."""
    return await VolunteerRepository(session).feed_wanted(person_ids)


async def enqueue_feed(session: AsyncSession, *, chat_key: str, person_id: str, notification: dict[str, Any],
                       purpose: OutboxPurpose, now: datetime) -> int:
    """The feed notification that goes with the chat message keyed `chat_key` (of `purpose`); its outbox id. No
    batch: it is not one of the session's messages whose progress anyone watches."""
    return await enqueue(session, key=feed_key(chat_key), recipient=Recipient.person(person_id),
                         message=Message(feed=notification), purpose=OutboxPurpose(purpose).feed, now=now)

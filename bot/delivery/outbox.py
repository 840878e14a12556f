"""Enqueue proactive messages in the caller's transaction. Services call only this module.

Also here: what authors and services may ask of the outbox afterwards (progress and failures of a batch,
cancelling what has not gone yet), re-arming a person who came back, and retention of old messages (issue 23)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import dialect_insert
from storage.models import OutboxMessage
from storage.repositories.outbox import FailedMessage, OutboxRepository
from vocabulary.words import OutboxKind, OutboxPurpose, OutboxStatus

__all__ = [
    "FailedMessage",
    "Message",
    "Recipient",
    "batch_failures",
    "batch_progress",
    "cancel",
    "compact_finished",
    "delete_attempts",
    "enqueue",
    "enqueue_to_people",
    "feed_key",
    "feed_of",
    "is_enqueued",
    "keys_starting",
    "pending_keys_like",
    "rearm",
    "statuses_starting",
    "wake_workers",
]


PERSON_ORDER_PREFIX = "p:"  # a person's messages go out in order, whichever chat reaches them
# A Teams activity-feed notification that goes with a chat message (issue 24): its key is the chat message's key
# with this in front, so each cause reaches the feed once too, and cancelling the one cancels the other.
FEED_PREFIX = "feed:"
FEED_CAUSES = ("invite:", "reminder:")  # the chat messages that may have one: invitations and reminders


def feed_key(key: str) -> str:
    """The key of the activity-feed notification that goes with the chat message keyed `key`."""
    return f"{FEED_PREFIX}{key}"


@dataclass(frozen=True)
class Recipient:
    """A person (reached in their 1:1 chat, which is created if needed) or a channel/chat conversation."""

    person_id: str | None = None
    conversation_id: str | None = None

    def __post_init__(self) -> None:
        if (self.person_id is None) == (self.conversation_id is None):
            raise ValueError("a recipient is either a person or a conversation")

    @classmethod
    def person(cls, person_id: str) -> Recipient:
        return cls(person_id=person_id)

    @classmethod
    def channel(cls, conversation_id: str) -> Recipient:
        return cls(conversation_id=conversation_id)

    @property
    def order_key(self) -> str:
        return f"{PERSON_ORDER_PREFIX}{self.person_id}" if self.person_id else f"c:{self.conversation_id}"


@dataclass(frozen=True)
class Message:
    """A card or a text for the person's chat, or (`feed`) a Teams activity-feed notification: its activity type,
    preview line and template parameters, e.g. {"activity_type": "sessionReminder", "preview": "...",
    "template": {"sessionTitle": "..."}}. The worker sends a feed message through Graph, not the Connector."""

    card: dict[str, Any] | None = None
    text: str | None = None
    feed: dict[str, Any] | None = None

    def to_json(self) -> str:
        given = [name for name in ("card", "text", "feed") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError("a message is a card, a text or a feed notification")
        return json.dumps({given[0]: getattr(self, given[0])})


def feed_of(payload: str) -> dict[str, Any] | None:
    """The activity-feed notification an outbox payload holds, or None for a chat message."""
    if not payload.startswith('{"feed"'):  # as to_json writes it: most messages are not parsed twice
        return None
    data = json.loads(payload)
    feed = data.get("feed") if isinstance(data, dict) else None
    return feed if isinstance(feed, dict) else None


async def enqueue(
    session: AsyncSession,
    *,
    key: str,
    recipient: Recipient,
    message: Message,
    purpose: OutboxPurpose,
    now: datetime,
    due_at: datetime | None = None,
    updates: int | None = None,
    batch: str | None = None,
    author_id: str | None = None,
) -> int:
    """Add a message unless one with this key exists; returns the outbox id either way.

    `key` names the cause and the recipient (design §7), e.g. f"invite:{session_id}:{person_id}",
    f"session-change:{session_id}:{change_no}:{person_id}", f"reminder:24h:{start_iso}:{session_id}:{person_id}".
    `updates` is the outbox id of an earlier message whose Teams activity this one replaces in place.
    `purpose` is an OutboxPurpose (vocabulary/words.py).
    """
    values = dict(
        key=key,
        person_id=recipient.person_id,
        conversation_id=recipient.conversation_id,
        order_key=recipient.order_key,
        kind=OutboxKind.UPDATE if updates is not None else OutboxKind.SEND,
        updates_id=updates,
        payload=message.to_json(),
        batch=batch,
        author_id=author_id,
        purpose=purpose,
        status=OutboxStatus.PENDING,
        due_at=due_at or now,
        attempts=0,
        created_at=now,
    )
    statement = (dialect_insert(session, OutboxMessage).values(**values)
                 .on_conflict_do_nothing(index_elements=["key"]).returning(OutboxMessage.id))
    new_id = (await session.execute(statement)).scalar_one_or_none()
    if new_id is not None:  # the usual case: one statement, where a look-up by key after every insert made two
        if due_at is None or due_at <= now:  # one due later is found by the worker's poll when its time comes
            await wake_workers(session)
        return int(new_id)
    result = await session.execute(select(OutboxMessage.id).where(OutboxMessage.key == key))
    return int(result.scalar_one())


async def enqueue_to_people(session: AsyncSession, people: Select[str], *, key_prefix: str, message: Message,
                            purpose: OutboxPurpose, now: datetime, batch: str | None = None,
                            author_id: str | None = None) -> None:
    """`enqueue` to every person `people` selects (a query of person ids), in one statement however many they
    are: key `key_prefix` followed by the person id, the rest as `enqueue` writes it."""
    await OutboxRepository(session).add_for_people(
        people, key_prefix=key_prefix, order_key_prefix=PERSON_ORDER_PREFIX, payload=message.to_json(),
        purpose=purpose, batch=batch, author_id=author_id, now=now)
    await wake_workers(session)


async def wake_workers(session: AsyncSession) -> None:
    """On PostgreSQL, NOTIFY the delivery workers in the caller's transaction, so they claim at its commit
    instead of at their next poll (bot/delivery/wakeup.py); a rollback drops the notification with the rows.
    Once per transaction: one enqueue per invitee would otherwise cost a round trip each. SQLite: nothing (the
    worker polls)."""
    if session.get_bind().dialect.name != "postgresql":
        return
    transaction = session.sync_session.get_transaction()
    if transaction is None or session.info.get(_WOKEN) is transaction:
        return
    await OutboxRepository(session).notify_workers()
    # Kept on the session: a session lives for one transaction (Database.transaction), so this never outlives it.
    session.info[_WOKEN] = transaction


_WOKEN = "outbox_workers_woken"


async def is_enqueued(session: AsyncSession, key: str) -> bool:
    """Whether a message with this key was ever enqueued (sent, pending or withdrawn alike)."""
    return await OutboxRepository(session).has_key(key)


async def keys_starting(session: AsyncSession, prefix: str) -> set[str]:
    """Keys of every message whose key starts with `prefix`, whatever became of it."""
    return await OutboxRepository(session).keys_starting(prefix)


async def statuses_starting(session: AsyncSession, prefix: str) -> list[str]:
    """What became of each message whose key starts with `prefix` (pending, sent, cancelled, …)."""
    return await OutboxRepository(session).statuses_starting(prefix)


async def pending_keys_like(session: AsyncSession, pattern: str) -> list[str]:
    """Keys of messages that have not started to go and match a LIKE pattern (`%`: any run of characters)."""
    return await OutboxRepository(session).pending_keys_like(pattern)


async def batch_progress(session: AsyncSession, batch: str) -> dict[str, int]:
    """How far a batch (an announcement, a session's invitations) has got: count per status
    (pending, sending, sent, failed, undeliverable, cancelled). Show counts through bot.services.suppression."""
    return await OutboxRepository(session).batch_progress(batch)


async def batch_failures(session: AsyncSession, batch: str) -> list[FailedMessage]:
    """The messages of a batch that will not arrive (failed: the message was at fault or retries ran out;
    undeliverable: the recipient cannot be reached), with Teams' status and error code, for the author."""
    return await OutboxRepository(session).batch_failures(batch)


async def cancel(session: AsyncSession, keys: list[str], now: datetime) -> int:
    """Withdraw messages that have not started to go (by key); returns how many were withdrawn. The activity-feed
    notification that goes with each (if any, and not gone yet) is withdrawn too, and not counted."""
    repository = OutboxRepository(session)
    withdrawn = await repository.cancel(keys, now)
    feed_keys = [feed_key(key) for key in keys if key.startswith(FEED_CAUSES)]
    if feed_keys:
        await repository.cancel(feed_keys, now)
    return withdrawn


async def rearm(session: AsyncSession, person_id: str, now: datetime) -> int:
    """The person can be reached again: their messages skipped as undeliverable go back to pending."""
    count = await OutboxRepository(session).rearm(person_id, now)
    if count:
        await wake_workers(session)
    return count


async def compact_finished(session: AsyncSession, *, finished_before: datetime, after_id: int, limit: int,
                           keep_batches: Sequence[str] = ()) -> tuple[int | None, int]:
    """Operational retention (issue 23): drop the payload of up to `limit` messages with ids above `after_id` that
    finished (sent, undeliverable, failed or cancelled) before `finished_before`, except those of `keep_batches`.
    Key, recipient, status, activity id and conversation stay: the key still stops a second send and the card can
    still be updated in place. Open messages are never touched. Returns (the last id looked at, or None when there
    was nothing left to look at, and how many were compacted)."""
    repository = OutboxRepository(session)
    ids = await repository.compactable(finished_before=finished_before, after_id=after_id, limit=limit,
                                       keep_batches=keep_batches)
    if not ids:
        return None, 0
    return ids[-1], await repository.compact(ids)


async def delete_attempts(session: AsyncSession, *, before: datetime, limit: int) -> int:
    """Delete up to `limit` delivery attempt rows made before `before`; returns how many (issue 23)."""
    return await OutboxRepository(session).delete_attempts(before=before, limit=limit)

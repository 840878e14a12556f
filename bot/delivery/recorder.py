"""Recording what happened to each message, with group commit.

Every send's outcome must be in the database before its task ends (so a crash re-sends only what was in the
air). One transaction per message made SQLite's single write lock the ceiling (about 40 outcomes/s on 2 cores,
measured with bench/delivery.py), so tasks queue their outcome and one writer applies everything queued in a
single transaction, then releases the tasks. Batches grow by themselves under load, and a short gathering
delay lets a few outcomes share a transaction even at a steady 50 sends/s.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.delivery.metrics import DeliveryMetrics
from bot.log_format import Fields
from storage.db import Database
from storage.repositories.outbox import Attempt, Claimed, OutboxRepository
from storage.repositories.people import ConversationRepository
from vocabulary.words import DeliveryVerdict, OutboxStatus, SendOutcome

log = logging.getLogger(__name__)

NO_CONVERSATION = "NoConversationReference"
MAX_BATCH = 200


@dataclass
class MessageOutcome:
    """What became of one attempt at a message, for the recorder to write."""

    verdict: DeliveryVerdict | None  # None: give the message back untouched (stopping, credentials refused)
    status: int | None = None
    code: str | None = None
    retry_after: float | None = None
    activity_id: str | None = None
    conversation_id: str | None = None
    skipped: bool = False  # not attempted: the recipient was already unreachable
    counts_as_attempt: bool = True
    mark_recipient: bool = True  # an undeliverable verdict that says something about the recipient


@dataclass
class _Entry:
    message: Claimed
    attempts: list[Attempt]
    outcome: MessageOutcome
    done: asyncio.Future[bool]
    held: bool = True
    metric: SendOutcome | None = None
    finished: bool = False


def _fail(entry: _Entry, error: Exception) -> None:
    if not entry.done.done():  # see OutcomeRecorder._settle
        entry.done.set_exception(error)


class OutcomeRecorder:
    def __init__(self, database: Database, clock: Clock, owner: str, *, max_attempts: int,
                 backoff: Callable[[int], float], metrics: DeliveryMetrics | None = None,
                 gather_seconds: float = 0.0) -> None:
        self._db = database
        self._clock = clock
        self._owner = owner
        self._max_attempts = max_attempts
        self._backoff = backoff
        self._metrics = metrics
        self._gather = gather_seconds
        self._queue: list[_Entry] = []
        self._writer: asyncio.Task[None] | None = None

    async def record(self, message: Claimed, attempts: list[Attempt], outcome: MessageOutcome) -> bool:
        """Store the outcome; True when the recipient has another message due behind this one."""
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._queue.append(_Entry(message, attempts, outcome, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write(), name=f"delivery-outcomes-{self._owner}")
        return await done

    async def _write(self) -> None:
        while self._queue:
            if self._gather and len(self._queue) < MAX_BATCH:
                # Let a few more outcomes join: at 50 sends/s a batch per ~50 ms cuts the statements per message
                # several times over, for a few more milliseconds in which a crash would re-send them.
                await asyncio.sleep(self._gather)
            batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
            try:
                successors = await self._apply(batch)
            except Exception as exc:
                if len(batch) == 1:
                    _fail(batch[0], exc)
                    continue
                # Keep one bad outcome from sinking the others: write them one by one.
                log.warning("recording outcomes together failed; one by one",
                            extra=Fields(count=len(batch), error=type(exc).__name__))
                for entry in batch:
                    try:
                        successors = await self._apply([entry])
                    except Exception as alone:
                        _fail(entry, alone)
                        continue
                    self._settle(entry, successors)
                continue
            for entry in batch:
                self._settle(entry, successors)

    def _settle(self, entry: _Entry, successors: set[str]) -> None:
        self._report(entry)
        if not entry.done.done():  # its sender may have been cancelled meanwhile: the writer carries on
            entry.done.set_result(entry.finished and entry.held and entry.message.order_key in successors)

    async def _apply(self, batch: list[_Entry]) -> set[str]:
        """One transaction for the whole batch: a handful of statements, however many messages."""
        now = self._clock.now()
        async with self._db.transaction() as session:
            repo = OutboxRepository(session)
            held = await repo.held([e.message.id for e in batch], self._owner, lock=self._db.is_postgres)
            await repo.add_attempts([
                dict(message_id=e.message.id, at=a.at, operation=a.operation, status=a.status, error=a.error,
                     duration_ms=a.duration_ms) for e in batch for a in e.attempts])
            skipping = [e.message.person_id for e in batch if e.outcome.skipped and e.message.person_id]
            still_unreachable = await repo.undeliverable_codes(skipping)
            updates = []
            for entry in batch:
                entry.held = entry.message.id in held
                if not entry.held:  # another worker reclaimed it: its outcome is that worker's to write
                    entry.metric, entry.finished = None, False
                    continue
                updates.append(self._values(entry, now, still_unreachable))
                if entry.metric is SendOutcome.UNDELIVERABLE and entry.outcome.mark_recipient:
                    await self._unreachable(session, repo, entry.message, entry.outcome.code or "Unreachable", now)
            await repo.update_many(updates)
            finished = [entry.message.order_key for entry in batch if entry.finished and entry.held]
            return await repo.waiting_successors(finished, now)

    def _values(self, entry: _Entry, now: datetime, still_unreachable: dict[str, str]) -> dict[str, object]:
        """The message's new columns for its outcome; sets the entry's metric and whether it is finished."""
        message, outcome = entry.message, entry.outcome
        attempts = message.attempts + (1 if outcome.counts_as_attempt else 0)
        entry.metric = SendOutcome.UNAUTHORIZED if outcome.status == 401 else None
        entry.finished = False
        values: dict[str, object] = dict(id=message.id, lease_owner=None, lease_until=None)
        verdict = outcome.verdict
        if verdict is DeliveryVerdict.UNDELIVERABLE and outcome.skipped:
            code = still_unreachable.get(message.person_id or "")
            if code is None:  # they came back since the claim: send it after all
                verdict = None
            else:
                entry.metric, entry.finished = SendOutcome.SKIPPED, True
                return values | dict(status=OutboxStatus.UNDELIVERABLE, last_error=code, finished_at=now)
        if verdict is None:
            return values | dict(status=OutboxStatus.PENDING)
        if verdict is DeliveryVerdict.SENT:
            entry.metric, entry.finished = SendOutcome.SENT, True
            return values | dict(status=OutboxStatus.SENT, attempts=attempts, last_status=outcome.status,
                                 last_error=None, activity_id=outcome.activity_id,
                                 sent_conversation_id=outcome.conversation_id or "", retry_at=None, finished_at=now)
        common = dict(attempts=attempts, last_status=outcome.status, last_error=outcome.code)
        if verdict is DeliveryVerdict.RETRY and attempts < self._max_attempts:
            delay = outcome.retry_after if outcome.retry_after is not None else self._backoff(attempts)
            entry.metric = SendOutcome.RETRY
            return values | common | dict(status=OutboxStatus.PENDING, retry_at=now + timedelta(seconds=delay))
        if verdict is DeliveryVerdict.UNDELIVERABLE:
            entry.metric, entry.finished = SendOutcome.UNDELIVERABLE, True
            return values | common | dict(status=OutboxStatus.UNDELIVERABLE, finished_at=now)
        entry.metric, entry.finished = SendOutcome.FAILED, True  # the message is at fault, or retries ran out
        return values | common | dict(status=OutboxStatus.FAILED, finished_at=now)

    async def _unreachable(self, session: AsyncSession, repo: OutboxRepository, message: Claimed, code: str,
                           now: datetime) -> None:
        if message.person_id:
            await repo.mark_person_undeliverable(message.person_id, code, now)
            log.info("person marked undeliverable", extra=Fields(person=message.person_id, code=code))
        elif message.conversation_id and code != NO_CONVERSATION:
            # The bot was removed from the team or chat: keep it off the announcement pickers until it is back.
            await ConversationRepository(session).mark_uninstalled(message.conversation_id)

    def _report(self, entry: _Entry) -> None:
        outcome = entry.outcome
        if not entry.held:
            log.warning("outbox message: lease lost before its outcome was recorded",
                        extra=Fields(outbox_id=entry.message.id))
        elif entry.metric in (SendOutcome.FAILED, SendOutcome.UNDELIVERABLE):
            log.info("outbox message not delivered", extra=Fields(
                outbox_id=entry.message.id, outcome=entry.metric, status=outcome.status, code=outcome.code))
        if entry.metric and self._metrics:
            self._metrics.sends.labels(entry.metric).inc()

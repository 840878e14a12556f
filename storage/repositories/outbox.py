"""Outbox queries for the delivery worker and for reports: claims, outcomes, re-arming, progress, health."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, String, and_, delete, exists, func, insert, literal, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from storage.db import dialect_insert
from storage.models import ConversationRef, Person
from storage.models.outbox import OutboxAttempt, OutboxMessage, WorkerHeartbeat
from vocabulary.words import OPEN_OUTBOX_STATUSES, AttemptOperation, OutboxKind, OutboxPurpose, OutboxStatus

M = OutboxMessage
# What a finished message's payload becomes once it is old (operational retention, issue 23): its key, Teams ids
# and status stay, so it is still one message, ever, and its card can still be updated in place.
COMPACTED_PAYLOAD = '{"compacted": true}'
FINISHED_OUTBOX_STATUSES = tuple(status for status in OutboxStatus if status not in OPEN_OUTBOX_STATUSES)
# PostgreSQL's NOTIFY channel on which a committed enqueue wakes the delivery workers (bot/delivery/wakeup.py).
OUTBOX_CHANNEL = "hny_outbox"
# The attempts that were requests through the sender's pacer: each took a turn of the app's global budget.
PACED_OPERATIONS = (AttemptOperation.SEND, AttemptOperation.UPDATE, AttemptOperation.CREATE, AttemptOperation.FEED)


@dataclass(frozen=True)
class PersonRoute:
    """What we know about reaching a person who has no conversation reference yet."""

    undeliverable_code: str | None
    teams_user_id: str | None
    service_url: str | None
    tenant_id: str


@dataclass(frozen=True)
class Route:
    conversation_id: str
    service_url: str


@dataclass(frozen=True)
class UpdateTarget:
    status: str
    activity_id: str | None
    conversation_id: str | None
    service_url: str | None


@dataclass(frozen=True)
class Claimed:
    """A message this worker now holds, with everything needed to send it (no second query per message)."""

    id: int
    kind: str  # an OutboxKind
    payload: str
    order_key: str
    person_id: str | None
    conversation_id: str | None
    attempts: int
    person: PersonRoute | None  # for person recipients; None when the person is unknown
    route: Route | None  # the conversation to post to, when one is known
    target: UpdateTarget | None  # for updates


@dataclass(frozen=True)
class Attempt:
    at: datetime
    operation: AttemptOperation
    status: int | None
    error: str | None
    duration_ms: int | None


@dataclass(frozen=True)
class RecentRequest:
    """A request some worker made lately, for a new sender's rate windows: when it left and, when known, the key
    of the conversation window it counted in (the conversation id, or "create:<Teams user id>")."""

    at: datetime
    conversation_key: str | None


@dataclass(frozen=True)
class Backlog:
    due: int  # pending and due now, or being sent
    sending: int
    scheduled: int  # pending, due later
    oldest_due_at: datetime | None


@dataclass(frozen=True)
class FailedMessage:
    """A message of a batch that did not arrive, for its author (ids and codes only)."""

    id: int
    key: str
    person_id: str | None
    conversation_id: str | None
    status: str  # OutboxStatus.FAILED or UNDELIVERABLE
    last_status: int | None
    last_error: str | None
    attempts: int


@dataclass(frozen=True)
class WorkerRow:
    id: str
    heartbeat_at: datetime
    leader: bool
    state: str  # a WorkerState
    problem: str | None
    problem_since: datetime | None


class OutboxRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # -- the worker ----------------------------------------------------------------------------------------------

    async def claim(
        self,
        *,
        owner: str,
        now: datetime,
        lease_until: datetime,
        limit: int,
        max_attempts: int,
        skip_locked: bool,
    ) -> list[Claimed]:
        """Take up to `limit` messages that may go now: due, not held back by an earlier open message to the
        same recipient, and (for an update) whose original is finished. Reclaims expired leases.

        On PostgreSQL `FOR UPDATE SKIP LOCKED` keeps concurrent claimers apart; on SQLite the transaction
        holds the write lock from BEGIN IMMEDIATE."""
        # Expired leases first (a crash's leftovers; each was its recipient's head when it was claimed).
        expired_query = select(M.id, M.status, M.attempts).where(M.status == OutboxStatus.SENDING,
                                                                 M.lease_until <= now)
        expired_query = expired_query.order_by(M.id).limit(limit)
        if skip_locked:
            expired_query = expired_query.with_for_update(skip_locked=True)
        rows = list((await self.session.execute(expired_query)).all())

        # Then due messages, oldest due first. Shaped so the (status, due_at, id) index is read in order and the
        # scan stops after `limit` rows, however long the queue: one OR over both statuses cost a full scan and
        # a sort on PostgreSQL (200 ms a claim at 10,000 pending, measured).
        earlier = aliased(M)
        original = aliased(M)
        earlier_open = exists().where(
            earlier.order_key == M.order_key,
            earlier.status.in_(OPEN_OUTBOX_STATUSES),
            earlier.id < M.id,
            earlier.due_at <= now,
        )
        original_open = exists().where(original.id == M.updates_id, original.status.in_(OPEN_OUTBOX_STATUSES))
        if len(rows) < limit:
            due_query = select(M.id, M.status, M.attempts).where(
                M.status == OutboxStatus.PENDING, M.due_at <= now, or_(M.retry_at.is_(None), M.retry_at <= now),
                ~earlier_open, or_(M.updates_id.is_(None), ~original_open),
            ).order_by(M.due_at, M.id).limit(limit - len(rows))
            if skip_locked:
                due_query = due_query.with_for_update(skip_locked=True, of=M)
            rows += (await self.session.execute(due_query)).all()
        if not rows:
            return []

        fresh = [row.id for row in rows if row.status == OutboxStatus.PENDING]
        # A lease that ran out means an attempt may have been made and its answer lost (a crash): count it,
        # so a message that kills its worker every time still ends.
        expired = [row.id for row in rows if row.status == OutboxStatus.SENDING]
        exhausted = {row.id for row in rows
                     if row.status == OutboxStatus.SENDING and row.attempts + 1 >= max_attempts}
        await self.add_attempts([dict(message_id=message_id, at=now, operation=AttemptOperation.CLAIM, status=None,
                                      error="LeaseExpired", duration_ms=None) for message_id in expired])
        if exhausted:
            await self.session.execute(
                update(M).where(M.id.in_(exhausted)).values(
                    status=OutboxStatus.FAILED, attempts=M.attempts + 1, last_status=None,
                    last_error="LeaseExpired",
                    lease_until=None, lease_owner=None, finished_at=now))
        resumed = [message_id for message_id in expired if message_id not in exhausted]
        if resumed:
            await self.session.execute(
                update(M).where(M.id.in_(resumed)).values(
                    lease_owner=owner, lease_until=lease_until, attempts=M.attempts + 1))
        if fresh:
            await self.session.execute(
                update(M).where(M.id.in_(fresh)).values(status=OutboxStatus.SENDING, lease_owner=owner,
                                                        lease_until=lease_until))
        ids = fresh + resumed
        return await self._load(ids) if ids else []

    async def _load(self, ids: list[int]) -> list[Claimed]:
        # Plain rows, not ORM objects: this runs for every message sent.
        messages = (await self.session.execute(
            select(M.id, M.kind, M.payload, M.order_key, M.person_id, M.conversation_id, M.attempts, M.updates_id)
            .where(M.id.in_(ids)).order_by(M.id))).all()
        person_ids = {m.person_id for m in messages if m.person_id}
        conversation_ids = {m.conversation_id for m in messages if m.conversation_id}
        target_ids = {m.updates_id for m in messages if m.updates_id is not None}

        people: dict[str, PersonRoute] = {}
        if person_ids:
            found_people = await self.session.execute(
                select(Person.id, Person.undeliverable_code, Person.teams_user_id, Person.service_url,
                       Person.tenant_id).where(Person.id.in_(person_ids)))
            people = {p.id: PersonRoute(p.undeliverable_code, p.teams_user_id, p.service_url, p.tenant_id)
                      for p in found_people.all()}
        found_targets = (await self.session.execute(
            select(M.id, M.status, M.activity_id, M.sent_conversation_id).where(M.id.in_(target_ids)))
        ).all() if target_ids else []
        targets = {t.id: t for t in found_targets}
        conversation_ids |= {t.sent_conversation_id for t in found_targets if t.sent_conversation_id}

        personal: dict[str, Route] = {}
        by_conversation: dict[str, Route] = {}
        conditions = []
        if person_ids:
            conditions.append(and_(ConversationRef.person_id.in_(person_ids), ConversationRef.kind == "personal"))
        if conversation_ids:
            conditions.append(ConversationRef.conversation_id.in_(conversation_ids))
        if conditions:
            refs = await self.session.execute(
                select(ConversationRef.conversation_id, ConversationRef.service_url, ConversationRef.kind,
                       ConversationRef.person_id).where(or_(*conditions)).order_by(ConversationRef.updated_at))
            for found in refs.all():
                route = Route(found.conversation_id, found.service_url)
                by_conversation[found.conversation_id] = route
                if found.kind == "personal" and found.person_id:
                    personal[found.person_id] = route  # ordered by updated_at: the latest wins

        claimed = []
        for m in messages:
            ref = personal.get(m.person_id) if m.person_id else by_conversation.get(m.conversation_id or "")
            target = targets.get(m.updates_id) if m.updates_id is not None else None
            target_ref = by_conversation.get(target.sent_conversation_id or "") if target else None
            claimed.append(Claimed(
                id=m.id,
                kind=m.kind,
                payload=m.payload,
                order_key=m.order_key,
                person_id=m.person_id,
                conversation_id=m.conversation_id,
                attempts=m.attempts,
                person=people.get(m.person_id) if m.person_id else None,
                route=ref,
                target=UpdateTarget(
                    target.status, target.activity_id, target.sent_conversation_id,
                    target_ref.service_url if target_ref else (ref.service_url if ref else None),
                ) if target else None,
            ))
        return claimed

    async def add_for_people(self, people: Select[str], *, key_prefix: str, order_key_prefix: str,
                             payload: str, purpose: OutboxPurpose, batch: str | None, author_id: str | None,
                             now: datetime) -> None:
        """One pending message to each person id `people` selects, in one INSERT … SELECT: key `key_prefix` and
        order key `order_key_prefix` followed by the person id; a key already there is left as it is. An
        audience can be every volunteer: one statement, with the payload sent to the database once."""
        person_id = people.selected_columns[0]
        same_for_all = {"kind": OutboxKind.SEND, "payload": payload, "batch": batch, "author_id": author_id,
                        "purpose": purpose, "status": OutboxStatus.PENDING, "due_at": now, "attempts": 0,
                        "created_at": now}
        # Each value is bound with its column's type, so it is stored exactly as an ORM insert would store it.
        values: dict[str, Any] = {
            "key": literal(key_prefix, String) + person_id,
            "person_id": person_id,
            "order_key": literal(order_key_prefix, String) + person_id,
            **{name: literal(value, M.__table__.c[name].type) for name, value in same_for_all.items()},
        }
        rows = people.with_only_columns(*values.values()).order_by(person_id)
        await self.session.execute(
            dialect_insert(self.session, M).from_select(list(values), rows)
            .on_conflict_do_nothing(index_elements=["key"]))

    async def keys_starting(self, prefix: str) -> set[str]:
        """Keys that start with `prefix`, whatever their status (a key is one message, ever)."""
        result = await self.session.execute(select(M.key).where(M.key.startswith(prefix, autoescape=True)))
        return set(result.scalars())

    async def statuses_starting(self, prefix: str) -> list[str]:
        """Statuses of the messages whose key starts with `prefix`."""
        result = await self.session.execute(select(M.status).where(M.key.startswith(prefix, autoescape=True)))
        return list(result.scalars())

    async def pending_keys_like(self, pattern: str) -> list[str]:
        """Keys of messages not sent yet that match a LIKE pattern (`%` for any run of characters), oldest first."""
        result = await self.session.execute(
            select(M.key).where(M.key.like(pattern), M.status == OutboxStatus.PENDING).order_by(M.id))
        return list(result.scalars())

    async def has_key(self, key: str) -> bool:
        return (await self.session.execute(select(M.id).where(M.key == key))).first() is not None

    async def service_url_in(self, tenant_id: str) -> str | None:
        """The service URL of the conversation stored last in this tenant (in any tenant when ""). Teams' service
        URL follows the tenant (its region), so it also serves a chat the bot has just been installed into."""
        query = select(ConversationRef.service_url).where(ConversationRef.service_url != "")
        if tenant_id:
            query = query.where(ConversationRef.tenant_id == tenant_id.lower())
        return (await self.session.execute(query.order_by(ConversationRef.updated_at.desc()).limit(1))).scalar()

    async def renew_leases(self, owner: str, lease_until: datetime) -> int:
        result = await self.session.execute(
            update(M).where(M.lease_owner == owner, M.status == OutboxStatus.SENDING).values(lease_until=lease_until))
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def held(self, ids: Sequence[int], owner: str, *, lock: bool) -> set[int]:
        """Which of these messages this worker still holds. Outcomes are applied only to those: a worker that
        stalled past its lease must not overwrite what the worker that reclaimed a message did. `lock` (PostgreSQL)
        keeps them held until the transaction ends; SQLite's write transaction is exclusive anyway."""
        if not ids:
            return set()
        query = select(M.id).where(M.id.in_(ids), M.lease_owner == owner, M.status == OutboxStatus.SENDING)
        if lock:
            query = query.with_for_update()
        return set((await self.session.execute(query)).scalars())

    async def recent_requests(self, since: datetime, *, limit: int) -> list[RecentRequest]:
        """The paced requests recorded since `since`, oldest first, looking at no more than the newest `limit`
        attempt rows. Read by id (ids follow time), so it costs the same however many old attempts are kept."""
        A = OutboxAttempt
        newest = (await self.session.execute(select(func.max(A.id)))).scalar()
        if newest is None:
            return []
        target = aliased(M)
        rows = (await self.session.execute(
            select(A.at, A.operation, M.sent_conversation_id, M.conversation_id, Person.teams_user_id,
                   target.sent_conversation_id.label("target_conversation"))
            .select_from(A).join(M, M.id == A.message_id)
            .outerjoin(Person, Person.id == M.person_id).outerjoin(target, target.id == M.updates_id)
            .where(A.id > newest - limit, A.at >= since, A.operation.in_(PACED_OPERATIONS))
            .order_by(A.at))).all()
        found = []
        for row in rows:
            key: str | None = None
            if row.operation == AttemptOperation.SEND:
                key = row.sent_conversation_id or row.conversation_id  # unknown for a person's unsent message
            elif row.operation == AttemptOperation.UPDATE:
                key = row.target_conversation
            elif row.operation == AttemptOperation.CREATE and row.teams_user_id:
                key = f"create:{row.teams_user_id}"
            found.append(RecentRequest(row.at, key))
        return found

    async def notify_workers(self) -> None:
        """PostgreSQL: tell listening delivery workers that messages were added; delivered when this transaction
        commits, and dropped with it if it rolls back."""
        await self.session.execute(text("SELECT pg_notify(:channel, '')"), {"channel": OUTBOX_CHANNEL})

    async def add_attempts(self, rows: Sequence[dict[str, object]]) -> None:
        """Attempt rows (message_id, at, operation, status, error, duration_ms), in one statement."""
        if rows:
            await self.session.execute(insert(OutboxAttempt), list(rows))

    async def update_many(self, rows: Sequence[dict[str, object]]) -> None:
        """Per-message column values by id, as one executemany per set of columns."""
        groups: dict[tuple[str, ...], list[dict[str, object]]] = {}
        for values in rows:
            groups.setdefault(tuple(sorted(values)), []).append(values)
        for group in groups.values():
            await self.session.execute(update(M), group)

    async def undeliverable_codes(self, person_ids: Iterable[str]) -> dict[str, str]:
        """Who among these people is unreachable right now, with the code (read again when recording a skip)."""
        wanted = set(person_ids)
        if not wanted:
            return {}
        result = await self.session.execute(
            select(Person.id, Person.undeliverable_code).where(Person.id.in_(wanted),
                                                               Person.undeliverable_code.is_not(None)))
        return {person_id: str(code) for person_id, code in result.all()}

    async def mark_person_undeliverable(self, person_id: str, code: str, now: datetime) -> None:
        # Keep the first code and time: later refusals say nothing new.
        await self.session.execute(
            update(Person).where(Person.id == person_id, Person.undeliverable_code.is_(None))
            .values(undeliverable_code=code, undeliverable_since=now))

    async def waiting_successors(self, order_keys: Sequence[str], now: datetime) -> set[str]:
        """Which of these recipients have a message due and waiting (to claim again soon after a finish)."""
        if not order_keys:
            return set()
        result = await self.session.execute(
            select(M.order_key)
            .where(M.order_key.in_(set(order_keys)), M.status == OutboxStatus.PENDING, M.due_at <= now)
            .distinct())
        return set(result.scalars())

    # -- re-arming and cancelling --------------------------------------------------------------------------------

    async def rearm(self, person_id: str, now: datetime) -> int:
        """The person is reachable again: their messages skipped as undeliverable go out after all, except those
        compacted since (too old to send now, and their text is gone)."""
        result = await self.session.execute(
            update(M).where(M.person_id == person_id, M.status == OutboxStatus.UNDELIVERABLE,
                            M.payload != COMPACTED_PAYLOAD)
            .values(status=OutboxStatus.PENDING, retry_at=None, finished_at=None, last_error=None))
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def cancel(self, keys: Sequence[str], now: datetime) -> int:
        """Withdraw messages that have not gone yet (e.g. reminders of a cancelled session)."""
        if not keys:
            return 0
        result = await self.session.execute(
            update(M).where(M.key.in_(keys), M.status == OutboxStatus.PENDING)
            .values(status=OutboxStatus.CANCELLED, finished_at=now))
        return int(result.rowcount)  # type: ignore[attr-defined]

    # -- retention (issue 23) ------------------------------------------------------------------------------------

    async def compactable(self, *, finished_before: datetime, after_id: int, limit: int,
                          keep_batches: Sequence[str]) -> list[int]:
        """Ids above `after_id`, in order, of up to `limit` finished messages that finished before then and still
        hold their payload, leaving out the batches in `keep_batches`. Read along the primary key, so the scan
        stops after `limit` rows and the next call goes on from the last id."""
        query = select(M.id).where(
            M.id > after_id, M.status.in_(FINISHED_OUTBOX_STATUSES),
            func.coalesce(M.finished_at, M.created_at) < finished_before, M.payload != COMPACTED_PAYLOAD)
        if keep_batches:
            query = query.where(or_(M.batch.is_(None), M.batch.not_in(list(keep_batches))))
        result = await self.session.execute(query.order_by(M.id).limit(limit))
        return list(result.scalars())

    async def compact(self, ids: Sequence[int]) -> int:
        """Drop the payload of these messages if they are still finished (a re-armed one is open again)."""
        if not ids:
            return 0
        result = await self.session.execute(
            update(M).where(M.id.in_(list(ids)), M.status.in_(FINISHED_OUTBOX_STATUSES),
                            M.payload != COMPACTED_PAYLOAD).values(payload=COMPACTED_PAYLOAD))
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def delete_attempts(self, *, before: datetime, limit: int) -> int:
        """Delete up to `limit` attempt rows made before then, oldest ids first (ids follow time, so the scan
        stops early); returns how many."""
        oldest = select(OutboxAttempt.id).where(OutboxAttempt.at < before).order_by(OutboxAttempt.id).limit(limit)
        result = await self.session.execute(delete(OutboxAttempt).where(OutboxAttempt.id.in_(oldest)))
        return int(result.rowcount)  # type: ignore[attr-defined]

    # -- reports -------------------------------------------------------------------------------------------------

    async def batch_progress(self, batch: str) -> dict[str, int]:
        result = await self.session.execute(
            select(M.status, func.count()).where(M.batch == batch).group_by(M.status))
        counts: Counter[str] = Counter()
        for status, count in result.all():
            counts[status] = int(count)
        return dict(counts)

    async def batch_failures(self, batch: str) -> list[FailedMessage]:
        result = await self.session.execute(
            select(M.id, M.key, M.person_id, M.conversation_id, M.status, M.last_status, M.last_error, M.attempts)
            .where(M.batch == batch, M.status.in_((OutboxStatus.FAILED, OutboxStatus.UNDELIVERABLE))).order_by(M.id))
        return [FailedMessage(*row) for row in result.all()]

    async def backlog(self, now: datetime) -> Backlog:
        due_now = or_(M.status == OutboxStatus.SENDING, and_(M.status == OutboxStatus.PENDING, M.due_at <= now))
        result = await self.session.execute(
            select(
                func.count().filter(due_now),
                func.count().filter(M.status == OutboxStatus.SENDING),
                func.count().filter(and_(M.status == OutboxStatus.PENDING, M.due_at > now)),
                func.min(M.due_at).filter(due_now),
            ).where(M.status.in_(OPEN_OUTBOX_STATUSES)))
        due, sending, scheduled, oldest = result.one()
        return Backlog(int(due), int(sending), int(scheduled), oldest)

    # -- worker heartbeats ---------------------------------------------------------------------------------------

    async def heartbeat(self, worker_id: str, now: datetime, *, started_at: datetime, leader: bool, state: str,
                        problem: str | None, problem_since: datetime | None) -> None:
        values = {"heartbeat_at": now, "leader": leader, "state": state, "problem": problem,
                  "problem_since": problem_since}
        statement = dialect_insert(self.session, WorkerHeartbeat).values(id=worker_id, started_at=started_at, **values)
        await self.session.execute(statement.on_conflict_do_update(index_elements=["id"], set_=values))

    async def workers(self) -> list[WorkerRow]:
        result = await self.session.execute(select(WorkerHeartbeat).order_by(WorkerHeartbeat.heartbeat_at.desc()))
        return [WorkerRow(w.id, w.heartbeat_at, w.leader, w.state, w.problem, w.problem_since)
                for w in result.scalars()]

    async def forget_workers(self, before: datetime) -> None:
        await self.session.execute(delete(WorkerHeartbeat).where(WorkerHeartbeat.heartbeat_at < before))

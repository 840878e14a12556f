"""Durable calendar sync: the sessions feature writes a job in the same transaction as the session change
(`enqueue_calendar_job`); `CalendarSync` carries it out against Graph later, with retries, so a Graph outage
never loses or blocks the change itself.

Rules:
- jobs of one session run one at a time, in the order they were written (an attendee is never added to an event
  that does not exist yet, a cancel never overtakes an update); sessions are independent of each other;
- a job claimed by a worker that then died is taken again when its lease runs out; every job is safe to repeat
  (creation carries Graph's `transactionId`, adding an attendee who is there or removing one who is not changes
  nothing, cancelling a cancelled event is done);
- 429, 5xx and timeouts are retried with backoff (Graph's Retry-After when it gives one) up to `max_attempts`;
  401 and token failures are the bot's credentials: the job waits, however long, and /healthz says so; other
  failures (400, 403, 404) end the job as failed at once;
- a job that fails for good runs the `calendar_failed` hooks and, unless switched off, tells the facilitator who
  made the change in one plain message per session and kind of job;
- a job whose event never got created (or whose person has no e-mail, or was erased) is skipped: nothing to do.
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from bot.clock import Clock
from bot.delivery.outbox import Message, Recipient, enqueue
from bot.graph.calendar import CalendarClient
from bot.graph.errors import GraphAuthError, GraphError, GraphNotFound
from bot.hooks import DomainHooks
from bot.retry import backoff_seconds
from storage.db import Database
from storage.models import GraphEvent, GraphJob, Person
from vocabulary.uk_time import uk_day_at
from vocabulary.words import UNFINISHED_GRAPH_JOB_STATUSES, GraphJobKind, GraphJobStatus, OutboxPurpose

log = logging.getLogger(__name__)

CONTACT = "HNY.Inc@nhs.net"


async def enqueue_calendar_job(
    session: AsyncSession,
    kind: GraphJobKind,
    session_id: int,
    person_id: str | None = None,
    *,
    now: datetime,
    start_at: datetime | None = None,
    end_at: datetime | None = None,
    author_id: str | None = None,
    mailbox: str | None = None,
) -> int:
    """Add a calendar job in the caller's transaction; returns its id.

    - CREATE: start_at, end_at; optional mailbox (else GRAPH_ORGANISER_MAILBOX);
    - ADD_ATTENDEE / REMOVE_ATTENDEE: person_id (their e-mail is read from Person; for a removal it is read now,
      so enqueue it before the person is erased in the same transaction);
    - UPDATE_TIME: start_at, end_at;
    - CANCEL.
    `author_id` is the facilitator to tell if the job fails for good.
    """
    if GraphJobKind.parse(kind) is None:
        raise ValueError(f"unknown calendar job kind {kind!r}")
    timed = kind in (GraphJobKind.CREATE, GraphJobKind.UPDATE_TIME)
    if timed and (start_at is None or end_at is None or end_at <= start_at):
        raise ValueError(f"{kind} needs start_at before end_at")
    if kind in (GraphJobKind.ADD_ATTENDEE, GraphJobKind.REMOVE_ATTENDEE) and not person_id:
        raise ValueError(f"{kind} needs person_id")
    attendee_email = None
    if kind == GraphJobKind.REMOVE_ATTENDEE:
        attendee_email = await session.scalar(select(Person.email).where(Person.id == person_id))
    job = GraphJob(kind=kind, session_id=session_id, person_id=person_id, attendee_email=attendee_email,
                   mailbox=mailbox if kind == GraphJobKind.CREATE else None, start_at=start_at, end_at=end_at,
                   author_id=author_id, status=GraphJobStatus.PENDING, attempts=0, due_at=now, created_at=now)
    session.add(job)
    await session.flush()
    return job.id


class _Skip(Exception):
    """Nothing to do for this job; `reason` is kept on it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _JoinUrlPending(Exception):
    """The event exists but Graph has not filled in its online meeting yet: try again shortly."""


@dataclass(frozen=True)
class SyncHealth:
    healthy: bool
    detail: str


class CalendarSync:
    def __init__(self, database: Database, calendar: CalendarClient, clock: Clock, hooks: DomainHooks, *,
                 organiser_mailbox: str, max_attempts: int = 8, lease: timedelta = timedelta(minutes=2),
                 backoff_cap: timedelta = timedelta(minutes=30), keep_finished: timedelta = timedelta(days=30),
                 notify_author: bool = True, rng: random.Random | None = None) -> None:
        self._database = database
        self._calendar = calendar
        self._clock = clock
        self._hooks = hooks
        self._mailbox = organiser_mailbox
        self._max_attempts = max_attempts
        self._lease = lease
        self._backoff_cap = backoff_cap
        self._keep_finished = keep_finished
        # The sessions feature may switch this off when its own calendar_failed hook tells the facilitator.
        self.notify_author = notify_author
        self._rng = rng or random.Random()
        self._auth_failing_since: datetime | None = None
        self._last_purge: datetime | None = None

    # -- running -----------------------------------------------------------------------------------------------

    async def run_due(self, limit: int = 50) -> int:
        """Carry out jobs that are due, one after another; returns how many were attempted."""
        await self._purge()
        done = 0
        while done < limit:
            job = await self._claim()
            if job is None:
                break
            await self._run(job)
            done += 1
        return done

    async def run_forever(self, stop: asyncio.Event, poll_seconds: float = 5.0) -> None:
        while not stop.is_set():
            try:
                await self.run_due()
            except Exception as exc:  # keep the worker alive; the type is enough (messages may hold data)
                log.warning("calendar sync: run failed (%s)", type(exc).__name__)
            try:
                await asyncio.wait_for(stop.wait(), poll_seconds)
            except TimeoutError:
                pass

    def health(self) -> SyncHealth:
        if self._auth_failing_since is not None:
            return SyncHealth(False, f"graph credentials refused since {self._auth_failing_since.isoformat()}")
        return SyncHealth(True, "ok")

    async def on_person_erased(self, session: AsyncSession, person_id: str) -> None:
        """DomainHooks.person_erased: an erased person is not added to any meeting, and finished jobs forget
        them. Pending removals stay: they take the person out of meetings they had accepted."""
        await session.execute(update(GraphJob).where(
            GraphJob.person_id == person_id, GraphJob.kind == GraphJobKind.ADD_ATTENDEE,
            GraphJob.status == GraphJobStatus.PENDING,
        ).values(status=GraphJobStatus.SKIPPED, last_error="erased", finished_at=self._clock.now()))
        await session.execute(update(GraphJob).where(
            GraphJob.person_id == person_id, GraphJob.status.not_in(UNFINISHED_GRAPH_JOB_STATUSES),
        ).values(person_id=None, attendee_email=None))

    # -- claiming ----------------------------------------------------------------------------------------------

    async def _claim(self) -> GraphJob | None:
        async with self._database.transaction() as session:
            now = self._clock.now()
            earlier = aliased(GraphJob)
            blocked = exists().where(earlier.session_id == GraphJob.session_id, earlier.id < GraphJob.id,
                                     earlier.status.in_(UNFINISHED_GRAPH_JOB_STATUSES))
            candidates = (await session.scalars(
                select(GraphJob).where(
                    ((GraphJob.status == GraphJobStatus.PENDING) & (GraphJob.due_at <= now))
                    | ((GraphJob.status == GraphJobStatus.RUNNING) & (GraphJob.lease_until < now)),
                    ~blocked,
                ).order_by(GraphJob.id).limit(10)
            )).all()
            for job in candidates:
                # `attempts` doubles as a version: of two workers claiming the same job, only one matches it.
                claimed = await session.execute(update(GraphJob).where(
                    GraphJob.id == job.id, GraphJob.status == job.status, GraphJob.attempts == job.attempts,
                ).values(status=GraphJobStatus.RUNNING, lease_until=now + self._lease, attempts=job.attempts + 1))
                if claimed.rowcount == 1:  # type: ignore[attr-defined]
                    await session.refresh(job)
                    return job
            return None

    # -- one job -----------------------------------------------------------------------------------------------

    async def _run(self, job: GraphJob) -> None:
        try:
            await self._perform(job)
        except _Skip as skip:
            await self._finish(job, GraphJobStatus.SKIPPED, reason=skip.reason)
        except _JoinUrlPending:
            if job.attempts < self._max_attempts:
                await self._retry(job, None, "join_url_pending", delay=timedelta(seconds=30))
            else:
                await self._fail(job, None, "join_url_pending")
        except GraphAuthError as exc:
            self._auth_failing_since = self._auth_failing_since or self._clock.now()
            log.warning("calendar sync: job %s (%s) waits for Graph credentials (%s)", job.id, job.kind, exc)
            await self._retry(job, exc.status, exc.code or "auth", count=False)
        except GraphError as exc:
            self._auth_failing_since = None
            if exc.retryable and job.attempts < self._max_attempts:
                delay = timedelta(seconds=exc.retry_after) if exc.retry_after is not None else None
                await self._retry(job, exc.status, exc.code or type(exc).__name__, delay=delay)
            else:
                await self._fail(job, exc.status, exc.code or type(exc).__name__)
        except Exception as exc:  # a bug or a database hiccup: retry like a transient failure, log the type only
            log.warning("calendar sync: job %s (%s) raised %s", job.id, job.kind, type(exc).__name__)
            if job.attempts < self._max_attempts:
                await self._retry(job, None, type(exc).__name__[:64])
            else:
                await self._fail(job, None, type(exc).__name__[:64])
        else:
            self._auth_failing_since = None
            await self._finish(job, GraphJobStatus.DONE)

    async def _perform(self, job: GraphJob) -> None:
        if job.kind == GraphJobKind.CREATE:
            await self._create(job)
            return
        event = await self._event(job.session_id)
        if event is None or event.cancelled_at is not None:
            raise _Skip("no_event")
        if job.kind == GraphJobKind.ADD_ATTENDEE:
            email = await self._email(job.person_id)
            await self._calendar.add_attendee(event.event_id, email, mailbox=event.mailbox)
        elif job.kind == GraphJobKind.REMOVE_ATTENDEE:
            if not job.attendee_email:
                raise _Skip("no_email")
            try:
                await self._calendar.remove_attendee(event.event_id, job.attendee_email, mailbox=event.mailbox)
            except GraphNotFound:
                pass  # the event is gone: nobody is on it any more
        elif job.kind == GraphJobKind.UPDATE_TIME:
            assert job.start_at is not None and job.end_at is not None
            await self._calendar.update_time(event.event_id, job.start_at, job.end_at, mailbox=event.mailbox)
        elif job.kind == GraphJobKind.CANCEL:
            try:
                await self._calendar.cancel(event.event_id, mailbox=event.mailbox)
            except GraphNotFound:
                pass  # already cancelled or deleted by hand
            async with self._database.transaction() as session:
                await session.execute(update(GraphEvent).where(GraphEvent.session_id == job.session_id)
                                      .values(cancelled_at=self._clock.now()))

    async def _create(self, job: GraphJob) -> None:
        event = await self._event(job.session_id)
        if event is None:
            assert job.start_at is not None and job.end_at is not None
            mailbox = job.mailbox or self._mailbox
            created = await self._calendar.create_event(job.start_at, job.end_at, mailbox=mailbox,
                                                        transaction_id=f"hny-session-{job.session_id}-job-{job.id}")
            join_url = created.join_url or await self._calendar.join_url(created.event_id, mailbox=mailbox)
            async with self._database.transaction() as session:
                session.add(GraphEvent(session_id=job.session_id, mailbox=mailbox, event_id=created.event_id,
                                       join_url=join_url, created_at=self._clock.now()))
            if join_url is None:
                raise _JoinUrlPending()
        elif event.join_url is None:
            join_url = await self._calendar.join_url(event.event_id, mailbox=event.mailbox)
            if join_url is None:
                raise _JoinUrlPending()
            async with self._database.transaction() as session:
                await session.execute(update(GraphEvent).where(GraphEvent.session_id == job.session_id)
                                      .values(join_url=join_url))
        # else: a repeated create (the worker died after creating): nothing more to do; the hooks run again.

    async def _event(self, session_id: int) -> GraphEvent | None:
        async with self._database.transaction() as session:
            return await session.get(GraphEvent, session_id)

    async def _email(self, person_id: str | None) -> str:
        async with self._database.transaction() as session:
            email = await session.scalar(select(Person.email).where(Person.id == person_id))
        if not email:
            raise _Skip("no_email")
        return email

    # -- outcomes ----------------------------------------------------------------------------------------------

    async def _finish(self, job: GraphJob, status: GraphJobStatus, reason: str | None = None) -> None:
        async with self._database.transaction() as session:
            await self._close(session, job, status, None, reason)
            if status == GraphJobStatus.DONE and job.kind == GraphJobKind.CREATE:
                event = await session.get(GraphEvent, job.session_id)
                if event is not None and event.join_url:
                    for hook in self._hooks.calendar_ready:
                        await hook(session, job.session_id, event.join_url)
        log.info("calendar sync: job %s (%s, session %s) %s%s", job.id, job.kind, job.session_id, status,
                 f" ({reason})" if reason else "")

    async def _retry(self, job: GraphJob, status: int | None, error: str, *, delay: timedelta | None = None,
                     count: bool = True) -> None:
        if delay is None:
            # Exponential with jitter from 30 s, capped.
            delay = timedelta(seconds=backoff_seconds(job.attempts, base=30.0, cap=self._backoff_cap.total_seconds(),
                                                      rng=self._rng))
        async with self._database.transaction() as session:
            await session.execute(update(GraphJob).where(GraphJob.id == job.id).values(
                status=GraphJobStatus.PENDING, lease_until=None, due_at=self._clock.now() + delay, last_status=status,
                last_error=error[:64],
                # Credential trouble is not the job's fault: it must not use up the job's attempts.
                attempts=job.attempts if count else max(0, job.attempts - 1),
            ))
        log.info("calendar sync: job %s (%s) retry in %ds (%s %s)", job.id, job.kind, int(delay.total_seconds()),
                 status if status is not None else "-", error)

    async def _fail(self, job: GraphJob, status: int | None, error: str) -> None:
        async with self._database.transaction() as session:
            await self._close(session, job, GraphJobStatus.FAILED, status, error)
            for hook in self._hooks.calendar_failed:
                await hook(session, job.session_id, job.kind)
            if self.notify_author and job.author_id:
                await enqueue(session, key=f"calendar-failed:{job.session_id}:{job.kind}",
                              recipient=Recipient.person(job.author_id),
                              message=Message(text=_failure_text(job)), purpose=OutboxPurpose.CALENDAR,
                              now=self._clock.now(), author_id=job.author_id)
        log.warning("calendar sync: job %s (%s, session %s) failed: %s %s", job.id, job.kind, job.session_id,
                    status if status is not None else "-", error)

    async def _close(self, session: AsyncSession, job: GraphJob, status: GraphJobStatus, http_status: int | None,
                     reason: str | None) -> None:
        values: dict[str, object] = {"status": status, "lease_until": None, "finished_at": self._clock.now(),
                                     "attendee_email": None, "last_error": reason[:64] if reason else None}
        if http_status is not None:
            values["last_status"] = http_status
        if job.person_id and await session.get(Person, job.person_id) is None:
            values["person_id"] = None  # erased while the job waited (a withdrawal's removal): forget them now
        await session.execute(update(GraphJob).where(GraphJob.id == job.id).values(**values))

    async def _purge(self) -> None:
        """Finished jobs are kept a while for diagnosis, then deleted."""
        now = self._clock.now()
        if self._last_purge is not None and now - self._last_purge < timedelta(hours=1):
            return
        self._last_purge = now
        async with self._database.transaction() as session:
            await session.execute(delete(GraphJob).where(GraphJob.status.not_in(UNFINISHED_GRAPH_JOB_STATUSES),
                                                         GraphJob.finished_at < now - self._keep_finished))


def _failure_text(job: GraphJob) -> str:
    when = f" on {uk_day_at(job.start_at, year=False, zone_note=False)}" if job.start_at is not None else ""
    if job.kind == GraphJobKind.CREATE:
        return (f"I could not create the Teams meeting for your session{when}. The session is saved. "
                f"Please add a join link to the session yourself, or contact {CONTACT}.")
    return (f"I could not update the Teams meeting in Outlook for your session{when}. The session is saved, "
            f"and people still get their messages from me here. Please check the meeting in Outlook, "
            f"or contact {CONTACT}.")

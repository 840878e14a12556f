"""The delivery worker (design §7): claims due outbox messages, sends them through the Bot Connector within Teams'
limits, and records what happened to each.

Shape: one loop claims batches (at most one message per recipient at a time, so each recipient's messages go in
order) and starts a task per message; tasks wait their turn at the per-conversation windows and the global
pacer, then send, then record the outcome in their own transaction. Many sends are in flight at once across
recipients. A heartbeat renews the leases of held messages, checks leadership and writes the worker's row for
/healthz. Times in the database come from the injected Clock (tests move it); waiting uses the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import secrets
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from bot.clock import Clock
from bot.delivery.classify import Classified, Verdict, classify, safe_code
from bot.delivery.connector import ConnectorClient, Reply, activity_from_payload
from bot.delivery.leader import Leadership, SoleInstance
from bot.delivery.metrics import DeliveryMetrics
from bot.delivery.outbox import feed_of
from bot.delivery.ratelimit import ConversationWindows, Halted, Pacer
from bot.delivery.recorder import NO_CONVERSATION, Outcome, OutcomeRecorder
from bot.delivery.tokens import TokenProvider, TokenRefused
from bot.retry import backoff_seconds, retry_after_seconds
from storage.db import Database
from storage.models.outbox import SENT, UNDELIVERABLE
from storage.repositories.outbox import Attempt, Claimed, OutboxRepository, Route
from storage.repositories.people import Contact, ConversationRepository

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class WorkerConfig:
    rate_per_second: float = 30.0
    # Pace a little under the budget, and count the app's sliding second a little wider than Teams does: Teams
    # counts requests when they arrive, network jitter squeezes evenly spaced requests together, and a 429 costs
    # a whole Retry-After for every conversation. Measured with bench/delivery.py against the double (limit 50/s,
    # 40 ± 10 ms latency): 0.97 and no margin gave 14-15 global 429s per 10,000 messages and 0.89-0.91 of the limit;
    # 0.98 with 20 ms gave none and 0.957.
    rate_headroom: float = 0.98
    max_attempts: int = 8
    lease_seconds: float = 60.0
    backoff_base_seconds: float = 1.0
    backoff_cap_seconds: float = 300.0
    # Claimed messages waiting for their turn plus requests in flight. ~2 s of sending at 50/s: enough to keep
    # the pipe full through network latency, few enough that a crash re-sends little (only requests in flight).
    max_in_flight: int = 100
    poll_seconds: float = 0.5
    heartbeat_seconds: float = 5.0
    probe_seconds: float = 30.0
    # Wider than Teams' per-conversation windows by this much (jitter between our clock and theirs).
    conversation_margin_seconds: float = 0.1
    # Likewise for the app's sliding second (the global budget): covers ±10 ms of jitter.
    global_margin_seconds: float = 0.02
    # Outcomes wait this long to share a transaction with others (group commit).
    record_gather_seconds: float = 0.05
    # For opening a 1:1 chat with someone who has no conversation reference yet.
    bot_id: str = ""
    default_tenant_id: str = ""
    # Proactive install: when Graph has installed the app but does not show the installation yet, or the chat
    # has no service URL yet, ask again after this long.
    install_retry_seconds: float = 60.0


@dataclass(frozen=True)
class Installation:
    """What installing the app for someone gave (Graph's proactive install, wired in bot/features/delivery.py):
    their 1:1 chat with the bot, or why not. None of it set: installed, but Graph does not show the chat yet."""

    chat_id: str | None = None
    refused: str | None = None  # a code: the person cannot be reached this way
    error: str | None = None  # a code: the call failed rather than the person
    status: int | None = None  # with `error`, Graph's HTTP status
    retryable: bool = False  # with `error`: the same call may work later (throttled, unavailable, credentials)
    retry_after: float | None = None


# (person id, tenant id or None) -> what installing the app for them gave
Installer = Callable[[str, str | None], Awaitable[Installation]]


@dataclass(frozen=True)
class FeedResult:
    """What became of one Teams activity-feed notification (Graph, wired in bot/features/delivery.py):
    sent; retry later; the person cannot get it (e.g. the app is not installed for them); or the message is at
    fault. `status` and `code` are Graph's, never a body."""

    verdict: Literal["sent", "retry", "unreachable", "failed"]
    status: int | None = None
    code: str | None = None
    retry_after: float | None = None


# (person id, the outbox payload's "feed" object) -> what became of that notification
FeedSender = Callable[[str, dict[str, Any]], Awaitable[FeedResult]]
FEED_OFF = "FeedOff"  # a feed message with no feed to send it through (Graph was turned off meanwhile)


def new_worker_id() -> str:
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(3)}"


@dataclass(frozen=True)
class WorkerStatus:
    id: str
    state: str  # running | standby | paused | stopped
    leader: bool
    alive: bool
    started_at: datetime
    last_heartbeat: datetime | None
    problem: str | None
    problem_since: datetime | None
    in_flight: int
    paused_seconds: float


@dataclass
class _Job:
    claimed: Claimed
    attempts: list[Attempt] = field(default_factory=list)


class DeliveryWorker:
    def __init__(
        self,
        database: Database,
        clock: Clock,
        connector: ConnectorClient,
        tokens: TokenProvider,
        config: WorkerConfig,
        *,
        metrics: DeliveryMetrics | None = None,
        leadership: Leadership | None = None,
        worker_id: str | None = None,
        rng: random.Random | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        installer: Installer | None = None,
        feed: FeedSender | None = None,
    ) -> None:
        """`installer` (Graph on) reaches people with no stored conversation and no known Teams user id.
        `feed` (Graph on) sends the outbox's activity-feed notifications (issue 24)."""
        self.id = worker_id or new_worker_id()
        self._db = database
        self._clock = clock
        self._connector = connector
        self._tokens = tokens
        self.config = config
        self._metrics = metrics
        self._leadership = leadership or SoleInstance()
        self._rng = rng or random.Random()
        self._time = monotonic
        self._installer = installer
        self._feed = feed
        self._pacer = Pacer(config.rate_per_second * config.rate_headroom, margin=config.global_margin_seconds,
                            monotonic=monotonic)
        self._windows = ConversationWindows(margin=config.conversation_margin_seconds)
        self._recorder = OutcomeRecorder(database, clock, self.id, max_attempts=config.max_attempts,
                                         backoff=self._backoff, metrics=metrics,
                                         gather_seconds=config.record_gather_seconds)
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None
        self._leader = False
        self._problem: str | None = None
        self._problem_since: datetime | None = None
        # Teams refused a token (401): a new token proves nothing until Teams takes it, so after a probe one
        # request goes as a trial and only its answer clears the problem (no flapping /healthz, no burst of 401s).
        self._problem_from_teams = False
        self._trial = False
        self._next_probe = 0.0
        self.started_at = clock.now()
        self.last_heartbeat: datetime | None = None
        self._heartbeat_lock = asyncio.Lock()
        self._stopped = False

    # -- public surface ------------------------------------------------------------------------------------------

    def start(self) -> asyncio.Task[None]:
        """Run in the background until stop()."""
        if self._runner is None or self._runner.done():
            self._runner = asyncio.create_task(self.run(), name=f"delivery-worker-{self.id}")
        return self._runner

    async def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._runner is not None:
            try:
                await self._runner
            except Exception:  # already logged where it happened; stopping must still succeed
                pass
            self._runner = None
        else:
            await self.close()

    def wake(self) -> None:
        """Look for due messages now rather than at the next poll (e.g. after a person was re-armed)."""
        self._wake.set()

    @property
    def credentials_problem(self) -> str | None:
        return self._problem

    def status(self) -> WorkerStatus:
        if self._stopped:
            state = "stopped"
        elif self._problem:
            state = "paused"
        elif not self._leader:
            state = "standby"
        else:
            state = "running"
        alive = not self._stopped and (self._runner is None or not self._runner.done())
        return WorkerStatus(
            id=self.id, state=state, leader=self._leader, alive=alive, started_at=self.started_at,
            last_heartbeat=self.last_heartbeat, problem=self._problem, problem_since=self._problem_since,
            in_flight=len(self._tasks), paused_seconds=self._pacer.paused_for(),
        )

    async def run(self) -> None:
        """Send until stop(): claim, send, heartbeat, probe credentials when refused, take over leadership."""
        heartbeat: asyncio.Task[None] | None = None
        failures = 0
        try:
            await self._hold_leadership()  # before the heartbeat, which checks leadership too
            heartbeat = asyncio.create_task(self._heartbeat_loop(), name=f"delivery-heartbeat-{self.id}")
            while not self._stopping.is_set():
                self._wake.clear()
                try:
                    await self._turn()
                    failures = 0
                except Exception as exc:
                    # A database blip must not end delivery: wait a little longer each time and carry on.
                    # Held messages are safe: their leases run out and they are claimed again.
                    failures += 1
                    log.warning("delivery worker %s: %s (failure %d in a row)", self.id, type(exc).__name__,
                                failures, exc_info=failures == 1)
                    await self._sleep(backoff_seconds(failures + 1, base=self.config.poll_seconds, cap=30.0,
                                                      max_doublings=6))
        finally:
            if heartbeat is not None:
                heartbeat.cancel()
                try:
                    await heartbeat
                except asyncio.CancelledError:
                    pass
            await self.close()

    async def _turn(self) -> None:
        """One pass of the loop: wait as leader-in-waiting, probe refused credentials, or claim and send."""
        if not self._leader:
            await self._sleep(self.config.heartbeat_seconds)  # the heartbeat wakes us as leader
            return
        if self._problem is not None and not self._trial:
            if self._time() >= self._next_probe:
                await self.probe()
            if self._problem is not None and not self._trial:
                await self._sleep(max(0.0, self._next_probe - self._time()))
                return
        if self._problem is not None:  # a trial request is allowed: one message
            if not self._tasks:
                await self._pump(1)
            await self._sleep(self.config.poll_seconds)
            return
        room = self.config.max_in_flight - len(self._tasks)
        claimed = 0
        # Refill in batches rather than one message per finished task: fewer, larger claims.
        if room >= max(1, self.config.max_in_flight // 2) or not self._tasks:
            claimed = await self._pump(room)
        if claimed < room or room == 0:
            await self._sleep(self.config.poll_seconds)

    async def run_until_idle(self, timeout: float = 30.0) -> None:  # noqa: ASYNC109 (tests want a bound)
        """Send everything that is due now, then return (tests and one-off drains). Returns early, leaving
        messages pending, when credentials are refused or another worker is the leader."""
        async with asyncio.timeout(timeout):
            if not self._leader and not await self._hold_leadership():
                return
            while (self._problem is None or self._trial) and not self._stopping.is_set():
                room = self.config.max_in_flight - len(self._tasks) if self._problem is None else 1 - len(self._tasks)
                claimed = await self._pump(room) if room > 0 else 0
                if not claimed and not self._tasks:
                    break
                if self._tasks:
                    await asyncio.wait(list(self._tasks.values()), return_when=asyncio.FIRST_COMPLETED)
            if self._tasks:
                await asyncio.gather(*self._tasks.values(), return_exceptions=True)

    async def probe(self) -> bool:
        """Try for a fresh token. When the token itself was refused, obtaining one clears the problem; when
        Teams refused it (401), the next request is a trial whose answer decides. True when a token came."""
        self._next_probe = self._time() + self.config.probe_seconds
        try:
            await self._tokens.token(force_refresh=True)
        except TokenRefused as exc:
            log.warning("delivery credentials still refused: %s", exc.code)
            return False
        if self._problem is None:
            return True
        if self._problem_from_teams:
            self._trial = True
            self._refresh_gate()
            self._wake.set()
            return True
        await self._credentials_accepted()
        return True

    async def _credentials_accepted(self) -> None:
        log.info("delivery credentials accepted again after %s; resuming", self._problem)
        self._problem = None
        self._problem_since = None
        self._problem_from_teams = False
        self._trial = False
        if self._metrics:
            self._metrics.credentials_refused.set(0)
        self._refresh_gate()
        await self._write_heartbeat()
        self._wake.set()

    async def heartbeat(self) -> None:
        """Renew the leases of held messages, check leadership and record that this worker is alive."""
        now = self._clock.now()
        if self._tasks:
            async with self._db.transaction() as session:
                await OutboxRepository(session).renew_leases(self.id, self._lease_until(now))
        if self._runner is not None and not self._stopping.is_set():
            was_leader = self._leader
            if await self._hold_leadership() and not was_leader:
                self._wake.set()
        self._windows.prune(self._time())
        await self._write_heartbeat()

    async def close(self) -> None:
        """Stop sending: messages waiting for their turn go back to pending, requests in flight finish."""
        if self._stopped:
            return
        self._stopping.set()
        self._pacer.halt()
        if self._tasks:
            await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        await self._pacer.close()
        await self._leadership.release()
        self._leader = False
        self._stopped = True
        try:
            await self._write_heartbeat()
        except Exception as exc:  # the database may be what is going away
            log.warning("could not record worker %s as stopped: %s", self.id, type(exc).__name__)

    # -- claiming ------------------------------------------------------------------------------------------------

    async def _hold_leadership(self) -> bool:
        leader = await self._leadership.hold()
        if leader != self._leader:
            self._leader = leader
            if not leader:
                log.warning("worker %s is no longer the sender", self.id)
            self._refresh_gate()
        return leader

    def _refresh_gate(self) -> None:
        """The pacer lets requests through only while this worker may send. When it may not (another worker
        leads, credentials refused, stopping), what waits for its turn goes back to pending; requests already
        in the air finish."""
        if self._leader and (self._problem is None or self._trial) and not self._stopping.is_set():
            self._pacer.resume()
        else:
            self._pacer.halt()

    async def _pump(self, room: int) -> int:
        if room <= 0:
            return 0
        now = self._clock.now()
        async with self._db.transaction() as session:
            claimed = await OutboxRepository(session).claim(
                owner=self.id, now=now, lease_until=self._lease_until(now), limit=room,
                max_attempts=self.config.max_attempts, skip_locked=self._db.is_postgres)
        for message in claimed:
            if message.id in self._tasks:  # our own lease ran out while we still hold it (database hiccup)
                continue
            self._tasks[message.id] = asyncio.create_task(self._deliver(_Job(message)), name=f"deliver-{message.id}")
        return len(claimed)

    def _lease_until(self, now: datetime) -> datetime:
        return now + timedelta(seconds=self.config.lease_seconds)

    # -- one message ---------------------------------------------------------------------------------------------

    async def _deliver(self, job: _Job) -> None:
        message_id = job.claimed.id
        try:
            try:
                outcome = await self._attempt(job)
            except Halted:
                outcome = Outcome(verdict=None, counts_as_attempt=False)
            except Exception:
                log.exception("outbox message %s: unexpected error while sending", message_id)
                outcome = Outcome(verdict=Verdict.RETRY, code="WorkerError")
            try:
                successor = await self._recorder.record(job.claimed, job.attempts, outcome)
            except Exception:
                # Its lease will run out and another claim will take it again: not lost.
                log.exception("outbox message %s: could not record the outcome", message_id)
                successor = False
        finally:
            self._tasks.pop(message_id, None)
        if successor or len(self._tasks) <= self.config.max_in_flight // 2:
            self._wake.set()

    async def _attempt(self, job: _Job) -> Outcome:
        message = job.claimed
        if message.person is not None and message.person.undeliverable_code:
            return Outcome(Verdict.UNDELIVERABLE, code=message.person.undeliverable_code, skipped=True,
                           counts_as_attempt=False)
        notification = feed_of(message.payload)
        if notification is not None:
            return await self._notify(job, notification)
        activity = activity_from_payload(message.payload)
        if message.kind == "update":
            return await self._update(job, activity)
        route = message.route or await self._open_chat(job)
        if isinstance(route, Outcome):
            return route
        conversation_id, service_url = route.conversation_id, route.service_url
        reply = await self._request(job, "send", conversation_id, lambda token: self._connector.send(
            service_url, conversation_id, activity, token))
        return self._outcome(reply, conversation_id=conversation_id, activity_id=reply.resource_id)

    async def _update(self, job: _Job, activity: dict[str, Any]) -> Outcome:
        """Replace the activity an earlier message left in Teams, once that message went."""
        target = job.claimed.target
        if target is None:
            return Outcome(Verdict.FAILED, code="OriginalMissing", counts_as_attempt=False)
        if target.status == UNDELIVERABLE:
            return Outcome(Verdict.UNDELIVERABLE, code="OriginalUndeliverable", counts_as_attempt=False,
                           mark_recipient=False)
        if target.status != SENT or not (target.activity_id and target.conversation_id and target.service_url):
            return Outcome(Verdict.FAILED, code="OriginalNotSent", counts_as_attempt=False)
        conversation_id, activity_id, service_url = target.conversation_id, target.activity_id, target.service_url
        reply = await self._request(job, "update", conversation_id, lambda token: self._connector.update(
            service_url, conversation_id, activity_id, activity, token))
        return self._outcome(reply, conversation_id=conversation_id, activity_id=activity_id)

    async def _open_chat(self, job: _Job) -> Route | Outcome:
        """A person with no stored conversation. With their Teams user id, open their 1:1 chat through the
        Connector (Teams answers with the existing one); without it, install the app for them through Graph when
        Graph is on. The route to send to, or the outcome when there is none."""
        message = job.claimed
        person = message.person
        if message.person_id is None:  # a channel or group chat we hold no reference for
            return Outcome(Verdict.UNDELIVERABLE, code=NO_CONVERSATION, counts_as_attempt=False)
        tenant_id = (person.tenant_id if person else "") or self.config.default_tenant_id
        if person is not None and person.teams_user_id and person.service_url:
            return await self._create_chat(job, message.person_id, person.teams_user_id, person.service_url,
                                           tenant_id)
        if self._installer is not None:
            return await self._install(job, self._installer, message.person_id, tenant_id,
                                       known=person is not None, service_url=person.service_url if person else None)
        return Outcome(Verdict.UNDELIVERABLE, code=NO_CONVERSATION, counts_as_attempt=False)

    async def _create_chat(self, job: _Job, person_id: str, teams_user_id: str, service_url: str,
                           tenant_id: str) -> Route | Outcome:
        reply = await self._request(job, "create", f"create:{teams_user_id}",
                                    lambda token: self._connector.create_personal(
                                        service_url, bot_id=self.config.bot_id, teams_user_id=teams_user_id,
                                        tenant_id=tenant_id, token=token))
        if not reply.ok:
            return self._outcome(reply, conversation_id=None, activity_id=None)
        if not reply.resource_id:  # accepted but no conversation id: nothing to post to; try again later
            return Outcome(Verdict.RETRY, status=reply.status, code="NoConversationId")
        route = Route(reply.resource_id, service_url)
        await self._save_conversation(person_id, teams_user_id, tenant_id, route)
        return route

    async def _install(self, job: _Job, installer: Installer, person_id: str, tenant_id: str, *, known: bool,
                       service_url: str | None) -> Route | Outcome:
        """Someone the bot has never talked to (design §8, proactive install): install the app in their personal
        scope through Graph and send to the 1:1 chat that gives. Graph has its own limits and the client its own
        retries, so this takes no turn at the Connector's pacer. Teams also tells the bot about the new chat
        (conversationUpdate), which the handler stores; the reference is kept here too, for people we know."""
        at, started = self._clock.now(), self._time()

        def attempt(status: int | None, code: str | None) -> None:
            job.attempts.append(Attempt(at=at, operation="install", status=status, error=code,
                                        duration_ms=round((self._time() - started) * 1000)))

        result = await installer(person_id, tenant_id or None)
        if result.error is not None:
            code = safe_code(result.error)
            attempt(result.status, code)
            if result.retryable:
                return Outcome(Verdict.RETRY, status=result.status, code=code, retry_after=result.retry_after)
            # Graph refused the call rather than the person: later messages ask again.
            return Outcome(Verdict.UNDELIVERABLE, status=result.status, code=code, mark_recipient=False)
        if result.refused:  # not in the bot's tenant, not found, or the app is blocked for them
            attempt(None, result.refused)
            return Outcome(Verdict.UNDELIVERABLE, code=result.refused)
        if result.chat_id is None:  # installed, but Graph does not show it yet
            attempt(None, "InstallPending")
            return Outcome(Verdict.RETRY, code="InstallPending", retry_after=self.config.install_retry_seconds)
        attempt(None, None)
        service_url = service_url or await self._service_url_in(tenant_id)
        if not service_url:  # no conversation in their tenant yet: Teams' conversationUpdate will bring one
            return Outcome(Verdict.RETRY, code="NoServiceUrl", retry_after=self.config.install_retry_seconds)
        route = Route(result.chat_id, service_url)
        if known:  # a reference needs the person's row; for others the handler stores Teams' conversationUpdate
            await self._save_conversation(person_id, None, tenant_id, route)
        return route

    async def _notify(self, job: _Job, notification: dict[str, Any]) -> Outcome:
        """A Teams activity-feed notification, through Graph: it takes its turn at the same global pacer as the
        Connector's requests and waits, like them, while sending is stopped. What Graph answers is recorded as
        an attempt. A person the feed cannot reach fails this message only: their chat is not marked."""
        person_id = job.claimed.person_id
        if self._feed is None or person_id is None:
            return Outcome(Verdict.FAILED, code=FEED_OFF, counts_as_attempt=False)
        async with self._pacer.turn() as turn:
            if self._stopping.is_set() or self._problem is not None:
                raise Halted()  # a trial after refused credentials is the Connector's to make
            at, started = self._clock.now(), self._time()
            turn.depart()
            result = await self._feed(person_id, notification)
        code = safe_code(result.code) if result.code else None
        job.attempts.append(Attempt(at=at, operation="feed", status=result.status, error=code,
                                    duration_ms=round((self._time() - started) * 1000)))
        if result.verdict == "sent":
            return Outcome(Verdict.SENT, status=result.status)
        if result.verdict == "retry":
            return Outcome(Verdict.RETRY, status=result.status, code=code, retry_after=result.retry_after)
        return Outcome(Verdict.FAILED, status=result.status, code=code)

    async def _service_url_in(self, tenant_id: str) -> str | None:
        async with self._db.read() as session:
            return await OutboxRepository(session).service_url_in(tenant_id)

    async def _request(self, job: _Job, operation: str, conversation_key: str,
                       call: Callable[[str], Awaitable[Reply]]) -> Reply:
        """One Connector request in its turn: the conversation's windows, then the global pacer."""
        while (wait := self._windows.wait_time(conversation_key, self._time())) > 0:
            await self._pacer.wait(wait)
        async with self._pacer.turn() as turn:
            if self._stopping.is_set():
                raise Halted()
            trial = False
            if self._problem is not None:
                if not self._trial:
                    raise Halted()
                self._trial, trial = False, True  # this request is the trial; any other waits
            self._windows.record(conversation_key, self._time())
            try:
                token = await self._tokens.token()
            except TokenRefused as exc:
                await self._credentials_refused(exc.code, from_teams=False)
                raise Halted() from None
            at = self._clock.now()
            turn.depart()
            reply = await call(token)
        classified = classify(reply.status, reply.codes)
        job.attempts.append(Attempt(at=at, operation=operation, status=reply.status,
                                    error=reply.error or classified.code, duration_ms=round(reply.duration * 1000)))
        if self._metrics:
            self._metrics.requests.observe(reply.duration)
        if reply.status == 429:
            pause = retry_after_seconds(reply.retry_after, self._clock.now())
            pause = 1.0 if pause is None else pause
            self._pacer.pause(pause)
            if self._metrics:
                self._metrics.throttled.inc()
            log.warning("429 from the Bot Connector (message %s): sender paused %.1fs", job.claimed.id, pause)
        if reply.status == 401:
            await self._credentials_refused(classified.code or "Unauthorized", from_teams=True)
        elif trial and reply.status is not None:
            await self._credentials_accepted()
        return reply

    def _outcome(self, reply: Reply, *, conversation_id: str | None, activity_id: str | None) -> Outcome:
        classified: Classified = classify(reply.status, reply.codes)
        if classified.verdict is Verdict.UNAUTHORIZED:
            # Not the message's fault: it goes back untouched and is sent once the credentials work again.
            return Outcome(verdict=None, status=reply.status, code=classified.code, counts_as_attempt=False)
        return Outcome(
            verdict=classified.verdict,
            status=reply.status,
            code=reply.error or classified.code,
            retry_after=retry_after_seconds(reply.retry_after, self._clock.now()),
            activity_id=activity_id,
            conversation_id=conversation_id,
        )

    async def _save_conversation(self, person_id: str, teams_user_id: str | None, tenant_id: str,
                                 route: Route) -> None:
        contact = Contact(conversation_id=route.conversation_id, kind="personal", service_url=route.service_url,
                          tenant_id=tenant_id, bot_id=self.config.bot_id, person_id=person_id,
                          teams_user_id=teams_user_id)
        async with self._db.transaction() as session:
            await ConversationRepository(session).save(contact, self._clock.now())

    def _backoff(self, attempt: int) -> float:
        """Exponential backoff with jitter (half fixed, half random), capped."""
        return backoff_seconds(attempt, base=self.config.backoff_base_seconds, cap=self.config.backoff_cap_seconds,
                               rng=self._rng)

    # -- credentials, heartbeat ----------------------------------------------------------------------------------

    async def _credentials_refused(self, code: str, *, from_teams: bool) -> None:
        self._trial = False
        if self._problem is None:
            self._problem_from_teams = from_teams
            self._problem = code
            self._problem_since = self._clock.now()
            self._next_probe = self._time() + self.config.probe_seconds
            log.error("Bot Connector credentials refused (%s): sending stopped, messages kept pending", code)
            if self._metrics:
                self._metrics.credentials_refused.set(1)
            try:
                await self._write_heartbeat()
            except Exception as exc:
                log.warning("could not record the credentials problem: %s", type(exc).__name__)
        # Everything waiting for its turn goes back to pending now, not after a doomed request each.
        self._refresh_gate()

    async def _heartbeat_loop(self) -> None:
        while True:
            try:
                await self.heartbeat()
            except Exception as exc:  # keep beating: a database blip must not kill the worker
                log.warning("delivery heartbeat failed: %s", type(exc).__name__)
            await asyncio.sleep(self.config.heartbeat_seconds)

    async def _write_heartbeat(self) -> None:
        # One write at a time, each reading the state when its turn comes: otherwise a beat that read the state
        # before a 401 could commit after the 401's own write and report the credentials fine again.
        async with self._heartbeat_lock:
            now = self._clock.now()
            status = self.status()
            async with self._db.transaction() as session:
                repo = OutboxRepository(session)
                await repo.heartbeat(self.id, now, started_at=self.started_at, leader=self._leader,
                                     state=status.state, problem=status.problem, problem_since=status.problem_since)
                await repo.forget_workers(now - timedelta(days=1))
            self.last_heartbeat = now
        if self._metrics:
            self._metrics.paused_seconds.set(self._pacer.paused_for())

    async def _sleep(self, seconds: float) -> None:
        """Wait for a wake-up (since the loop's turn began), a stop or the timeout, whichever comes first."""
        if self._stopping.is_set():
            return
        try:
            await asyncio.wait_for(self._wake.wait(), seconds)
        except TimeoutError:
            pass

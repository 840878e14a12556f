"""The delivery worker (design §7): claims due outbox messages, sends them through the Bot Connector within Teams'
limits, and records what happened to each. This module is the loop and the worker's lifecycle; the pieces are

- claiming.py    which messages this worker holds: claims batches (at most one message per recipient at a time,
                 so each recipient's messages go in order), a task per message, lease renewal
- pacing.py      when a request may leave: the per-conversation windows, then the global pacer
- credentials.py refused credentials stop sending until a probe (and, after a 401, a trial request) says so
- sending.py     one attempt at one message: send, update, open a 1:1 chat, install through Graph, feed
- recorder.py    the outcomes and attempts, many messages per transaction
- wakeup.py      PostgreSQL LISTEN/NOTIFY: a committed enqueue wakes the loop at once; polling stays underneath

Many sends are in flight at once across recipients. A heartbeat renews the leases of held messages, checks
leadership and writes the worker's row for /healthz. A worker that becomes the sender first reads the requests the
last sender made (outbox_attempts) into its rate windows, so a takeover sends no burst over Teams' limits. Times in
the database come from the injected Clock (tests move it); waiting uses the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import secrets
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.clock import Clock
from bot.delivery.claiming import Claims, Delivery
from bot.delivery.connector import ConnectorClient
from bot.delivery.credentials import Credentials
from bot.delivery.leader import Leadership, SoleInstance
from bot.delivery.metrics import DeliveryMetrics
from bot.delivery.pacing import Pacing
from bot.delivery.ports import FeedSender, Installer
from bot.delivery.ratelimit import Halted
from bot.delivery.recorder import MessageOutcome, OutcomeRecorder
from bot.delivery.sending import MessageSender
from bot.delivery.tokens import TokenProvider
from bot.delivery.wakeup import WakeUp, wakeup_for
from bot.log_format import Fields
from bot.retry import backoff_seconds
from storage.db import Database
from storage.repositories.outbox import OutboxRepository
from vocabulary.words import DeliveryVerdict, WorkerState

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
    # How often to look for due messages while NOTIFY wakes the worker for new ones (PostgreSQL, bot/delivery/
    # wakeup.py); None: poll_seconds. A longer interval means fewer idle claims, but a retry or a message due later
    # may then wait up to this long after its time when the worker is otherwise idle.
    listen_poll_seconds: float | None = None
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


def new_worker_id() -> str:
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(3)}"


@dataclass(frozen=True)
class WorkerStatus:
    id: str
    state: WorkerState
    leader: bool
    alive: bool
    started_at: datetime
    last_heartbeat: datetime | None
    problem: str | None
    problem_since: datetime | None
    in_flight: int
    paused_seconds: float
    listening: bool  # NOTIFY reaches this worker (PostgreSQL); otherwise it learns of messages by polling


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
        wakeup: WakeUp | None = None,
    ) -> None:
        """`installer` (Graph on) reaches people with no stored conversation and no known Teams user id.
        `feed` (Graph on) sends the outbox's activity-feed notifications (issue 24). `wakeup`: how the worker
        hears of new messages besides its poll (default: LISTEN on PostgreSQL, nothing on SQLite)."""
        self.id = worker_id or new_worker_id()
        self._db = database
        self._clock = clock
        self.config = config
        self._metrics = metrics
        self._leadership = leadership or SoleInstance()
        self._wakeup = wakeup or wakeup_for(database.engine, check_seconds=config.heartbeat_seconds)
        self._rng = rng or random.Random()
        self._time = monotonic
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._credentials = Credentials(tokens, clock, probe_seconds=config.probe_seconds, monotonic=monotonic,
                                        metrics=metrics, gate_changed=self._refresh_gate,
                                        save_state=self._write_heartbeat, wake=self._wake.set)
        self._pacing = Pacing(tokens, self._credentials, clock,
                              rate_per_second=config.rate_per_second * config.rate_headroom,
                              global_margin=config.global_margin_seconds,
                              conversation_margin=config.conversation_margin_seconds, monotonic=monotonic,
                              metrics=metrics, stopping=self._stopping)
        self._sender = MessageSender(database, clock, connector, self._pacing, bot_id=config.bot_id,
                                     default_tenant_id=config.default_tenant_id,
                                     install_retry_seconds=config.install_retry_seconds, monotonic=monotonic,
                                     installer=installer, feed=feed)
        self._recorder = OutcomeRecorder(database, clock, self.id, max_attempts=config.max_attempts,
                                         backoff=self._backoff, metrics=metrics,
                                         gather_seconds=config.record_gather_seconds)
        self._claims = Claims(database, clock, self.id, lease_seconds=config.lease_seconds,
                              max_attempts=config.max_attempts, max_in_flight=config.max_in_flight,
                              deliver=self._deliver, wake=self._wake.set)
        self._runner: asyncio.Task[None] | None = None
        self._leader = False
        self.started_at = clock.now()
        self.last_heartbeat: datetime | None = None
        self._heartbeat_lock = asyncio.Lock()
        self._stopped = False
        self._waiting = False

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
    def waiting(self) -> bool:
        """The loop is asleep until its poll or a wake-up, with no wake-up pending (tests wait for this)."""
        return self._waiting and not self._wake.is_set()

    @property
    def credentials_problem(self) -> str | None:
        return self._credentials.problem

    def status(self) -> WorkerStatus:
        if self._stopped:
            state = WorkerState.STOPPED
        elif self._credentials.problem:
            state = WorkerState.PAUSED
        elif not self._leader:
            state = WorkerState.STANDBY
        else:
            state = WorkerState.RUNNING
        alive = not self._stopped and (self._runner is None or not self._runner.done())
        return WorkerStatus(
            id=self.id, state=state, leader=self._leader, alive=alive, started_at=self.started_at,
            last_heartbeat=self.last_heartbeat, problem=self._credentials.problem,
            problem_since=self._credentials.since, in_flight=self._claims.in_flight,
            paused_seconds=self._pacing.paused_for(), listening=self._wakeup.listening,
        )

    async def run(self) -> None:
        """Send until stop(): claim, send, heartbeat, probe credentials when refused, take over leadership."""
        heartbeat: asyncio.Task[None] | None = None
        listener = asyncio.create_task(self._wakeup.run(self._wake.set, self._stopping),
                                       name=f"delivery-wakeup-{self.id}")
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
                    log.warning("delivery worker: failure in a row", exc_info=failures == 1,
                                extra=Fields(worker=self.id, error=type(exc).__name__, count=failures))
                    await self._sleep(backoff_seconds(failures + 1, base=self.config.poll_seconds, cap=30.0,
                                                      max_doublings=6))
        finally:
            if heartbeat is not None:
                heartbeat.cancel()
                try:
                    await heartbeat
                except asyncio.CancelledError:
                    pass
            await self.close()  # sets _stopping, which ends the listener
            try:
                await asyncio.wait_for(listener, 10.0)
            except (Exception, asyncio.CancelledError) as exc:  # a listener that will not end must not hold us
                log.warning("delivery wake-up did not stop cleanly", extra=Fields(worker=self.id,
                                                                                   error=type(exc).__name__))

    async def _turn(self) -> None:
        """One pass of the loop: wait as leader-in-waiting, probe refused credentials, or claim and send."""
        credentials = self._credentials
        if not self._leader:
            await self._sleep(self.config.heartbeat_seconds)  # the heartbeat wakes us as leader
            return
        if credentials.stopped:
            if self._time() >= credentials.next_probe:
                await self.probe()
            if credentials.stopped:
                await self._sleep(max(0.0, credentials.next_probe - self._time()))
                return
        if credentials.problem is not None:  # a trial request is allowed: one message
            if not self._claims.in_flight:
                await self._claims.claim(1)
            await self._sleep(self.config.poll_seconds)
            return
        room = self.config.max_in_flight - self._claims.in_flight
        claimed = 0
        # Refill in batches rather than one message per finished task: fewer, larger claims.
        if room >= max(1, self.config.max_in_flight // 2) or not self._claims.in_flight:
            claimed = await self._claims.claim(room)
        if claimed < room or room == 0:
            self._waiting = True
            try:
                await self._sleep(self._poll_seconds())
            finally:
                self._waiting = False

    def _poll_seconds(self) -> float:
        """The poll: the only way to new messages without NOTIFY; beside it, the way to retries, messages due later
        and expired leases."""
        if self._wakeup.listening and self.config.listen_poll_seconds is not None:
            return self.config.listen_poll_seconds
        return self.config.poll_seconds

    async def run_until_idle(self, timeout: float = 30.0) -> None:  # noqa: ASYNC109 (tests want a bound)
        """Send everything that is due now, then return (tests and one-off drains). Returns early, leaving
        messages pending, when credentials are refused or another worker is the leader."""
        async with asyncio.timeout(timeout):
            if not self._leader and not await self._hold_leadership():
                return
            while not self._credentials.stopped and not self._stopping.is_set():
                limit = self.config.max_in_flight if self._credentials.problem is None else 1
                room = limit - self._claims.in_flight
                claimed = await self._claims.claim(room) if room > 0 else 0
                if not claimed and not self._claims.in_flight:
                    break
                await self._claims.first_done()
            await self._claims.all_done()

    async def probe(self) -> bool:
        """Try for a fresh token. When the token itself was refused, obtaining one clears the problem; when
        Teams refused it (401), the next request is a trial whose answer decides. True when a token came."""
        return await self._credentials.probe()

    async def heartbeat(self) -> None:
        """Renew the leases of held messages, check leadership and record that this worker is alive."""
        await self._claims.renew_leases(self._clock.now())
        if self._runner is not None and not self._stopping.is_set():
            was_leader = self._leader
            if await self._hold_leadership() and not was_leader:
                self._wake.set()
        self._pacing.prune()
        await self._write_heartbeat()

    async def close(self) -> None:
        """Stop sending: messages waiting for their turn go back to pending, requests in flight finish."""
        if self._stopped:
            return
        self._stopping.set()
        self._pacing.gate(False)
        await self._claims.all_done()
        await self._pacing.close()
        await self._leadership.release()
        self._leader = False
        self._stopped = True
        try:
            await self._write_heartbeat()
        except Exception as exc:  # the database may be what is going away
            log.warning("could not record the worker as stopped", extra=Fields(worker=self.id,
                                                                                 error=type(exc).__name__))

    # -- leadership and the gate -----------------------------------------------------------------------------------

    async def _hold_leadership(self) -> bool:
        leader = await self._leadership.hold()
        if leader != self._leader:
            if leader:
                await self._seed_windows()  # before the gate opens
            self._leader = leader
            if not leader:
                log.warning("worker is no longer the sender", extra=Fields(worker=self.id))
            self._refresh_gate()
        return leader

    async def _seed_windows(self) -> None:
        """A new sender starts its rate windows from the requests recorded lately (by the sender before it, or by
        this process before a restart): Teams counts those too, and a takeover within the second would otherwise
        add a second's worth of requests on top of the last sender's."""
        now, mono = self._clock.now(), self._time()
        seconds = self._pacing.seed_seconds
        # Enough rows for the whole horizon at the configured rate, with room for attempts that were not requests.
        limit = int(self.config.rate_per_second * (seconds + 1) * 1.5) + 100
        try:
            async with self._db.read() as session:
                recent = await OutboxRepository(session).recent_requests(now - timedelta(seconds=seconds),
                                                                         limit=limit)
        except Exception as exc:  # cannot tell what went before: wait out a whole sliding second instead
            log.warning("delivery: recent requests unreadable; holding back a second",
                        extra=Fields(worker=self.id, error=type(exc).__name__))
            self._pacing.hold_back(1.0 + self.config.global_margin_seconds)
            return
        in_window = self._pacing.seed([(mono - (now - request.at).total_seconds(), request.conversation_key)
                                       for request in recent])
        if recent:
            log.info("delivery rate windows seeded: %d requests counted in the last second", in_window,
                     extra=Fields(worker=self.id, count=in_window))

    def _refresh_gate(self) -> None:
        """The pacer lets requests through only while this worker may send. When it may not (another worker
        leads, credentials refused, stopping), what waits for its turn goes back to pending; requests already
        in the air finish."""
        self._pacing.gate(self._leader and not self._credentials.stopped and not self._stopping.is_set())

    # -- one message ---------------------------------------------------------------------------------------------

    async def _deliver(self, delivery: Delivery) -> bool:
        """Attempt the message and record what came of it; True when its recipient has another message due."""
        try:
            outcome = await self._sender.attempt(delivery)
        except Halted:
            outcome = MessageOutcome(verdict=None, counts_as_attempt=False)
        except Exception:
            log.exception("outbox message: unexpected error while sending",
                          extra=Fields(outbox_id=delivery.claimed.id))
            outcome = MessageOutcome(verdict=DeliveryVerdict.RETRY, code="WorkerError")
        try:
            return await self._recorder.record(delivery.claimed, delivery.attempts, outcome)
        except Exception:
            # Its lease will run out and another claim will take it again: not lost.
            log.exception("outbox message: could not record the outcome", extra=Fields(outbox_id=delivery.claimed.id))
            return False

    def _backoff(self, attempt: int) -> float:
        """Exponential backoff with jitter (half fixed, half random), capped."""
        return backoff_seconds(attempt, base=self.config.backoff_base_seconds, cap=self.config.backoff_cap_seconds,
                               rng=self._rng)

    # -- heartbeat -----------------------------------------------------------------------------------------------

    async def _heartbeat_loop(self) -> None:
        while True:
            try:
                await self.heartbeat()
            except Exception as exc:  # keep beating: a database blip must not kill the worker
                log.warning("delivery heartbeat failed", extra=Fields(worker=self.id, error=type(exc).__name__))
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
            self._metrics.paused_seconds.set(self._pacing.paused_for())

    async def _sleep(self, seconds: float) -> None:
        """Wait for a wake-up (since the loop's turn began), a stop or the timeout, whichever comes first."""
        if self._stopping.is_set():
            return
        try:
            await asyncio.wait_for(self._wake.wait(), seconds)
        except TimeoutError:
            pass

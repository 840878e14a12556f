"""Pacing (design §7): when a request may leave. First the conversation's windows (Teams' limits per chat), then
its turn at the global pacer (the app's budget), and only while this worker may send (bot/delivery/ratelimit.py
has the windows and the pacer). A 429 pauses every request for its Retry-After; a 401 or a refused token stops
the sender (bot/delivery/credentials.py). Every Connector request is recorded as an attempt of its message."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager

from bot.clock import Clock
from bot.delivery.claiming import Delivery
from bot.delivery.classify import classify
from bot.delivery.connector import Reply
from bot.delivery.credentials import Credentials
from bot.delivery.metrics import DeliveryMetrics
from bot.delivery.ratelimit import ConversationWindows, Halted, Pacer, PacerTurn
from bot.delivery.tokens import TokenProvider, TokenRefused
from bot.log_format import Fields
from bot.retry import retry_after_seconds
from storage.repositories.outbox import Attempt
from vocabulary.words import AttemptOperation

log = logging.getLogger(__name__)

# A sender writes its requests down only after their answers come, a few at a time (bot/delivery/recorder.py
# gathers outcomes for 50 ms), so the newest tenth of a second of a sender that just died may be missing.
RECORD_LAG_SECONDS = 0.1


class Pacing:
    def __init__(self, tokens: TokenProvider, credentials: Credentials, clock: Clock, *, rate_per_second: float,
                 global_margin: float, conversation_margin: float, monotonic: Callable[[], float],
                 metrics: DeliveryMetrics | None, stopping: asyncio.Event) -> None:
        """`rate_per_second` is what the pacer lets through (the budget less its headroom); the margins widen
        the sliding second and the per-conversation windows (jitter between our clock and Teams')."""
        self._tokens = tokens
        self._credentials = credentials
        self._clock = clock
        self._time = monotonic
        self._metrics = metrics
        self._stopping = stopping
        self._pacer = Pacer(rate_per_second, margin=global_margin, monotonic=monotonic)
        self._windows = ConversationWindows(margin=conversation_margin)

    def gate(self, open_: bool) -> None:
        """Let requests through, or send back (Halted) everything waiting for its turn; requests already in the
        air finish."""
        if open_:
            self._pacer.resume()
        else:
            self._pacer.halt()

    def paused_for(self) -> float:
        return self._pacer.paused_for()

    def prune(self) -> None:
        self._windows.prune(self._time())

    @property
    def seed_seconds(self) -> float:
        """How far back `seed` wants the requests of other senders."""
        return self._windows.seed_seconds

    def seed(self, requests: Sequence[tuple[float, str | None]]) -> int:
        """Start this sender's windows from the requests another sender made lately (monotonic time, and the
        conversation window each counted in when known), so that a takeover adds no burst to what Teams counted
        just before it. What the other sender did after its newest recorded request is unknown: it is taken to have
        gone on at the full rate until now, from a little before that request (RECORD_LAG_SECONDS). Returns how
        many requests the global second holds now, those assumed included."""
        now = self._time()
        departures = [at for at, _ in requests]
        if departures:
            interval = self._pacer.interval
            at = max(max(departures) - RECORD_LAG_SECONDS, now - self._pacer.window)
            while at <= now:
                departures.append(at)
                at += interval
        self._pacer.seed(departures)
        by_conversation: dict[str, list[float]] = {}
        for at, key in requests:
            if key is not None:
                by_conversation.setdefault(key, []).append(at)
        for key, times in by_conversation.items():
            self._windows.seed(key, times)
        return sum(1 for at in departures if at > now - self._pacer.window)

    def hold_back(self, seconds: float) -> None:
        """Let nothing through for this long (a new sender that could not read what the last one sent)."""
        self._pacer.pause(seconds)

    async def close(self) -> None:
        await self._pacer.close()

    async def request(self, delivery: Delivery, operation: AttemptOperation, conversation_key: str,
                      call: Callable[[str], Awaitable[Reply]]) -> Reply:
        """One Connector request in its turn: the conversation's windows, then the global pacer."""
        while (wait := self._windows.wait_time(conversation_key, self._time())) > 0:
            await self._pacer.wait(wait)
        async with self._pacer.turn() as turn:
            if self._stopping.is_set() or self._credentials.stopped:
                raise Halted()
            trial = self._credentials.take_trial()  # this request is the trial; any other waits
            self._windows.record(conversation_key, self._time())
            try:
                token = await self._tokens.token()
            except TokenRefused as exc:
                await self._credentials.refused(exc.code, from_teams=False)
                raise Halted() from None
            at = self._clock.now()
            turn.depart()
            reply = await call(token)
        classified = classify(reply.status, reply.codes)
        delivery.attempts.append(Attempt(at=at, operation=operation, status=reply.status,
                                         error=reply.error or classified.code,
                                         duration_ms=round(reply.duration * 1000)))
        if self._metrics:
            self._metrics.requests.observe(reply.duration)
        if reply.status == 429:
            pause = retry_after_seconds(reply.retry_after, self._clock.now())
            pause = 1.0 if pause is None else pause
            self._pacer.pause(pause)
            if self._metrics:
                self._metrics.throttled.inc()
            log.warning("429 from the Bot Connector: sender paused",
                        extra=Fields(outbox_id=delivery.claimed.id, status=429, seconds=pause))
        if reply.status == 401:
            await self._credentials.refused(classified.code or "Unauthorized", from_teams=True)
        elif trial and reply.status is not None:
            await self._credentials.accepted()
        return reply

    @asynccontextmanager
    async def graph_turn(self) -> AsyncIterator[PacerTurn]:
        """A turn at the same global pacer for a Graph request (an activity-feed notification): it waits, like
        the Connector's requests, while sending is stopped. A trial after refused credentials is the
        Connector's to make. Call `depart()` on the turn just before the request leaves."""
        async with self._pacer.turn() as turn:
            if self._stopping.is_set() or self._credentials.problem is not None:
                raise Halted()
            yield turn

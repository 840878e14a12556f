"""Rate limits of the sender (design §7): one global pacer for the app and sliding windows per conversation.

Teams counts requests in sliding windows (50 per second per app and tenant; 7 per 1 s, 8 per 2 s, 60 per 30 s,
1,800 per hour per conversation), and a 429 costs a whole Retry-After for every conversation because the whole
sender pauses. So the pacer spaces requests evenly (a token bucket that holds a single token) instead of
allowing bursts, and the per-conversation windows are kept slightly wider than Teams' so that network jitter
between our clock and Teams' cannot squeeze one request too many into a window.
"""

from __future__ import annotations

import asyncio
import time
from bisect import bisect_left, bisect_right
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager

# Teams' per bot, per conversation limits for sends and conversation creation: (requests, window seconds).
CONVERSATION_LIMITS: tuple[tuple[int, float], ...] = ((7, 1.0), (8, 2.0), (60, 30.0), (1800, 3600.0))


class Halted(Exception):
    """The sender stopped (shutdown, credentials refused, leadership lost) while this request waited."""


class ConversationWindows:
    """Sliding windows per conversation over the times we sent to it."""

    def __init__(self, limits: Sequence[tuple[int, float]] = CONVERSATION_LIMITS, *, margin: float = 0.1) -> None:
        self._limits = tuple((count, window + margin) for count, window in limits)
        self._longest = max(window for _, window in self._limits)
        self._hits: dict[str, list[float]] = {}

    def wait_time(self, key: str, now: float) -> float:
        """Seconds until one more request to this conversation fits every window (0 when it fits now)."""
        hits = self._hits.get(key)
        if not hits:
            return 0.0
        del hits[: bisect_left(hits, now - self._longest)]
        wait = 0.0
        for limit, window in self._limits:
            inside = len(hits) - bisect_right(hits, now - window)
            if inside >= limit:
                wait = max(wait, hits[len(hits) - limit] + window - now)
        return wait

    def record(self, key: str, now: float) -> None:
        self._hits.setdefault(key, []).append(now)

    def seed(self, key: str, times: Sequence[float]) -> None:
        """Requests another sender made to this conversation (a new leader's windows start from them)."""
        if times:
            self._hits[key] = sorted([*self._hits.get(key, ()), *times])

    @property
    def seed_seconds(self) -> float:
        """How far back a new sender reads requests for these windows: every window up to a minute. The hourly
        one (1,800 per conversation) is left out: reading an hour of attempts would cost more than it saves."""
        return max(window for _, window in self._limits if window <= 60.0 + 1.0)

    def prune(self, now: float) -> None:
        """Forget conversations with nothing inside the longest window, so memory follows recent traffic."""
        for key in [key for key, hits in self._hits.items() if not hits or hits[-1] <= now - self._longest]:
            del self._hits[key]

    def __len__(self) -> int:
        return len(self._hits)


class Pacer:
    """The global budget: releases waiters one at a time, `1 / rate` apart, in arrival order, and never lets
    more than `rate` (rounded down) requests leave in any sliding second, Teams' own measure.

    The cap counts when requests actually leave (`turn()` ... `depart()`), not when they were let go: on a busy
    machine a request let go on time may leave late, next to the following one, and that pair is what Teams
    would count. `pause(seconds)` holds everyone back (a 429's Retry-After); `halt()` wakes every waiter with
    `Halted`.
    """

    def __init__(self, rate_per_second: float, *, margin: float = 0.0,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        """`margin` widens the sliding second, as the per-conversation windows are widened: requests that
        leave evenly spaced reach Teams squeezed or stretched by the network's jitter."""
        if rate_per_second <= 0:
            raise ValueError("rate must be positive")
        self._window = 1.0 + margin
        self._interval = 1.0 / rate_per_second
        # Absorbs a little of the event loop's timer lateness; more would let requests bunch, and the network's
        # jitter bunches them further before Teams counts them.
        self._tolerance = min(self._interval / 4, 0.005)
        self._cap = max(1, int(rate_per_second))
        self._departures: deque[float] = deque()  # within the last second
        self._outstanding = 0  # let go by turn() and not yet departed
        self._cap_blocked = False
        self._time = monotonic
        self._next = 0.0
        self._paused_until = 0.0
        self._waiters: deque[tuple[asyncio.Future[None], bool]] = deque()
        self._changed = asyncio.Event()
        self._halted = asyncio.Event()
        self._dispatcher: asyncio.Task[None] | None = None

    def paused_for(self) -> float:
        return max(0.0, self._paused_until - self._time())

    @property
    def window(self) -> float:
        return self._window

    @property
    def interval(self) -> float:
        return self._interval

    def seed(self, departures: Sequence[float]) -> None:
        """Requests another sender let go lately (monotonic times): they count in this sliding second as if they
        were ours, and the next request keeps its spacing from the newest of them."""
        now = self._time()
        recent = [at for at in departures if at > now - self._window]
        if not recent:
            return
        self._departures = deque(sorted([*self._departures, *recent]))
        self._next = max(self._next, max(recent) + self._interval)
        self._changed.set()

    def pause(self, seconds: float) -> None:
        self._paused_until = max(self._paused_until, self._time() + seconds)
        self._changed.set()

    @property
    def halted(self) -> bool:
        return self._halted.is_set()

    def halt(self) -> None:
        self._halted.set()
        while self._waiters:
            waiter, _ = self._waiters.popleft()
            if not waiter.done():
                waiter.set_exception(Halted())
        self._changed.set()

    def resume(self) -> None:
        self._halted.clear()

    async def acquire(self) -> None:
        """Wait for this request's turn, counting it as gone at once; raises Halted if the sender stops first."""
        await self._enqueue(tracked=False)

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[PacerTurn]:
        """Wait for this request's turn; call `depart()` on the result just before the request leaves."""
        await self._enqueue(tracked=True)
        turn = PacerTurn(self)
        try:
            yield turn
        finally:
            if not turn.departed:  # it never left (stopping, no token): give its place back
                self._settle(None)

    async def _enqueue(self, *, tracked: bool) -> None:
        if self._halted.is_set():
            raise Halted()
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((waiter, tracked))
        if self._dispatcher is None or self._dispatcher.done():
            self._dispatcher = asyncio.create_task(self._dispatch(), name="delivery-pacer")
        self._changed.set()
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled() and tracked:
                self._settle(None)  # let go just as it was cancelled
            raise

    def _settle(self, departed_at: float | None) -> None:
        self._outstanding -= 1
        if departed_at is not None:
            self._departures.append(departed_at)
        if self._cap_blocked:
            self._changed.set()

    async def wait(self, seconds: float) -> None:
        """Sleep, but give up with Halted as soon as the sender stops."""
        if seconds <= 0:
            if self._halted.is_set():
                raise Halted()
            return
        try:
            await asyncio.wait_for(self._halted.wait(), seconds)
        except TimeoutError:
            return
        raise Halted()

    async def close(self) -> None:
        self.halt()
        if self._dispatcher is not None:
            self._dispatcher.cancel()
            try:
                await self._dispatcher
            except asyncio.CancelledError:
                pass
            self._dispatcher = None

    async def _dispatch(self) -> None:
        while self._waiters:
            now = self._time()
            start = max(self._next, self._paused_until)
            while self._departures and self._departures[0] <= now - self._window:
                self._departures.popleft()
            over = len(self._departures) + self._outstanding - self._cap
            self._cap_blocked = over >= 0
            if self._cap_blocked:
                # Wait for the oldest departure that must leave the window, or for a let-go request to leave.
                start = max(start, self._departures[over] + self._window if over < len(self._departures)
                            else now + self._window)
            if start > now:
                self._changed.clear()
                try:
                    await asyncio.wait_for(self._changed.wait(), start - now)
                except TimeoutError:
                    pass
                continue
            waiter, tracked = self._waiters.popleft()
            if waiter.done():  # its task was cancelled while waiting
                continue
            waiter.set_result(None)
            if tracked:
                self._outstanding += 1
            else:
                self._departures.append(now)
            # Keep to the schedule when the loop woke us a little late, but never bank idle time as a burst.
            self._next = max(start, now - self._tolerance) + self._interval


class PacerTurn:
    """One request's turn at the pacer."""

    def __init__(self, pacer: Pacer) -> None:
        self._pacer = pacer
        self.departed = False

    def depart(self) -> None:
        """The request leaves now: from here it counts in Teams' sliding second."""
        if not self.departed:
            self.departed = True
            self._pacer._settle(self._pacer._time())

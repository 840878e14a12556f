"""Wake-up (issue 23, item 3): the delivery worker hears of new outbox messages when they are committed instead
of at its next poll. On PostgreSQL every enqueue sends NOTIFY in its own transaction (bot/delivery/outbox.py:
wake_workers), which PostgreSQL delivers at commit, and the worker LISTENs on a connection of its own. Polling
goes on underneath: it finds what no enqueue announces (retries, messages due later, leases that ran out), and it
is all there is on SQLite and while the listening connection is down. A lost connection is never fatal: the
worker polls at its usual interval and the listener connects again, with backoff.

The connection is made with the engine's own connection settings but outside its pool, in autocommit (asyncpg's
default): it never holds a transaction open. Like the leadership lock, it needs a direct or session-pooled
connection: through a transaction-pooling proxy NOTIFY never reaches it, and the poll does the work.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import asyncpg  # type: ignore[import-untyped]  # no stubs; used through a few calls
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.log_format import Fields
from bot.retry import backoff_seconds
from storage.repositories.outbox import OUTBOX_CHANNEL

log = logging.getLogger(__name__)

Connect = Callable[[], Awaitable[asyncpg.Connection]]


class WakeUp(Protocol):
    @property
    def listening(self) -> bool:
        """True while a committed enqueue reaches this worker at once."""
        ...

    async def run(self, wake: Callable[[], None], stopping: asyncio.Event) -> None:
        """Call `wake` whenever messages may have been added, until `stopping` is set."""
        ...


class PollOnly:
    """SQLite (or wake-up turned off): the worker's poll is the only way it learns of new messages."""

    @property
    def listening(self) -> bool:
        return False

    async def run(self, wake: Callable[[], None], stopping: asyncio.Event) -> None:
        await stopping.wait()


def engine_connect(engine: AsyncEngine) -> Connect:
    """A plain asyncpg connection with the engine's own settings (host, credentials, TLS), outside its pool."""
    args, options = engine.dialect.create_connect_args(engine.url)
    for sqlalchemy_only in ("prepared_statement_cache_size", "prepared_statement_name_func", "async_fallback"):
        options.pop(sqlalchemy_only, None)

    async def connect() -> asyncpg.Connection:
        connection: asyncpg.Connection = await asyncpg.connect(*args, **options)
        return connection

    return connect


class OutboxListener:
    """LISTEN on the outbox channel; `listening` tells whether NOTIFY reaches us right now."""

    def __init__(self, connect: Connect, *, check_seconds: float = 5.0, retry_seconds: float = 1.0,
                 retry_cap_seconds: float = 30.0) -> None:
        """`check_seconds`: how often an idle connection is asked a `SELECT 1`, so that a connection that died
        without a word (a network cut) is noticed; `retry_seconds`..`retry_cap_seconds`: backoff between
        attempts to connect again."""
        self._connect = connect
        self._check = check_seconds
        self._retry = retry_seconds
        self._retry_cap = retry_cap_seconds
        self._listening = False
        self._connection: asyncpg.Connection | None = None

    @property
    def listening(self) -> bool:
        return self._listening

    @property
    def server_pid(self) -> int | None:
        """The PostgreSQL backend serving the listening connection (for operators and tests)."""
        connection = self._connection
        return connection.get_server_pid() if connection is not None and not connection.is_closed() else None

    async def run(self, wake: Callable[[], None], stopping: asyncio.Event) -> None:
        failures = 0
        while not stopping.is_set():
            if await self._listen_once(wake, stopping):
                failures = 0
            failures += 1
            if not stopping.is_set():
                await _wait(stopping, backoff_seconds(failures, base=self._retry, cap=self._retry_cap,
                                                      max_doublings=6))

    async def _listen_once(self, wake: Callable[[], None], stopping: asyncio.Event) -> bool:
        """One connection, for as long as it lasts; True when it was listening."""
        try:
            connection = await self._connect()
        except Exception as exc:  # the database is unreachable: the poll finds nothing either, and says so
            log.warning("delivery wake-up: cannot connect; polling", extra=Fields(error=type(exc).__name__))
            return False
        lost = asyncio.Event()

        def notified(*_: Any) -> None:
            wake()

        connection.add_termination_listener(lambda _connection: lost.set())
        self._connection = connection
        listened = False
        error: str | None = None
        try:
            await connection.add_listener(OUTBOX_CHANNEL, notified)
            self._listening = listened = True
            log.info("delivery wake-up: listening for new messages")
            wake()  # whatever was committed while nobody listened
            while not stopping.is_set() and not lost.is_set():
                if await _wait(stopping, self._check, lost):
                    break
                await asyncio.wait_for(connection.fetchval("SELECT 1"), self._check)
        except Exception as exc:
            error = type(exc).__name__
        finally:
            self._listening = False
            self._connection = None
            await _close(connection)
        if not stopping.is_set():
            log.warning("delivery wake-up: listening connection lost; polling until it is back",
                        extra=Fields(error=error))
            wake()  # a loop asleep for the longer listening interval takes up the usual poll again
        return listened


async def _wait(stopping: asyncio.Event, seconds: float, other: asyncio.Event | None = None) -> bool:
    """Wait up to `seconds` for `stopping` (or `other`); True when one of them is set."""
    events = [stopping] if other is None else [stopping, other]
    waiters = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        done, _ = await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
    return bool(done)


async def _close(connection: asyncpg.Connection) -> None:
    if connection.is_closed():
        return
    try:
        await asyncio.wait_for(connection.close(), 5.0)
    except Exception:  # a dead peer: drop it without a goodbye
        with contextlib.suppress(Exception):
            connection.terminate()


def wakeup_for(engine: AsyncEngine, *, check_seconds: float) -> WakeUp:
    """LISTEN/NOTIFY on PostgreSQL, polling alone on SQLite."""
    if engine.dialect.name != "postgresql":
        return PollOnly()
    return OutboxListener(engine_connect(engine), check_seconds=check_seconds)

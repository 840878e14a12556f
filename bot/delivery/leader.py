"""Which worker sends. Teams' budget (50 requests/s per app and tenant) is one budget for every instance, so on
PostgreSQL only the holder of an advisory lock sends and the others stand by, ready to take over the moment its
database session ends (crash, kill -9, network loss). Claims still use SKIP LOCKED, so even two senders at once
(a leader that lost its session but has requests in flight) never take the same message.

SQLite serves one instance (design §7). An OS lock on a file beside the database makes sure of it: a second
process started on the same file by mistake stands by instead of sending on its own budget, and takes over when
the first ends (the OS lets the lock go however a process ends).

The lock is a session lock on a connection kept for the purpose, in autocommit mode so that it never holds a
transaction open. It does not survive a transaction-pooling proxy (PgBouncer in transaction mode): point the
worker at PostgreSQL directly or through session pooling.
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path
from typing import Protocol

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.log_format import Fields

log = logging.getLogger(__name__)

# "hnydeliv" as a 64-bit integer: advisory locks are per database, so one constant serves every deployment.
LOCK_KEY = 0x686E7964656C6976


class Leadership(Protocol):
    async def hold(self) -> bool:
        """Become or stay the sender; True while this worker is it."""
        ...

    async def release(self) -> None: ...


class SoleInstance:
    """SQLite: one instance, always the sender."""

    async def hold(self) -> bool:
        return True

    async def release(self) -> None:
        return None


class FileLock:
    """SQLite: the sender is the process holding an exclusive flock on `path`."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._fd: int | None = None

    async def hold(self) -> bool:
        if self._fd is not None:
            return True
        import fcntl  # POSIX only: leadership_for falls back to SoleInstance elsewhere

        fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # another process sends for this database
            os.close(fd)
            return False
        self._fd = fd
        log.info("delivery leadership taken")
        return True

    async def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # closing the descriptor lets the lock go


class AdvisoryLock:
    def __init__(self, engine: AsyncEngine, key: int = LOCK_KEY) -> None:
        self._engine = engine
        self._key = key
        self._connection: AsyncConnection | None = None
        # One attempt at a time: two at once would each open a session, and the one that lost the race to the
        # lock would report "not the leader" for a worker that holds it.
        self._busy = asyncio.Lock()

    async def hold(self) -> bool:
        async with self._busy:
            return await self._hold()

    async def _hold(self) -> bool:
        if self._connection is not None:
            try:
                # The lock lives as long as this session: a live session is a held lock.
                await self._connection.execute(text("SELECT 1"))
                return True
            except Exception as exc:  # the session is gone, and the lock with it
                log.warning("delivery leadership lost", extra=Fields(error=type(exc).__name__))
                await self._drop()
        try:
            connection = await self._engine.connect()
        except Exception as exc:  # database unreachable: nobody can send anyway
            log.warning("delivery leadership: cannot connect", extra=Fields(error=type(exc).__name__))
            return False
        try:
            connection = await connection.execution_options(isolation_level="AUTOCOMMIT")
            result = await connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": self._key})
            if result.scalar():
                self._connection = connection
                log.info("delivery leadership taken")
                return True
        except Exception as exc:
            log.warning("delivery leadership: lock attempt failed", extra=Fields(error=type(exc).__name__))
            await connection.invalidate()
            await connection.close()
            return False
        await connection.close()
        return False

    async def release(self) -> None:
        async with self._busy:
            await self._release()

    async def _release(self) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            await connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": self._key})
            await connection.close()
        except Exception:
            # Never hand a connection that may still hold the lock back to the pool.
            await connection.invalidate()
            await connection.close()

    async def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                await connection.invalidate()
                await connection.close()
            except Exception as exc:
                log.debug("closing a dead leadership connection", extra=Fields(error=type(exc).__name__))


def leadership_for(is_postgres: bool, engine: AsyncEngine) -> Leadership:
    if is_postgres:
        return AdvisoryLock(engine)
    database = engine.url.database
    if os.name != "posix" or not database or database == ":memory:" or database.startswith("file:"):
        return SoleInstance()  # an in-memory database cannot be shared by two processes anyway
    return FileLock(Path(f"{database}.sender.lock"))

"""The async engine and transactions, for SQLite (one instance) and PostgreSQL (several)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.dialects.postgresql import Insert as PostgresInsert
from sqlalchemy.dialects.postgresql import insert as postgres_insert
from sqlalchemy.dialects.sqlite import Insert as SqliteInsert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

SQLITE_BUSY_TIMEOUT_MS = 30_000


def dialect_insert(session: AsyncSession, model: Any) -> PostgresInsert | SqliteInsert:
    """An INSERT into `model` in the session's SQL dialect, for `.on_conflict_do_nothing(...)`: both databases
    have it, but SQLAlchemy builds it per dialect."""
    if session.get_bind().dialect.name == "postgresql":
        return postgres_insert(model)
    return sqlite_insert(model)


def make_engine(url: str, *, pool_size: int = 10, read_only: bool = False) -> AsyncEngine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        _sqlite_pragmas(engine)
        _sqlite_begin(engine, "BEGIN" if read_only else "BEGIN IMMEDIATE")
        return engine
    return create_async_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)


def _sqlite_pragmas(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()


def _sqlite_begin(engine: AsyncEngine, statement: str) -> None:
    # Writers use BEGIN IMMEDIATE: concurrent writers (e.g. 200 people pressing Accept) queue for the write
    # lock at BEGIN instead of failing half-way with "database is locked" (teams-facts). Readers use a
    # plain BEGIN, a consistent snapshot that never waits for the write lock.

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql(statement)


class Database:
    """Owns the engine; hands out sessions whose transaction commits on success and rolls back on error."""

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = url
        self.engine = make_engine(url, pool_size=pool_size)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        # On SQLite, reads use their own engine so they never queue behind writers for the write lock
        # (WAL lets readers run beside one writer). PostgreSQL needs no such split.
        self._read_engine = (
            make_engine(url, pool_size=pool_size, read_only=True) if self.engine.dialect.name == "sqlite" else None
        )
        self._read_sessions = async_sessionmaker(self._read_engine or self.engine, expire_on_commit=False)

    @property
    def is_postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        async with self.sessions() as session, session.begin():
            yield session

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A transaction for reading only: never takes SQLite's write lock."""
        async with self._read_sessions() as session, session.begin():
            yield session

    async def ping(self) -> None:
        # Through the read engine: a load balancer's probe must not queue for SQLite's write lock.
        async with (self._read_engine or self.engine).connect() as connection:
            await connection.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self._read_engine is not None:
            await self._read_engine.dispose()

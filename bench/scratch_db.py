"""A throwaway database for a benchmark: a temporary SQLite file, or a PostgreSQL database named in the URL,
created here and dropped at the end. An existing PostgreSQL database is refused, so a benchmark never touches
real data."""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy.engine import make_url


@asynccontextmanager
async def scratch_database(url: str | None) -> AsyncIterator[str]:
    """A new, empty database: a temporary SQLite file when `url` is None, else the PostgreSQL database `url`
    names, created now and dropped afterwards."""
    if url is None:
        with tempfile.TemporaryDirectory() as folder:
            yield f"sqlite+aiosqlite:///{folder}/bench.db"
        return
    if not url.startswith("postgresql+asyncpg://"):
        raise SystemExit("give postgresql+asyncpg://user@host:port/new_database_name, or nothing for SQLite")
    admin = await _create_database(url)
    try:
        yield url
    finally:
        await _drop_database(admin, make_url(url).database or "")


async def on_scratch_database(url: str | None, measure: Callable[[str], Awaitable[None]]) -> None:
    """Run `measure` on a new database (see scratch_database)."""
    async with scratch_database(url) as new_url:
        await measure(new_url)


async def _create_database(url: str) -> str:
    parsed = make_url(url)
    name = parsed.database or ""
    admin = parsed.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    connection = await asyncpg.connect(admin)
    try:
        if await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            raise SystemExit(f"database {name} exists: give a new name, this script drops it at the end")
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    return admin


async def _drop_database(admin: str, name: str) -> None:
    connection = await asyncpg.connect(admin)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()

"""Database fixtures: every test gets a migrated, empty database on SQLite and, when TEST_DATABASE_URL is set,
on PostgreSQL too. Each test run creates its own PostgreSQL database so parallel runs never collide."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from storage.db import Database
from storage.migrate import upgrade_sync
from storage.models import Base

BACKENDS = ["sqlite"] + (["postgresql"] if os.environ.get("TEST_DATABASE_URL") else [])


def _asyncpg_dsn(url: str, database: str | None = None) -> str:
    parsed = make_url(url).set(drivername="postgresql")
    if database:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


def _in_thread(function: Callable[[], object]) -> None:
    """Session fixtures may be first requested from inside a running loop; asyncio.run needs its own thread."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(function).result()


async def _admin(url: str, statement: str) -> None:
    connection = await asyncpg.connect(_asyncpg_dsn(url))
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("db") / "template.db"
    _in_thread(lambda: upgrade_sync(f"sqlite+aiosqlite:///{path}"))
    return path


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    base = os.environ.get("TEST_DATABASE_URL")
    if not base:
        pytest.skip("TEST_DATABASE_URL is not set")
    name = f"hny_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    _in_thread(lambda: asyncio.run(_admin(base, f'CREATE DATABASE "{name}"')))
    url = make_url(base).set(drivername="postgresql+asyncpg", database=name).render_as_string(hide_password=False)
    _in_thread(lambda: upgrade_sync(url))
    yield url
    _in_thread(lambda: asyncio.run(_admin(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')))


@pytest.fixture(params=BACKENDS)
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty database for this test."""
    if request.param == "sqlite":
        path = tmp_path / "bot.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite+aiosqlite:///{path}"
    url: str = request.getfixturevalue("postgres_url")
    await _empty(url)
    return url


# Emptying every table and restarting every sequence, in one round trip. DELETE rather than TRUNCATE: a test's
# tables hold a few rows, and TRUNCATE makes new files for every table (about 0.1 s a test, 4 ms this way).
# Tables are emptied children first, so foreign keys never object.
_EMPTY_SQL = "BEGIN;\n{deletes}\n" + """DO $$ DECLARE s record; BEGIN
  FOR s IN SELECT schemaname, sequencename FROM pg_sequences WHERE schemaname = current_schema() LOOP
    EXECUTE format('ALTER SEQUENCE %I.%I RESTART', s.schemaname, s.sequencename);
  END LOOP;
END $$;
COMMIT;"""


async def _empty(url: str) -> None:
    deletes = "\n".join(f'DELETE FROM "{table.name}";' for table in reversed(Base.metadata.sorted_tables))
    connection = await asyncpg.connect(_asyncpg_dsn(url))
    try:
        await connection.execute(_EMPTY_SQL.format(deletes=deletes))
    finally:
        await connection.close()


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    database = Database(db_url)
    yield database
    await database.dispose()

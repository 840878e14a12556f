"""Ordinary operating faults on the command line (issue 18): each ends with one line that says what is wrong and
what to do, a non-zero exit and no traceback (unless LOG_LEVEL=DEBUG); what can be checked at start-up is, so
`python -m bot worker` with PostgreSQL down exits instead of waiting for ever."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from storage.db import Database
from storage.models import AuditEntry
from tests.cli_helpers import Result, run_cli

GUID = "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9"
NOT_REACHABLE = ("PostgreSQL is not reachable at 127.0.0.1:{port} (connection refused). Start PostgreSQL, or "
                 "correct the host and port in DATABASE_URL, then try again.")
UPGRADE = "Run `python -m bot db upgrade`, then try again."


def one_line(result: Result, code: int = 1) -> str:
    """The operator's one line, after checking that it is all they got."""
    assert "Traceback" not in result.err + result.out
    assert result.code == code, result.err
    assert len(result.lines) == 1, result.err
    return result.lines[0]


@pytest.fixture
def closed_port() -> int:
    """A port on this machine where nothing listens."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def listening() -> Iterator[int]:
    """A port another program already listens on."""
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        yield int(other.getsockname()[1])


def local_files(tmp_path: Path) -> dict[str, str]:
    return {"ERASURE_LOG_PATH": str(tmp_path / "var" / "erasures.log")}


# --- the database ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("argv", [
    ("roles", "list"), ("roles", "grant", "admin", GUID), ("db", "upgrade"), ("report", "counts"),
    ("audit", "export", "--csv", "audit.csv"), ("run",),
    # The worker would otherwise wait for PostgreSQL for ever: it exits, and says why.
    ("worker",),
])
async def test_postgresql_down(tmp_path: Path, closed_port: int, argv: tuple[str, ...]) -> None:
    result = await run_cli(tmp_path, *argv, DATABASE_URL=f"postgresql+asyncpg://bot:secret@127.0.0.1:{closed_port}/hny",
                           PORT=str(closed_port), **local_files(tmp_path))
    line = one_line(result)
    assert line == NOT_REACHABLE.format(port=closed_port)
    assert "secret" not in line
    assert not (tmp_path / "audit.csv").exists()


async def test_database_host_not_found(tmp_path: Path) -> None:
    result = await run_cli(tmp_path, "roles", "list", DATABASE_URL="postgresql+asyncpg://bot@db.example.invalid/hny")
    assert one_line(result) == ("The database host 'db.example.invalid' in DATABASE_URL cannot be found. Check the "
                                "host name in DATABASE_URL and this machine's network.")


async def test_database_missing_on_postgresql(tmp_path: Path) -> None:
    base = os.environ.get("TEST_DATABASE_URL")
    if not base:
        pytest.skip("TEST_DATABASE_URL is not set")
    name = f"hny_missing_{uuid.uuid4().hex[:8]}"
    url = make_url(base).set(drivername="postgresql+asyncpg", database=name).render_as_string(hide_password=False)
    result = await run_cli(tmp_path, "roles", "list", DATABASE_URL=url)
    assert one_line(result) == (f"The database '{name}' does not exist on PostgreSQL at "
                                f"{make_url(base).host}:{make_url(base).port or 5432}. Create it (for example "
                                f"`createdb {name}`), then run `python -m bot db upgrade`.")


async def test_sqlite_file_missing_is_not_created_empty(tmp_path: Path) -> None:
    result = await run_cli(tmp_path, "roles", "list", DATABASE_URL="sqlite+aiosqlite:///var/bot.db")
    assert one_line(result) == f"The database file var/bot.db does not exist yet. {UPGRADE}"
    assert not (tmp_path / "var" / "bot.db").exists()


async def test_sqlite_folder_that_cannot_be_made(tmp_path: Path) -> None:
    (tmp_path / "var").write_text("a file where the folder should be")
    result = await run_cli(tmp_path, "db", "upgrade", DATABASE_URL="sqlite+aiosqlite:///var/data/bot.db")
    assert one_line(result) == ("Cannot use var/data (not a directory). Check the path, and that this user may "
                                "read and write there.")


@pytest.mark.parametrize("argv", [("roles", "list"), ("report", "counts"), ("run",), ("worker",)])
async def test_database_not_migrated(tmp_path: Path, closed_port: int, argv: tuple[str, ...]) -> None:
    empty = tmp_path / "empty.db"
    empty.touch()
    result = await run_cli(tmp_path, *argv, DATABASE_URL=f"sqlite+aiosqlite:///{empty}", PORT=str(closed_port),
                           **local_files(tmp_path))
    assert one_line(result) == f"The database is not migrated yet. {UPGRADE}"


async def test_database_migrated_by_a_newer_version(db: Database, db_url: str, tmp_path: Path) -> None:
    async with db.transaction() as session:
        current = (await session.execute(text("SELECT version_num FROM alembic_version"))).scalar_one()
        await session.execute(text("UPDATE alembic_version SET version_num = '9999_future'"))
    try:
        result = await run_cli(tmp_path, "roles", "list", DATABASE_URL=db_url)
    finally:
        # On PostgreSQL the database is shared by the whole run, and emptying it between tests keeps this table.
        async with db.transaction() as session:
            await session.execute(text("UPDATE alembic_version SET version_num = :current"), {"current": current})
    assert one_line(result) == ("The database was migrated by a newer version of the bot (revision 9999_future). "
                                "Run that version, or a newer one.")


async def test_a_migrated_database_passes_the_check(db_url: str, tmp_path: Path) -> None:
    result = await run_cli(tmp_path, "roles", "list", DATABASE_URL=db_url)
    assert result.code == 0 and result.out.strip() == "No one has a role."


# --- files and ports ---------------------------------------------------------------------------------------------


async def test_port_in_use(db_url: str, tmp_path: Path, listening: int) -> None:
    result = await run_cli(tmp_path, "run", DATABASE_URL=db_url, PORT=str(listening), **local_files(tmp_path))
    assert one_line(result) == (f"Port {listening} on 127.0.0.1 is already in use, perhaps by another copy of the "
                                "bot. Stop that program, or set PORT to a free port.")


async def test_worker_health_port_in_use(db_url: str, tmp_path: Path, listening: int) -> None:
    result = await run_cli(tmp_path, "worker", "--port", str(listening), DATABASE_URL=db_url)
    assert one_line(result).startswith(f"Port {listening} on 127.0.0.1 is already in use")
    assert result.lines[0].endswith("or set --port to a free port.")


@pytest.mark.parametrize("argv", [("run",), ("worker",)])
async def test_certificate_key_file_missing(db_url: str, tmp_path: Path, closed_port: int,
                                            argv: tuple[str, ...]) -> None:
    key = tmp_path / "keys" / "bot.pem"
    result = await run_cli(tmp_path, *argv, DATABASE_URL=db_url, PORT=str(closed_port), MICROSOFT_APP_ID=GUID,
                           MICROSOFT_APP_TENANT_ID=GUID, MICROSOFT_APP_CERTIFICATE_THUMBPRINT="AB12",
                           MICROSOFT_APP_CERTIFICATE_PRIVATE_KEY_FILE=str(key), BOT_SDK="botbuilder",
                           **local_files(tmp_path))
    assert one_line(result, code=2) == (
        f"Setting MICROSOFT_APP_CERTIFICATE_PRIVATE_KEY_FILE: cannot read {key} (no such file or directory). "
        "Put the certificate's private key (PEM) there, or correct the path.")
    pfx = tmp_path / "keys" / "bot.pfx"
    result = await run_cli(tmp_path, *argv, DATABASE_URL=db_url, PORT=str(closed_port), MICROSOFT_APP_ID=GUID,
                           MICROSOFT_APP_TENANT_ID=GUID, MICROSOFT_APP_CERTIFICATE_PFX_FILE=str(pfx),
                           **local_files(tmp_path))
    assert one_line(result, code=2) == (
        f"Setting MICROSOFT_APP_CERTIFICATE_PFX_FILE: cannot read {pfx} (no such file or directory). "
        "Put the certificate (PFX, with its private key) there, or correct the path.")
    # A botbuilder certificate left as it was, on the Agents SDK, is named at once.
    result = await run_cli(tmp_path, *argv, DATABASE_URL=db_url, PORT=str(closed_port), MICROSOFT_APP_ID=GUID,
                           MICROSOFT_APP_TENANT_ID=GUID, MICROSOFT_APP_CERTIFICATE_THUMBPRINT="AB12",
                           MICROSOFT_APP_CERTIFICATE_PRIVATE_KEY_FILE=str(key), **local_files(tmp_path))
    assert "MICROSOFT_APP_CERTIFICATE_PFX_FILE is needed with BOT_SDK=agents" in result.err


async def test_erasure_log_that_cannot_be_written_stops_start_up(db_url: str, tmp_path: Path,
                                                                 closed_port: int) -> None:
    """Found at start-up, not when someone withdraws and their erasure cannot be logged."""
    (tmp_path / "var").write_text("a file where the folder should be")
    result = await run_cli(tmp_path, "run", DATABASE_URL=db_url, PORT=str(closed_port),
                           ERASURE_LOG_PATH="var/erasures.log")
    assert one_line(result, code=2) == (
        "Setting ERASURE_LOG_PATH: cannot write var/erasures.log (var is a file, not a folder). Point it at a file "
        "in a folder this user can write to, on persistent storage.")


@pytest.mark.parametrize(("argv", "target", "problem"), [
    (("report", "counts", "--csv"), "reports/counts.csv", "there is no folder reports"),
    (("audit", "export", "--csv"), "reports/audit.csv", "there is no folder reports"),
    (("audit", "export", "--csv"), ".", "it is a folder"),
])
async def test_csv_file_that_cannot_be_written(db: Database, db_url: str, tmp_path: Path, argv: tuple[str, ...],
                                               target: str, problem: str) -> None:
    result = await run_cli(tmp_path, *argv, target, DATABASE_URL=db_url)
    assert one_line(result) == (f"Cannot write the CSV file {target} ({problem}). Give a file in a folder this "
                                "user can write to.")
    # Checked before anything is made: no report or export is audited as done.
    async with db.transaction() as session:
        assert (await session.execute(select(func.count()).select_from(AuditEntry))).scalar_one() == 0


# --- settings ----------------------------------------------------------------------------------------------------


async def test_env_file_not_utf8(tmp_path: Path) -> None:
    (tmp_path / ".env").write_bytes("LOG_LEVEL=INFO\nDEVELOPER_NAME=Caf\xe9\n".encode("latin-1"))
    result = await run_cli(tmp_path, "roles", "list")
    assert one_line(result, code=2) == "The .env file is not UTF-8 text (at byte 34). Save it as UTF-8, then try again."


async def test_a_public_host_without_credentials_names_host(tmp_path: Path) -> None:
    result = await run_cli(tmp_path, "run", HOST="0.0.0.0")
    assert one_line(result, code=2).startswith("Setting HOST: HOST=0.0.0.0 is not a loopback address")


async def test_debug_log_level_shows_the_traceback_too(tmp_path: Path, closed_port: int) -> None:
    result = await run_cli(tmp_path, "roles", "list", LOG_LEVEL="DEBUG",
                           DATABASE_URL=f"postgresql+asyncpg://bot@127.0.0.1:{closed_port}/hny")
    assert result.code == 1
    assert "Traceback (most recent call last)" in result.err
    assert result.lines[-1] == NOT_REACHABLE.format(port=closed_port)

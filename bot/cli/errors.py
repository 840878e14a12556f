"""Ordinary operating faults on the command line as one line that says what is wrong and what to do.

`python -m bot` prints these instead of a traceback (the traceback too only with LOG_LEVEL=DEBUG). The lines
name hosts, ports, database names and paths, never a password, a SQL statement or its parameters (which may
hold personal data)."""

from __future__ import annotations

import errno
import os
import socket
from collections.abc import Iterator

from sqlalchemy.engine import make_url

UPGRADE_HINT = "Run `python -m bot db upgrade`, then try again."
# PostgreSQL's error codes (SQLSTATE) for the faults an operator can fix.
_MISSING_DATABASE = "3D000"
_REFUSED_LOGIN = ("28000", "28P01")
_MISSING_TABLE = "42P01"
_UNREACHABLE = (errno.ECONNREFUSED, errno.EHOSTUNREACH, errno.ENETUNREACH, errno.ETIMEDOUT, errno.ECONNRESET)


class CliError(Exception):
    """A fault the operator can fix; the message is the one line to print. Exit code 2 for a setting to correct,
    1 for anything else."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception, what caused it, and the driver's own error that SQLAlchemy wraps, each once."""
    seen: set[int] = set()
    stack: list[BaseException | None] = [exc]
    while stack:
        current = stack.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        orig = getattr(current, "orig", None)
        stack += [orig if isinstance(orig, BaseException) else None, current.__context__, current.__cause__]


def _where(database_url: str) -> tuple[str, str, str]:
    """(backend, host:port or file, database name) of DATABASE_URL, without its password."""
    try:
        url = make_url(database_url)
    except Exception:  # an unreadable URL was already refused by the settings; say nothing more about it
        return "", "", ""
    if url.get_backend_name() == "sqlite":
        return "sqlite", url.database or "", url.database or ""
    return "postgresql", f"{url.host or 'localhost'}:{url.port or 5432}", url.database or ""


def explain(exc: BaseException, database_url: str) -> str | None:
    """The one line for a known fault, or None."""
    backend, where, name = _where(database_url)
    for current in _chain(exc):
        if isinstance(current, CliError):
            return str(current)
        sqlstate = getattr(current, "sqlstate", None)
        if sqlstate == _MISSING_DATABASE:
            return (f"The database '{name}' does not exist on PostgreSQL at {where}. Create it (for example "
                    f"`createdb {name}`), then run `python -m bot db upgrade`.")
        if sqlstate in _REFUSED_LOGIN:
            return (f"PostgreSQL at {where} refused the user name or password in DATABASE_URL. "
                    "Correct them in DATABASE_URL, then try again.")
        if sqlstate == _MISSING_TABLE or (backend == "sqlite" and "no such table" in str(current)):
            return f"The database is not migrated (its tables are missing). {UPGRADE_HINT}"
        if isinstance(current, socket.gaierror):
            host = where.rsplit(":", 1)[0]
            return (f"The database host '{host}' in DATABASE_URL cannot be found. Check the host name in "
                    "DATABASE_URL and this machine's network.")
        if backend == "postgresql" and (isinstance(current, TimeoutError)
                                        or (isinstance(current, OSError) and current.errno in _UNREACHABLE)):
            return (f"PostgreSQL is not reachable at {where} ({_reason(current)}). Start PostgreSQL, or correct "
                    "the host and port in DATABASE_URL, then try again.")
        if backend == "sqlite" and "unable to open database file" in str(current):
            return (f"The SQLite database file {where} cannot be opened. Check the path in DATABASE_URL and "
                    "that this user may write to its folder.")
        if isinstance(current, OSError) and current.filename:
            reason = (current.strerror or type(current).__name__).lower()
            return (f"Cannot use {current.filename} ({reason}). Check the path, and that this user may read and "
                    "write there.")
    return None


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.errno:
        return os.strerror(exc.errno).lower()
    return "no answer in time" if isinstance(exc, TimeoutError) else type(exc).__name__

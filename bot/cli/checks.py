"""Start-up checks for the command line: what an operator can get wrong and the bot can find out before it
starts (the schema migrated, files readable and writable, the port free), it finds out first, so a fault shows as
one line at once rather than later, e.g. when someone withdraws and the erasure log cannot be written."""

from __future__ import annotations

import errno
import socket
import tempfile
from pathlib import Path

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, make_url

from bot.cli.errors import UPGRADE_HINT, CliError
from bot.settings import Settings
from storage.db import make_engine
from storage.migrate import alembic_config


async def require_migrated(database_url: str) -> None:
    """The database is reachable and at the migrations' head revision (connection faults raise as they are, for
    bot.cli.errors to explain)."""
    missing = _missing_sqlite_file(database_url)
    if missing:
        # Connecting would create an empty file; say what to run instead.
        raise CliError(f"The database file {missing} does not exist yet. {UPGRADE_HINT}")
    script = ScriptDirectory.from_config(alembic_config(database_url))
    heads = set(script.get_heads())
    engine = make_engine(database_url, pool_size=1, read_only=True)
    try:
        async with engine.connect() as connection:
            current = set(await connection.run_sync(_current_revisions))
    finally:
        await engine.dispose()
    if current == heads:
        return
    if not current:
        raise CliError(f"The database is not migrated yet. {UPGRADE_HINT}")
    if current - {revision.revision for revision in script.walk_revisions()}:
        raise CliError(f"The database was migrated by a newer version of the bot (revision "
                       f"{', '.join(sorted(current))}). Run that version, or a newer one.")
    raise CliError(f"The database is not migrated to this version of the bot (it is at revision "
                   f"{', '.join(sorted(current))}, this version needs {', '.join(sorted(heads))}). {UPGRADE_HINT}")


def _missing_sqlite_file(database_url: str) -> str | None:
    url = make_url(database_url)
    path = url.database if url.get_backend_name() == "sqlite" else None
    return path if path and path != ":memory:" and not Path(path).exists() else None


def _current_revisions(connection: Connection) -> tuple[str, ...]:
    return tuple(MigrationContext.configure(connection).get_current_heads())


def _write_problem(path: Path, *, create_folder: bool) -> str | None:
    """Why `path` cannot be written, without changing it or leaving a file behind; None if it can."""
    try:
        if path.is_dir():
            return "it is a folder"
        folder = path.parent
        if folder.exists() and not folder.is_dir():
            return f"{folder} is a file, not a folder"
        if create_folder:
            folder.mkdir(parents=True, exist_ok=True)
        elif not folder.is_dir():
            return f"there is no folder {folder}"
        if path.exists():
            with path.open("ab"):  # opening to append changes nothing
                pass
        else:
            with tempfile.TemporaryFile(dir=folder):  # a file there, deleted at once
                pass
    except OSError as exc:
        return (exc.strerror or type(exc).__name__).lower()
    return None


def require_writable_csv(path: Path) -> None:
    problem = _write_problem(path, create_folder=False)
    if problem:
        raise csv_error(path, problem)


def csv_error(path: Path, problem: str | OSError) -> CliError:
    if isinstance(problem, OSError):
        problem = (problem.strerror or type(problem).__name__).lower()
    return CliError(f"Cannot write the CSV file {path} ({problem}). Give a file in a folder this user can write to.")


def require_erasure_log(settings: Settings) -> None:
    """Every withdrawal appends to this file before it commits: unwritable, each withdrawal would fail."""
    path = Path(settings.erasure_log_path)
    problem = _write_problem(path, create_folder=True)
    if problem:
        raise CliError(f"Setting ERASURE_LOG_PATH: cannot write {path} ({problem}). Point it at a file in a "
                       "folder this user can write to, on persistent storage.", 2)


def require_certificate_key(settings: Settings) -> None:
    """The key is read when the credentials are built; a missing file is the operator's to fix."""
    pfx_file = settings.microsoft_app_certificate_pfx_file
    if settings.bot_sdk == "agents" and settings.agents_auth_type == "Certificate" and pfx_file:
        try:
            Path(pfx_file).read_bytes()
        except OSError as exc:
            reason = (exc.strerror or type(exc).__name__).lower()
            raise CliError(f"Setting MICROSOFT_APP_CERTIFICATE_PFX_FILE: cannot read {pfx_file} ({reason}). Put the "
                           "certificate (PFX, with its private key) there, or correct the path.", 2) from None
        return
    key_file = settings.microsoft_app_certificate_private_key_file
    if not (settings.microsoft_app_certificate_thumbprint and key_file):
        return
    try:
        Path(key_file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = (exc.strerror or type(exc).__name__).lower() if isinstance(exc, OSError) else "not PEM text"
        raise CliError(f"Setting MICROSOFT_APP_CERTIFICATE_PRIVATE_KEY_FILE: cannot read {key_file} ({reason}). "
                       "Put the certificate's private key (PEM) there, or correct the path.", 2) from None


def require_free_port(host: str, port: int, *, option: str, host_option: str) -> None:
    """Binding and letting go at once; the server binds again a moment later (a port taken in between still
    fails there, and is told in the same words). `option`, `host_option`: the settings or flags that chose them."""
    try:
        addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror:
        raise CliError(f"{host_option}={host} is not an address of this machine. Use one of its addresses, "
                       "e.g. 127.0.0.1.", 2) from None
    for family, kind, protocol, _name, address in addresses:
        with socket.socket(family, kind, protocol) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server does
            try:
                probe.bind(address)
            except OSError as exc:
                if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                    raise port_error(exc, host, port, option) from None
                # Anything else (e.g. no IPv6 on this machine) is the server's to report or to skip.


def port_error(exc: OSError, host: str, port: int, option: str) -> CliError:
    if exc.errno == errno.EACCES:
        return CliError(f"This user may not listen on port {port}. Set {option} to a free port above 1023.")
    return CliError(f"Port {port} on {host} is already in use, perhaps by another copy of the bot. Stop that "
                    f"program, or set {option} to a free port.")

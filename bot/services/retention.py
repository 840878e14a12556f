"""Erasure that lasts (design §6): the retention job, and the erasure log that survives a restore from backup.

The erasure log is an append-only file outside the database (setting ERASURE_LOG_PATH): one JSON line per
erasure with the person's opaque Entra id, the time, the reason and the privacy notice version, never a name
or an e-mail. A line is written and fsynced for every `erasures` row, by a hook on the database's write
sessions, *before* the transaction commits: so no erasure can reach the database without reaching the log.
If the commit then fails, the log holds one erasure too many, and start-up completes it: the person asked
for it (or the retention date had passed). At start-up, `replay` re-applies every logged erasure that the
database does not have, e.g. after a restore from a backup taken before it. docs/privacy.md explains why. Lines
older than every backup kept (BACKUP_RETENTION_DAYS) are pruned by bot/services/operational_retention.py.

The retention job erases everyone's personal data RETENTION_DAYS after the programme end date an admin sets,
tells admins 14 days and 1 day before, and runs at most once per UK day across restarts and instances.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import event
from sqlalchemy.orm import Session

from bot.clock import UK, Clock
from bot.delivery.outbox import Message, Recipient, enqueue
from bot.services.contacts import forget_identities_of_erased
from bot.services.programme import END_DATE_KEY, RETENTION_RUN_KEY, ProgrammeService
from bot.services.roles import SYSTEM_ACTOR, Audit, RoleService
from bot.services.volunteers import VolunteerService
from storage.db import Database
from storage.models import ConsentRecord, Erasure
from storage.repositories.programme import RetentionRepository, SettingsRepository
from vocabulary.words import CONSENT_ENDED, ErasureReason, OutboxPurpose, Role

log = logging.getLogger(__name__)

# Admins are told this many days before the deletion date (the smallest that applies, once each).
WARNING_DAYS = (14, 1)
METHOD_RETENTION = "retention-job"
METHOD_REPLAY = "restore-replay"
# Keys in a write session's `info`: erasures seen in this transaction, and "already logged" (the replay).
_PENDING = "erasure_log.pending"
SKIP_LOG = "erasure_log.skip"


@dataclass(frozen=True)
class LogEntry:
    """One erasure as the log keeps it: ids, time and reason only."""

    person_id: str
    at: datetime
    reason: str
    notice_version: int | None = None
    notice_sha256: str | None = None

    def to_line(self) -> bytes:
        data = {"person_id": self.person_id, "at": self.at.isoformat(), "reason": self.reason,
                "notice_version": self.notice_version, "notice_sha256": self.notice_sha256}
        return (json.dumps(data, separators=(",", ":")) + "\n").encode("utf-8")

    @classmethod
    def from_line(cls, line: str) -> LogEntry:
        data = json.loads(line)
        person_id, reason, at = data["person_id"], data["reason"], datetime.fromisoformat(data["at"])
        version, sha = data.get("notice_version"), data.get("notice_sha256")
        if not isinstance(person_id, str) or not 0 < len(person_id) <= 36 or ErasureReason.parse(reason) is None:
            raise ValueError("not an erasure line")
        if at.tzinfo is None or (version is not None and not isinstance(version, int)) or (
                sha is not None and not isinstance(sha, str)):
            raise ValueError("not an erasure line")
        return cls(person_id, at, reason, version, sha)


class ErasureLog:
    """The append-only file. Several instances each write their own file in one folder (e.g. erasures-a.log,
    erasures-b.log beside erasures.log); start-up reads every file of that name pattern.

    `prune` (operational retention, issue 23) rewrites this process's own file without the lines older than any
    backup kept. Appending and pruning take a lock on the file (flock: shared to append, exclusive to prune), and
    an append that finds the file replaced meanwhile opens the new one, so no line is ever written to a file that
    has just been pruned away."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._guard = threading.Lock()  # appends (the event loop) and a prune (a worker thread) of this process

    def append(self, entries: Iterable[LogEntry]) -> None:
        """Append and fsync (blocking, a few milliseconds). Raises OSError if the line is not safely stored."""
        data = b"".join(entry.to_line() for entry in entries)
        if not data:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        created = not self.path.exists()
        with self._guard:
            while True:
                # One write() on an O_APPEND file: concurrent writers in this process never interleave their lines.
                descriptor = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
                try:
                    _lock(descriptor, fcntl.LOCK_SH)
                    if not _is_current(descriptor, self.path):
                        continue  # another process pruned it since it was opened: write to the new file
                    os.write(descriptor, data)
                    os.fsync(descriptor)
                    break
                finally:
                    os.close(descriptor)  # also lets go of the lock
        if created:
            _fsync_folder(self.path.parent)  # the new file's name must survive a power cut too

    def prune(self, before: datetime) -> int:
        """Rewrite this process's own file without the erasures made before `before` (no backup kept is that
        old, so none can bring those people back); returns how many lines went. A line that cannot be read is
        kept. The new file is written beside it, fsynced and moved into place, so a crash leaves one or the
        other, whole. Blocking: run it in a thread."""
        if not self.path.is_file():
            return 0
        with self._guard:
            descriptor = os.open(self.path, os.O_RDWR)
            try:
                try:
                    fcntl.flock(descriptor, fcntl.LOCK_EX)
                except OSError:
                    return 0  # a file system without locks: never risk an erasure line, prune nothing
                if not _is_current(descriptor, self.path):
                    return 0  # another process pruned it meanwhile: its new file is for the next run
                kept: list[bytes] = []
                dropped = 0
                with os.fdopen(os.dup(descriptor), "rb") as handle:
                    for line in handle:
                        if _made_before(line, before):
                            dropped += 1
                        else:
                            kept.append(line if line.endswith(b"\n") else line + b"\n")
                if not dropped:
                    return 0
                fresh = self.path.with_name(f"{self.path.name}.pruning")  # not a log file name: never read
                out = os.open(fresh, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                try:
                    _write_all(out, b"".join(kept))
                    os.fsync(out)
                finally:
                    os.close(out)
                os.replace(fresh, self.path)
                _fsync_folder(self.path.parent)
                return dropped
            finally:
                os.close(descriptor)

    def files(self) -> list[Path]:
        folder = self.path.parent
        if not folder.is_dir():
            return []
        pattern = f"{self.path.stem}*{self.path.suffix}"
        return sorted(path for path in folder.glob(pattern) if path.is_file())

    def read(self) -> list[LogEntry]:
        """Every erasure in every log file. A line that cannot be read (a write torn by a crash) is skipped
        and counted in the log; it never stops start-up."""
        entries: list[LogEntry] = []
        for path in self.files():
            bad = 0
            with path.open(encoding="utf-8", errors="replace") as handle:
                for line in handle:
                    if not line.strip():
                        continue
                    try:
                        entries.append(LogEntry.from_line(line))
                    except (ValueError, KeyError, TypeError):
                        bad += 1
            if bad:
                log.warning("erasure log %s: %d unreadable lines skipped", path.name, bad)
        return entries

    def latest(self) -> dict[str, LogEntry]:
        """The newest erasure of each person: re-applying it also covers their earlier ones."""
        newest: dict[str, LogEntry] = {}
        for entry in self.read():
            known = newest.get(entry.person_id)
            if known is None or entry.at > known.at:
                newest[entry.person_id] = entry
        return newest


def _lock(descriptor: int, operation: int) -> None:
    """flock, where the file system has it; where it has not, only this process's guard applies (and `prune`
    then does nothing)."""
    with contextlib.suppress(OSError):
        fcntl.flock(descriptor, operation)


def _is_current(descriptor: int, path: Path) -> bool:
    """The open file is still the one at `path` (a prune moves a new file into place)."""
    try:
        return os.fstat(descriptor).st_ino == os.stat(path).st_ino
    except FileNotFoundError:
        return False


def _write_all(descriptor: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(descriptor, view):]


def _fsync_folder(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _made_before(line: bytes, before: datetime) -> bool:
    try:
        return LogEntry.from_line(line.decode("utf-8")).at < before
    except (ValueError, KeyError, TypeError):
        return False  # unreadable (a torn write): kept, as read() skips it anyway


def install_erasure_log(database: Database, erasure_log: ErasureLog) -> None:
    """Make every write transaction of `database` log its `erasures` rows before it commits.

    A Session subclass per database carries the listeners, so nothing global changes and every writer is
    covered: the colleague journey's withdrawal, the retention job and anything added later."""

    class ErasureLoggingSession(Session):
        pass

    @event.listens_for(ErasureLoggingSession, "after_flush")
    def _collect(session: Session, _context: Any) -> None:
        # In after_flush, `new` and `dirty` still list what this flush wrote.
        pending: dict[str, dict[str, Any]] = session.info.setdefault(_PENDING, {})
        for row in [*session.new, *session.dirty]:
            if isinstance(row, Erasure):
                pending.setdefault(row.person_id, {}).update(at=row.erased_at, reason=row.reason)
            elif isinstance(row, ConsentRecord) and row.action in CONSENT_ENDED:
                pending.setdefault(row.person_id, {}).update(version=row.notice_version, sha=row.notice_sha256)

    @event.listens_for(ErasureLoggingSession, "before_commit")
    def _write(session: Session) -> None:
        session.flush()  # commit flushes after this hook: flush first so every row is seen
        pending: dict[str, dict[str, Any]] = session.info.pop(_PENDING, {})
        if session.info.get(SKIP_LOG):
            return
        entries = [LogEntry(person_id, found["at"], found["reason"], found.get("version"), found.get("sha"))
                   for person_id, found in pending.items() if "at" in found]
        erasure_log.append(entries)

    @event.listens_for(ErasureLoggingSession, "after_soft_rollback")
    def _forget(session: Session, _previous: Any) -> None:
        session.info.pop(_PENDING, None)

    database.sessions.configure(sync_session_class=ErasureLoggingSession)


@dataclass(frozen=True)
class RetentionWarning:
    """What an admin is told before the deletion date."""

    days_left: int
    deletion_date: date
    end_date: date
    retention_days: int


@dataclass(frozen=True)
class RunResult:
    status: Literal["no_end_date", "not_yet", "already_ran", "warned", "erased"]
    day: date
    deletion_date: date | None = None
    warned: int = 0
    erased: int = 0


WarningCard = Callable[[RetentionWarning], dict[str, Any]]


class RetentionService:
    """`volunteers` erases one person the way a withdrawal does; `roles` says who the admins to warn are;
    `retention_days` is how long after the end date the deletion comes (the warning says it)."""

    def __init__(self, database: Database, clock: Clock, audit: Audit, roles: RoleService,
                 volunteers: VolunteerService, programme: ProgrammeService, erasure_log: ErasureLog,
                 warning_card: WarningCard, *, retention_days: int) -> None:
        self._database = database
        self._clock = clock
        self._audit = audit
        self._roles = roles
        self._volunteers = volunteers
        self._programme = programme
        self._log = erasure_log
        self._warning_card = warning_card
        self._retention_days = retention_days

    # -- after a restore --------------------------------------------------------------------------------

    async def replay(self) -> int:
        """At start-up: re-apply every logged erasure the database lacks. Returns how many. Then forget any name
        or e-mail that came back for someone erased who has not signed up again (bot/services/contacts.py)."""
        replayed = await self._replay()
        async with self._database.transaction() as session:
            await forget_identities_of_erased(session)
        return replayed

    async def _replay(self) -> int:
        newest = await asyncio.to_thread(self._log.latest)
        if not newest:
            return 0
        async with self._database.read() as session:
            known = await RetentionRepository(session).erasure_times()
        missing = [entry for person_id, entry in sorted(newest.items())
                   if person_id not in known or known[person_id] < entry.at]
        for entry in missing:
            async with self._database.transaction() as session:
                session.sync_session.info[SKIP_LOG] = True  # the line is in the log already
                notice = ((entry.notice_version, entry.notice_sha256 or "")
                          if entry.notice_version is not None else None)
                await self._volunteers.erase(session, entry.person_id, at=entry.at, reason=_reason(entry.reason),
                                             method=METHOD_REPLAY, actor=SYSTEM_ACTOR, before=entry.at,
                                             notice=notice)
        if missing:
            log.warning("re-applied %d erasures from the erasure log that the database did not have",
                        len(missing))
        return len(missing)

    # -- the daily job ----------------------------------------------------------------------------------

    async def deletion_date(self) -> tuple[date, date] | None:
        """(end date, deletion date) once an admin has set the programme end date."""
        end = await self._programme.end_date()
        if end is None:
            return None
        return end, self._programme.deletion_date(end)

    async def run_if_due(self) -> RunResult:
        """Warn admins or erase, at most once per UK day. Safe to call often and from several instances."""
        now = self._clock.now()
        today = now.astimezone(UK).date()
        dates = await self.deletion_date()
        if dates is None:
            return RunResult("no_end_date", today)
        end, deletion = dates
        days_left = (deletion - today).days
        if days_left > max(WARNING_DAYS):
            return RunResult("not_yet", today, deletion)
        async with self._database.transaction() as session:
            if not await SettingsRepository(session).advance(RETENTION_RUN_KEY, today.isoformat(), now,
                                                              SYSTEM_ACTOR):
                return RunResult("already_ran", today, deletion)
            await self._audit.record(session, SYSTEM_ACTOR, "retention.run", today.isoformat())
        if days_left > 0:
            warned = await self._warn(RetentionWarning(days_left, deletion, end, self._retention_days))
            return RunResult("warned", today, deletion, warned=warned)
        erased = await self._erase_everyone()
        return RunResult("erased", today, deletion, erased=erased)

    async def _warn(self, warning: RetentionWarning) -> int:
        threshold = min(days for days in WARNING_DAYS if warning.days_left <= days)
        now = self._clock.now()
        card = self._warning_card(warning)
        # Admins through an Entra group too; asked before the transaction, so Graph never holds a lock.
        admins = await self._roles.holder_ids(Role.ADMIN)
        async with self._database.transaction() as session:
            for admin_id in admins:
                # One warning per threshold and deletion date, however often the job or the worker restarts.
                await enqueue(session, key=f"retention-warning:{warning.deletion_date.isoformat()}:{threshold}:"
                                           f"{admin_id}",
                              recipient=Recipient.person(admin_id), message=Message(card=card),
                              purpose=OutboxPurpose.RETENTION_WARNING, now=now)
        log.info("retention warning queued for %d admins: %d days left", len(admins), warning.days_left)
        return len(admins)

    async def _erase_everyone(self) -> int:
        async with self._database.read() as session:
            people = await RetentionRepository(session).person_ids()
        erased = 0
        # One short transaction per person: the bot keeps answering while this runs, and a crash half-way
        # leaves the rest for tomorrow's run.
        for person_id in people:
            async with self._database.transaction() as session:
                if await self._volunteers.erase(session, person_id, at=self._clock.now(),
                                                reason=ErasureReason.RETENTION, method=METHOD_RETENTION,
                                                actor=SYSTEM_ACTOR):
                    erased += 1
        log.info("retention job erased the personal data of %d people", erased)
        return erased

    async def run_forever(self, stop: asyncio.Event, every: timedelta) -> None:
        """The background loop: check now, then every `every`, until `stop` is set."""
        while not stop.is_set():
            try:
                await self.run_if_due()
            except Exception as exc:  # the job must outlive a database hiccup; it tries again next time
                log.error("retention job failed: %s", type(exc).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every.total_seconds())


def _reason(value: str) -> ErasureReason:
    return ErasureReason.parse(value) or ErasureReason.WITHDRAWN


__all__ = [
    "END_DATE_KEY",
    "METHOD_REPLAY",
    "METHOD_RETENTION",
    "SKIP_LOG",
    "WARNING_DAYS",
    "ErasureLog",
    "LogEntry",
    "RetentionService",
    "RetentionWarning",
    "RunResult",
    "install_erasure_log",
]

"""Retention of the operational tables (issue 23, item 4; docs/privacy.md "How long things are kept").

A background tick, safe on any number of processes at once (each step is an idempotent UPDATE or DELETE of
rows that only this job changes, in batches of `batch_rows`, each batch its own short transaction, so it never
holds a lock for long, on SQLite or PostgreSQL):

1. an announcement that finished more than `compact_after` ago gets its final figures stored on its row (counts
   per outcome), under its row lock; from then on its final report reads them (progress.final_counts);
2. finished outbox messages older than `compact_after` lose their payload (a marker stays): key, recipient,
   status, Teams activity id and conversation stay, so the key still stops a second send and cards can still be
   updated in place. Open messages (pending, sending) are never touched, nor an announcement's messages before
   its figures are stored;
3. delivery attempt rows older than `attempts_for` are deleted;
4. this process's erasure log file loses the lines older than `backups_kept`: no backup kept is older, so no
   restore can bring those people back, while every younger line is kept for the replay after a restore.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.clock import Clock
from bot.delivery.outbox import batch_progress, compact_finished, delete_attempts
from bot.log_format import Fields
from bot.services.announcements.progress import batch_of, still_to_go
from bot.services.retention import ErasureLog
from storage.db import Database
from storage.repositories.announcements import AnnouncementRepository
from vocabulary.words import OutboxStatus

log = logging.getLogger(__name__)

# Rows per statement: small enough that no batch holds its locks for long (a few milliseconds), large enough
# that a million rows take a thousand short transactions.
BATCH_ROWS = 1000
JOB_NAME = "operational_retention"


@dataclass(frozen=True)
class RetentionPeriods:
    """How long each kind of operational row keeps what it holds (settings OUTBOX_COMPACT_DAYS,
    OUTBOX_ATTEMPTS_DAYS, BACKUP_RETENTION_DAYS)."""

    compact_after: timedelta
    attempts_for: timedelta
    backups_kept: timedelta

    @classmethod
    def of_days(cls, *, compact: int, attempts: int, backups: int) -> RetentionPeriods:
        return cls(timedelta(days=compact), timedelta(days=attempts), timedelta(days=backups))


@dataclass(frozen=True)
class RetentionRun:
    """What one tick did (raw counts, for the log and the tests; never shown to anyone)."""

    figures_stored: int = 0
    compacted: int = 0
    attempts_deleted: int = 0
    log_lines_pruned: int = 0


class OperationalRetention:
    def __init__(self, database: Database, clock: Clock, erasure_log: ErasureLog, periods: RetentionPeriods, *,
                 batch_rows: int = BATCH_ROWS) -> None:
        self._database = database
        self._clock = clock
        self._log = erasure_log
        self.periods = periods
        self._batch = batch_rows

    async def tick(self) -> RetentionRun:
        now = self._clock.now()
        compact_before = now - self.periods.compact_after
        stored = await self._store_final_figures(compact_before, now)
        compacted = await self._compact(compact_before)
        deleted = await self._delete_attempts(now - self.periods.attempts_for)
        pruned = await self.prune_erasure_log()
        run = RetentionRun(stored, compacted, deleted, pruned)
        # Counts only: JSON lines carry the fields, text lines the arguments too.
        for action, count in (("announcement.figures_stored", stored), ("outbox.compacted", compacted),
                              ("outbox_attempts.deleted", deleted), ("erasure_log.pruned", pruned)):
            if count:
                log.info("operational retention: %s %d", action, count,
                         extra=Fields(job=JOB_NAME, action=action, count=count))
        return run

    async def prune_erasure_log(self) -> int:
        """Prune this process's erasure log file (also at start-up, for instances that run no jobs)."""
        before = self._clock.now() - self.periods.backups_kept
        return await asyncio.to_thread(self._log.prune, before)

    async def _store_final_figures(self, finished_before: datetime, now: datetime) -> int:
        async with self._database.read() as session:
            due = await AnnouncementRepository(session).awaiting_figures(finished_before)
        stored = 0
        for announcement_id in due:  # one short transaction each, under the row lock every change to it takes
            async with self._database.transaction() as session:
                row = await AnnouncementRepository(session).get(announcement_id, lock=True)
                if row is None or row.figures_stored_at is not None:
                    continue
                counts = await batch_progress(session, batch_of(row.id))
                if still_to_go(counts):
                    continue  # copies re-armed for someone who came back are on their way: next time
                row.final_sent = counts.get(OutboxStatus.SENT, 0)
                row.final_undeliverable = counts.get(OutboxStatus.UNDELIVERABLE, 0)
                row.final_failed = counts.get(OutboxStatus.FAILED, 0)
                row.final_cancelled = counts.get(OutboxStatus.CANCELLED, 0)
                row.figures_stored_at = now
                stored += 1
        return stored

    async def _compact(self, finished_before: datetime) -> int:
        async with self._database.read() as session:
            # Their figures still come from the outbox: their messages keep everything until they are stored.
            keep = [batch_of(announcement_id)
                    for announcement_id in await AnnouncementRepository(session).without_figures()]
        after, compacted = 0, 0
        while True:
            async with self._database.transaction() as session:
                last, done = await compact_finished(session, finished_before=finished_before, after_id=after,
                                                    limit=self._batch, keep_batches=keep)
            if last is None:
                return compacted
            after, compacted = last, compacted + done

    async def _delete_attempts(self, before: datetime) -> int:
        deleted = 0
        while True:
            async with self._database.transaction() as session:
                done = await delete_attempts(session, before=before, limit=self._batch)
            deleted += done
            if done < self._batch:
                return deleted


__all__ = ["BATCH_ROWS", "JOB_NAME", "OperationalRetention", "RetentionPeriods", "RetentionRun"]

"""Retention of the operational tables (issue 23, item 4): old finished outbox messages lose their payload
(an announcement's final figures are stored first), old delivery attempts are deleted, and the erasure log drops
the lines no backup can need. The work is bot/services/operational_retention.py; docs/privacy.md states each
period."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from bot.features import Wiring
from bot.jobs import Leader, TickJob
from bot.services.operational_retention import JOB_NAME, OperationalRetention, RetentionPeriods
from bot.services.retention import ErasureLog

# Periods are days: once an hour is often enough, and a tick with nothing to do is a few indexed reads.
TICK_SECONDS = 3600.0

OPERATIONAL_RETENTION = web.AppKey("operational_retention", OperationalRetention)


def register(wiring: Wiring) -> None:
    core = wiring.core
    settings = core.settings
    periods = RetentionPeriods.of_days(compact=settings.outbox_compact_days, attempts=settings.outbox_attempts_days,
                                       backups=settings.backup_retention_days)
    # The same file the programme feature logs erasures to; the file's own lock keeps its appends and this
    # job's prune apart.
    service = OperationalRetention(core.database, core.clock, ErasureLog(Path(settings.erasure_log_path)), periods)
    wiring.app[OPERATIONAL_RETENTION] = service

    async def prune_erasure_log() -> None:
        # Every process writes its own erasure log file, and a web instance with RUN_WORKER=false runs no jobs:
        # each prunes its own at start-up too.
        await service.prune_erasure_log()

    wiring.startup.append(prune_erasure_log)
    # Every process may run it: each batch is an idempotent UPDATE or DELETE of rows no other job changes, an
    # announcement's figures are stored under its row lock, and each process prunes only its own log file.
    wiring.jobs.append(TickJob(JOB_NAME, service.tick, TICK_SECONDS, Leader.DATABASE))

"""What /healthz and /metrics say about delivery, read from the database so that a web instance reports on a
worker running in another process (`python -m bot worker`) as well as on its own."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.clock import Clock
from bot.delivery.metrics import DeliveryMetrics
from bot.delivery.worker import DeliveryWorker
from storage.db import Database
from storage.repositories.outbox import Backlog, OutboxRepository, WorkerRow
from vocabulary.words import WorkerState


@dataclass(frozen=True)
class DeliveryHealth:
    healthy: bool
    detail: dict[str, object]


def _age(now: datetime, then: datetime | None) -> float | None:
    return round((now - then).total_seconds(), 1) if then is not None else None


async def delivery_health(database: Database, clock: Clock, *, local: DeliveryWorker | None,
                          stale_after: timedelta, metrics: DeliveryMetrics | None = None) -> DeliveryHealth:
    """Unhealthy when the worker is dead (this process's worker has stopped or missed its heartbeats; or, with
    the worker elsewhere, no worker has beaten while messages are due) or when the bot's credentials are refused.
    """
    now = clock.now()
    async with database.read() as session:  # never queues behind SQLite's writers
        repo = OutboxRepository(session)
        backlog = await repo.backlog(now)
        workers = [w for w in await repo.workers()
                   if w.state != WorkerState.STOPPED and now - w.heartbeat_at <= stale_after]
    sender = next((w for w in workers if w.leader), None)
    detail: dict[str, object] = {
        "backlog": backlog.due,
        "sending": backlog.sending,
        "scheduled": backlog.scheduled,
        "oldest_pending_age_seconds": _age(now, backlog.oldest_due_at),
    }
    problem: str | None
    if local is not None:
        status = local.status()
        beat = status.last_heartbeat or status.started_at
        alive = status.alive and now - beat <= stale_after
        problem = status.problem
        detail.update(worker=status.state if alive else "dead", worker_id=status.id,
                      last_heartbeat=status.last_heartbeat.isoformat() if status.last_heartbeat else None,
                      paused_seconds=round(status.paused_seconds, 1),
                      wake_up="notify" if status.listening else "poll")
    else:
        newest = workers[0] if workers else None
        alive = newest is not None or backlog.due == 0
        problem = sender.problem if sender else None
        detail.update(worker=_describe(sender or newest),
                      last_heartbeat=newest.heartbeat_at.isoformat() if newest else None)
    if problem is None and sender is not None and sender.problem:
        problem = sender.problem  # another instance leads and cannot send
    detail["credentials"] = "ok" if problem is None else f"refused: {problem}"
    if metrics is not None:
        update_gauges(metrics, now, backlog, problem)
    return DeliveryHealth(alive and problem is None, detail)


def _describe(worker: WorkerRow | None) -> str:
    return "none" if worker is None else worker.state


def update_gauges(metrics: DeliveryMetrics, now: datetime, backlog: Backlog, problem: str | None) -> None:
    metrics.backlog.set(backlog.due)
    metrics.scheduled.set(backlog.scheduled)
    age = _age(now, backlog.oldest_due_at)
    metrics.oldest_pending_age.set(age or 0.0)
    metrics.credentials_refused.set(1 if problem else 0)

"""Background jobs and the one runner that starts and stops them (issue 20, item 5).

Features register a `Job` into the Wiring (`wiring.jobs`). The web app runs them all only with RUN_WORKER=true;
`python -m bot worker` builds the same app objects and always runs them all. Each job says how often it runs
and how several processes running it at once stay correct (`Leader`): on PostgreSQL any number of web
instances and workers may run every job.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, Protocol

from bot.log_format import Fields

log = logging.getLogger(__name__)

# How long a stopping job may take to finish its current run.
STOP_TIMEOUT_SECONDS = 10.0


class Leader(enum.Enum):
    """How a job stays correct when several processes run it."""

    # Every process may run it at once: the database keeps runs apart (unique keys, row locks, versioned claims,
    # a recorded day), so a second process finds nothing left to do.
    DATABASE = "database"
    # One process at a time does the work, chosen by the database (a PostgreSQL advisory lock; on SQLite an OS
    # lock on the database file); the others stand by and take over when it stops.
    LEADERSHIP = "leadership"


class Job(Protocol):
    """A background job: `start` begins running it and returns its task; `stop` ends it cleanly."""

    @property
    def name(self) -> str: ...

    @property
    def every_seconds(self) -> float: ...

    @property
    def leader(self) -> Leader: ...

    async def start(self) -> asyncio.Task[None]: ...

    async def stop(self) -> None: ...


class TickJob:
    """Runs `tick` now and then every `every_seconds` until stopped. A failed run is logged and the next goes
    ahead; the log has the error's type only, as database errors can quote data. The ticks read what is due from
    the database, so a tick that is late or missed loses nothing."""

    def __init__(self, name: str, tick: Callable[[], Awaitable[object]], every_seconds: float,
                 leader: Leader) -> None:
        self.name = name
        self.every_seconds = every_seconds
        self.leader = leader
        self._tick = tick
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                await self._tick()
            except Exception as exc:  # keep ticking
                log.warning("background job tick failed", extra=Fields(job=self.name, error=type(exc).__name__))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.every_seconds)

    async def start(self) -> asyncio.Task[None]:
        self._stop.clear()
        self._task = asyncio.create_task(self._loop(), name=f"{self.name}-tick")
        return self._task

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task
            self._task = None


class LoopJob:
    """A job with its own loop, `run(stop)`, that returns once `stop` is set (retention, calendar sync)."""

    def __init__(self, name: str, run: Callable[[asyncio.Event], Coroutine[Any, Any, None]], every_seconds: float,
                 leader: Leader) -> None:
        self.name = name
        self.every_seconds = every_seconds
        self.leader = leader
        self._run = run
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> asyncio.Task[None]:
        self._stop.clear()
        self._task = asyncio.create_task(self._run(self._stop), name=self.name)
        return self._task

    async def stop(self) -> None:
        self._stop.set()
        task, self._task = self._task, None
        if task is None:
            return
        try:
            await asyncio.wait_for(task, timeout=STOP_TIMEOUT_SECONDS)
        except asyncio.CancelledError:
            pass
        except TimeoutError:
            log.warning("background job did not stop in time; cancelled",
                        extra=Fields(job=self.name, seconds=STOP_TIMEOUT_SECONDS))


class JobRunner:
    """Starts a list of jobs in order and stops them in reverse order."""

    def __init__(self, jobs: Sequence[Job]) -> None:
        self.jobs = list(jobs)
        self._tasks: list[asyncio.Task[None]] = []
        self._started: list[Job] = []

    async def start(self) -> None:
        for job in self.jobs:
            self._tasks.append(await job.start())
            self._started.append(job)
            log.info("background job started", extra=Fields(job=job.name, seconds=job.every_seconds,
                                                             kind=job.leader.value))

    async def stop(self) -> None:
        while self._started:
            job = self._started.pop()
            try:
                await job.stop()
            except Exception as exc:  # the others still stop
                log.error("background job failed to stop", extra=Fields(job=job.name, error=type(exc).__name__))
        self._tasks.clear()

    async def wait_any_ended(self) -> asyncio.Task[None] | None:
        """Wait until a job's task ends by itself (it should not, before stop()); returns that task."""
        if not self._tasks:
            return None
        done, _ = await asyncio.wait(self._tasks, return_when=asyncio.FIRST_COMPLETED)
        return next(iter(done))

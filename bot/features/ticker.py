"""A background task that runs a job every few seconds while the app runs (reminders, scheduled announcements).
The jobs read what is due from the database, so a tick that is late or missed loses nothing."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web

from bot.features import Background

log = logging.getLogger(__name__)


def ticker(name: str, job: Callable[[], Awaitable[object]], seconds: float) -> Background:
    """Runs `job` now and then every `seconds` until the app stops. A failed run is logged and the next goes
    ahead; the log has the error's type only, as database errors can quote data."""

    async def background(_app: web.Application) -> AsyncIterator[None]:
        stop = asyncio.Event()

        async def loop() -> None:
            while not stop.is_set():
                try:
                    await job()
                except Exception as exc:  # keep ticking
                    log.warning("%s tick failed: %s", name, type(exc).__name__)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), seconds)

        task = asyncio.create_task(loop(), name=f"{name}-tick")
        yield
        stop.set()
        await task

    return background

"""Microsoft Graph (design §8, issue 11), registered only when GRAPH_ENABLED: Entra group roles join the role
checks, the calendar sync worker runs in the background, and /healthz reports Graph's credentials.
Other features reach the same objects through `bot.graph.services.get_graph(wiring.app, wiring.core)`."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from aiohttp import web

from bot.features import Wiring
from bot.graph.services import get_graph


def register(wiring: Wiring) -> None:
    graph = get_graph(wiring.app, wiring.core)
    if graph is None:
        return
    settings = wiring.core.settings
    if graph.group_roles.configured:
        wiring.core.roles.add_source(graph.group_roles)
    wiring.core.hooks.person_erased.append(graph.sync.on_person_erased)

    async def health() -> tuple[str, object, bool]:
        state = graph.sync.health()
        detail: dict[str, object] = {"calendar": state.detail}
        if graph.group_roles.last_error:
            detail["group_roles"] = graph.group_roles.last_error
        # Group roles fall back to database roles when Graph fails, so only the credentials make the bot unhealthy.
        return "graph", detail, state.healthy

    wiring.health_checks.append(health)

    async def calendar_worker(_app: web.Application) -> AsyncIterator[None]:
        stop = asyncio.Event()
        task = asyncio.create_task(graph.sync.run_forever(stop), name="graph-calendar-sync")
        yield
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, timeout=10)

    if settings.run_worker:
        wiring.background.append(calendar_worker)

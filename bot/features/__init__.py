"""Features plug into the bot here: each module has `register(wiring)` and adds its commands, card actions,
dialogs, start-up jobs and background jobs (bot/jobs.py). The app factory (bot/app.py, FEATURES) calls them in
order."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web

from bot.actions import ActionRegistry
from bot.commands import CommandRouter
from bot.core import Core
from bot.graph.services import GraphServices
from bot.handler import VolunteersBot
from bot.jobs import Job
from dialogs.engine import DialogSet

StartupJob = Callable[[], Awaitable[None]]
# A health check: returns (name, detail, healthy) for /healthz.
HealthCheck = Callable[[], Awaitable[tuple[str, object, bool]]]


@dataclass
class Wiring:
    core: Core
    bot: VolunteersBot
    commands: CommandRouter
    actions: ActionRegistry
    dialogs: DialogSet
    app: web.Application
    graph: GraphServices | None  # None unless GRAPH_ENABLED
    startup: list[StartupJob] = field(default_factory=list)
    # Background jobs, in start order: run by the web app only with RUN_WORKER=true, always by `python -m bot worker`.
    jobs: list[Job] = field(default_factory=list)
    health_checks: list[HealthCheck] = field(default_factory=list)

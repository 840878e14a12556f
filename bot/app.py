"""The app factory: builds every object from settings and passes it in; nothing is created at import time."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable

from aiohttp import web
from prometheus_client import CollectorRegistry

from bot.actions import ActionRegistry
from bot.clock import Clock, SystemClock
from bot.commands import CommandRouter
from bot.conversation_state import JourneyStore
from bot.core import Core
from bot.delivery.tokens import TokenProvider
from bot.desk import mount_desk
from bot.edge import Edge, build_edge
from bot.features import (
    Wiring,
    announcements,
    basics,
    counts,
    delivery,
    graph,
    operational_retention,
    programme,
    roles,
    sessions,
    signup,
)
from bot.features.delivery import METRICS_REGISTRY
from bot.graph.services import GRAPH, build_graph
from bot.handler import VolunteersBot
from bot.jobs import JobRunner
from bot.messages import MessagesEndpoint
from bot.settings import Settings
from bot.turn_failures import TurnFailures
from dialogs.engine import DialogSet
from storage.db import Database

log = logging.getLogger(__name__)

# Each feature's register(wiring) adds its commands, card actions, dialogs, start-up jobs and background jobs, in
# this order: a feature may use what an earlier one added (e.g. the counts providers, delivery's metrics registry).
FEATURES: tuple[Callable[[Wiring], None], ...] = (
    basics.register,
    signup.register,
    graph.register,
    roles.register,
    counts.register,
    delivery.register,
    sessions.register,
    announcements.register,
    programme.register,
    operational_retention.register,
)

CORE = web.AppKey("core", Core)
EDGE: web.AppKey[Edge] = web.AppKey("edge")
WIRING = web.AppKey("wiring", Wiring)
MAX_BODY_BYTES = 256 * 1024


def create_app(
    settings: Settings,
    *,
    clock: Clock | None = None,
    outbound: TokenProvider | None = None,
) -> web.Application:
    """`outbound`: the token for replies within a turn instead of the Entra app's (tests, benchmarks)."""
    clock = clock or SystemClock()
    database = Database(settings.database_url)
    core = Core.build(settings, database, clock)

    # One metrics registry per app: the turn-error handler counts into it, features add theirs (/metrics).
    registry = CollectorRegistry()
    dialogs = DialogSet()
    commands = CommandRouter()
    actions = ActionRegistry()
    bot = VolunteersBot(core, JourneyStore(database, clock), dialogs, commands, actions)

    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app[METRICS_REGISTRY] = registry
    # Graph (design §8) only with GRAPH_ENABLED: one set of objects for every feature that uses it.
    graph_services = build_graph(settings, database, clock, core.hooks) if settings.graph_enabled else None
    if graph_services is not None:
        app[GRAPH] = graph_services
        app.on_cleanup.append(graph_services.close)
    wiring = Wiring(core=core, bot=bot, commands=commands, actions=actions, dialogs=dialogs, app=app,
                    graph=graph_services)
    for register in FEATURES:
        register(wiring)
    app[CORE] = core
    app[WIRING] = wiring

    # After the features: the Agents SDK routes each declared Action.Execute verb natively.
    edge = build_edge(settings, bot, TurnFailures(registry), outbound)
    app[EDGE] = edge
    app.on_cleanup.append(lambda _: edge.close())
    log.info("Teams edge: %s", edge.name)
    endpoint = MessagesEndpoint(edge, settings.allowed_tenants,
                                service_url_hosts=settings.allowed_service_url_hosts,
                                local_mode=not settings.authenticated)
    app.router.add_post("/api/messages", endpoint.handle)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/", home)
    mount_desk(app, core)  # the personal tab under /desk/ (bot/desk/)
    app.cleanup_ctx.append(_lifecycle)
    # The background jobs run here only with RUN_WORKER=true; `python -m bot worker` runs them otherwise.
    if settings.run_worker:
        app.cleanup_ctx.append(_background_jobs)
    return app


async def _background_jobs(app: web.Application) -> AsyncIterator[None]:
    runner = JobRunner(app[WIRING].jobs)
    try:
        await runner.start()
        yield
    finally:
        await runner.stop()


async def _lifecycle(app: web.Application) -> AsyncIterator[None]:
    wiring = app[WIRING]
    for job in wiring.startup:
        await job()
    log.info("bot started")
    yield
    await app[CORE].database.dispose()


# Someone who opens the bot's address in a browser learns what it is and where to go, instead of a 404.
HOME_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>HNY Inc. volunteers bot</title></head>
<body><main>
<h1>HNY Inc. volunteers bot</h1>
<p>This is the Microsoft Teams bot of HNY Inc., the inclusion programme of the Humber and North Yorkshire Health
and Care Partnership. There is nothing to do on this page.</p>
<p>To talk to the bot, open it in Microsoft Teams. To try it on your own computer without Teams, run
<code>make playground</code> in its folder (see the README).</p>
<p>Teams sends messages to <code>/api/messages</code>. The bot's health is at <a href="/healthz">/healthz</a>.</p>
<p>Questions: <a href="mailto:HNY.Inc@nhs.net">HNY.Inc@nhs.net</a></p>
</main></body></html>
"""


async def home(request: web.Request) -> web.Response:
    return web.Response(text=HOME_PAGE, content_type="text/html")


async def healthz(request: web.Request) -> web.Response:
    core = request.app[CORE]
    checks: dict[str, object] = {}
    healthy = True
    try:
        await core.database.ping()
        checks["database"] = "ok"
    except Exception as exc:  # any database failure means unhealthy; the type is enough to diagnose
        checks["database"] = f"failed: {type(exc).__name__}"
        healthy = False
    for check in request.app[WIRING].health_checks:
        name, detail, ok = await check()
        checks[name] = detail
        healthy = healthy and ok
    return web.json_response({"status": "ok" if healthy else "failing", **checks}, status=200 if healthy else 503)

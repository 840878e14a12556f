"""The app factory: builds every object from settings and passes it in; nothing is created at import time."""

from __future__ import annotations

import importlib
import logging
from collections.abc import AsyncIterator

from aiohttp import web
from botbuilder.core import ConversationState
from botbuilder.dialogs import DialogSet
from botframework.connector.auth import ServiceClientCredentialsFactory

from bot.actions import ActionRegistry
from bot.adapter import build_adapter, build_authentication
from bot.clock import Clock, SystemClock
from bot.commands import CommandRouter
from bot.core import Core
from bot.features import FEATURES, Wiring
from bot.handler import VolunteersBot
from bot.messages import MessagesEndpoint
from bot.settings import Settings
from bot.state_storage import DatabaseStorage
from storage.db import Database

log = logging.getLogger(__name__)

CORE = web.AppKey("core", Core)
WIRING = web.AppKey("wiring", Wiring)
MAX_BODY_BYTES = 256 * 1024


def create_app(
    settings: Settings,
    *,
    clock: Clock | None = None,
    credentials_factory: ServiceClientCredentialsFactory | None = None,
) -> web.Application:
    clock = clock or SystemClock()
    database = Database(settings.database_url)
    core = Core.build(settings, database, clock)

    authentication = build_authentication(settings, credentials_factory)
    adapter = build_adapter(authentication)
    conversation_state = ConversationState(DatabaseStorage(database, clock))
    dialogs = DialogSet(conversation_state.create_property("DialogState"))
    commands = CommandRouter()
    actions = ActionRegistry()
    bot = VolunteersBot(core, conversation_state, dialogs, commands, actions)

    app = web.Application(client_max_size=MAX_BODY_BYTES)
    wiring = Wiring(core=core, bot=bot, commands=commands, actions=actions, dialogs=dialogs, app=app)
    for name in FEATURES:
        importlib.import_module(name).register(wiring)
    app[CORE] = core
    app[WIRING] = wiring

    endpoint = MessagesEndpoint(adapter, authentication, bot, settings.allowed_tenants)
    app.router.add_post("/api/messages", endpoint.handle)
    app.router.add_get("/healthz", healthz)
    app.cleanup_ctx.append(_lifecycle)
    for background in wiring.background:
        app.cleanup_ctx.append(background)
    return app


async def _lifecycle(app: web.Application) -> AsyncIterator[None]:
    wiring = app[WIRING]
    for job in wiring.startup:
        await job()
    log.info("bot started")
    yield
    await app[CORE].database.dispose()


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

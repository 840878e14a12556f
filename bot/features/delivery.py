"""The delivery engine as a feature (design §7): the worker as a background job (`DeliveryJob`, run by the app
when RUN_WORKER is true and by `python -m bot worker`), re-arming people who come back, /healthz and /metrics.

Tests (and anything else that must not fetch real tokens, e.g. `worker --static-token`) put a TokenProvider under
TOKENS before the jobs start, and may replace `app[DELIVERY].config`; everything else comes from settings.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from bot.clock import Clock
from bot.delivery import outbox
from bot.delivery.connector import ConnectorClient
from bot.delivery.health import delivery_health
from bot.delivery.leader import leadership_for
from bot.delivery.metrics import DeliveryMetrics
from bot.delivery.ports import FeedResult, FeedSender, Installation, Installer
from bot.delivery.tokens import TokenProvider
from bot.delivery.worker import DeliveryWorker, WorkerConfig
from bot.edge import delivery_tokens
from bot.features import Wiring
from bot.graph.activity_feed import ActivityFeed, FeedNotification
from bot.graph.errors import GraphError
from bot.graph.install import AppInstaller
from bot.graph.services import GraphServices
from bot.jobs import Leader
from bot.log_format import Fields
from bot.settings import Settings
from storage.db import Database

log = logging.getLogger(__name__)

REQUEST_TIMEOUT_SECONDS = 30.0


@dataclass
class DeliveryRuntime:
    config: WorkerConfig
    metrics: DeliveryMetrics
    worker: DeliveryWorker | None = None


DELIVERY = web.AppKey("delivery", DeliveryRuntime)
TOKENS: web.AppKey[TokenProvider] = web.AppKey("delivery_tokens")
# One registry per app: other features may register their collectors on it and /metrics shows them all.
METRICS_REGISTRY = web.AppKey("metrics_registry", CollectorRegistry)


def worker_config(settings: Settings, **overrides: object) -> WorkerConfig:
    tenant = settings.microsoft_app_tenant_id or (settings.allowed_tenants[0] if len(settings.allowed_tenants) == 1
                                                  else "")
    values: dict[str, object] = dict(
        rate_per_second=settings.send_rate_per_second,
        max_attempts=settings.delivery_max_attempts,
        lease_seconds=float(settings.delivery_lease_seconds),
        backoff_cap_seconds=settings.delivery_backoff_cap_seconds,
        bot_id=f"28:{settings.microsoft_app_id}",
        default_tenant_id=tenant,
    )
    values.update(overrides)
    return WorkerConfig(**values)  # type: ignore[arg-type]


def production_tokens(settings: Settings) -> TokenProvider:
    """The outbox client's tokens, from the chosen SDK's credentials (bot/edge/ imports the SDK only then)."""
    return delivery_tokens(settings)


def stale_after(config: WorkerConfig) -> timedelta:
    """A worker that has missed three heartbeats is taken for dead."""
    return timedelta(seconds=max(15.0, 3 * config.heartbeat_seconds))


def build_worker(database: Database, clock: Clock, tokens: TokenProvider, config: WorkerConfig,
                 metrics: DeliveryMetrics | None, *, installer: AppInstaller | None = None,
                 feed: FeedSender | None = None) -> tuple[DeliveryWorker, ConnectorClient]:
    """`installer`: Graph's proactive install (None when Graph is off) for people the bot has never met;
    `feed`: Graph's activity-feed notifications (None when Graph is off)."""
    connector = ConnectorClient(timeout_seconds=REQUEST_TIMEOUT_SECONDS)
    worker = DeliveryWorker(database, clock, connector, tokens, config, metrics=metrics,
                            leadership=leadership_for(database.is_postgres, database.engine),
                            installer=graph_installer(installer) if installer is not None else None, feed=feed)
    return worker, connector


def bot_chat_link(app_id: str) -> str:
    """A Teams deep link that opens the person's chat with the bot: where pressing a feed notification leads."""
    return f"https://teams.microsoft.com/l/chat/0/0?users=28:{app_id}"


def graph_feed(feed: ActivityFeed, web_url: str) -> FeedSender:
    """Graph's activity feed as the delivery worker takes it: the outbox payload's "feed" object in, the
    worker's FeedResult out (bot/delivery knows nothing of Graph)."""

    async def send(person_id: str, notification: dict[str, Any]) -> FeedResult:
        template = notification.get("template")
        return await feed.send(person_id, FeedNotification(
            activity_type=str(notification.get("activity_type", "")),
            preview=str(notification.get("preview", "")),
            template={str(k): str(v) for k, v in template.items()} if isinstance(template, dict) else {},
            web_url=web_url))

    return send


def feed_sender(graph: GraphServices | None, settings: Settings) -> FeedSender | None:
    """What the worker sends activity-feed notifications with: Graph's, when Graph is on."""
    if graph is None:
        return None
    return graph_feed(ActivityFeed(graph.client), bot_chat_link(settings.microsoft_app_id))


def graph_installer(installer: AppInstaller) -> Installer:
    """Graph's proactive install as the delivery worker takes it: bot/delivery knows nothing of Graph, so Graph's
    failures reach it as codes."""

    async def install(person_id: str, tenant_id: str | None) -> Installation:
        try:
            result = await installer.install_for(person_id, tenant_id=tenant_id)
        except GraphError as exc:
            return Installation(error=exc.code or type(exc).__name__, status=exc.status, retryable=exc.retryable,
                                retry_after=exc.retry_after)
        return Installation(chat_id=result.chat_id, refused=result.refused)

    return install


def metrics_handler(database: Database, clock: Clock, registry: CollectorRegistry,
                    runtime: DeliveryRuntime) -> Callable[[web.Request], Awaitable[web.Response]]:
    """GET /metrics: gauges read fresh from the database, then the registry in Prometheus text format."""

    async def handle(request: web.Request) -> web.Response:
        await delivery_health(database, clock, local=runtime.worker, stale_after=stale_after(runtime.config),
                              metrics=runtime.metrics)
        response = web.Response(body=generate_latest(registry))
        response.content_type = CONTENT_TYPE_LATEST.split(";")[0]
        response.charset = "utf-8"
        return response

    return handle


class DeliveryJob:
    """The delivery worker as a background job. Leadership: one process at a time sends (one rate budget),
    elected through the database (bot/delivery/leader.py); the others stand by. Its claims also skip each
    other's rows on PostgreSQL, so even two senders never send a message twice."""

    name = "delivery"
    leader = Leader.LEADERSHIP

    def __init__(self, runtime: DeliveryRuntime, database: Database, clock: Clock,
                 tokens: Callable[[], TokenProvider], graph: GraphServices | None, settings: Settings) -> None:
        self._runtime = runtime
        self._database = database
        self._clock = clock
        self._tokens = tokens
        self._graph = graph
        self._settings = settings
        self._connector: ConnectorClient | None = None

    @property
    def every_seconds(self) -> float:
        return self._runtime.config.poll_seconds

    async def start(self) -> asyncio.Task[None]:
        graph = self._graph
        worker, self._connector = build_worker(
            self._database, self._clock, self._tokens(), self._runtime.config, self._runtime.metrics,
            installer=graph.installer if graph is not None else None, feed=feed_sender(graph, self._settings))
        self._runtime.worker = worker
        return worker.start()

    async def stop(self) -> None:
        worker, connector = self._runtime.worker, self._connector
        self._connector = None
        try:
            if worker is not None:
                await worker.stop()
        finally:
            if connector is not None:
                await connector.close()


def register(wiring: Wiring) -> None:
    core = wiring.core
    app = wiring.app
    settings = core.settings
    registry = app.get(METRICS_REGISTRY) or CollectorRegistry()
    app[METRICS_REGISTRY] = registry
    runtime = DeliveryRuntime(config=worker_config(settings), metrics=DeliveryMetrics(registry))
    app[DELIVERY] = runtime
    graph = wiring.graph  # shared with the graph feature; None when Graph is off

    async def rearm(person_id: str) -> None:
        async with core.database.transaction() as session:
            count = await outbox.rearm(session, person_id, core.clock.now())
        if count:
            log.info("person is reachable again: messages re-armed", extra=Fields(person=person_id, count=count))
            if runtime.worker is not None:
                runtime.worker.wake()

    async def health() -> tuple[str, object, bool]:
        result = await delivery_health(core.database, core.clock, local=runtime.worker,
                                       stale_after=stale_after(runtime.config), metrics=runtime.metrics)
        return "delivery", result.detail, result.healthy

    wiring.bot.rearm_hooks.append(rearm)
    wiring.health_checks.append(health)
    if not any(getattr(route.resource, "canonical", None) == "/metrics" for route in app.router.routes()):
        app.router.add_get("/metrics", metrics_handler(core.database, core.clock, registry, runtime))
    wiring.jobs.append(DeliveryJob(runtime, core.database, core.clock,
                                   lambda: app.get(TOKENS) or production_tokens(settings), graph, settings))

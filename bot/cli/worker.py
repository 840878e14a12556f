"""`python -m bot worker`: run the delivery worker on its own (design §7), e.g. beside web instances started
with RUN_WORKER=false. Stops cleanly on SIGTERM or SIGINT: messages waiting for their turn go back to pending.
With --port it serves /healthz and /metrics for its own process."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from dataclasses import replace
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry

from bot.cli.checks import require_certificate_key, require_free_port, require_migrated
from bot.clock import SystemClock
from bot.core import Core
from bot.delivery.health import delivery_health
from bot.delivery.metrics import DeliveryMetrics
from bot.delivery.tokens import StaticTokenProvider, TokenProvider
from bot.features.delivery import (
    DeliveryRuntime,
    build_worker,
    metrics_handler,
    production_tokens,
    stale_after,
    worker_config,
)
from bot.graph.services import build_graph
from bot.log_format import configure_logging
from bot.settings import Settings
from storage.db import Database

log = logging.getLogger("bot.worker")


def add_parser(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser("worker", help="run the delivery worker on its own")
    parser.add_argument("--port", type=int, default=0, help="serve /healthz and /metrics on this port (0: none)")
    parser.add_argument("--host", default="127.0.0.1", help="address for --port (default 127.0.0.1)")
    parser.add_argument("--max-in-flight", type=int, default=None, help="claimed messages held at once")
    parser.add_argument("--poll-seconds", type=float, default=None, help="how often to look for due messages")
    parser.add_argument("--heartbeat-seconds", type=float, default=None, help="heartbeat and lease renewal")
    parser.add_argument(
        "--static-token", default=None,
        help="send this bearer token instead of fetching one: only for the local Connector double and benchmarks "
             "(refused when MICROSOFT_APP_ID is set)")
    parser.set_defaults(handler=run)


async def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.static_token and settings.authenticated:
        print("--static-token is for local doubles only; unset MICROSOFT_APP_ID to use it", file=sys.stderr)
        return 2
    # Found before anything starts: with PostgreSQL down the worker would otherwise wait for it for ever.
    if not args.static_token:
        require_certificate_key(settings)
    if args.port:
        require_free_port(args.host, args.port, option="--port", host_option="--host")
    await require_migrated(settings.database_url)
    configure_logging(settings.log_level)
    tokens: TokenProvider = StaticTokenProvider(args.static_token) if args.static_token else production_tokens(
        settings)
    overrides = {name: value for name, value in (("max_in_flight", args.max_in_flight),
                                                 ("poll_seconds", args.poll_seconds),
                                                 ("heartbeat_seconds", args.heartbeat_seconds)) if value is not None}
    config = replace(worker_config(settings), **overrides)
    database = Database(settings.database_url)
    clock = SystemClock()
    registry = CollectorRegistry()
    runtime = DeliveryRuntime(config=config, metrics=DeliveryMetrics(registry))
    # Graph on: people the bot has never met are reached by installing the app for them, as in the app's worker.
    graph = build_graph(Core.build(settings, database, clock)) if settings.graph_enabled else None
    worker, connector = build_worker(database, clock, tokens, config, runtime.metrics,
                                     installer=graph.installer if graph is not None else None)
    runtime.worker = worker

    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)

    site_runner: web.AppRunner | None = None
    if args.port:
        app = web.Application()

        async def healthz(request: web.Request) -> web.Response:
            result = await delivery_health(database, clock, local=worker, stale_after=stale_after(config),
                                           metrics=runtime.metrics)
            body = {"status": "ok" if result.healthy else "failing", "delivery": result.detail}
            return web.json_response(body, status=200 if result.healthy else 503)

        app.router.add_get("/healthz", healthz)
        app.router.add_get("/metrics", metrics_handler(database, clock, registry, runtime))
        site_runner = web.AppRunner(app, access_log=None)
        await site_runner.setup()
        await web.TCPSite(site_runner, args.host, args.port).start()

    log.info("delivery worker %s starting (%.1f messages/s)", worker.id, config.rate_per_second)
    task = worker.start()
    stop_wait = asyncio.create_task(stopping.wait())
    try:
        await asyncio.wait({task, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stop_wait.cancel()
        if not task.done():
            await worker.stop()
        await connector.close()
        if graph is not None:
            await graph.close()
        if site_runner is not None:
            await site_runner.cleanup()
        await database.dispose()
    if task.done() and not task.cancelled() and task.exception() is not None:
        return 1
    log.info("delivery worker %s stopped", worker.id)
    return 0

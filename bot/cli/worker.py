"""`python -m bot worker`: run every background job on its own (design §7, bot/jobs.py): delivery, reminders,
announcement ticks, calendar sync (Graph on) and retention, e.g. beside web instances started with
RUN_WORKER=false. It builds the same app objects as `python -m bot run` (services, jobs) but serves no
/api/messages. Stops cleanly on SIGTERM or SIGINT: messages waiting for their turn go back to pending.
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

from bot.app import CORE, WIRING, create_app
from bot.cli.checks import require_certificate_key, require_erasure_log, require_free_port, require_migrated
from bot.clock import Clock
from bot.delivery.health import delivery_health
from bot.delivery.tokens import StaticTokenProvider
from bot.features.delivery import DELIVERY, METRICS_REGISTRY, TOKENS, metrics_handler, stale_after
from bot.graph.services import GRAPH
from bot.jobs import JobRunner
from bot.log_format import configure_logging
from bot.settings import Settings

log = logging.getLogger("bot.worker")


def add_parser(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser("worker", help="run the background jobs on their own")
    parser.add_argument("--port", type=int, default=0, help="serve /healthz and /metrics on this port (0: none)")
    parser.add_argument("--host", default="127.0.0.1", help="address for --port (default 127.0.0.1)")
    parser.add_argument("--max-in-flight", type=int, default=None, help="claimed messages held at once")
    parser.add_argument("--poll-seconds", type=float, default=None, help="how often to look for due messages")
    parser.add_argument("--heartbeat-seconds", type=float, default=None, help="heartbeat and lease renewal")
    parser.add_argument(
        "--listen-poll-seconds", type=float, default=None,
        help="PostgreSQL: how often to look for due messages while LISTEN/NOTIFY wakes the worker for new ones "
             "(default: --poll-seconds)")
    parser.add_argument(
        "--static-token", default=None,
        help="send this bearer token instead of fetching one: only for the local Connector double and benchmarks "
             "(refused when MICROSOFT_APP_ID is set)")
    parser.set_defaults(handler=run)


def build_worker_app(settings: Settings, args: argparse.Namespace, *, clock: Clock | None = None,
                     **app_options: Any) -> web.Application:
    """The app objects `run` drives: the same ones as the web app's (create_app), with the worker's options.
    Its routes are never served; `run` serves only /healthz and /metrics (worker_site)."""
    app = create_app(settings, clock=clock, **app_options)
    if args.static_token:
        app[TOKENS] = StaticTokenProvider(args.static_token)
    overrides = {name: value for name, value in (("max_in_flight", args.max_in_flight),
                                                 ("poll_seconds", args.poll_seconds),
                                                 ("listen_poll_seconds", args.listen_poll_seconds),
                                                 ("heartbeat_seconds", args.heartbeat_seconds)) if value is not None}
    runtime = app[DELIVERY]
    runtime.config = replace(runtime.config, **overrides)
    return app


def worker_site(app: web.Application) -> web.Application:
    """/healthz (the delivery worker's health) and /metrics for the worker's own port."""
    core = app[CORE]
    runtime = app[DELIVERY]
    site = web.Application()

    async def healthz(request: web.Request) -> web.Response:
        result = await delivery_health(core.database, core.clock, local=runtime.worker,
                                       stale_after=stale_after(runtime.config), metrics=runtime.metrics)
        body = {"status": "ok" if result.healthy else "failing", "delivery": result.detail}
        return web.json_response(body, status=200 if result.healthy else 503)

    site.router.add_get("/healthz", healthz)
    site.router.add_get("/metrics", metrics_handler(core.database, core.clock, app[METRICS_REGISTRY], runtime))
    return site


async def run_jobs(app: web.Application, stopping: asyncio.Event) -> int:
    """Run every job of `app` until `stopping` is set (0) or a job ends by itself (1 if it failed), then stop them
    all and close the app's database and Graph client."""
    runner = JobRunner(app[WIRING].jobs)
    ended: asyncio.Task[None] | None = None
    try:
        # The web app's start-up steps first, the erasure log's replay among them: a worker started on its own
        # after a restore must not send anything from a database that still holds people who were erased.
        for step in app[WIRING].startup:
            await step()
        await runner.start()
        log.info("worker starting: %s", ", ".join(job.name for job in runner.jobs))
        any_ended = asyncio.create_task(runner.wait_any_ended())
        stop_wait = asyncio.create_task(stopping.wait())
        try:
            await asyncio.wait({any_ended, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop_wait.cancel()
            if any_ended.done():
                ended = any_ended.result()
            else:
                any_ended.cancel()
    finally:
        await runner.stop()
        graph = app.get(GRAPH)
        if graph is not None:
            await graph.close()
        await app[CORE].database.dispose()
    if ended is not None and not ended.cancelled() and ended.exception() is not None:
        return 1
    log.info("worker stopped")
    return 0


async def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.static_token and settings.authenticated:
        print("--static-token is for local doubles only; unset MICROSOFT_APP_ID to use it", file=sys.stderr)
        return 2
    # Found before anything starts: with PostgreSQL down the worker would otherwise wait for it for ever.
    if not args.static_token:
        require_certificate_key(settings)
    if args.port:
        require_free_port(args.host, args.port, option="--port", host_option="--host")
    # The retention job erases, and every erasure is logged before it commits.
    require_erasure_log(settings)
    await require_migrated(settings.database_url)
    configure_logging(settings.log_level, settings.log_format, settings.log_id_key_bytes)
    app = build_worker_app(settings, args)

    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)

    site_runner: web.AppRunner | None = None
    if args.port:
        site_runner = web.AppRunner(worker_site(app), access_log=None)
        await site_runner.setup()
        await web.TCPSite(site_runner, args.host, args.port).start()
    try:
        return await run_jobs(app, stopping)
    finally:
        if site_runner is not None:
            await site_runner.cleanup()

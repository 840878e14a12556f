"""`python -m bot run`: serve the bot (migrations are applied first by `make run` or `db upgrade`)."""

from __future__ import annotations

import argparse
import asyncio
import errno
import logging
from typing import Any

from aiohttp import web

from bot.app import create_app
from bot.cli.checks import (
    port_error,
    require_certificate_key,
    require_erasure_log,
    require_free_port,
    require_migrated,
)
from bot.log_format import configure_logging
from bot.settings import Settings


def add_parser(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser("run", help="serve the bot on HOST:PORT")
    parser.set_defaults(handler=run)


def base_url(host: str, port: int) -> str:
    # Listening on every address: this machine's own is the one to open here.
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    return f"http://[{shown}]:{port}/" if ":" in shown else f"http://{shown}:{port}/"


def run(args: argparse.Namespace, settings: Settings) -> int:
    # Everything an operator can get wrong is found before anything starts (bot.cli.checks).
    require_certificate_key(settings)
    require_erasure_log(settings)
    require_free_port(settings.host, settings.port, option="PORT", host_option="HOST")
    asyncio.run(require_migrated(settings.database_url))
    configure_logging(settings.log_level, settings.log_format, settings.log_id_key_bytes)
    if not settings.authenticated:
        logging.getLogger("bot").warning(
            "no MICROSOFT_APP_ID: authentication is off; listening on %s only", settings.host)
    url = base_url(settings.host, settings.port)

    def started(_aiohttp_banner: str) -> None:
        # Called once the port is bound: the address to open, and where Teams (or the Playground) posts.
        print(f"HNY Inc. volunteers bot is running at {url} (Teams posts to {url}api/messages). "
              "Press Ctrl+C to stop.", flush=True)

    try:
        web.run_app(create_app(settings), host=settings.host, port=settings.port, print=started)
    except OSError as exc:
        if exc.errno in (errno.EADDRINUSE, errno.EACCES):  # taken since the check above
            raise port_error(exc, settings.host, settings.port, "PORT") from None
        raise
    return 0

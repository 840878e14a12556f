"""`python -m bot run`: serve the bot (migrations are applied first by `make run` or `db upgrade`)."""

from __future__ import annotations

import argparse
import logging
from typing import Any

from aiohttp import web

from bot.app import create_app
from bot.settings import Settings


def add_parser(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser("run", help="serve the bot on HOST:PORT")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    if not settings.authenticated:
        logging.getLogger("bot").warning(
            "no MICROSOFT_APP_ID: authentication is off; listening on %s only", settings.host)
    web.run_app(create_app(settings), host=settings.host, port=settings.port, print=None)
    return 0

"""Command line: `python -m bot run | db upgrade | worker | roles … | audit … | report counts | manifest build`."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import inspect
import sys

from bot.cli import COMMAND_MODULES
from bot.settings import SettingsError, load_settings


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bot", description="HNY Inc. volunteers bot")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return 2
    result = args.handler(args, settings)
    if inspect.iscoroutine(result):
        result = asyncio.run(result)
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())

"""Command line: `python -m bot run | db upgrade | worker | roles … | audit … | report counts | manifest build |
desk screenshots`.

An ordinary operating fault (PostgreSQL down, the database not migrated, a port in use, a file that cannot be
written) ends with one line that says what is wrong and what to do, and a non-zero exit; the traceback is
printed too only with LOG_LEVEL=DEBUG."""

from __future__ import annotations

import argparse
import asyncio
import inspect
import os
import sys
import traceback

from bot.cli import audit, db, desk, manifest, report, roles, serve, worker
from bot.cli.errors import CliError, explain
from bot.settings import SettingsError, load_settings

# Each sub-command module's `add_parser(subparsers)` sets `handler=callable(args, settings) -> int` (sync or
# async) on its parser; `python -m bot --help` lists them in this order.
COMMAND_MODULES = (serve, db, manifest, roles, audit, report, worker, desk)

UNEXPECTED = ("Stopped by an unexpected error ({name}). Run again with LOG_LEVEL=DEBUG to see the details, "
              "or contact HNY.Inc@nhs.net.")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bot", description="HNY Inc. volunteers bot")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for module in COMMAND_MODULES:
        module.add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return 2
    except UnicodeDecodeError as exc:
        # pydantic-settings reads .env as UTF-8; the environment itself never fails this way.
        if os.environ.get("LOG_LEVEL", "").upper() == "DEBUG":
            traceback.print_exc()
        print(f"The .env file is not UTF-8 text (at byte {exc.start + 1}). Save it as UTF-8, then try again.",
              file=sys.stderr)
        return 2
    try:
        result = args.handler(args, settings)
        if inspect.iscoroutine(result):
            result = asyncio.run(result)
    except KeyboardInterrupt:
        return 130
    except CliError as exc:
        print(exc, file=sys.stderr)
        return exc.code
    except Exception as exc:
        if settings.log_level == "DEBUG":
            traceback.print_exc()
        print(explain(exc, settings.database_url) or UNEXPECTED.format(name=type(exc).__name__), file=sys.stderr)
        return 1
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())

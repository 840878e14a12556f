"""`python -m bot manifest build [--out DIR]`: write the Teams app package (see docs/teams-app.md)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from bot.manifest_build import build_package
from bot.settings import Settings, SettingsError


def _build(args: argparse.Namespace, settings: Settings) -> int:
    try:
        path = build_package(settings, Path(args.out))
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return 2
    print(path)
    return 0


def add_parser(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser("manifest", help="the Teams app package")
    actions = parser.add_subparsers(dest="manifest_command", required=True)
    build = actions.add_parser(
        "build", help="write hny-inc-bot.zip (manifest.json and icons) to upload to Teams"
    )
    build.add_argument("--out", default="build", metavar="DIR", help="folder for the zip (default: build)")
    build.set_defaults(handler=_build)

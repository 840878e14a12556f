"""`python -m bot roles list | grant ROLE ID | revoke ROLE ID`: recover or check access from the command line.

For when no admin can reach the bot. People are named by Entra object id only (no names or e-mails on the
terminal); every change is audited with actor "cli", and the last admin cannot be removed here either.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from bot.cli.checks import require_migrated
from bot.clock import SystemClock
from bot.services.roles import CLI_ACTOR, Audit, RoleService
from bot.settings import NOT_AN_ENTRA_ID, Settings, fits_id_columns, is_entra_id, is_playground_id
from storage.db import Database
from vocabulary.words import Role, RoleChangeOutcome

MESSAGES = {
    ("grant", RoleChangeOutcome.DONE): "{id} is now {a_role}.",
    ("grant", RoleChangeOutcome.UNCHANGED): "{id} is already {a_role}; nothing changed.",
    ("revoke", RoleChangeOutcome.DONE): "{id} is no longer {a_role}.",
    ("revoke", RoleChangeOutcome.UNCHANGED): "{id} is not {a_role}; nothing changed.",
    ("revoke", RoleChangeOutcome.LAST_ADMIN): "{id} is the only admin, so the admin role was not removed. "
                                    "Make someone else an admin first.",
}


def _roles(database: Database) -> RoleService:
    clock = SystemClock()
    return RoleService(database, clock, Audit(clock))


def entra_id(value: str) -> str:
    """A GUID, or an Agents Playground id: whether the settings allow that one is checked in run_change."""
    if not (is_entra_id(value) or is_playground_id(value)):
        raise argparse.ArgumentTypeError(NOT_AN_ENTRA_ID.format(value=value))
    return value.lower()


def add_parser(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser("roles", help="list, grant or revoke roles")
    actions = parser.add_subparsers(dest="roles_command", required=True)
    listing = actions.add_parser("list", help="every role and who holds it, by Entra object id")
    listing.set_defaults(handler=run_list)
    for name, helptext in (("grant", "give a role"), ("revoke", "take a role away")):
        action = actions.add_parser(name, help=helptext)
        action.add_argument("role", choices=[role.value for role in Role])
        action.add_argument("person_id", type=entra_id, metavar="ENTRA_OBJECT_ID")
        action.set_defaults(handler=run_change, verb=name)


async def run_list(args: argparse.Namespace, settings: Settings) -> int:
    await require_migrated(settings.database_url)
    database = Database(settings.database_url, pool_size=1)
    try:
        holders = await _roles(database).holders()
    finally:
        await database.dispose()
    if not holders:
        print("No one has a role.")
    for holder in holders:
        print(f"{holder.role:<12} {holder.person_id}  since {holder.granted_at:%Y-%m-%d %H:%M} UTC")
    return 0


async def run_change(args: argparse.Namespace, settings: Settings) -> int:
    if not is_entra_id(args.person_id) and not settings.local:
        print(NOT_AN_ENTRA_ID.format(value=args.person_id) + "; a Playground id is accepted only in local mode "
              "(no MICROSOFT_APP_ID)", file=sys.stderr)
        return 2
    if not fits_id_columns(args.person_id, settings.database_url):
        print("The Playground's id is longer than a GUID and does not fit the PostgreSQL schema. Try the "
              "Playground with the default SQLite database (leave DATABASE_URL unset).", file=sys.stderr)
        return 2
    await require_migrated(settings.database_url)
    role = Role(args.role)
    database = Database(settings.database_url, pool_size=1)
    try:
        roles = _roles(database)
        if args.verb == "grant":
            outcome = await roles.grant(CLI_ACTOR, args.person_id, role)
        else:
            outcome = await roles.revoke(CLI_ACTOR, args.person_id, role)
    finally:
        await database.dispose()
    name = role.label.lower()
    a_role = f"an {name}" if role == Role.ADMIN else f"a {name}"
    print(MESSAGES[(args.verb, outcome)].format(id=args.person_id, a_role=a_role))
    return 1 if outcome == RoleChangeOutcome.LAST_ADMIN else 0

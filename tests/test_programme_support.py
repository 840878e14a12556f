"""Shared helpers for the programme and retention tests (issue 12). No tests here."""

from __future__ import annotations

import os
import sqlite3
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from bot.clock import FixedClock
from tests.app_fixtures import BotHarness, buttons, card_text, start_harness
from tests.app_fixtures import all_text as all_text
from tests.app_fixtures import audit_rows as audit_rows
from tests.app_fixtures import inputs as inputs
from tests.app_fixtures import only_card as only_card
from tests.doubles.fixtures import DEFAULT_MEMBER
from tests.doubles.issuer import TokenIssuer
from tests.doubles.teams import Member, TeamsDouble, make_member
from vocabulary.words import Role

ADMIN = DEFAULT_MEMBER
FACILITATOR = make_member(2)
COLLEAGUE = make_member(3)
OTHER = make_member(4)
ADMIN_REFUSAL = "Only admins can do that. If you think you should be one, contact HNY.Inc@nhs.net."
FACILITATOR_REFUSAL = "Only facilitators can do that. If you think you should be one, contact HNY.Inc@nhs.net."
STALE = "out of date, so nothing was changed"


@asynccontextmanager
async def running(db_url: str, issuer: TokenIssuer, teams: TeamsDouble, clock: FixedClock,
                  **settings: Any) -> AsyncIterator[BotHarness]:
    """A bot that can be stopped in the middle of a test (a restart, a restore), with ADMIN as admin."""
    settings.setdefault("bootstrap_admins", [ADMIN.aad_object_id])
    for member in (FACILITATOR, COLLEAGUE, OTHER):
        teams.add_member(member)
    teams.set_limits(per_conversation=False, global_per_second=None)
    harnesses = start_harness(db_url, issuer, teams, clock, **settings)
    harness = await anext(harnesses)
    try:
        yield harness
    finally:
        await anext(harnesses, None)  # runs the harness to its end: the server and its database close


@pytest.fixture
async def admin_bot(db_url: str, token_issuer: TokenIssuer, teams_double: TeamsDouble, clock: FixedClock,
                    tmp_path: Path) -> AsyncIterator[BotHarness]:
    async with running(db_url, token_issuer, teams_double, clock,
                       erasure_log_path=str(tmp_path / "log" / "erasures.log")) as harness:
        await harness.core.roles.grant(ADMIN.aad_object_id, FACILITATOR.aad_object_id, Role.FACILITATOR)
        yield harness


def data_of(card: dict[str, Any], action: str, **match: Any) -> dict[str, Any]:
    for button in buttons(card):
        data = button["data"]
        if data.get("action") == action and all(data.get(key) == value for key, value in match.items()):
            return dict(data)
    raise AssertionError(f"no {action} {match} button on {card_text(card)}")


async def press(harness: BotHarness, card: dict[str, Any], action: str, member: Member = ADMIN,
                **inputs: Any) -> list[dict[str, Any]]:
    """Press a button with these input values, as Teams merges them into the button's data."""
    return await harness.press({**data_of(card, action), **inputs}, member)


# -- backups ----------------------------------------------------------------------------------------------------


@asynccontextmanager
async def backup_of(db_url: str, folder: Path) -> AsyncIterator[str]:
    """A copy of the database as it is now, like a backup; yields the copy's URL. The bot must be stopped."""
    url = make_url(db_url)
    if url.get_backend_name() == "sqlite":
        copy = folder / f"backup-{uuid.uuid4().hex[:8]}.db"
        source = sqlite3.connect(str(url.database))
        target = sqlite3.connect(str(copy))
        try:
            source.backup(target)  # SQLite's online backup: the WAL's committed pages are included
        finally:
            target.close()
            source.close()
        yield f"sqlite+aiosqlite:///{copy}"
        return
    name = f"{url.database}_backup_{uuid.uuid4().hex[:8]}"
    admin_dsn = make_url(os.environ["TEST_DATABASE_URL"]).set(drivername="postgresql").render_as_string(
        hide_password=False)
    connection = await asyncpg.connect(admin_dsn)
    try:
        # A template copy needs the source to have no other connections: the bot has stopped.
        await connection.execute(f'CREATE DATABASE "{name}" TEMPLATE "{url.database}"')
    finally:
        await connection.close()
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        connection = await asyncpg.connect(admin_dsn)
        try:
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await connection.close()

"""`python -m bot roles …`: recovery from the command line, audited with actor "cli" (issue 3)."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from bot.__main__ import main
from bot.clock import FixedClock
from bot.core import Core
from bot.settings import Settings
from storage.db import Database
from storage.models import AuditEntry, RoleGrant
from tests.app_fixtures import START
from vocabulary.words import Role

ONE = "00000000-0000-4000-8000-000000000001"
TWO = "00000000-0000-4000-8000-000000000002"


@pytest.fixture
def cli_env(db_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("DATABASE_URL", db_url)
    for name in ("MICROSOFT_APP_ID", "BOOTSTRAP_ADMINS", "ALLOWED_TENANTS"):
        monkeypatch.delenv(name, raising=False)
    return db_url


async def run(*argv: str) -> int:
    # main() calls asyncio.run, which needs a thread without a running loop.
    return await asyncio.to_thread(main, list(argv))


async def state(db: Database) -> tuple[set[tuple[str, str]], list[tuple[str, str, str | None, str]]]:
    async with db.transaction() as session:
        grants = {(row.person_id, row.role) for row in (await session.execute(select(RoleGrant))).scalars()}
        audit = [(row.actor_id, row.action, row.record_id, row.outcome)
                 for row in (await session.execute(select(AuditEntry).order_by(AuditEntry.id))).scalars()]
    return grants, audit


async def test_grant_list_and_revoke(cli_env: str, db: Database, capsys: pytest.CaptureFixture[str]) -> None:
    assert await run("roles", "grant", "admin", ONE.upper()) == 0
    assert await run("roles", "grant", "facilitator", TWO) == 0
    assert await run("roles", "grant", "facilitator", TWO) == 0
    assert await run("roles", "list") == 0
    out = capsys.readouterr().out
    assert f"{ONE} is now an admin." in out
    assert f"{TWO} is already a facilitator; nothing changed." in out
    assert f"admin        {ONE}" in out and f"facilitator  {TWO}" in out
    assert await run("roles", "revoke", "facilitator", TWO) == 0
    grants, audit = await state(db)
    assert grants == {(ONE, "admin")}
    assert audit == [
        ("cli", "role.grant.admin", ONE, "done"),
        ("cli", "role.grant.facilitator", TWO, "done"),
        ("cli", "role.grant.facilitator", TWO, "unchanged"),
        ("cli", "role.revoke.facilitator", TWO, "done"),
    ]


async def test_the_last_admin_cannot_be_revoked_here_either(cli_env: str, db: Database,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    await run("roles", "grant", "admin", ONE)
    assert await run("roles", "revoke", "admin", ONE) == 1
    assert "only admin" in capsys.readouterr().out
    grants, audit = await state(db)
    assert grants == {(ONE, "admin")}
    assert audit[-1] == ("cli", "role.revoke.admin", ONE, "last_admin")


async def test_list_with_no_roles(cli_env: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert await run("roles", "list") == 0
    assert "No one has a role." in capsys.readouterr().out


@pytest.mark.parametrize("argv", [
    ["roles", "grant", "owner", ONE],
    ["roles", "grant", "admin", "someone@nhs.net"],
    ["roles", "revoke", "admin", ONE + "0"],
    ["roles", "grant", "admin"],
])
async def test_bad_arguments_are_refused_before_anything_changes(cli_env: str, db: Database,
                                                                argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        await run(*argv)
    assert exit_info.value.code == 2
    assert await state(db) == (set(), [])


async def test_a_cli_grant_is_seen_by_the_bot_service(cli_env: str, db: Database) -> None:
    await run("roles", "grant", "facilitator", TWO)
    core = Core.build(Settings(_env_file=None, database_url=cli_env),  # type: ignore[call-arg]
                      db, FixedClock(START))
    assert await core.roles.require(TWO, Role.FACILITATOR, "sessions.create")
    assert not await core.roles.require(TWO, Role.ADMIN, "command.counts")

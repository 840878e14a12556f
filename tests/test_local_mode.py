"""A new user following the README (issue 18): `make playground` makes the Agents Playground's user facilitator
and admin, that user's id (not a GUID) is accepted only in local mode, and `python -m bot run` says where it is
and answers its own address with a page saying what it is."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.app import create_app
from bot.settings import PLAYGROUND_USER_ID, Settings, SettingsError, fits_id_columns, load_settings
from tests.app_fixtures import SDKS
from tests.cli_helpers import BASE_ENV, ROOT, run_cli
from tests.doubles.fixtures import make_activity
from tests.doubles.teams import Member

GUID = "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9"
# What the Playground sends: its default user and tenant (ids of zeros, the user's with 13 digits at the end).
PLAYGROUND_MEMBER = Member(PLAYGROUND_USER_ID, "29:1playground-user", "Alex Wilber", "alexw@example.com")
PLAYGROUND_TENANT = "00000000-0000-0000-0000-0000000000001"
AUTHENTICATED = {"MICROSOFT_APP_ID": GUID, "MICROSOFT_APP_PASSWORD": "secret", "MICROSOFT_APP_TENANT_ID": GUID}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def playground_database(db_url: str) -> None:
    if not fits_id_columns(PLAYGROUND_USER_ID, db_url):
        pytest.skip("the Playground's id does not fit this PostgreSQL schema; the Playground runs on SQLite")


# --- the Playground's id ---------------------------------------------------------------------------------------


async def test_roles_grant_accepts_the_playground_id_in_local_mode(db_url: str, tmp_path: Path) -> None:
    granted = await run_cli(tmp_path, "roles", "grant", "admin", PLAYGROUND_USER_ID, DATABASE_URL=db_url)
    if not fits_id_columns(PLAYGROUND_USER_ID, db_url):
        assert granted.code == 2 and len(granted.lines) == 1
        assert "does not fit the PostgreSQL schema" in granted.err
        return
    assert granted.code == 0, granted.err
    assert granted.out.strip() == f"{PLAYGROUND_USER_ID} is now an admin."
    listed = await run_cli(tmp_path, "roles", "list", DATABASE_URL=db_url)
    assert f"admin        {PLAYGROUND_USER_ID}" in listed.out


async def test_roles_grant_refuses_the_playground_id_with_credentials(db_url: str, tmp_path: Path) -> None:
    refused = await run_cli(tmp_path, "roles", "grant", "admin", PLAYGROUND_USER_ID, DATABASE_URL=db_url,
                            **AUTHENTICATED)
    assert refused.code == 2
    assert refused.lines == [f"'{PLAYGROUND_USER_ID}' is not an Entra id (a GUID like "
                             "00000000-0000-0000-0000-000000000000); a Playground id is accepted only in local mode "
                             "(no MICROSOFT_APP_ID)"]
    listed = await run_cli(tmp_path, "roles", "list", DATABASE_URL=db_url)
    assert listed.out.strip() == "No one has a role."


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no .env from the developer's checkout
    for name in ("MICROSOFT_APP_ID", "MICROSOFT_APP_PASSWORD", "MICROSOFT_APP_TENANT_ID", "HOST", "DATABASE_URL",
                 "BOOTSTRAP_ADMINS"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.usefixtures("clean_environment")
def test_bootstrap_admins_take_the_playground_id_only_in_local_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOOTSTRAP_ADMINS", f"{GUID},{PLAYGROUND_USER_ID}")
    assert load_settings().bootstrap_admins == [GUID, PLAYGROUND_USER_ID]
    for name, value in AUTHENTICATED.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as raised:
        load_settings()
    assert str(raised.value).startswith(f"Setting BOOTSTRAP_ADMINS: '{PLAYGROUND_USER_ID}' is not an Entra id")
    monkeypatch.setenv("BOOTSTRAP_ADMINS", GUID)
    assert load_settings().bootstrap_admins == [GUID]


@pytest.mark.usefixtures("clean_environment")
@pytest.mark.parametrize("look_alike", [
    "00000000-0000-4000-8000-0000000000010",  # a GUID with one digit too many is no Playground id
    "00000000-0000-0000-0000-00000000000a0",  # the Playground's ids end in digits only
    "00000000-0000-0000-0000-00000000000200",
])
def test_only_the_playground_id_form_is_accepted_in_local_mode(monkeypatch: pytest.MonkeyPatch,
                                                                look_alike: str) -> None:
    monkeypatch.setenv("BOOTSTRAP_ADMINS", look_alike)
    with pytest.raises(SettingsError, match=r"^Setting BOOTSTRAP_ADMINS: .* is not an Entra id"):
        load_settings()


# --- make playground -------------------------------------------------------------------------------------------


def test_make_playground_gives_the_playground_user_facilitator_and_admin(tmp_path: Path) -> None:
    """scripts/playground.sh as `make playground` runs it, with a stand-in for npx that notes how it was called."""
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    called = tmp_path / "npx-args"
    npx = fake_bin / "npx"
    npx.write_text(f'#!/bin/sh\necho "$@" > {called}\n')
    npx.chmod(0o755)
    port = free_port()
    database = f"sqlite+aiosqlite:///{tmp_path / 'playground.db'}"
    env = {**BASE_ENV, "PATH": f"{fake_bin}:{BASE_ENV['PATH']}", "PORT": str(port), "DATABASE_URL": database,
           "ERASURE_LOG_PATH": str(tmp_path / "erasures.log")}

    script = subprocess.run(["bash", str(ROOT / "scripts" / "playground.sh")], env=env, capture_output=True,
                            text=True, timeout=180, check=False)

    assert script.returncode == 0, script.stderr
    assert f"{PLAYGROUND_USER_ID} is now a facilitator." in script.stdout
    assert f"{PLAYGROUND_USER_ID} is now an admin." in script.stdout
    assert called.read_text().split() == ["--yes", "@microsoft/m365agentsplayground@0.2.28", "-e",
                                          f"http://127.0.0.1:{port}/api/messages", "-c", "msteams"]
    listed = subprocess.run([sys.executable, "-m", "bot", "roles", "list"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120, check=False)
    assert f"admin        {PLAYGROUND_USER_ID}" in listed.stdout
    assert f"facilitator  {PLAYGROUND_USER_ID}" in listed.stdout


# --- the Playground's user in the bot ----------------------------------------------------------------------------


class PlaygroundConnector:
    """What the Playground answers the bot with: every reply accepted, without asking for a token."""

    def __init__(self) -> None:
        self.replies: list[dict[str, Any]] = []

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v3/conversations/{conversation}/activities{rest:.*}", self.reply)
        app.router.add_get("/v3/conversations/{conversation}/members/{member}", self.member)
        return app

    async def reply(self, request: web.Request) -> web.Response:
        self.replies.append(await request.json())
        return web.json_response({"id": f"reply-{len(self.replies)}"})

    async def member(self, request: web.Request) -> web.Response:
        return web.json_response({"id": PLAYGROUND_MEMBER.teams_user_id, "name": PLAYGROUND_MEMBER.name,
                                  "aadObjectId": PLAYGROUND_MEMBER.aad_object_id,
                                  "email": PLAYGROUND_MEMBER.email, "userPrincipalName": PLAYGROUND_MEMBER.email})


@dataclass
class LocalBot:
    http: aiohttp.ClientSession
    url: str
    connector_url: str
    connector: PlaygroundConnector

    async def say(self, text: str) -> str:
        """What the bot replied, as JSON text."""
        before = len(self.connector.replies)
        activity = make_activity(self.connector_url, text=text, member=PLAYGROUND_MEMBER, tenant_id=PLAYGROUND_TENANT)
        async with self.http.post(self.url, json=activity) as response:  # no token: the Playground sends none
            assert response.status in (200, 201, 202), await response.text()
        return json.dumps(self.connector.replies[before:])


@pytest.fixture(params=SDKS)
async def local_bot(db_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[LocalBot]:
    """The bot in local mode (no credentials), the Playground's user in BOOTSTRAP_ADMINS, on each Teams SDK."""
    playground_database(db_url)
    connector = PlaygroundConnector()
    connector_server = TestServer(connector.app(), host="127.0.0.1")
    await connector_server.start_server()
    settings = Settings(_env_file=None, microsoft_app_id="", database_url=db_url,  # type: ignore[call-arg]
                        bootstrap_admins=[PLAYGROUND_USER_ID], run_worker=False, bot_sdk=request.param,
                        erasure_log_path=str(tmp_path / "erasures.log"))
    bot_server = TestServer(create_app(settings), host="127.0.0.1")
    await bot_server.start_server()
    try:
        async with aiohttp.ClientSession() as http:
            yield LocalBot(http, str(bot_server.make_url("/api/messages")),
                           str(connector_server.make_url("")).rstrip("/"), connector)
    finally:
        await bot_server.close()
        await connector_server.close()


async def test_the_playground_user_is_admin_and_facilitator_in_the_bot(local_bot: LocalBot) -> None:
    counts = await local_bot.say("counts")
    assert "Numbers are rounded to the nearest 5" in counts
    assert "Only admins can do that" not in counts
    new_session = await local_bot.say("new session")
    assert '"text": "New session"' in new_session and "Only facilitators can do that" not in new_session


# --- python -m bot run -----------------------------------------------------------------------------------------


async def test_run_prints_its_address_and_answers_it_with_a_page(db_url: str, tmp_path: Path) -> None:
    port = free_port()
    env = {**BASE_ENV, "DATABASE_URL": db_url, "PORT": str(port), "RUN_WORKER": "false",
           "ERASURE_LOG_PATH": str(tmp_path / "erasures.log")}
    process = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", "run", cwd=tmp_path, env=env,
                                                   stdout=asyncio.subprocess.PIPE,
                                                   stderr=asyncio.subprocess.DEVNULL)
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), timeout=120)).decode()
        url = f"http://127.0.0.1:{port}/"
        assert line.startswith(f"HNY Inc. volunteers bot is running at {url} ")
        async with aiohttp.ClientSession() as http, http.get(url) as response:
            page = await response.text()
            assert response.status == 200 and response.content_type == "text/html"
    finally:
        process.terminate()
        await process.wait()
    assert "<h1>HNY Inc. volunteers bot</h1>" in page
    assert "open it in Microsoft Teams" in page and "make playground" in page and 'href="/healthz"' in page

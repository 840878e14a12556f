"""The two Teams SDK edges (BOT_SDK): chosen once by the app factory, the same journeys on both, state that moves
between them, and the Agents SDK's hazards each held off by the bot's own checks."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from bot.app import EDGE, create_app
from bot.clock import FixedClock
from bot.delivery.tokens import StaticTokenProvider
from bot.handler import JOURNEY_RESTARTED
from storage.repositories.state import StateRepository
from tests.app_fixtures import BotHarness, bot_settings, card_text, cards_in
from tests.doubles.fixtures import DEFAULT_MEMBER, make_activity
from tests.doubles.issuer import TokenIssuer
from tests.doubles.teams import TeamsDouble
from tests.signup_helpers import answer, last_card, step_of

ROOT = Path(__file__).resolve().parent.parent
LEGACY_ROWS = Path(__file__).parent / "data" / "state_written_by_botbuilder_4_17.json"
SDK_MODULES = ("botbuilder", "botframework", "msrest", "jsonpickle")


def imported_after_start(sdk: str, tmp_path: Path) -> list[str]:
    """The top-level packages a fresh interpreter has imported after building the app on `sdk`."""
    script = textwrap.dedent(f"""
        import json, sys
        from bot.app import create_app
        from bot.settings import Settings
        create_app(Settings(_env_file=None, bot_sdk={sdk!r}, database_url="sqlite+aiosqlite:///{tmp_path}/b.db"))
        print(json.dumps(sorted({{name.split(".")[0] for name in sys.modules}})))
    """)
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True)
    loaded: list[str] = json.loads(result.stdout.strip().splitlines()[-1])
    return loaded


def test_a_bot_on_the_agents_sdk_imports_no_botbuilder_botframework_or_msrest(tmp_path: Path) -> None:
    assert [name for name in imported_after_start("agents", tmp_path) if name in SDK_MODULES] == []
    # The same check sees botbuilder when it is chosen, so it can fail.
    assert {"botbuilder", "msrest"} <= set(imported_after_start("botbuilder", tmp_path))


def test_the_sdk_is_chosen_by_the_setting_and_agents_is_the_default(db_url: str, token_issuer: TokenIssuer) -> None:
    assert bot_settings(db_url, token_issuer).bot_sdk == "agents"
    for sdk in ("agents", "botbuilder"):
        app = create_app(bot_settings(db_url, token_issuer, bot_sdk=sdk), outbound=StaticTokenProvider())
        assert app[EDGE].name == sdk


async def served_on(sdk: str, db_url: str, issuer: TokenIssuer, teams: TeamsDouble,
                    clock: FixedClock) -> AsyncIterator[BotHarness]:
    app = create_app(bot_settings(db_url, issuer, bot_sdk=sdk), clock=clock, outbound=StaticTokenProvider())
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as http:
            yield BotHarness(server=server, http=http, issuer=issuer, teams=teams, clock=clock, app=app)
    finally:
        await server.close()


@pytest.mark.parametrize(("first", "then"), [("agents", "botbuilder"), ("botbuilder", "agents")])
async def test_a_sign_up_begun_on_one_sdk_carries_on_after_switching_to_the_other(
        first: str, then: str, db_url: str, token_issuer: TokenIssuer, teams_double: TeamsDouble,
        clock: FixedClock) -> None:
    async for before in served_on(first, db_url, token_issuer, teams_double, clock):
        consent = last_card(await before.say("express interest"))
        space = last_card(await answer(before, consent, agree="true"))
        assert step_of(space) == "space"
    async for after in served_on(then, db_url, token_issuer, teams_double, clock):
        # The card from before the switch is still the current one: it moves the journey on.
        following = last_card(await answer(after, space, space="ally"))
        assert step_of(following) == "organisation"


async def test_a_sign_up_stored_by_the_botbuilder_version_restarts_kindly(
        db_url: str, token_issuer: TokenIssuer, teams_double: TeamsDouble, clock: FixedClock) -> None:
    """A chat part way through signing up when the bot was upgraded, with the row exactly as the botbuilder
    version's jsonpickle storage wrote it. The person is told, their old card changes nothing, and they can begin
    again; nothing else is lost."""
    (row,) = json.loads(LEGACY_ROWS.read_text(encoding="utf-8"))
    legacy = json.loads(row["data"])
    journey = legacy["DialogState"]["_dialog_stack"][0]["state"]["dialogs"]["_dialog_stack"][0]["state"][
        "options"]["journey"]
    async for harness in served_on("agents", db_url, token_issuer, teams_double, clock):
        async with harness.core.database.transaction() as session:
            await StateRepository(session).write(row["key"], row["data"], None, clock.now())
        replies = await harness.press({"journey": journey, "step": "consent", "nav": "next", "agree": "true"})
        texts = [reply.get("text") for reply in replies]
        assert JOURNEY_RESTARTED in texts
        assert any("out of date" in card_text(card) for card in cards_in(replies))
        # Said once only; a new sign-up starts at the first question.
        fresh = await harness.say("express interest")
        assert JOURNEY_RESTARTED not in [reply.get("text") for reply in fresh]
        assert step_of(last_card(fresh)) == "consent"


@pytest.mark.parametrize("sdk", ["agents", "botbuilder"])
async def test_a_token_whose_service_url_claim_names_another_host_is_refused(
        sdk: str, db_url: str, token_issuer: TokenIssuer, teams_double: TeamsDouble, clock: FixedClock) -> None:
    """The Agents SDK compares the claim only with its host validator switched on; the bot checks it itself."""
    async for harness in served_on(sdk, db_url, token_issuer, teams_double, clock):
        activity = make_activity(teams_double.url, text="help")
        token = token_issuer.token("https://smba.trafficmanager.net/uk/")
        response = await harness.post(activity, token=token)
        assert response.status == 401
        assert teams_double.sent() == []


@pytest.mark.parametrize("sdk", ["agents", "botbuilder"])
async def test_a_token_from_an_issuer_the_bot_does_not_trust_is_refused(
        sdk: str, db_url: str, token_issuer: TokenIssuer, teams_double: TeamsDouble, clock: FixedClock) -> None:
    """The Agents SDK validates issuers only when VALIDATE_ISSUER is set; the bot sets it."""
    async for harness in served_on(sdk, db_url, token_issuer, teams_double, clock):
        activity = make_activity(teams_double.url, text="help")
        token = token_issuer.token(activity["serviceUrl"], issuer="https://sts.windows.net/someone-else/")
        response = await harness.post(activity, token=token)
        assert response.status == 401
        assert teams_double.sent() == []
        assert DEFAULT_MEMBER.aad_object_id  # the same member a valid token would have been answered for
        ok = await harness.post(activity)
        assert ok.status in (200, 201)

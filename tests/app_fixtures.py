"""The real bot, served by aiohttp on loopback, authenticated by the local issuer, answering into the Teams
double. Tests talk to it only over HTTP, as Teams would."""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from sqlalchemy import select

from bot.app import CORE, create_app
from bot.clock import Clock, FixedClock
from bot.core import Core
from bot.delivery.connector import ConnectorClient
from bot.delivery.leader import leadership_for
from bot.delivery.tokens import StaticTokenProvider
from bot.delivery.worker import DeliveryWorker, WorkerConfig
from bot.features.delivery import DELIVERY, TOKENS
from bot.settings import Settings
from storage.db import Database
from storage.models import AuditEntry
from tests.doubles.fixtures import DEFAULT_MEMBER, make_activity
from tests.doubles.issuer import TokenIssuer
from tests.doubles.teams import DEFAULT_TENANT_ID, Member, TeamsDouble, make_member

START = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)

# Every end-to-end test runs on both Teams SDKs (bot/edge/): the fixtures that serve the bot take `bot_sdk`.
# TEST_BOT_SDKS=agents narrows a local run to one.
SDKS = [name for name in os.environ.get("TEST_BOT_SDKS", "agents,botbuilder").split(",") if name]
# The SDK the bot of the running test is served on; set by the `bot_sdk` fixture (default: the settings' default).
SERVED_SDK: dict[str, str] = {}


@pytest.fixture(params=SDKS)
def bot_sdk(request: pytest.FixtureRequest) -> Iterator[str]:
    SERVED_SDK["sdk"] = request.param
    yield request.param
    SERVED_SDK.pop("sdk", None)


def bot_settings(db_url: str, issuer: TokenIssuer, **overrides: Any) -> Settings:
    values: dict[str, Any] = dict(
        microsoft_app_id=issuer.app_id,
        microsoft_app_password="test-password",
        microsoft_app_tenant_id=DEFAULT_TENANT_ID,
        microsoft_app_type="SingleTenant",
        to_bot_from_channel_openid_metadata_url=issuer.metadata_url,
        to_bot_from_channel_token_issuer=issuer.issuer,
        database_url=db_url,
        allowed_tenants=[DEFAULT_TENANT_ID],
        # The Teams double listens on plain http on loopback.
        allowed_service_url_hosts=["smba.trafficmanager.net", "http://127.0.0.1"],
        run_worker=False,
        # Each bot gets its own erasure log, so one test's withdrawals are never replayed into another's database.
        erasure_log_path=f"{tempfile.mkdtemp(prefix='hny-erasures-')}/erasures.log",
    )
    if "sdk" in SERVED_SDK:
        values["bot_sdk"] = SERVED_SDK["sdk"]
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@dataclass
class BotHarness:
    """Posts activities to the running bot with real signed tokens and reads what reached Teams."""

    server: TestServer
    http: aiohttp.ClientSession
    issuer: TokenIssuer
    teams: TeamsDouble
    clock: FixedClock
    app: web.Application
    members: dict[str, Member] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return str(self.server.make_url("/api/messages"))

    @property
    def core(self) -> Core:
        return self.app[CORE]

    async def post(self, activity: dict[str, Any], *, token: str | None = None,
                   authorization: str | None = None) -> aiohttp.ClientResponse:
        if authorization is None:
            authorization = "Bearer " + (token or self.issuer.token(activity["serviceUrl"]))
        headers = {"Authorization": authorization} if authorization else {}
        async with self.http.post(self.url, json=activity, headers=headers) as response:
            await response.read()
            return response

    async def say(self, text: str, member: Member = DEFAULT_MEMBER, **extra: Any) -> list[dict[str, Any]]:
        """Send a message; returns what the bot sent back in that turn."""
        return await self._turn(make_activity(self.teams.url, text=text, member=member, **extra), member)

    async def press(self, value: dict[str, Any], member: Member = DEFAULT_MEMBER,
                    **extra: Any) -> list[dict[str, Any]]:
        """Press an Action.Submit button: Teams sends a message whose value is the button's data."""
        return await self._turn(make_activity(self.teams.url, text=None, value=value, member=member, **extra),
                                member)

    async def _turn(self, activity: dict[str, Any], member: Member) -> list[dict[str, Any]]:
        before = len(self.teams.sent())
        response = await self.post(activity)
        assert response.status in (200, 201), f"bot answered {response.status}"
        return self.teams.sent()[before:]


def cards_in(activities: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [attachment["content"] for activity in activities for attachment in activity.get("attachments") or []
            if attachment.get("contentType") == "application/vnd.microsoft.card.adaptive"]


def only_card(activities: list[dict[str, Any]]) -> dict[str, Any]:
    cards = cards_in(activities)
    assert len(cards) == 1, [card_text(card) for card in cards] or activities
    return cards[0]


def nodes(card: Any) -> Iterator[dict[str, Any]]:
    """Every object in a card (body, actions, ShowCards, fallbacks), depth first, in reading order."""
    if isinstance(card, dict):
        yield card
        for value in card.values():
            yield from nodes(value)
    elif isinstance(card, list):
        for item in card:
            yield from nodes(item)


def card_text(card: dict[str, Any]) -> str:
    """Every text a person would read or hear on a card, for assertions."""
    return "\n".join(node[key] for node in nodes(card)
                     for key in ("text", "title", "label", "value", "errorMessage", "placeholder")
                     if isinstance(node.get(key), str))


def texts_in(activities: list[dict[str, Any]]) -> list[str]:
    return [activity["text"] for activity in activities if activity.get("text")]


def all_text(activities: list[dict[str, Any]]) -> str:
    """What the person reads in these replies: their texts, then their cards' texts."""
    return "\n".join(texts_in(activities) + [card_text(card) for card in cards_in(activities)])


def buttons(card: dict[str, Any]) -> list[dict[str, Any]]:
    """Every Action.Submit on the card, inside ShowCards, ActionSets and fallbacks too."""
    return [node for node in nodes(card) if node.get("type") == "Action.Submit"]


def inputs(card: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The card's inputs by id; an id used twice would send one answer for two questions."""
    found: dict[str, dict[str, Any]] = {}
    for node in nodes(card):
        if str(node.get("type", "")).startswith("Input."):
            assert node["id"] not in found, f"input id {node['id']} is used twice"
            found[node["id"]] = node
    return found


async def audit_rows(harness: BotHarness) -> list[tuple[str, str, str | None, str]]:
    """(actor, action, record, outcome) of every audit entry, oldest first."""
    async with harness.core.database.read() as session:
        rows = (await session.execute(select(AuditEntry).order_by(AuditEntry.id))).scalars().all()
        return [(row.actor_id, row.action, row.record_id, row.outcome) for row in rows]


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
async def harness(db_url: str, token_issuer: TokenIssuer, teams_double: TeamsDouble,
                  clock: FixedClock, bot_sdk: str) -> AsyncIterator[BotHarness]:
    async for value in start_harness(db_url, token_issuer, teams_double, clock):
        yield value


@pytest.fixture
async def admin_harness(db_url: str, token_issuer: TokenIssuer, teams_double: TeamsDouble,
                        clock: FixedClock, bot_sdk: str) -> AsyncIterator[BotHarness]:
    """The bot with DEFAULT_MEMBER in BOOTSTRAP_ADMINS, and make_member(2) and (3) known to Teams."""
    for index in (2, 3):
        teams_double.add_member(make_member(index))
    async for harness in start_harness(db_url, token_issuer, teams_double, clock,
                                       bootstrap_admins=[DEFAULT_MEMBER.aad_object_id]):
        yield harness


async def start_harness(db_url: str, issuer: TokenIssuer, teams: TeamsDouble, clock: FixedClock,
                        **settings: Any) -> AsyncIterator[BotHarness]:
    app = create_app(bot_settings(db_url, issuer, **settings), clock=clock,
                     outbound=StaticTokenProvider())
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    async with aiohttp.ClientSession() as http:
        yield BotHarness(server=server, http=http, issuer=issuer, teams=teams, clock=clock, app=app)
    await server.close()


@asynccontextmanager
async def served(db_url: str, issuer: TokenIssuer, clock: FixedClock, tokens: StaticTokenProvider | None = None,
                 **settings: Any) -> AsyncIterator[tuple[web.Application, aiohttp.ClientSession, TestServer]]:
    """The whole app served on a local port, its delivery worker polling fast (when `run_worker=True`)."""
    app = create_app(bot_settings(db_url, issuer, **settings), clock=clock,
                     outbound=StaticTokenProvider())
    if tokens is not None:
        app[TOKENS] = tokens
    runtime = app[DELIVERY]
    runtime.config = replace(runtime.config, poll_seconds=0.02, heartbeat_seconds=0.1, probe_seconds=0.05)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as http:
            yield app, http, server
    finally:
        await server.close()


async def deliver_due(database: Database, clock: Clock, config: WorkerConfig) -> None:
    """Send everything due now through the real delivery worker to the Teams double."""
    connector = ConnectorClient(timeout_seconds=10.0)
    worker = DeliveryWorker(database, clock, connector, StaticTokenProvider(), config,
                            leadership=leadership_for(database.is_postgres, database.engine))
    try:
        await worker.run_until_idle()
    finally:
        await worker.stop()
        await connector.close()

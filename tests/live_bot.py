"""One served bot for a whole test module, driven from synchronous tests (hypothesis runs its examples in plain
functions): the real app, the Teams double and their event loop live in a thread of their own, and the tests
post signed activities to it over HTTP, as Teams would.

Also here: what the fuzz, race and button suites share — a small programme world (a colleague, two
facilitators, an admin, a published session with its invitations), a digest of the tables a refused press must
not change, a dump and restore of every table (to press the same button once and then again concurrently from
the same state), and the count of failed turns from /metrics."""

from __future__ import annotations

import asyncio
import concurrent.futures
import shutil
import threading
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy import Integer, delete, func, insert, select, text, update

from bot.app import WIRING, create_app
from bot.clock import FixedClock
from bot.delivery.tokens import StaticTokenProvider
from bot.features.announcements import ANNOUNCEMENTS
from bot.features.delivery import DELIVERY, METRICS_REGISTRY
from bot.features.programme import PROGRAMME
from bot.features.sessions import SESSIONS
from bot.services.announcements import AudienceChoice, When
from cards.announcements import AnnouncementView
from storage.db import Database
from storage.models import Base, Organisation, TrainingSession, Volunteer
from storage.repositories.roles import RoleRepository
from tests.app_fixtures import SDKS, START, BotHarness, bot_settings, deliver_due
from tests.db_fixtures import BACKENDS, _empty
from tests.doubles.fixtures import make_activity
from tests.doubles.issuer import TokenIssuer
from tests.doubles.teams import Member, TeamsDouble, make_member
from tests.test_sessions_helpers import add_person, add_volunteer, draft
from vocabulary.words import Role, VolunteerSpace

T = TypeVar("T")

# Tables every turn may write whatever it carries: who was seen and where, journey state, and the audit trail
# (a refusal is audited). Any other table changed by a refused or invalid press is a finding.
BOOKKEEPING = frozenset({"people", "conversation_refs", "state_documents", "audit_log"})

COLLEAGUE = make_member(300)
OWNER = make_member(301)  # the facilitator who owns the world's session
OTHER_FACILITATOR = make_member(302)
ADMIN = make_member(303)
ACTORS: dict[str, Member] = {"colleague": COLLEAGUE, "owner": OWNER, "other_facilitator": OTHER_FACILITATOR,
                             "admin": ADMIN}
ROLES_OF: dict[str, frozenset[Role]] = {
    "colleague": frozenset(),
    "owner": frozenset({Role.FACILITATOR}),
    "other_facilitator": frozenset({Role.FACILITATOR}),
    "admin": frozenset({Role.ADMIN, Role.FACILITATOR}),
}
VOLUNTEERS = [COLLEAGUE] + [make_member(310 + index) for index in range(4)]


@dataclass
class World:
    """Ids of what the world holds, for payloads that name real records."""

    session_id: int
    other_session_id: int  # owned by OTHER_FACILITATOR
    organisation_ids: list[int] = field(default_factory=list)


class LiveBot:
    def __init__(self, db_url: str, issuer: TokenIssuer, sdk: str = "agents") -> None:
        self.sdk = sdk
        self.db_url = db_url
        self.issuer = issuer
        self.clock = FixedClock(START)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="live-bot", daemon=True)
        self.harness: BotHarness | None = None
        # The digest taken after the last press, while nothing has written since (the fuzz suite's "before").
        self.last_digest: dict[str, list[tuple[Any, ...]]] | None = None

    # -- lifecycle -------------------------------------------------------------------------------------------

    def start(self) -> LiveBot:
        self._thread.start()
        self.run(self._start())
        return self

    def stop(self) -> None:
        try:
            self.run(self._stop())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop.close()

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 120.0) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    async def _start(self) -> None:
        teams = TeamsDouble(global_limit=None, per_conversation_limits=False)
        await teams.start()
        app = create_app(bot_settings(self.db_url, self.issuer, bootstrap_admins=[ADMIN.aad_object_id],
                                      bot_sdk=self.sdk),
                         clock=self.clock, outbound=StaticTokenProvider())
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        http = aiohttp.ClientSession()
        self.harness = BotHarness(server=server, http=http, issuer=self.issuer, teams=teams, clock=self.clock,
                                  app=app)

    async def _stop(self) -> None:
        harness = self.h
        await harness.http.close()
        await harness.server.close()
        await harness.teams.stop()

    @property
    def h(self) -> BotHarness:
        assert self.harness is not None
        return self.harness

    @property
    def database(self) -> Database:
        return self.h.core.database

    # -- the registries ----------------------------------------------------------------------------------------

    @property
    def wiring(self) -> Any:
        return self.h.app[WIRING]

    def failed_turns(self) -> dict[str, float]:
        """turn_failures_total by kind, as /metrics shows it."""
        found: dict[str, float] = {}
        for metric in self.h.app[METRICS_REGISTRY].collect():
            for sample in metric.samples:
                if sample.name == "turn_failures_total":
                    found[sample.labels["kind"]] = sample.value
        return found

    # -- talking to the bot ------------------------------------------------------------------------------------

    def activity(self, actor: str, **fields: Any) -> dict[str, Any]:
        return make_activity(self.h.teams.url, member=ACTORS[actor], **fields)

    async def post(self, activity: dict[str, Any]) -> tuple[int, Any]:
        """(HTTP status, JSON body or None)."""
        headers = {"Authorization": "Bearer " + self.issuer.token(activity["serviceUrl"])}
        async with self.h.http.post(self.h.url, json=activity, headers=headers) as response:
            body = await response.json() if response.content_type == "application/json" else None
            return response.status, body

    def submit(self, actor: str, value: Any) -> dict[str, Any]:
        return self.activity(actor, text=None, value=value)

    def execute(self, actor: str, verb: Any, data: Any) -> dict[str, Any]:
        return self.activity(actor, text=None, activity_type="invoke", name="adaptiveCard/action",
                             value={"action": {"type": "Action.Execute", "verb": verb, "data": data},
                                    "trigger": "manual"})

    def say(self, actor: str, text_said: str) -> dict[str, Any]:
        return self.activity(actor, text=text_said)

    async def deliver(self) -> None:
        """Send what the outbox holds to the Teams double (invitations, updates, announcements)."""
        await deliver_due(self.database, self.clock, self.h.app[DELIVERY].config)

    # -- the world ---------------------------------------------------------------------------------------------

    async def build_world(self) -> World:
        harness = self.h
        for member in ACTORS.values():
            await add_person(harness, member)
        for member in VOLUNTEERS:
            await add_volunteer(harness, member, minoritised=True, ally=True, communities=["lgbtq"], train=True)
        async with self.database.transaction() as session:
            for member in (OWNER, OTHER_FACILITATOR):
                await RoleRepository(session).grant(member.aad_object_id, Role.FACILITATOR.value, "test",
                                                    self.clock.now())
        service = harness.app[SESSIONS]
        mine = await service.create(OWNER.aad_object_id, draft(harness, capacity=2), publish=True)
        theirs = await service.create(OTHER_FACILITATOR.aad_object_id,
                                      draft(harness, capacity=3, starts_in=timedelta(days=9)), publish=True)
        assert mine.session is not None and theirs.session is not None
        # A draft (to publish), and a session that has begun with two people booked (to mark who came).
        await service.create(OWNER.aad_object_id, draft(harness, capacity=4, starts_in=timedelta(days=12)),
                             publish=False)
        begun = await service.create(OWNER.aad_object_id, draft(harness, capacity=4, starts_in=timedelta(hours=3)),
                                     publish=True)
        assert begun.session is not None
        for member in VOLUNTEERS[1:3]:
            await service.reply(member.aad_object_id, begun.session.session_id, "accept")
        async with self.database.transaction() as session:
            await session.execute(update(TrainingSession).where(TrainingSession.id == begun.session.session_id)
                                  .values(starts_at=self.clock.now() - timedelta(hours=2),
                                          ends_at=self.clock.now() - timedelta(hours=1)))
            # Someone who asked for a facilitator to contact them about adjustments.
            await session.execute(update(Volunteer).where(Volunteer.person_id == VOLUNTEERS[1].aad_object_id)
                                  .values(adjustments_contact=True))
        # An announcement on its way (its progress card), and one volunteer behind a new privacy notice.
        announcements = harness.app[ANNOUNCEMENTS]
        await announcements.create(OWNER.aad_object_id, AnnouncementView("Co-design day", "Join us on Friday."),
                                   AudienceChoice(spaces=(VolunteerSpace.MINORITISED,)), When(), None)
        await announcements.tick()
        async with self.database.read() as session:
            organisations = list((await session.execute(select(Organisation.id).order_by(Organisation.id)
                                                        .limit(3))).scalars())
        await self.deliver()
        await announcements.tick()
        await self.deliver()
        # The bot added to a team: the channel's intro card.
        await self.post(make_activity(harness.teams.url, text=None, activity_type="conversationUpdate",
                                      member=OWNER, conversation_id="19:general@thread.tacv2",
                                      membersAdded=[{"id": f"28:{self.issuer.app_id}"}],
                                      channelData={"tenant": {"id": OWNER.tenant_id},
                                                   "team": {"id": "19:team@thread.tacv2", "name": "Assembly"},
                                                   "channel": {"id": "19:general@thread.tacv2"}},
                                      conversation={"id": "19:general@thread.tacv2",
                                                    "conversationType": "channel", "tenantId": OWNER.tenant_id}))
        # A new privacy notice: every volunteer is asked to agree again at their next message.
        published = await harness.app[PROGRAMME].publish_notice(
            ADMIN.aad_object_id, "Version 2 of the privacy notice. We keep your answers to invite you. " * 4)
        assert published.version == 2, published
        async with self.database.transaction() as session:  # everyone but the colleague agreed to it already
            await session.execute(update(Volunteer).where(Volunteer.person_id != COLLEAGUE.aad_object_id)
                                  .values(consent_version=2))
        return World(mine.session.session_id, theirs.session.session_id, organisations)

    # -- what changed --------------------------------------------------------------------------------------------

    async def digest(self, *, skip: frozenset[str] = BOOKKEEPING) -> dict[str, list[tuple[Any, ...]]]:
        """Every row of every table but `skip`, in a stable order, for before/after comparisons."""
        found: dict[str, list[tuple[Any, ...]]] = {}
        async with self.database.read() as session:
            for table in Base.metadata.sorted_tables:
                if table.name in skip:
                    continue
                rows = (await session.execute(select(table))).all()
                found[table.name] = sorted((tuple(row) for row in rows), key=repr)
        return found

    @staticmethod
    def outcome(dumped: dict[str, list[dict[str, Any]]], *,
                volatile: frozenset[str] = frozenset()) -> dict[str, list[tuple[Any, ...]]]:
        """What the presses so far did, from a `dump`, comparable between two runs from the same state: every
        table but the bookkeeping ones, without integer ids (two concurrent turns may take them in either order)
        and `volatile` columns."""
        found: dict[str, list[tuple[Any, ...]]] = {}
        for table in Base.metadata.sorted_tables:
            if table.name in BOOKKEEPING:
                continue
            kept = [column.name for column in table.columns if column.name not in volatile and not (
                isinstance(column.type, Integer) and (column.primary_key or column.foreign_keys
                                                      or column.name.endswith("_id")))]
            found[table.name] = sorted((tuple(row[name] for name in kept) for row in dumped[table.name]), key=repr)
        return found

    async def dump(self) -> dict[str, list[dict[str, Any]]]:
        async with self.database.read() as session:
            return {table.name: [dict(row) for row in (await session.execute(select(table))).mappings()]
                    for table in Base.metadata.sorted_tables}

    async def restore(self, dumped: dict[str, list[dict[str, Any]]]) -> None:
        """Put every table back as `dump` found it (sequences too), in one transaction."""
        tables = Base.metadata.sorted_tables
        async with self.database.transaction() as session:
            for table in reversed(tables):
                await session.execute(delete(table))
            for table in tables:
                if dumped[table.name]:
                    # In key order: a row may refer to an earlier one of its table (an update to a message).
                    keys = [column.name for column in table.primary_key.columns]
                    ordered = sorted(dumped[table.name], key=lambda row: tuple(str(row[key]).zfill(20)
                                                                               for key in keys))
                    await session.execute(insert(table), ordered)
            if self.database.is_postgres:
                for table in tables:
                    for column in table.primary_key.columns:
                        if isinstance(column.type, Integer) and column.autoincrement is not False and \
                                len(table.primary_key.columns) == 1:
                            top = (await session.execute(select(func.max(column)))).scalar()
                            await session.execute(text(
                                f"SELECT setval(pg_get_serial_sequence('{table.name}', '{column.name}'), "
                                f"{int(top or 0) + 1}, false)"))


def _fresh_database(request: pytest.FixtureRequest, backend: str, directory: Path) -> str:
    if backend == "sqlite":
        path = directory / "live.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite+aiosqlite:///{path}"
    url: str = request.getfixturevalue("postgres_url")
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(lambda: asyncio.run(_empty(url))).result()
    return url


@pytest.fixture(scope="module", params=[(backend, sdk) for backend in BACKENDS for sdk in SDKS],
                ids=lambda pair: f"{pair[0]}-{pair[1]}")
def live_bot(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
             token_issuer: TokenIssuer) -> Iterator[LiveBot]:
    """The served bot on a fresh database, one per module, database and Teams SDK."""
    backend, sdk = request.param
    url = _fresh_database(request, backend, tmp_path_factory.mktemp("live"))
    bot = LiveBot(url, token_issuer, sdk).start()
    try:
        yield bot
    finally:
        bot.stop()

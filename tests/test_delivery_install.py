"""Proactive install in the delivery worker (design §8, issue 11), through the Graph double and the Connector double,
on SQLite and PostgreSQL: someone with no stored conversation and no known Teams user id is reached by installing
the app for them; refusals make them undeliverable with Graph's reason, an installation Graph does not show yet and
Graph's passing failures are tried again, and the running bot wires it when Graph is on."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.app import CORE
from bot.clock import FixedClock
from bot.delivery.tokens import StaticTokenProvider
from bot.graph.client import GraphClient
from bot.graph.install import AppInstaller
from storage.db import Database
from storage.models import ConversationRef, Person
from tests.app_fixtures import served
from tests.doubles.graph import DEFAULT_CATALOG_APP_ID, DEFAULT_MANIFEST_APP_ID, GraphDouble
from tests.doubles.issuer import TokenIssuer
from tests.doubles.teams import DEFAULT_TENANT_ID, TeamsDouble
from tests.graph_fixtures import client
from tests.test_delivery_support import (
    WorkerFactory,
    add_people,
    attempts,
    eventually,
    later,
    make_worker,
    person,
    put,
    row,
    texts,
)

__all__ = ["client", "make_worker"]  # fixtures, used here by name

ADA = "11111111-0000-4000-8000-0000000000a1"
BEN = "11111111-0000-4000-8000-0000000000b2"
NOBODY = "11111111-0000-4000-8000-00000000dead"  # not in the directory


def chat_of(person_id: str) -> str:
    """The 1:1 chat id Graph gives for the bot and this person."""
    return f"19:{person_id}_{DEFAULT_CATALOG_APP_ID}@unq.gbl.spaces"


@pytest.fixture
async def graph() -> AsyncIterator[GraphDouble]:
    async with GraphDouble() as double:
        double.add_user(ADA, "Ada Example", "ada@hny.test")
        double.add_user(BEN, "Ben Example", "ben@hny.test")
        yield double


@pytest.fixture
def installer(client: GraphClient) -> AppInstaller:
    return AppInstaller(client, DEFAULT_MANIFEST_APP_ID, catalog_app_id=DEFAULT_CATALOG_APP_ID,
                        home_tenant_id=DEFAULT_TENANT_ID)


async def known(db: Database, clock: FixedClock, person_id: str) -> None:
    """Someone the bot knows of (e.g. given a role by e-mail) but who has never written to it: no Teams user id,
    no service URL, no conversation."""
    async with db.transaction() as session:
        session.add(Person(id=person_id, tenant_id=DEFAULT_TENANT_ID, created_at=clock.now(),
                           last_seen_at=clock.now(), announcements_stopped=False))


async def personal_refs(db: Database, person_id: str) -> list[tuple[str, str]]:
    async with db.read() as session:
        found = await session.execute(select(ConversationRef.conversation_id, ConversationRef.service_url).where(
            ConversationRef.person_id == person_id, ConversationRef.kind == "personal"))
        return [(r.conversation_id, r.service_url) for r in found.all()]


async def test_someone_never_met_is_reached_by_installing_the_app_and_the_chat_is_kept(
        db: Database, clock: FixedClock, teams_double: TeamsDouble, graph: GraphDouble, installer: AppInstaller,
        make_worker: WorkerFactory) -> None:
    await add_people(db, clock, teams_double, 1)  # a colleague in the tenant: where its service URL comes from
    await known(db, clock, ADA)
    first = await put(db, clock, "k1", person=ADA, text="hello")
    worker = make_worker(installer=installer)

    await worker.run_until_idle()

    sent = await row(db, first)
    assert (sent.status, sent.sent_conversation_id) == ("sent", chat_of(ADA))
    assert texts(teams_double, chat_of(ADA)) == ["hello"]
    assert await attempts(db, first) == [("install", None, None), ("send", 201, None)]
    assert await personal_refs(db, ADA) == [(chat_of(ADA), teams_double.url)]
    assert ADA in graph.installations

    # The chat is known now: the next message goes straight there, without Graph.
    second = await put(db, clock, "k2", person=ADA, text="again")
    await worker.run_until_idle()
    assert (await row(db, second)).status == "sent"
    assert texts(teams_double, chat_of(ADA)) == ["hello", "again"]
    assert len(graph.graph_requests("POST", "installedApps")) == 1


async def test_someone_the_bot_has_no_row_for_is_reached_too(
        db: Database, clock: FixedClock, teams_double: TeamsDouble, graph: GraphDouble, installer: AppInstaller,
        make_worker: WorkerFactory) -> None:
    await add_people(db, clock, teams_double, 1)
    message = await put(db, clock, "k", person=BEN, text="a report for you")  # e.g. an admin from the settings

    await make_worker(installer=installer).run_until_idle()

    assert (await row(db, message)).status == "sent"
    assert texts(teams_double, chat_of(BEN)) == ["a report for you"]
    # No row to hang a reference on: Teams' conversationUpdate for the install brings it to the handler.
    assert await personal_refs(db, BEN) == []


async def test_people_graph_cannot_install_for_are_undeliverable_with_its_reason(
        db: Database, clock: FixedClock, teams_double: TeamsDouble, graph: GraphDouble, installer: AppInstaller,
        make_worker: WorkerFactory) -> None:
    await add_people(db, clock, teams_double, 1)
    for person_id in (BEN, NOBODY):
        await known(db, clock, person_id)
    graph.blocked_installs.add(BEN)
    blocked = await put(db, clock, "b1", person=BEN, text="x")
    later_one = await put(db, clock, "b2", person=BEN, text="y")
    missing = await put(db, clock, "n1", person=NOBODY, text="z")

    await make_worker(installer=installer).run_until_idle()

    assert ((await row(db, blocked)).status, (await row(db, blocked)).last_error) == (
        "undeliverable", "InstallForbidden")
    assert await attempts(db, blocked) == [("install", None, "InstallForbidden")]
    assert (await person(db, BEN)).undeliverable_code == "InstallForbidden"
    # Their later message is skipped without asking Graph again, until they come back.
    assert ((await row(db, later_one)).status, await attempts(db, later_one)) == ("undeliverable", [])
    assert len(graph.graph_requests("POST", BEN)) == 1
    assert ((await row(db, missing)).status, (await row(db, missing)).last_error) == (
        "undeliverable", "InstallUserNotFound")
    assert teams_double.requests == []


async def test_an_installation_graph_does_not_show_yet_is_tried_again_a_minute_later(
        db: Database, clock: FixedClock, teams_double: TeamsDouble, graph: GraphDouble, installer: AppInstaller,
        make_worker: WorkerFactory) -> None:
    await add_people(db, clock, teams_double, 1)
    await known(db, clock, ADA)
    graph.installation_lag = 1
    message = await put(db, clock, "k", person=ADA, text="hello")
    worker = make_worker(installer=installer)

    await worker.run_until_idle()
    waiting = await row(db, message)
    assert (waiting.status, waiting.last_error, waiting.attempts) == ("pending", "InstallPending", 1)
    assert waiting.retry_at == clock.now() + timedelta(seconds=60)

    later(clock, 60)
    await worker.run_until_idle()
    assert (await row(db, message)).status == "sent"
    assert texts(teams_double, chat_of(ADA)) == ["hello"]
    assert [a[0] for a in await attempts(db, message)] == ["install", "install", "send"]


async def test_graph_failures_are_retried_when_they_may_pass_and_end_the_message_when_not(
        db: Database, clock: FixedClock, teams_double: TeamsDouble, graph: GraphDouble, installer: AppInstaller,
        make_worker: WorkerFactory) -> None:
    await add_people(db, clock, teams_double, 1)
    for person_id in (ADA, BEN):
        await known(db, clock, person_id)
    worker = make_worker(installer=installer)

    graph.fail(503, times=4, method="POST")  # more than the Graph client's own retries
    unavailable = await put(db, clock, "a", person=ADA, text="hello")
    await worker.run_until_idle()
    waiting = await row(db, unavailable)
    assert (waiting.status, waiting.last_status, waiting.last_error) == ("pending", 503, "ServiceNotAvailable")

    later(clock, 60)
    await worker.run_until_idle()
    assert (await row(db, unavailable)).status == "sent"

    # Graph refuses a call outright (not the person): the message ends, the person stays reachable.
    graph.fail(404, code="NotFound", method="GET", path_contains="/chat")
    refused = await put(db, clock, "b", person=BEN, text="hello")
    await worker.run_until_idle()
    ended = await row(db, refused)
    assert (ended.status, ended.last_status, ended.last_error) == ("undeliverable", 404, "NotFound")
    assert (await person(db, BEN)).undeliverable_code is None


async def test_with_no_service_url_in_the_tenant_yet_the_message_waits(
        db: Database, clock: FixedClock, teams_double: TeamsDouble, graph: GraphDouble, installer: AppInstaller,
        make_worker: WorkerFactory) -> None:
    await known(db, clock, ADA)
    message = await put(db, clock, "k", person=ADA, text="hello")
    worker = make_worker(installer=installer)

    await worker.run_until_idle()
    assert ((await row(db, message)).status, (await row(db, message)).last_error) == ("pending", "NoServiceUrl")

    await add_people(db, clock, teams_double, 1)  # Teams told the bot about a conversation in the tenant
    later(clock, 60)
    await worker.run_until_idle()
    assert texts(teams_double, chat_of(ADA)) == ["hello"]


async def test_the_running_bot_installs_through_graph_when_it_is_on(
        db_url: str, token_issuer: TokenIssuer, teams_double: TeamsDouble, clock: FixedClock,
        graph: GraphDouble) -> None:
    async with served(db_url, token_issuer, clock, StaticTokenProvider(), **graph.settings(run_worker=True)) as (
            app, _http, _server):
        database: Database = app[CORE].database
        await add_people(database, clock, teams_double, 1)
        await known(database, clock, ADA)
        message = await put(database, clock, "k", person=ADA, text="from a service")

        async def sent() -> bool:
            return (await row(database, message)).status == "sent"

        await eventually(sent, timeout=10)
    assert texts(teams_double, chat_of(ADA)) == ["from a service"]
    assert ADA in graph.installations

"""Helpers and fixtures shared by the delivery tests (no tests here): people with or without a conversation
reference, enqueueing, reading rows back, and workers that are closed after each test."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from bot.clock import FixedClock
from bot.delivery import outbox
from bot.delivery.connector import ConnectorClient
from bot.delivery.leader import Leadership, leadership_for
from bot.delivery.metrics import DeliveryMetrics
from bot.delivery.tokens import StaticTokenProvider, TokenProvider
from bot.delivery.wakeup import WakeUp
from bot.delivery.worker import DeliveryWorker, WorkerConfig
from bot.features.delivery import graph_installer
from bot.graph.install import AppInstaller
from storage.db import Database
from storage.models import ConversationRef, OutboxAttempt, OutboxMessage, Person
from tests.doubles.teams import DEFAULT_TENANT_ID, Member, TeamsDouble, make_member

# Fast and small for tests; rate tests set their own rate.
TEST_CONFIG = WorkerConfig(
    rate_per_second=500.0,
    max_attempts=4,
    lease_seconds=30.0,
    backoff_base_seconds=1.0,
    backoff_cap_seconds=10.0,
    max_in_flight=50,
    poll_seconds=0.05,
    heartbeat_seconds=0.2,
    probe_seconds=0.05,
    bot_id="28:test-bot",
    default_tenant_id=DEFAULT_TENANT_ID,
)


def chat_id(member: Member) -> str:
    return f"a:chat-{member.aad_object_id}"


async def add_person(db: Database, clock: FixedClock, member: Member, service_url: str, *,
                     with_chat: bool = True, teams: TeamsDouble | None = None) -> str:
    """A person the bot has met; with_chat: their 1:1 conversation reference is stored too."""
    if teams is not None:
        teams.add_member(member)
    async with db.transaction() as session:
        session.add(Person(id=member.aad_object_id, tenant_id=DEFAULT_TENANT_ID, created_at=clock.now(),
                           last_seen_at=clock.now(), announcements_stopped=False,
                           teams_user_id=member.teams_user_id, service_url=service_url))
        if with_chat:
            await session.flush()
            session.add(ConversationRef(conversation_id=chat_id(member), kind="personal",
                                        person_id=member.aad_object_id, teams_user_id=member.teams_user_id,
                                        service_url=service_url, tenant_id=DEFAULT_TENANT_ID, bot_id="28:test-bot",
                                        installed=True, updated_at=clock.now()))
    return member.aad_object_id


async def add_people(db: Database, clock: FixedClock, teams: TeamsDouble, count: int, *, first: int = 100,
                     with_chat: bool = True) -> list[Member]:
    members = [make_member(first + i) for i in range(count)]
    for member in members:
        await add_person(db, clock, member, teams.url, with_chat=with_chat, teams=teams)
    return members


async def put(db: Database, clock: FixedClock, key: str, *, person: str | None = None, channel: str | None = None,
              text: str | None = None, card: dict[str, Any] | None = None, updates: int | None = None,
              batch: str | None = None, due_at: datetime | None = None) -> int:
    recipient = outbox.Recipient.person(person) if person else outbox.Recipient.channel(channel or "")
    message = outbox.Message(card=card, text=text if card is None else None)
    async with db.transaction() as session:
        return await outbox.enqueue(session, key=key, recipient=recipient, message=message, purpose="test",
                                    now=clock.now(), due_at=due_at, updates=updates, batch=batch)


async def row(db: Database, message_id: int) -> OutboxMessage:
    async with db.transaction() as session:
        found = await session.get(OutboxMessage, message_id)
        assert found is not None
        return found


async def rows(db: Database) -> list[OutboxMessage]:
    async with db.transaction() as session:
        return list((await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))).all())


async def attempts(db: Database, message_id: int) -> list[tuple[str, int | None, str | None]]:
    async with db.transaction() as session:
        found = await session.scalars(
            select(OutboxAttempt).where(OutboxAttempt.message_id == message_id).order_by(OutboxAttempt.id))
        return [(a.operation, a.status, a.error) for a in found]


async def person(db: Database, person_id: str) -> Person:
    async with db.transaction() as session:
        found = await session.get(Person, person_id)
        assert found is not None
        return found


def card(title: str) -> dict[str, Any]:
    return {"type": "AdaptiveCard", "version": "1.5", "body": [{"type": "TextBlock", "text": title}]}


def texts(teams: TeamsDouble, conversation_id: str) -> list[str]:
    return [str(body.get("text")) for body in teams.sent(conversation_id)]


WorkerFactory = Callable[..., DeliveryWorker]


@pytest.fixture
async def make_worker(db: Database, clock: FixedClock) -> AsyncIterator[WorkerFactory]:
    """Build workers (closed after the test). Keyword arguments override TEST_CONFIG fields, plus `database`,
    `tokens`, `metrics`, `leadership`, `installer`, `wakeup`, `timeout_seconds`."""
    made: list[tuple[DeliveryWorker, ConnectorClient]] = []

    def build(*, database: Database | None = None, tokens: TokenProvider | None = None,
              metrics: DeliveryMetrics | None = None, leadership: Leadership | None = None,
              installer: AppInstaller | None = None, wakeup: WakeUp | None = None, timeout_seconds: float = 10.0,
              **config: Any) -> DeliveryWorker:
        database = database or db
        connector = ConnectorClient(timeout_seconds=timeout_seconds)
        worker = DeliveryWorker(
            database, clock, connector, tokens or StaticTokenProvider(), replace(TEST_CONFIG, **config),
            metrics=metrics, leadership=leadership or leadership_for(database.is_postgres, database.engine),
            installer=graph_installer(installer) if installer is not None else None, wakeup=wakeup)
        made.append((worker, connector))
        return worker

    yield build
    for worker, connector in made:
        await worker.stop()
        await connector.close()


def later(clock: FixedClock, seconds: float) -> None:
    clock.advance(timedelta(seconds=seconds))


async def eventually(condition: Callable[[], Awaitable[bool]], timeout: float = 5.0) -> None:  # noqa: ASYNC109
    """Wait until a condition that the worker makes true in the database holds (polled, with a timeout)."""
    async with asyncio.timeout(timeout):
        while True:
            if await condition():
                return
            await asyncio.sleep(0.01)

"""Shared set-up for the session and invitation tests (no tests here): volunteers and facilitators written
straight to the database (their own journeys are tested elsewhere), sessions made through the service, and
presses of invitation buttons posted to /api/messages as Teams posts them."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from bot.features.sessions import SESSIONS
from bot.services.sessions import SessionDraft, SessionService
from storage.models import AuditEntry, Invitation, OutboxMessage, Person, PrivacyNotice, TrainingSession, Volunteer
from storage.repositories.roles import RoleRepository
from tests.app_fixtures import BotHarness
from tests.doubles.fixtures import make_activity
from tests.doubles.teams import Member, make_member
from vocabulary.words import Community, Phase, Role, SessionAudience

FACILITATOR = make_member(900)
CO_FACILITATOR = make_member(901)
COLLEAGUE = make_member(902)


def service_of(harness: BotHarness) -> SessionService:
    return harness.app[SESSIONS]


async def notice_version(harness: BotHarness) -> int:
    async with harness.core.database.transaction() as session:
        return int((await session.execute(select(func.max(PrivacyNotice.version)))).scalar_one())


async def add_person(harness: BotHarness, member: Member, *, email: bool = True) -> None:
    harness.teams.add_member(member)
    now = harness.clock.now()
    async with harness.core.database.transaction() as session:
        if await session.get(Person, member.aad_object_id) is None:
            session.add(Person(id=member.aad_object_id, tenant_id=member.tenant_id, display_name=member.name,
                               email=member.email if email else None, created_at=now, last_seen_at=now,
                               announcements_stopped=False, teams_user_id=member.teams_user_id,
                               service_url=harness.teams.url))


async def add_volunteer(harness: BotHarness, member: Member, *, minoritised: bool = False, ally: bool = False,
                        communities: Iterable[str] = (), codesign: bool = True, train: bool = False,
                        consent_version: int | None = None, undeliverable: bool = False) -> None:
    await add_person(harness, member)
    version = consent_version if consent_version is not None else await notice_version(harness)
    chosen = set(communities)
    now = harness.clock.now()
    async with harness.core.database.transaction() as session:
        session.add(Volunteer(
            person_id=member.aad_object_id, space_minoritised=minoritised, space_ally=ally,
            community_ethnicity="ethnicity" in chosen, community_disability="disability" in chosen,
            community_neurodivergent="neurodivergent" in chosen, community_lgbtq="lgbtq" in chosen,
            phase_codesign=codesign, phase_train_the_trainer=train, adjustments_contact=False,
            consent_version=version, signed_up_at=now, updated_at=now))
        if undeliverable:
            person = await session.get(Person, member.aad_object_id)
            assert person is not None
            person.undeliverable_code = "ConversationBlockedByUser"
            person.undeliverable_since = now


async def make_facilitator(harness: BotHarness, member: Member = FACILITATOR) -> None:
    await add_person(harness, member)
    async with harness.core.database.transaction() as session:
        await RoleRepository(session).grant(member.aad_object_id, Role.FACILITATOR.value, "test",
                                            harness.clock.now())


def draft(harness: BotHarness, *, space: str = "open", phase: str = "codesign", capacity: int = 10,
          communities: Iterable[str] = (), starts_in: timedelta = timedelta(days=7),
          length: timedelta = timedelta(hours=2), join_url: str | None = None) -> SessionDraft:
    starts = harness.clock.now() + starts_in
    return SessionDraft(title="Allyship basics", phase=Phase(phase), space=SessionAudience(space),
                        communities=frozenset(Community(name) for name in communities),
                        starts_at=starts, ends_at=starts + length, join_url=join_url, capacity=capacity)


async def publish(harness: BotHarness, **options: Any) -> int:
    await make_facilitator(harness)
    result = await service_of(harness).create(FACILITATOR.aad_object_id, draft(harness, **options), publish=True)
    assert result.outcome == "done" and result.session is not None
    return result.session.session_id


async def press_execute(harness: BotHarness, verb: str, data: dict[str, Any], member: Member) -> dict[str, Any]:
    """An Action.Execute press as Teams sends it (invoke adaptiveCard/action); returns the invoke answer."""
    activity = make_activity(harness.teams.url, text=None, activity_type="invoke", name="adaptiveCard/action",
                             member=member, value={"action": {"type": "Action.Execute", "verb": verb,
                                                              "data": {"action": verb, **data}},
                                                   "trigger": "manual"})
    async with harness.http.post(harness.url, json=activity, headers={
            "Authorization": "Bearer " + harness.issuer.token(activity["serviceUrl"])}) as response:
        assert response.status == 200, await response.text()
        body: dict[str, Any] = await response.json()
    assert body["statusCode"] == 200
    return body


async def invitation(harness: BotHarness, session_id: int, member: Member) -> Invitation | None:
    async with harness.core.database.transaction() as session:
        return (await session.execute(select(Invitation).where(
            Invitation.session_id == session_id, Invitation.person_id == member.aad_object_id))).scalars().first()


async def statuses(harness: BotHarness, session_id: int) -> dict[str, str]:
    """Person id -> status of every invitation of the session."""
    async with harness.core.database.transaction() as session:
        rows = (await session.execute(select(Invitation.person_id, Invitation.status)
                                      .where(Invitation.session_id == session_id))).all()
    return {person_id: status for person_id, status in rows}


async def outbox(harness: BotHarness, prefix: str = "") -> list[OutboxMessage]:
    async with harness.core.database.transaction() as session:
        rows = (await session.execute(select(OutboxMessage).where(OutboxMessage.key.startswith(prefix))
                                      .order_by(OutboxMessage.id))).scalars()
        return list(rows)


def payload_card(message: OutboxMessage) -> dict[str, Any]:
    card: dict[str, Any] = json.loads(message.payload)["card"]
    return card


async def audit_rows(harness: BotHarness) -> list[AuditEntry]:
    async with harness.core.database.transaction() as session:
        return list((await session.execute(select(AuditEntry).order_by(AuditEntry.id))).scalars())


async def session_row(harness: BotHarness, session_id: int) -> TrainingSession:
    async with harness.core.database.transaction() as session:
        row = await session.get(TrainingSession, session_id)
        assert row is not None
        return row


def when(harness: BotHarness) -> datetime:
    return harness.clock.now()

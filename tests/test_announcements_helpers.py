"""Helpers for the announcement tests (no tests here): volunteers and channels to announce to, the `announce`
journey pressed through as Teams would, the background tick, and a delivery worker against the Teams double."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.clock import FixedClock
from bot.delivery.worker import WorkerConfig
from bot.features.announcements import ANNOUNCEMENTS
from bot.services.announcements import AnnouncementService
from storage.models import (
    Announcement,
    ConversationRef,
    Invitation,
    OutboxMessage,
    Person,
    PrivacyNotice,
    TrainingSession,
    Volunteer,
)
from tests.app_fixtures import BotHarness, card_text, cards_in, deliver_due, start_harness
from tests.app_fixtures import audit_rows as audit_rows
from tests.doubles.fixtures import DEFAULT_MEMBER, make_activity
from tests.doubles.issuer import TokenIssuer
from tests.doubles.teams import DEFAULT_TENANT_ID, Member, TeamsDouble, make_member
from tests.signup_helpers import button_data, inputs, last_card
from vocabulary.words import Role

AUTHOR = DEFAULT_MEMBER
COLLEAGUE = make_member(2)
OTHER_FACILITATOR = make_member(3)


def personal_chat(member: Member) -> str:
    """The 1:1 conversation id the harness uses for a member's messages (make_activity's default)."""
    return f"a:personal-{member.aad_object_id}"


@pytest.fixture
async def bot(db_url: str, token_issuer: TokenIssuer, teams_double: TeamsDouble,
              clock: FixedClock) -> AsyncIterator[BotHarness]:
    """The bot with AUTHOR and OTHER_FACILITATOR as facilitators (not admins); Teams' per-conversation limits off,
    because tests press faster than any person can."""
    teams_double.set_limits(per_conversation=False, global_per_second=None)
    for member in (COLLEAGUE, OTHER_FACILITATOR):
        teams_double.add_member(member)
    async for harness in start_harness(db_url, token_issuer, teams_double, clock):
        for member in (AUTHOR, OTHER_FACILITATOR):
            await harness.core.roles.grant("test", member.aad_object_id, Role.FACILITATOR)
        yield harness


def service(harness: BotHarness) -> AnnouncementService:
    return harness.app[ANNOUNCEMENTS]


async def tick(harness: BotHarness) -> None:
    await service(harness).tick()


# -- the world -----------------------------------------------------------------------------------------------------

async def notice_version(harness: BotHarness) -> int:
    async with harness.core.database.transaction() as session:
        return int((await session.execute(select(func.max(PrivacyNotice.version)))).scalar_one())


async def add_volunteers(harness: BotHarness, count: int, *, first: int, spaces: tuple[str, ...] = ("minoritised",),
                         phases: tuple[str, ...] = ("codesign",), stopped: bool = False,
                         consent_behind: bool = False) -> list[Member]:
    """Volunteers who signed up earlier and chat with the bot (their sign-up is tested by the colleague journey)."""
    version = await notice_version(harness)
    members = [make_member(first + i) for i in range(count)]
    now = harness.clock.now()
    async with harness.core.database.transaction() as session:
        for member in members:
            harness.teams.add_member(member)
            session.add(Person(id=member.aad_object_id, tenant_id=DEFAULT_TENANT_ID, created_at=now, last_seen_at=now,
                               announcements_stopped=stopped, teams_user_id=member.teams_user_id,
                               service_url=harness.teams.url))
        await session.flush()
        for member in members:
            session.add(ConversationRef(conversation_id=personal_chat(member), kind="personal",
                                        person_id=member.aad_object_id, teams_user_id=member.teams_user_id,
                                        service_url=harness.teams.url, tenant_id=DEFAULT_TENANT_ID,
                                        bot_id=f"28:{harness.issuer.app_id}", installed=True, updated_at=now))
            session.add(Volunteer(
                person_id=member.aad_object_id, space_minoritised="minoritised" in spaces,
                space_ally="ally" in spaces, phase_codesign="codesign" in phases,
                phase_train_the_trainer="train_the_trainer" in phases,
                consent_version=version - 1 if consent_behind else version, signed_up_at=now, updated_at=now))
    return members


async def install_in_channel(harness: BotHarness, team: str, channel: str | None, conversation_id: str) -> None:
    """The bot is added to a team (or first hears from one of its channels)."""
    activity = make_activity(harness.teams.url, text=None, conversation_id=conversation_id,
                             activity_type="conversationUpdate")
    activity["conversation"]["conversationType"] = "channel"
    channel_data: dict[str, Any] = {"tenant": {"id": DEFAULT_TENANT_ID},
                                    "team": {"id": f"team-{team}", "name": team}, "eventType": "teamMemberAdded"}
    if channel:
        channel_data["channel"] = {"id": conversation_id, "name": channel}
    activity["channelData"] = channel_data
    activity["membersAdded"] = [{"id": activity["recipient"]["id"]}]
    response = await harness.post(activity)
    assert response.status in (200, 201)


async def add_session(harness: BotHarness, title: str, *, accepted: list[Member], others: dict[str, list[Member]],
                      days_ahead: int = 3) -> int:
    """A published session with people's replies."""
    now = harness.clock.now()
    starts = now + timedelta(days=days_ahead)
    async with harness.core.database.transaction() as session:
        row = TrainingSession(title=title, phase="codesign", space="open", starts_at=starts,
                              ends_at=starts + timedelta(hours=2), join_url=None, capacity=20, status="published",
                              change_no=0, next_waiting_seq=1, created_by=OTHER_FACILITATOR.aad_object_id,
                              created_at=now, updated_at=now, published_at=now, cancelled_at=None)
        session.add(row)
        await session.flush()
        for status, members in [("accepted", accepted), *others.items()]:
            for member in members:
                session.add(Invitation(session_id=row.id, person_id=member.aad_object_id, status=status,
                                       rev=0, invited_at=now, replied_at=now))
        return row.id


# -- the journey ---------------------------------------------------------------------------------------------------

def choice_values(card: dict[str, Any], input_id: str, titles: list[str]) -> str:
    choices = inputs(card)[input_id]["choices"]
    values = []
    for title in titles:
        found = [c["value"] for c in choices if c["title"].startswith(title)]
        assert found, f"no choice {title!r} in {[c['title'] for c in choices]}"
        values.append(found[0])
    return ",".join(values)


async def start(harness: BotHarness, member: Member = AUTHOR) -> dict[str, Any]:
    return last_card(await harness.say("announce", member))


async def write(harness: BotHarness, card: dict[str, Any], *, title: str = "Co-design day in Hull",
                body: str = "Join us on Friday to shape the training.", link_url: str = "",
                link_title: str = "") -> list[dict[str, Any]]:
    return await harness.press({**button_data(card, nav="next"), "title": title, "body": body,
                                "link_url": link_url, "link_title": link_title}, AUTHOR)


async def choose(harness: BotHarness, card: dict[str, Any], *, channels: list[str] | None = None, spaces: str = "",
                 phases: str = "", sessions: list[str] | None = None) -> list[dict[str, Any]]:
    values: dict[str, Any] = {"spaces": spaces, "phases": phases}
    if channels:
        values["channels"] = choice_values(card, "channels", channels)
    if sessions:
        values["sessions"] = choice_values(card, "sessions", sessions)
    return await harness.press({**button_data(card, nav="next"), **values}, AUTHOR)


async def when(harness: BotHarness, card: dict[str, Any], *, mode: str = "now", date: str = "",
               time: str = "") -> list[dict[str, Any]]:
    return await harness.press({**button_data(card, nav="next"), "when": mode, "date": date, "time": time}, AUTHOR)


async def confirm(harness: BotHarness, card: dict[str, Any], *, title: str | None = None) -> list[dict[str, Any]]:
    return await harness.press(button_data(card, nav="send", title=title), AUTHOR)


async def announce(harness: BotHarness, *, channels: list[str] | None = None, spaces: str = "", phases: str = "",
                   sessions: list[str] | None = None, mode: str = "now", date: str = "", time: str = "",
                   send: str | None = None, **draft: str) -> list[dict[str, Any]]:
    """The whole journey by buttons; returns the replies to the last press."""
    card = last_card(await write(harness, await start(harness), **draft))
    card = last_card(await choose(harness, card, channels=channels, spaces=spaces, phases=phases,
                                  sessions=sessions))
    card = last_card(await when(harness, card, mode=mode, date=date, time=time))
    return await confirm(harness, card, title=send)


# -- what happened -------------------------------------------------------------------------------------------------

async def announcements(harness: BotHarness) -> list[Announcement]:
    async with harness.core.database.transaction() as session:
        return list((await session.execute(select(Announcement).order_by(Announcement.id))).scalars())


async def outbox(harness: BotHarness, purpose: str = "announcement") -> list[OutboxMessage]:
    async with harness.core.database.transaction() as session:
        return list((await session.execute(select(OutboxMessage).where(OutboxMessage.purpose == purpose)
                                           .order_by(OutboxMessage.id))).scalars())


def announcement_cards(harness: BotHarness, member: Member) -> list[dict[str, Any]]:
    return [card for card in cards_in(harness.teams.sent(personal_chat(member)))
            if "An announcement from HNY Inc." in card_text(card)]


async def progress_card(harness: BotHarness) -> dict[str, Any]:
    """The author's progress card as Teams shows it now (after every update in place)."""
    [row] = await announcements(harness)
    async with harness.core.database.transaction() as session:
        original = await session.get(OutboxMessage, row.progress_outbox_id)
    assert original is not None and original.activity_id and original.sent_conversation_id
    activity = harness.teams.activity(original.sent_conversation_id, original.activity_id)
    assert activity is not None
    return dict(activity["attachments"][0]["content"])


WORKER_CONFIG = WorkerConfig(rate_per_second=500.0, max_attempts=4, lease_seconds=30.0, backoff_base_seconds=1.0,
                             backoff_cap_seconds=10.0, max_in_flight=50, poll_seconds=0.05, heartbeat_seconds=0.2,
                             probe_seconds=0.05, default_tenant_id=DEFAULT_TENANT_ID)

Deliver = Callable[[], Awaitable[None]]


@pytest.fixture
async def deliver(bot: BotHarness) -> Deliver:
    """Run the delivery worker until nothing more is due now."""

    async def run() -> None:
        await deliver_due(bot.core.database, bot.clock, replace(WORKER_CONFIG, bot_id=f"28:{bot.issuer.app_id}"))

    return run

"""Shared set-up for the tests around a session (no tests here): a bot that can be stopped and started again on
the same database, a delivery worker drained on demand, and what reached each person's chat in Teams."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

from bot.clock import UK, FixedClock
from bot.delivery.tokens import StaticTokenProvider
from bot.delivery.worker import WorkerConfig
from bot.features.sessions import ATTENDANCE, REMINDERS
from bot.services.attendance import AttendanceService
from bot.services.reminders import ReminderService
from tests.app_fixtures import BotHarness, card_text, deliver_due, served, start_harness
from tests.doubles.issuer import TokenIssuer
from tests.doubles.teams import DEFAULT_TENANT_ID, Member, TeamsDouble
from tests.test_sessions_helpers import add_volunteer, press_execute, publish, session_row
from vocabulary.actions.sessions import INVITATION_ACCEPT

LINK = "https://teams.microsoft.com/l/meetup-join/19%3ameeting_reminder%40thread.v2/0"
CONFIG = WorkerConfig(rate_per_second=500.0, max_attempts=4, lease_seconds=30.0, backoff_base_seconds=1.0,
                      backoff_cap_seconds=10.0, max_in_flight=50, poll_seconds=0.05, heartbeat_seconds=0.2,
                      probe_seconds=0.05, bot_id="28:test-bot", default_tenant_id=DEFAULT_TENANT_ID)


@asynccontextmanager
async def running(db_url: str, issuer: TokenIssuer, teams: TeamsDouble, clock: FixedClock,
                  **settings: Any) -> AsyncIterator[BotHarness]:
    """The bot, from start to a clean stop (its database engine is closed): a restart is two of these."""
    generator = start_harness(db_url, issuer, teams, clock, **settings)
    harness = await anext(generator)
    try:
        yield harness
    finally:
        await anext(generator, None)


@asynccontextmanager
async def running_with_worker(db_url: str, issuer: TokenIssuer, teams: TeamsDouble,
                              clock: FixedClock) -> AsyncIterator[BotHarness]:
    """The bot with its background jobs on (RUN_WORKER): the delivery worker and the reminders tick."""
    async with served(db_url, issuer, clock, StaticTokenProvider(), run_worker=True) as (app, http, server):
        yield BotHarness(server=server, http=http, issuer=issuer, teams=teams, clock=clock, app=app)


async def drain(harness: BotHarness) -> None:
    """Send everything due now through the real delivery worker to the Teams double."""
    await deliver_due(harness.core.database, harness.clock, CONFIG)


async def booked_session(harness: BotHarness, booked: Sequence[Member], *, others: Sequence[Member] = (),
                         capacity: int = 5, starts_in: timedelta = timedelta(days=3),
                         join_url: str | None = LINK) -> tuple[int, datetime]:
    """A published session open to both spaces: (its id, its start). Everyone in `booked` and `others` is
    invited; `booked` accept in order (past the capacity, onto the waiting list), `others` do not reply."""
    for member in (*booked, *others):
        await add_volunteer(harness, member, ally=True)
    session_id = await publish(harness, capacity=capacity, starts_in=starts_in, join_url=join_url)
    for member in booked:
        await press_execute(harness, INVITATION_ACCEPT.name, {"session_id": session_id}, member)
    return session_id, (await session_row(harness, session_id)).starts_at


def reminders_of(harness: BotHarness) -> ReminderService:
    return harness.app[REMINDERS]


def attendance_of(harness: BotHarness) -> AttendanceService:
    return harness.app[ATTENDANCE]


def chat_activities(teams: TeamsDouble, member: Member) -> list[dict[str, Any]]:
    """What reached the person's 1:1 chat, in order: the chat their messages came from, or one the bot made."""
    chats = {f"a:personal-{member.aad_object_id}", teams.conversation_for(member.aad_object_id)}
    return [dict(item.body) for item in teams.delivered if item.conversation_id in chats]


def chat_cards(teams: TeamsDouble, member: Member) -> list[str]:
    """The text of every card that reached the person's 1:1 chat, in order."""
    return [card_text(attachment["content"]) for activity in chat_activities(teams, member)
            for attachment in activity.get("attachments") or []
            if attachment.get("contentType") == "application/vnd.microsoft.card.adaptive"]


def uk_fields(starts_at: datetime, ends_at: datetime) -> dict[str, str]:
    """The change card's date and times for a UTC start and end."""
    start, end = starts_at.astimezone(UK), ends_at.astimezone(UK)
    return {"date": start.strftime("%Y-%m-%d"), "start": start.strftime("%H:%M"), "end": end.strftime("%H:%M")}

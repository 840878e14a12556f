"""Invitations and reminders in the Teams activity feed (issue 24, part 4), end to end on SQLite and PostgreSQL:
a volunteer turns "Also tell me in my Teams activity feed" on by pressing the button on "Your details" over
/api/messages; the invitations and reminders then reach their chat as before and, through the real delivery
worker and the Graph double (which answers as `sendActivityNotification` does), their activity feed once each.
Nobody else's feed is touched, nothing about the person but their id goes to Graph, Graph off means no toggle and
no feed, and withdrawing erases the choice."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.clock import FixedClock
from bot.delivery.tokens import StaticTokenProvider
from bot.features.delivery import build_worker, feed_sender
from bot.graph.activity_feed import ACTIVITY_TYPES
from bot.graph.services import GRAPH
from bot.manifest_build import build_package
from bot.services.feed import enqueue_feed
from bot.services.reminders import reminder_key
from cards.feed import SESSION_INVITATION, SESSION_REMINDER, invitation_feed, reminder_feed
from storage.models import OutboxAttempt, OutboxMessage, Person, Volunteer
from tests.app_fixtures import START, BotHarness, audit_rows, card_text, served, start_harness
from tests.doubles.graph import GraphDouble
from tests.doubles.issuer import TokenIssuer
from tests.doubles.teams import Member, TeamsDouble, make_member
from tests.signup_helpers import button_data, buttons, last_card
from tests.test_delivery_support import eventually
from tests.test_manifest import make_settings, read_manifest
from tests.test_reminders_support import CONFIG, LINK, chat_cards, reminders_of
from tests.test_sessions_helpers import add_volunteer, outbox, press_execute, publish, session_row
from vocabulary.actions.sessions import INVITATION_ACCEPT

ADA, BEN, CAL = make_member(2401), make_member(2402), make_member(2403)
FEED_ROW = "Teams activity feed"
TITLE = "Allyship basics"


@pytest.fixture
def declared_types(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> set[str]:
    """The activity types the app's built manifest declares: the only ones Graph (and its double) accepts."""
    monkeypatch.chdir(tmp_path)
    manifest = read_manifest(build_package(make_settings(), tmp_path / "build"))
    activities = manifest["activities"]
    assert isinstance(activities, dict)
    return {entry["type"] for entry in activities["activityTypes"]}


@pytest.fixture
async def graph(declared_types: set[str]) -> AsyncIterator[GraphDouble]:
    async with GraphDouble() as double:
        for member in (ADA, BEN, CAL):
            double.add_user(member.aad_object_id, member.name, member.email)
        double.installations[ADA.aad_object_id] = "inst-ada"
        double.installations[BEN.aad_object_id] = "inst-ben"
        # Cal never had the app installed through Graph: Graph refuses their feed (403).
        double.activity_types = declared_types
        yield double


@pytest.fixture
async def graph_harness(db_url: str, token_issuer: TokenIssuer, teams_double: TeamsDouble, clock: FixedClock,
                        graph: GraphDouble) -> AsyncIterator[BotHarness]:
    # These tests press several buttons in one chat within a second: the replies count towards Teams'
    # per-conversation limits (the worker's pacing of them is tested in test_delivery_limits.py).
    teams_double.set_limits(per_conversation=False)
    async for harness in start_harness(db_url, token_issuer, teams_double, clock, **graph.settings()):
        yield harness


async def deliver(harness: BotHarness) -> None:
    """Send everything due now through the delivery worker as the running bot builds it (Graph's feed too)."""
    worker, connector = build_worker(harness.core.database, harness.clock, StaticTokenProvider(), CONFIG, None,
                                     feed=feed_sender(harness.app.get(GRAPH), harness.core.settings))
    try:
        await worker.run_until_idle()
    finally:
        await worker.stop()
        await connector.close()


async def details(harness: BotHarness, member: Member) -> dict[str, Any]:
    return last_card(await harness.say("my details", member))


def feed_answer(card: dict[str, Any]) -> str | None:
    """What "Your details" says about the activity feed, or None when it does not offer it."""
    text = card_text(card).splitlines()
    return text[text.index(FEED_ROW) + 1] if FEED_ROW in text else None


async def turn_feed_on(harness: BotHarness, member: Member) -> list[dict[str, Any]]:
    card = await details(harness, member)
    assert feed_answer(card) == "Off. Your invitations and reminders come here in our chat."
    return await harness.press(button_data(card, title="Also tell me in my Teams activity feed"), member)


def feed_of(graph: GraphDouble, member: Member, activity_type: str | None = None) -> list[dict[str, Any]]:
    return [body for user, body in graph.notifications
            if user == member.aad_object_id and activity_type in (None, body["activityType"])]


def invited_in_chat(teams: TeamsDouble, member: Member) -> list[str]:
    return [text for text in chat_cards(teams, member) if text.startswith(f"You're invited: {TITLE}")]


async def test_a_volunteer_who_turns_the_feed_on_gets_invitations_and_reminders_there_too(
        graph_harness: BotHarness, graph: GraphDouble, teams_double: TeamsDouble, clock: FixedClock) -> None:
    harness = graph_harness
    for member in (ADA, BEN):
        await add_volunteer(harness, member, ally=True)

    replies = await turn_feed_on(harness, ADA)
    assert "I'll also tell you about your invitations and reminders in your Teams activity feed" in (
        "\n".join(a.get("text") or "" for a in replies))
    assert feed_answer(last_card(replies)) == ("On. Your invitations and reminders come here in our chat and in "
                                               "your Teams activity feed.")
    assert ("volunteer.feed.on" in {action for _, action, _, _ in await audit_rows(harness)})

    session_id = await publish(harness, capacity=5, starts_in=timedelta(days=3), join_url=LINK)
    await deliver(harness)

    # Both get the same invitation card in the chat; only Ada, who chose it, gets it in the feed too.
    assert len(invited_in_chat(teams_double, ADA)) == 1
    assert invited_in_chat(teams_double, ADA) == invited_in_chat(teams_double, BEN)
    [invitation] = feed_of(graph, ADA)
    assert feed_of(graph, BEN) == []
    assert invitation["activityType"] == "sessionInvitation"
    assert invitation["templateParameters"] == [{"name": "sessionTitle", "value": TITLE}]
    assert invitation["previewText"]["content"].endswith("(UK time). Open our chat to accept or decline.")
    assert invitation["topic"]["webUrl"].startswith("https://teams.microsoft.com/l/chat/")
    said = json.dumps(invitation)  # nothing about Ada but the address Graph needs (her id, in the URL)
    assert ADA.name not in said and ADA.email not in said and ADA.aad_object_id not in said
    [request] = graph.graph_requests("POST", "sendActivityNotification")
    assert ADA.aad_object_id in request.path

    # The reminder the day before: in the chat for both, in the feed for Ada only.
    for member in (ADA, BEN):
        await press_execute(harness, INVITATION_ACCEPT.name, {"session_id": session_id}, member)
    starts_at = (await session_row(harness, session_id)).starts_at
    clock.set(starts_at - timedelta(hours=23))
    assert await reminders_of(harness).tick() == 2
    await deliver(harness)
    for member in (ADA, BEN):
        assert [text for text in chat_cards(teams_double, member) if text.startswith(f"Reminder: {TITLE}")]
    [reminder] = feed_of(graph, ADA, "sessionReminder")
    assert feed_of(graph, BEN) == []
    parameters = {item["name"]: item["value"] for item in reminder["templateParameters"]}
    assert parameters["sessionTitle"] == TITLE and parameters["startsAt"].startswith("at ")
    assert reminder["previewText"]["content"].endswith("The join link is in our chat.")
    # Each went once, and each try is kept with Graph's status.
    async with harness.core.database.read() as session:
        tries = (await session.execute(select(OutboxAttempt.operation, OutboxAttempt.status).join(
            OutboxMessage, OutboxMessage.id == OutboxAttempt.message_id).where(
            OutboxMessage.key.startswith("feed:")))).all()
    assert sorted(tries) == [("feed", 204), ("feed", 204)]


async def test_the_same_cause_reaches_the_feed_once_however_often_it_is_enqueued(
        graph_harness: BotHarness, graph: GraphDouble) -> None:
    harness = graph_harness
    await add_volunteer(harness, ADA, ally=True)
    await turn_feed_on(harness, ADA)
    session_id = await publish(harness, starts_in=timedelta(days=3), join_url=LINK)
    row = await session_row(harness, session_id)
    key = f"invite:{session_id}:{ADA.aad_object_id}"

    async def enqueue_again() -> None:  # as a retried transaction or a second instance would
        async with harness.core.database.transaction() as session:
            await enqueue_feed(session, chat_key=key, person_id=ADA.aad_object_id, purpose="invitation",
                               now=harness.clock.now(), notification=invitation_feed(TITLE, row.starts_at,
                                                                                     row.ends_at))

    await enqueue_again()
    await deliver(harness)
    await enqueue_again()
    await deliver(harness)
    assert len(feed_of(graph, ADA, "sessionInvitation")) == 1
    assert [m.status for m in await outbox(harness, "feed:")] == ["sent"]


async def test_turning_the_feed_off_stops_what_has_not_gone_and_the_rest(
        graph_harness: BotHarness, graph: GraphDouble, teams_double: TeamsDouble) -> None:
    harness = graph_harness
    await add_volunteer(harness, ADA, ally=True)
    await turn_feed_on(harness, ADA)
    await publish(harness, starts_in=timedelta(days=3), join_url=LINK)

    card = await details(harness, ADA)
    replies = await harness.press(button_data(card, title="Stop telling me in my activity feed"), ADA)
    assert feed_answer(last_card(replies)) == "Off. Your invitations and reminders come here in our chat."
    await publish(harness, starts_in=timedelta(days=4), join_url=LINK)
    await deliver(harness)

    assert len(invited_in_chat(teams_double, ADA)) == 2  # the chat is as before
    assert graph.notifications == []  # the first one's notification was withdrawn before it went
    assert [m.status for m in await outbox(harness, "feed:")] == ["cancelled"]


async def test_someone_the_feed_cannot_reach_still_gets_their_chat(
        graph_harness: BotHarness, graph: GraphDouble, teams_double: TeamsDouble) -> None:
    harness = graph_harness
    await add_volunteer(harness, CAL, ally=True)
    await turn_feed_on(harness, CAL)
    await publish(harness, starts_in=timedelta(days=3), join_url=LINK)
    await deliver(harness)

    [feed] = await outbox(harness, "feed:")
    assert (feed.status, feed.last_status) == ("failed", 403)
    assert graph.notifications == []
    async with harness.core.database.read() as session:
        person = await session.get(Person, CAL.aad_object_id)
        assert person is not None and person.undeliverable_code is None  # the chat is not given up on
    await publish(harness, starts_in=timedelta(days=4), join_url=LINK)
    await deliver(harness)
    assert len(invited_in_chat(teams_double, CAL)) == 2


async def test_a_feed_graph_throttles_waits_as_long_as_graph_says_and_the_chat_goes_at_once(
        graph_harness: BotHarness, graph: GraphDouble, teams_double: TeamsDouble, clock: FixedClock) -> None:
    harness = graph_harness
    await add_volunteer(harness, ADA, ally=True)
    await turn_feed_on(harness, ADA)
    await publish(harness, starts_in=timedelta(days=3), join_url=LINK)
    graph.fail(429, times=1, retry_after=600, path_contains="sendActivityNotification")
    await deliver(harness)

    assert len(invited_in_chat(teams_double, ADA)) == 1
    [feed] = await outbox(harness, "feed:")
    assert (feed.status, feed.last_status) == ("pending", 429)
    assert graph.notifications == []
    clock.advance(timedelta(seconds=599))
    await deliver(harness)
    assert graph.notifications == []  # not before Graph's Retry-After
    clock.advance(timedelta(seconds=2))
    await deliver(harness)
    assert [body["activityType"] for body in feed_of(graph, ADA)] == ["sessionInvitation"]
    assert len(invited_in_chat(teams_double, ADA)) == 1  # the chat got it once


async def test_my_data_shows_the_choice_and_withdrawing_erases_it(graph_harness: BotHarness) -> None:
    harness = graph_harness
    await add_volunteer(harness, ADA, ally=True)
    await turn_feed_on(harness, ADA)

    data = "\n".join(a.get("text") or "" for a in await harness.say("my data", ADA))
    assert '"feed_notifications": true' in data

    await harness.say("withdraw", ADA)
    await harness.press({"action": "withdraw_confirm"}, ADA)
    async with harness.core.database.read() as session:
        stored = (await session.execute(select(Volunteer.feed_notifications).where(
            Volunteer.person_id == ADA.aad_object_id))).all()
    assert stored == []
    assert "feed_notifications" not in "\n".join(a.get("text") or "" for a in await harness.say("my data", ADA))


async def test_with_graph_off_there_is_no_toggle_and_nothing_goes_to_the_feed(
        db_url: str, token_issuer: TokenIssuer, teams_double: TeamsDouble, clock: FixedClock,
        graph: GraphDouble) -> None:
    teams_double.set_limits(per_conversation=False)
    async for harness in start_harness(db_url, token_issuer, teams_double, clock):  # GRAPH_ENABLED off
        await add_volunteer(harness, ADA, ally=True)
        card = await details(harness, ADA)
        assert feed_answer(card) is None
        assert not [b for b in buttons(card) if b["data"]["action"] in ("feed_on", "feed_off")]

        # A button from a card sent while Graph was on changes nothing now, and says so.
        replies = await harness.press({"action": "feed_on"}, ADA)
        assert "That button is out of date" in card_text(last_card(replies))
        session_id = await publish(harness, starts_in=timedelta(days=3), join_url=LINK)
        await press_execute(harness, INVITATION_ACCEPT.name, {"session_id": session_id}, ADA)
        starts_at = (await session_row(harness, session_id)).starts_at
        clock.set(starts_at - timedelta(hours=23))
        await reminders_of(harness).tick()
        await deliver(harness)

        assert len(invited_in_chat(teams_double, ADA)) == 1
        assert await outbox(harness, "feed:") == []
        assert await outbox(harness, reminder_key(1440, starts_at, session_id, ADA.aad_object_id))
    assert graph.requests == []


async def test_the_running_bot_sends_to_the_feed_when_graph_is_on(
        db_url: str, token_issuer: TokenIssuer, teams_double: TeamsDouble, clock: FixedClock,
        graph: GraphDouble) -> None:
    teams_double.set_limits(per_conversation=False)
    async with served(db_url, token_issuer, clock, StaticTokenProvider(), **graph.settings(run_worker=True)) as (
            app, http, server):
        harness = BotHarness(server=server, http=http, issuer=token_issuer, teams=teams_double, clock=clock,
                             app=app)
        await add_volunteer(harness, ADA, ally=True)
        await turn_feed_on(harness, ADA)
        await publish(harness, starts_in=timedelta(days=3), join_url=LINK)

        async def gone() -> bool:
            return [m.status for m in await outbox(harness, "feed:")] == ["sent"]

        await eventually(gone, timeout=10)
    assert [body["activityType"] for body in feed_of(graph, ADA)] == ["sessionInvitation"]
    assert len(invited_in_chat(teams_double, ADA)) == 1


def test_the_feed_texts_name_only_the_types_the_manifest_declares(declared_types: set[str]) -> None:
    assert {SESSION_INVITATION, SESSION_REMINDER} == declared_types == set(ACTIVITY_TYPES)
    start = START + timedelta(days=3)
    for feed in (invitation_feed("T" * 300, start, start + timedelta(hours=2)),
                 reminder_feed("T" * 300, start, start + timedelta(hours=2), has_link=False)):
        assert len(feed["preview"]) <= 150 and "TTT" not in feed["preview"]  # the title goes in the template
        assert "!" not in feed["preview"]

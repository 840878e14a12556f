"""Reminders before a session (issue 7) end to end, on SQLite and PostgreSQL: people reply through /api/messages,
the bot is stopped and started again on the same database with its clock moved on, and the real delivery worker
carries the reminders to the Teams double. Each reminder reaches a person once, whatever restarts, ticks or
changes of time happen."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from bot.clock import FixedClock
from tests.app_fixtures import BotHarness, card_text, cards_in
from tests.doubles.issuer import TokenIssuer
from tests.doubles.teams import Member, TeamsDouble, make_member
from tests.test_reminders_support import (
    LINK,
    booked_session,
    chat_activities,
    drain,
    reminders_of,
    running,
    running_with_worker,
    uk_fields,
)
from tests.test_sessions_helpers import (
    FACILITATOR,
    outbox,
    press_execute,
    session_row,
)
from vocabulary.actions.sessions import INVITATION_DECLINE
from vocabulary.uk_time import utc_iso as start_iso


def reminders_in_chat(teams: TeamsDouble, member: Member) -> list[dict[str, Any]]:
    """Reminder cards that reached the person's 1:1 chat, in order."""
    found = []
    for activity in chat_activities(teams, member):
        for attachment in activity.get("attachments") or []:
            content = attachment.get("content") or {}
            if content.get("body") and content["body"][0].get("text", "").startswith("Reminder:"):
                found.append(content)
    return found


def join_urls(card: dict[str, Any]) -> list[str]:
    return [action["url"] for action in card.get("actions", []) if action["title"] == "Join the session"]


async def reminder_keys(harness: BotHarness) -> dict[str, str]:
    """Key -> status of every reminder in the outbox."""
    return {message.key: message.status for message in await outbox(harness, "reminder:")}


async def test_reminders_survive_restarts_and_each_reaches_a_person_once(
        db_url: str, token_issuer: TokenIssuer, teams_double: TeamsDouble, clock: FixedClock) -> None:
    booked, also_booked, silent = make_member(7100), make_member(7101), make_member(7102)
    async with running(db_url, token_issuer, teams_double, clock) as harness:
        session_id, starts_at = await booked_session(harness, [booked, also_booked], others=[silent])
        assert await reminders_of(harness).tick() == 0  # three days ahead: nothing is due
        await drain(harness)  # the invitations

    clock.set(starts_at - timedelta(hours=23))
    async with running(db_url, token_issuer, teams_double, clock) as harness:  # started again, a day later
        assert await reminders_of(harness).tick() == 2
        assert await reminders_of(harness).tick() == 0
    async with running(db_url, token_issuer, teams_double, clock) as harness:  # and again, before they went
        assert await reminders_of(harness).tick() == 0
        await drain(harness)
        day_before = {f"reminder:1440:{start_iso(starts_at)}:{session_id}:{member.aad_object_id}"
                      for member in (booked, also_booked)}
        assert await reminder_keys(harness) == dict.fromkeys(day_before, "sent")
    for member in (booked, also_booked):
        [reminder] = reminders_in_chat(teams_double, member)
        assert "Your session starts in about 23 hours." in card_text(reminder)
        assert join_urls(reminder) == [LINK]
    assert reminders_in_chat(teams_double, silent) == []  # no reply, no place: no reminder

    clock.set(starts_at - timedelta(minutes=45))
    async with running(db_url, token_issuer, teams_double, clock) as harness:
        assert await reminders_of(harness).tick() == 2
        assert await reminders_of(harness).tick() == 0
        await drain(harness)
    clock.set(starts_at + timedelta(minutes=5))
    async with running(db_url, token_issuer, teams_double, clock) as harness:
        assert await reminders_of(harness).tick() == 0  # started: no more reminders
        await drain(harness)
        assert sorted(await reminder_keys(harness)) == sorted(
            f"reminder:{offset}:{start_iso(starts_at)}:{session_id}:{member.aad_object_id}"
            for offset in (1440, 60) for member in (booked, also_booked))
    for member in (booked, also_booked):
        _, hour = reminders_in_chat(teams_double, member)
        assert "Your session starts in 45 minutes." in card_text(hour)
        assert join_urls(hour) == [LINK]
    assert teams_double.duplicates() == {}


async def test_the_running_bot_sends_due_reminders_by_itself_after_a_restart(
        db_url: str, token_issuer: TokenIssuer, teams_double: TeamsDouble, clock: FixedClock) -> None:
    booked = make_member(7110)
    async with running(db_url, token_issuer, teams_double, clock) as harness:
        _, starts_at = await booked_session(harness, [booked], starts_in=timedelta(days=2))
    clock.set(starts_at - timedelta(hours=20))
    # RUN_WORKER on: the reminders tick runs when the bot starts, and the worker sends what it enqueued.
    async with running_with_worker(db_url, token_issuer, teams_double, clock):
        await teams_double.wait_for(lambda: len(reminders_in_chat(teams_double, booked)) == 1, timeout=15)
    [reminder] = reminders_in_chat(teams_double, booked)
    assert "Reminder: Allyship basics" in card_text(reminder) and join_urls(reminder) == [LINK]


async def change_time(harness: BotHarness, session_id: int, starts_at: datetime) -> None:
    """The facilitator saves a new time on the change card, through /api/messages."""
    row = await session_row(harness, session_id)
    replies = await harness.press({"action": "session_change", "session_id": session_id,
                                   "change_no": row.change_no, **uk_fields(starts_at, starts_at + timedelta(hours=2)),
                                   "join_url": LINK, "capacity": str(row.capacity), "co_facilitators": ""},
                                  FACILITATOR)
    assert "Your changes are saved." in card_text(cards_in(replies)[0])


async def test_a_moved_session_gets_reminders_for_its_new_time_only(
        db_url: str, token_issuer: TokenIssuer, teams_double: TeamsDouble, clock: FixedClock) -> None:
    booked = make_member(7120)
    async with running(db_url, token_issuer, teams_double, clock) as harness:
        session_id, first = await booked_session(harness, [booked])
        await drain(harness)

        clock.set(first - timedelta(hours=23))
        assert await reminders_of(harness).tick() == 1  # enqueued, not sent yet
        second = first + timedelta(days=2)
        await change_time(harness, session_id, second)
        old = f"reminder:1440:{start_iso(first)}:{session_id}:{booked.aad_object_id}"
        assert await reminder_keys(harness) == {old: "cancelled"}  # the old time's reminder never goes
        assert await reminders_of(harness).tick() == 0  # the new time is more than a day away
        await drain(harness)
        assert reminders_in_chat(teams_double, booked) == []

        clock.set(second - timedelta(hours=23))
        assert await reminders_of(harness).tick() == 1
        await drain(harness)
        # Moved again, to 30 minutes from now: the "24 hour" reminder of this new time had passed when it was
        # set, so only the "1 hour" one goes.
        third = clock.now() + timedelta(minutes=30)
        await change_time(harness, session_id, third)
        assert await reminders_of(harness).tick() == 1
        assert await reminders_of(harness).tick() == 0
        await drain(harness)
        person = booked.aad_object_id
        assert await reminder_keys(harness) == {
            old: "cancelled",
            f"reminder:1440:{start_iso(second)}:{session_id}:{person}": "sent",
            f"reminder:60:{start_iso(third)}:{session_id}:{person}": "sent",
        }
    texts = [card_text(card) for card in reminders_in_chat(teams_double, booked)]
    assert len(texts) == 2
    assert "in about 23 hours" in texts[0] and "in 30 minutes" in texts[1]


async def test_a_place_given_late_is_owed_only_reminders_still_to_come_and_a_freed_place_none(
        db_url: str, token_issuer: TokenIssuer, teams_double: TeamsDouble, clock: FixedClock) -> None:
    leaver, waiting = make_member(7130), make_member(7131)
    async with running(db_url, token_issuer, teams_double, clock) as harness:
        session_id, starts_at = await booked_session(harness, [leaver, waiting], capacity=1)
        await drain(harness)

        clock.set(starts_at - timedelta(hours=20))
        assert await reminders_of(harness).tick() == 1  # the person with the place
        # They give up the place before the reminder went: it is withdrawn, and the next person is promoted.
        await press_execute(harness, INVITATION_DECLINE.name, {"session_id": session_id}, leaver)
        assert await reminder_keys(harness) == {
            f"reminder:1440:{start_iso(starts_at)}:{session_id}:{leaver.aad_object_id}": "cancelled"}
        # Promoted 20 hours before: the "24 hour" reminder's time had passed, so it is not owed.
        assert await reminders_of(harness).tick() == 0

        clock.set(starts_at - timedelta(minutes=50))
        assert await reminders_of(harness).tick() == 1
        await drain(harness)
        assert await reminder_keys(harness) == {
            f"reminder:1440:{start_iso(starts_at)}:{session_id}:{leaver.aad_object_id}": "cancelled",
            f"reminder:60:{start_iso(starts_at)}:{session_id}:{waiting.aad_object_id}": "sent"}
    assert reminders_in_chat(teams_double, leaver) == []
    [reminder] = reminders_in_chat(teams_double, waiting)
    assert "in 50 minutes" in card_text(reminder)


async def test_when_both_are_due_at_once_only_the_1_hour_reminder_goes(
        db_url: str, token_issuer: TokenIssuer, teams_double: TeamsDouble, clock: FixedClock) -> None:
    booked = make_member(7140)
    async with running(db_url, token_issuer, teams_double, clock) as harness:
        session_id, starts_at = await booked_session(harness, [booked], join_url=None)  # no join link yet
    clock.set(starts_at - timedelta(minutes=30))  # the bot was stopped for days
    async with running(db_url, token_issuer, teams_double, clock) as harness:
        assert await reminders_of(harness).tick() == 1
        assert await reminders_of(harness).tick() == 0
        assert list(await reminder_keys(harness)) == [
            f"reminder:60:{start_iso(starts_at)}:{session_id}:{booked.aad_object_id}"]
        await drain(harness)
    [reminder] = reminders_in_chat(teams_double, booked)
    text = card_text(reminder)
    assert "in 30 minutes" in text and "There is no join link yet." in text
    assert join_urls(reminder) == []


async def test_a_reminder_still_waiting_when_the_session_starts_is_withdrawn(
        db_url: str, token_issuer: TokenIssuer, teams_double: TeamsDouble, clock: FixedClock) -> None:
    booked = make_member(7150)
    async with running(db_url, token_issuer, teams_double, clock) as harness:
        session_id, starts_at = await booked_session(harness, [booked])
        clock.set(starts_at - timedelta(minutes=45))
        assert await reminders_of(harness).tick() == 1
        # Nothing was sent (say Teams refused the bot's credentials) until after the start.
        clock.set(starts_at + timedelta(minutes=10))
        assert await reminders_of(harness).tick() == 0
        assert await reminder_keys(harness) == {
            f"reminder:60:{start_iso(starts_at)}:{session_id}:{booked.aad_object_id}": "cancelled"}
        await drain(harness)
    assert reminders_in_chat(teams_double, booked) == []

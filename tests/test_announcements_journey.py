"""The `announce` journey and the people it reaches (issue 8), through /api/messages on SQLite and PostgreSQL:
checking what the author writes, scheduling at a UK time, quiet hours, "Stop announcements" and turning them
back on, refusals for colleagues (audited), and what is kept and logged."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime, time

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import FixedClock
from bot.delivery.outbox import Message, Recipient, enqueue
from storage.models import Person
from tests.app_fixtures import BotHarness, card_text, cards_in, start_harness
from tests.doubles.issuer import TokenIssuer
from tests.doubles.teams import TeamsDouble
from tests.signup_helpers import button_data, inputs, last_card, sign_up
from tests.test_announcements_helpers import (
    AUTHOR,
    COLLEAGUE,
    Deliver,
    add_volunteers,
    announce,
    announcement_cards,
    announcements,
    audit_rows,
    bot,
    choose,
    confirm,
    deliver,
    outbox,
    personal_chat,
    progress_card,
    start,
    tick,
    when,
    write,
)
from tests.test_sessions_helpers import press_execute
from vocabulary.words import Role

__all__ = ["bot", "deliver"]

UK_EVENING = datetime(2026, 11, 26, 21, 0, tzinfo=UTC)  # 21:00 in the UK (GMT in November)


def texts(replies: list[dict[str, object]]) -> str:
    return "\n".join([str(r["text"]) for r in replies if r.get("text")] + [card_text(c) for c in cards_in(replies)])


# -- writing it ----------------------------------------------------------------------------------------------------

async def test_what_the_author_writes_is_checked_and_kept_after_an_error(bot: BotHarness) -> None:
    card = await start(bot)
    assert "There are 4 short steps" in card_text(card)
    assert inputs(card)["title"]["label"] == "Title (required)"
    assert inputs(card)["link_url"]["label"] == "Link for a button (optional)"

    again = last_card(await write(bot, card, title="  ", body="Hello", link_url="http://example.org"))
    text = card_text(again)
    assert "Please fix 2 answers below." in text
    assert "Give the announcement a title." in text and "starts with https://" in text
    assert inputs(again)["body"]["value"] == "Hello" and inputs(again)["link_url"]["value"] == "http://example.org"

    for bad, problem in [({"body": "x" * 2001}, "at most 2000 characters. It has 2001"),
                         ({"link_url": "https://user:pw@example.org"}, "starts with https://"),
                         ({"link_url": "", "link_title": "Go"}, "Give the web address for the button"),
                         ({"link_url": "javascript:alert(1)"}, "starts with https://")]:
        values = {"title": "Hi", "body": "Hello", **bad}
        assert problem in card_text(last_card(await write(bot, again, **values)))

    audience = last_card(await write(bot, again, title="Hi", body="Hello"))
    assert "Who should get it?" in card_text(audience)
    back = last_card(await bot.press(button_data(audience, nav="back"), AUTHOR))
    assert inputs(back)["title"]["value"] == "Hi" and inputs(back)["body"]["value"] == "Hello"
    assert await announcements(bot) == []


async def test_an_audience_is_needed_and_forged_choices_are_refused(bot: BotHarness) -> None:
    card = last_card(await write(bot, await start(bot)))
    assert "the app isn't in any team yet" in card_text(card)
    again = last_card(await choose(bot, card))
    assert "Choose at least one channel, or the volunteers who should get it." in card_text(again)
    forged = last_card(await bot.press({**button_data(again, nav="next"), "channels": "999"}, AUTHOR))
    assert "can't be used any more" in card_text(forged)
    forged = last_card(await bot.press({**button_data(again, nav="next"), "spaces": "everyone"}, AUTHOR))
    assert "Choose a space from the list." in card_text(forged)
    extra = await bot.press({**button_data(again, nav="next"), "spaces": "ally", "grant": "admin"}, AUTHOR)
    assert "nothing was changed" in texts(extra)
    assert await announcements(bot) == []


async def test_cancel_back_stale_cards_typing_and_help_in_the_middle(bot: BotHarness) -> None:
    first = await start(bot)
    audience = last_card(await write(bot, first))
    # The compose card is from an earlier step now.
    stale = await write(bot, first)
    assert "That card is for an earlier step" in texts(stale) and "Who should get it?" in texts(stale)
    hint = await bot.say("what now", AUTHOR)
    assert "You're writing an announcement" in texts(hint)
    helped = await bot.say("help", AUTHOR)
    assert "Help" in texts(helped) and "Who should get it?" in texts(helped)
    stopped = await bot.press(button_data(audience, nav="cancel"), AUTHOR)
    assert "Announcement stopped" in texts(stopped) and "Nothing was sent" in texts(stopped)
    old = await bot.press(button_data(audience, nav="next"), AUTHOR)
    assert "out of date" in texts(old)

    second = await start(bot)
    typed = await bot.say("cancel", AUTHOR)
    assert "Announcement stopped" in texts(typed)
    other_run = await write(bot, second)
    assert "out of date" in texts(other_run)
    assert await announcements(bot) == []


async def test_create_and_send_are_audited_with_ids_only_and_nothing_personal_is_logged(
        bot: BotHarness, deliver: Deliver, caplog: pytest.LogCaptureFixture) -> None:
    volunteers = await add_volunteers(bot, 2, first=100)
    with caplog.at_level(logging.DEBUG):
        await announce(bot, spaces="minoritised", title="Secret title words", body="Private body words")
        await tick(bot)
        await deliver()
        await tick(bot)
    [row] = await announcements(bot)
    rows = await audit_rows(bot)
    assert (AUTHOR.aad_object_id, "announcement.create", str(row.id), "done") in rows
    assert (AUTHOR.aad_object_id, "announcement.send", str(row.id), "done") in rows
    ours = [r for r in caplog.records if r.name.split(".")[0] in ("bot", "dialogs", "cards", "storage")]
    assert any("announcement" in r.getMessage() for r in ours)
    logged = "\n".join(record.getMessage() for record in ours)
    for secret in ("Secret title", "Private body", AUTHOR.name, AUTHOR.email, volunteers[0].name):
        assert secret not in logged


# -- when ----------------------------------------------------------------------------------------------------------

async def test_scheduled_at_a_uk_time_stored_as_utc_and_started_then(bot: BotHarness, deliver: Deliver) -> None:
    await add_volunteers(bot, 2, first=100)
    card = last_card(await write(bot, await start(bot)))
    preview = last_card(await choose(bot, card, spaces="minoritised"))
    confirm_card = last_card(await when(bot, preview, mode="later", date="2026-11-27", time="09:30"))
    assert "Friday 27 November 2026 at 09:30 (UK time)" in card_text(confirm_card)
    replies = await confirm(bot, confirm_card, title="Schedule it")
    assert "will start on Friday 27 November 2026 at 09:30 (UK time)" in texts(replies)
    [row] = await announcements(bot)
    assert row.send_at == row.requested_at == datetime(2026, 11, 27, 9, 30, tzinfo=UTC)

    await tick(bot)
    await deliver()
    assert "Announcement scheduled" in card_text(await progress_card(bot))
    bot.clock.set(datetime(2026, 11, 27, 9, 29, tzinfo=UTC))
    await tick(bot)
    assert await outbox(bot) == []
    bot.clock.set(datetime(2026, 11, 27, 9, 30, tzinfo=UTC))
    await tick(bot)
    assert len(await outbox(bot)) == 2


async def test_summer_time_and_times_that_cannot_be_used(bot: BotHarness) -> None:
    bot.clock.set(datetime(2027, 3, 27, 12, 0, tzinfo=UTC))
    await add_volunteers(bot, 1, first=100)
    card = last_card(await write(bot, await start(bot)))
    preview = last_card(await choose(bot, card, spaces="minoritised"))
    gap = last_card(await when(bot, preview, mode="later", date="2027-03-28", time="01:30"))
    assert "The clocks go forward that night" in card_text(gap)
    past = last_card(await when(bot, gap, mode="later", date="2027-03-27", time="11:00"))
    assert "That time has passed" in card_text(past)
    missing = last_card(await when(bot, past, mode="later"))
    assert "Choose the date to send it." in card_text(missing) and "like 09:30" in card_text(missing)
    too_far = last_card(await when(bot, missing, mode="later", date="2027-09-01", time="10:00"))
    assert "Choose a date in the next 90 days." in card_text(too_far)
    confirm_card = last_card(await when(bot, too_far, mode="later", date="2027-03-29", time="10:00"))
    await confirm(bot, confirm_card)
    [row] = await announcements(bot)
    assert row.send_at == datetime(2027, 3, 29, 9, 0, tzinfo=UTC)  # 10:00 British Summer Time


async def test_a_chosen_time_that_passes_on_the_confirm_card_is_asked_again(bot: BotHarness) -> None:
    await add_volunteers(bot, 1, first=100)
    card = last_card(await write(bot, await start(bot)))
    preview = last_card(await choose(bot, card, spaces="minoritised"))
    confirm_card = last_card(await when(bot, preview, mode="later", date="2026-11-26", time="11:00"))
    bot.clock.set(datetime(2026, 11, 26, 12, 0, tzinfo=UTC))
    replies = await confirm(bot, confirm_card)
    assert "Please choose when to send it again." in texts(replies) and "That time has passed" in texts(replies)
    assert await announcements(bot) == []


# -- quiet hours ---------------------------------------------------------------------------------------------------

async def test_send_now_in_quiet_hours_waits_for_their_end(bot: BotHarness, deliver: Deliver) -> None:
    bot.clock.set(UK_EVENING)
    await add_volunteers(bot, 2, first=100)
    card = last_card(await write(bot, await start(bot)))
    confirm_card = last_card(await when(bot, last_card(await choose(bot, card, spaces="minoritised"))))
    text = card_text(confirm_card)
    assert "Now is in quiet hours (20:00 to 08:00, UK time)" in text
    assert [b["title"] for b in confirm_card["actions"]] == ["Send at 08:00", "Send now anyway", "Back", "Cancel"]
    replies = await confirm(bot, confirm_card, title="Send at 08:00")
    assert "will start on Friday 27 November 2026 at 08:00 (UK time)" in texts(replies)

    await tick(bot)
    await deliver()
    assert await outbox(bot) == []
    waiting = card_text(await progress_card(bot))
    assert "Friday 27 November 2026 at 08:00" in waiting and "in quiet hours" in waiting
    bot.clock.set(datetime(2026, 11, 27, 7, 59, tzinfo=UTC))
    await tick(bot)
    assert await outbox(bot) == []
    bot.clock.set(datetime(2026, 11, 27, 8, 0, tzinfo=UTC))
    await tick(bot)
    await deliver()
    assert len(await outbox(bot)) == 2
    assert "Sending your announcement" in card_text(await progress_card(bot)) or \
        "Your announcement has gone" in card_text(await progress_card(bot))


async def test_the_author_can_confirm_sending_in_quiet_hours(bot: BotHarness, deliver: Deliver) -> None:
    bot.clock.set(UK_EVENING)
    volunteers = await add_volunteers(bot, 2, first=100)
    await announce(bot, spaces="minoritised", send="Send now anyway")
    [row] = await announcements(bot)
    assert row.quiet_hours_confirmed and row.send_at == UK_EVENING
    await tick(bot)
    await deliver()
    assert all(announcement_cards(bot, m) for m in volunteers)


async def test_a_scheduled_time_in_quiet_hours_moves_to_their_end_unless_confirmed(bot: BotHarness) -> None:
    await add_volunteers(bot, 1, first=100)
    card = last_card(await write(bot, await start(bot)))
    preview = last_card(await choose(bot, card, spaces="minoritised"))
    confirm_card = last_card(await when(bot, preview, mode="later", date="2026-11-26", time="22:30"))
    assert "22:30 is in quiet hours" in card_text(confirm_card)
    assert [b["title"] for b in confirm_card["actions"]][:2] == ["Send at 08:00", "Send at 22:30 anyway"]
    await confirm(bot, confirm_card, title="Send at 08:00")
    await announce(bot, spaces="minoritised", mode="later", date="2026-11-26", time="22:30",
                   send="Send at 22:30 anyway")
    waited, confirmed = await announcements(bot)
    assert waited.requested_at == datetime(2026, 11, 26, 22, 30, tzinfo=UTC)
    assert waited.send_at == datetime(2026, 11, 27, 8, 0, tzinfo=UTC) and not waited.quiet_hours_confirmed
    assert confirmed.send_at == datetime(2026, 11, 26, 22, 30, tzinfo=UTC) and confirmed.quiet_hours_confirmed
    bot.clock.set(datetime(2026, 11, 26, 22, 30, tzinfo=UTC))
    await tick(bot)
    assert {m.batch for m in await outbox(bot)} == {f"announcement:{confirmed.id}"}


async def test_a_late_start_that_falls_in_quiet_hours_still_waits(bot: BotHarness, deliver: Deliver) -> None:
    await add_volunteers(bot, 1, first=100)
    await announce(bot, spaces="minoritised", mode="later", date="2026-11-26", time="19:55")
    bot.clock.set(datetime(2026, 11, 26, 20, 30, tzinfo=UTC))  # the bot was down at 19:55
    await tick(bot)
    assert await outbox(bot) == []
    [row] = await announcements(bot)
    assert row.send_at == datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
    await deliver()
    assert "Friday 27 November 2026 at 08:00" in card_text(await progress_card(bot))


async def test_quiet_hours_that_begin_on_the_confirm_card_are_asked_about(bot: BotHarness) -> None:
    bot.clock.set(datetime(2026, 11, 26, 19, 59, tzinfo=UTC))
    await add_volunteers(bot, 1, first=100)
    card = last_card(await write(bot, await start(bot)))
    confirm_card = last_card(await when(bot, last_card(await choose(bot, card, spaces="minoritised"))))
    assert confirm_card["actions"][0]["title"] == "Send now"
    bot.clock.set(datetime(2026, 11, 26, 20, 1, tzinfo=UTC))
    replies = await confirm(bot, confirm_card)
    assert "Quiet hours have started since you checked" in texts(replies)
    assert [b["title"] for b in last_card(replies)["actions"]][:2] == ["Send at 08:00", "Send now anyway"]
    assert await announcements(bot) == []


@pytest.fixture
async def late_quiet_bot(db_url: str, token_issuer: TokenIssuer, teams_double: TeamsDouble,
                         clock: FixedClock) -> AsyncIterator[BotHarness]:
    async for harness in start_harness(db_url, token_issuer, teams_double, clock,
                                       quiet_hours_start=time(22, 0), quiet_hours_end=time(6, 30)):
        await harness.core.roles.grant("test", AUTHOR.aad_object_id, Role.FACILITATOR)
        yield harness


async def test_quiet_hours_come_from_settings(late_quiet_bot: BotHarness) -> None:
    late_quiet_bot.clock.set(UK_EVENING)
    await add_volunteers(late_quiet_bot, 1, first=100)
    card = last_card(await write(late_quiet_bot, await start(late_quiet_bot)))
    preview = last_card(await choose(late_quiet_bot, card, spaces="minoritised"))
    assert "Quiet hours are 22:00 to 06:30 (UK time)" in card_text(preview)
    confirm_card = last_card(await when(late_quiet_bot, preview))
    assert confirm_card["actions"][0]["title"] == "Send now"


# -- people who stop announcements ---------------------------------------------------------------------------------

async def stopped(harness: BotHarness, member_id: str) -> bool:
    async with harness.core.database.transaction() as session:
        person = await session.get(Person, member_id)
        assert person is not None
        return person.announcements_stopped


async def test_stop_announcements_keeps_invitations_and_can_be_turned_back_on(bot: BotHarness,
                                                                              deliver: Deliver) -> None:
    first, second = await add_volunteers(bot, 2, first=100)
    await announce(bot, spaces="minoritised", title="One")
    await tick(bot)
    await deliver()
    [card] = announcement_cards(bot, first)

    replies = await bot.press(button_data(card, title="Stop announcements"), first)
    text = texts(replies)
    assert "You won't get announcements from HNY Inc. any more." in text
    assert "You'll still get your session invitations and reminders." in text
    assert await stopped(bot, first.aad_object_id)

    await announce(bot, spaces="minoritised", title="Two")
    async with bot.core.database.transaction() as session:  # an invitation still reaches them
        await enqueue(session, key="invite:test", recipient=Recipient.person(first.aad_object_id),
                      message=Message(text="You're invited: Allyship basics"), purpose="invitation",
                      now=bot.clock.now())
    await tick(bot)
    await deliver()
    assert [c["body"][0]["text"] for c in announcement_cards(bot, first)] == ["One"]
    assert [c["body"][0]["text"] for c in announcement_cards(bot, second)] == ["One", "Two"]
    assert "You're invited: Allyship basics" in [a.get("text") for a in bot.teams.sent(personal_chat(first))]

    resumed = await bot.press(button_data(last_card(replies), title="Turn announcements back on"), first)
    assert "Announcements are back on" in texts(resumed)
    assert not await stopped(bot, first.aad_object_id)
    await announce(bot, spaces="minoritised", title="Three")
    await tick(bot)
    await deliver()
    assert [c["body"][0]["text"] for c in announcement_cards(bot, first)] == ["One", "Three"]


async def test_typed_stop_announcements_withdraws_one_not_sent_yet(bot: BotHarness, deliver: Deliver) -> None:
    first, second = await add_volunteers(bot, 2, first=100)
    await announce(bot, spaces="minoritised")
    await tick(bot)  # queued, not sent yet
    assert "Announcements stopped" in texts(await bot.say("please stop announcements", first))
    await deliver()
    assert announcement_cards(bot, first) == [] and len(announcement_cards(bot, second)) == 1
    statuses = {m.person_id: m.status for m in await outbox(bot)}
    assert statuses == {first.aad_object_id: "cancelled", second.aad_object_id: "sent"}
    assert "Announcements are back on" in texts(await bot.say("turn announcements back on", first))
    assert not await stopped(bot, first.aad_object_id)


# -- refusals ------------------------------------------------------------------------------------------------------

async def test_a_colleague_is_refused_everywhere_and_it_is_audited(bot: BotHarness) -> None:
    refusal = "Only facilitators can do that. If you think you should be one, contact HNY.Inc@nhs.net."
    assert refusal in texts(await bot.say("announce", COLLEAGUE))
    assert refusal in texts(await bot.press({"action": "announce"}, COLLEAGUE))

    await add_volunteers(bot, 1, first=100)
    await announce(bot, spaces="minoritised", mode="later", date="2026-11-27", time="09:30")
    [row] = await announcements(bot)
    answer = await press_execute(bot, "announcement_stop", {"announcement_id": row.id}, COLLEAGUE)
    assert answer["value"] == refusal
    assert refusal in texts(await bot.press({"action": "announcement_stop", "announcement_id": row.id}, COLLEAGUE))
    forged = await bot.press({"action": "announce_journey", "journey": "x", "step": "confirm", "nav": "send"},
                             COLLEAGUE)
    assert "out of date" in texts(forged)
    assert (await announcements(bot))[0].status == "scheduled" and len(await announcements(bot)) == 1

    refused = [(actor, action) for actor, action, _, outcome in await audit_rows(bot) if outcome == "refused"]
    assert refused == [(COLLEAGUE.aad_object_id, "command.announce"), (COLLEAGUE.aad_object_id, "announce"),
                       (COLLEAGUE.aad_object_id, "announcement_stop"),
                       (COLLEAGUE.aad_object_id, "announcement_stop")]


async def test_a_facilitator_who_loses_the_role_mid_journey_is_stopped(bot: BotHarness) -> None:
    await add_volunteers(bot, 1, first=100)
    card = last_card(await write(bot, await start(bot)))
    confirm_card = last_card(await when(bot, last_card(await choose(bot, card, spaces="minoritised"))))
    await bot.core.roles.revoke("test", AUTHOR.aad_object_id, Role.FACILITATOR)
    replies = await confirm(bot, confirm_card)
    assert "Only facilitators can send announcements" in texts(replies)
    assert await announcements(bot) == []
    assert (AUTHOR.aad_object_id, "announce", None, "refused") in await audit_rows(bot)


async def test_announce_in_a_channel_moves_to_the_private_chat(bot: BotHarness) -> None:
    replies = await bot.say("announce", AUTHOR, conversation={
        "id": "19:general@thread.tacv2", "conversationType": "channel", "tenantId": AUTHOR.tenant_id})
    assert "private chat" in texts(replies)


# -- the author's data ---------------------------------------------------------------------------------------------

async def test_an_author_who_withdraws_is_forgotten_and_the_announcement_still_goes(bot: BotHarness,
                                                                                   deliver: Deliver) -> None:
    volunteers = await add_volunteers(bot, 2, first=100)
    await sign_up(bot, AUTHOR, space="ally")
    await announce(bot, spaces="minoritised", mode="later", date="2026-11-27", time="09:30")
    await deliver()
    withdraw = last_card(await bot.say("withdraw", AUTHOR))
    await bot.press(button_data(withdraw, action="withdraw_confirm"), AUTHOR)
    [row] = await announcements(bot)
    assert row.author_person_id is None and row.progress_outbox_id is None
    bot.clock.set(datetime(2026, 11, 27, 9, 30, tzinfo=UTC))
    await tick(bot)
    await deliver()
    await tick(bot)
    assert all(announcement_cards(bot, m) for m in volunteers)
    assert {m.author_id for m in await outbox(bot)} == {None}
    assert (await announcements(bot))[0].status == "done"


async def test_a_progress_card_only_changes_when_what_it_shows_changes(bot: BotHarness, deliver: Deliver) -> None:
    await add_volunteers(bot, 1, first=100)
    await announce(bot, spaces="minoritised")
    for _ in range(3):
        await tick(bot)
    await deliver()
    for _ in range(3):
        await tick(bot)
    [row] = await announcements(bot)
    assert row.progress_updates == 2  # getting ready → sending → final report
    assert len(await outbox(bot, "announcement-progress")) == 3


async def test_a_tick_with_nothing_new_to_show_writes_nothing(bot: BotHarness, deliver: Deliver,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """On SQLite a write transaction holds the one write lock every turn and the delivery worker need: a tick
    every few seconds takes it only when a card changes or an announcement finishes."""
    await add_volunteers(bot, 12, first=100)
    await announce(bot, spaces="minoritised")
    await tick(bot)  # starts it: the card says "Sending", 0%
    database = bot.core.database
    transaction = database.transaction
    writes = 0

    def counted() -> AbstractAsyncContextManager[AsyncSession]:
        nonlocal writes
        writes += 1
        return transaction()

    monkeypatch.setattr(database, "transaction", counted)
    await tick(bot)
    await tick(bot)
    assert writes == 0
    monkeypatch.undo()
    await deliver()
    monkeypatch.setattr(database, "transaction", counted)
    await tick(bot)
    assert writes == 1  # every message went: the final report
    assert (await announcements(bot))[0].status == "done"

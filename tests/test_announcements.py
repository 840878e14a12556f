"""Announcements end to end (issue 8) through /api/messages, the delivery worker and the Teams double, on SQLite and
PostgreSQL: each audience, the preview with the audience rounded (design §5), the progress card updated in place
with its final report, and "Stop sending"."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, text

from bot.delivery.outbox import Message, Recipient, enqueue
from storage.models import OutboxMessage
from tests.app_fixtures import BotHarness, card_text, cards_in
from tests.signup_helpers import button_data, buttons, inputs, last_card
from tests.test_announcements_helpers import (
    AUTHOR,
    COLLEAGUE,
    Deliver,
    add_session,
    add_volunteers,
    announce,
    announcement_cards,
    announcements,
    audit_rows,
    bot,
    choose,
    confirm,
    deliver,
    install_in_channel,
    outbox,
    personal_chat,
    progress_card,
    start,
    tick,
    when,
    write,
)

__all__ = ["bot", "deliver"]

ROUNDING = "Numbers are rounded to the nearest 5"
GENERAL = "19:general@thread.tacv2"
NEWS = "19:news@thread.tacv2"
OTHER_TEAM = "19:other@thread.tacv2"


async def test_channels_where_the_bot_is_installed_are_listed_by_team_and_channel_and_get_it(
        bot: BotHarness, deliver: Deliver) -> None:
    await install_in_channel(bot, "Inclusion Assembly", None, GENERAL)  # Teams gives General no name
    await install_in_channel(bot, "Inclusion Assembly", "News", NEWS)
    await install_in_channel(bot, "Allies Network", "General", OTHER_TEAM)
    await install_in_channel(bot, "Inclusion Assembly", "News", NEWS + ";messageid=17")  # a reply thread

    card = last_card(await write(bot, await start(bot), link_url="https://www.nhs.uk/allyship",
                                 link_title="Read more"))
    titles = [choice["title"] for choice in inputs(card)["channels"]["choices"]]
    assert titles == ["Allies Network › General", "Inclusion Assembly › General", "Inclusion Assembly › News"]

    preview = last_card(await choose(bot, card, channels=["Inclusion Assembly › News", "Allies Network"]))
    text = card_text(preview)
    assert "This is how people will see it" in text and "Join us on Friday to shape the training." in text
    assert "Inclusion Assembly › News" in text and "Allies Network › General" in text
    assert "Stop announcements" not in text  # channels get no such button
    assert ROUNDING not in text  # no people, so no counts
    confirm_card = last_card(await when(bot, preview))
    assert "Ready to send?" in card_text(confirm_card)
    replies = await confirm(bot, confirm_card, title="Send now")
    assert "on its way" in replies[0]["text"]

    await tick(bot)
    await deliver()
    for conversation in (NEWS, OTHER_TEAM):
        _intro, sent = cards_in(bot.teams.sent(conversation))  # the intro card on install, then the announcement
        assert sent["body"][0]["text"] == "Co-design day in Hull"
        assert sent["actions"] == [{"type": "Action.OpenUrl", "title": "Read more", "url": "https://www.nhs.uk/allyship"}]
    assert not cards_in(bot.teams.sent(GENERAL))[1:]  # only the intro card there
    [row] = await announcements(bot)
    messages = await outbox(bot)
    assert len(messages) == 2 and {m.batch for m in messages} == {f"announcement:{row.id}"}
    assert all(m.key.startswith(f"announcement:{row.id}:channel:") and m.person_id is None for m in messages)

    await tick(bot)
    await deliver()
    final = card_text(await progress_card(bot))
    assert "Your announcement has gone" in final and "100%" in final


async def test_volunteers_by_space_with_the_audience_rounded_and_a_stop_button(bot: BotHarness,
                                                                                 deliver: Deliver) -> None:
    minoritised = await add_volunteers(bot, 12, first=100, spaces=("minoritised",))
    allies = await add_volunteers(bot, 3, first=200, spaces=("ally",))
    both = await add_volunteers(bot, 1, first=300, spaces=("minoritised", "ally"))
    stopped = await add_volunteers(bot, 2, first=400, stopped=True)
    behind = await add_volunteers(bot, 1, first=500, consent_behind=True)

    card = last_card(await write(bot, await start(bot)))
    preview = last_card(await choose(bot, card, spaces="minoritised"))
    text = card_text(preview)
    assert "15 people" in text  # 13 raw, rounded to the nearest 5
    assert ROUNDING in text and "Stop announcements" in text
    # The preview's sample button changes nothing.
    sample = await bot.press(button_data(preview, title="Stop announcements"), AUTHOR)
    assert "only in the preview" in sample[0]["text"]

    allies_preview = last_card(await bot.press(button_data(preview, nav="back"), AUTHOR))
    allies_preview = last_card(await choose(bot, allies_preview, spaces="ally"))
    assert "fewer than 8 people" in card_text(allies_preview)
    assert "4 people" not in card_text(allies_preview)
    back = last_card(await bot.press(button_data(allies_preview, nav="back"), AUTHOR))
    confirm_card = last_card(await when(bot, last_card(await choose(bot, back, spaces="minoritised"))))
    await confirm(bot, confirm_card)
    await tick(bot)
    await deliver()

    for member in minoritised + both:
        [sent] = announcement_cards(bot, member)
        assert [b["title"] for b in buttons(sent)] == ["Stop announcements"]
    for member in allies + stopped + behind:
        assert announcement_cards(bot, member) == []
    assert len(await outbox(bot)) == 13


async def test_volunteers_by_phase_and_by_space_and_phase(bot: BotHarness, deliver: Deliver) -> None:
    codesign_allies = await add_volunteers(bot, 2, first=100, spaces=("ally",), phases=("codesign",))
    trainer_allies = await add_volunteers(bot, 2, first=200, spaces=("ally",), phases=("train_the_trainer",))
    trainer_minoritised = await add_volunteers(bot, 2, first=300, phases=("train_the_trainer",))

    await announce(bot, phases="train_the_trainer", title="Trainers wanted")
    await tick(bot)
    await deliver()
    assert all(announcement_cards(bot, m) for m in trainer_allies + trainer_minoritised)
    assert not any(announcement_cards(bot, m) for m in codesign_allies)

    await announce(bot, spaces="ally", phases="train_the_trainer", title="Allies who train")
    await tick(bot)
    await deliver()
    assert all(len(announcement_cards(bot, m)) == 2 for m in trainer_allies)
    assert all(len(announcement_cards(bot, m)) == 1 for m in trainer_minoritised)
    assert not any(announcement_cards(bot, m) for m in codesign_allies)


async def test_people_booked_on_a_session_and_channels_together(bot: BotHarness, deliver: Deliver) -> None:
    booked = await add_volunteers(bot, 2, first=100)
    waiting = await add_volunteers(bot, 1, first=200)
    declined = await add_volunteers(bot, 1, first=300)
    await add_session(bot, "Allyship basics", accepted=booked, others={"waiting": waiting, "declined": declined})
    await install_in_channel(bot, "Inclusion Assembly", "News", NEWS)

    card = last_card(await write(bot, await start(bot), title="Room change"))
    assert any(c["title"].startswith("Allyship basics (") for c in inputs(card)["sessions"]["choices"])
    preview = last_card(await choose(bot, card, sessions=["Allyship basics"], channels=["Inclusion Assembly › News"]))
    text = card_text(preview)
    assert "Booked on" in text and "Allyship basics" in text and "fewer than 8 people" in text
    await confirm(bot, last_card(await when(bot, preview)))
    await tick(bot)
    await deliver()

    assert all(len(announcement_cards(bot, m)) == 1 for m in booked)
    assert not any(announcement_cards(bot, m) for m in waiting + declined)
    assert len(cards_in(bot.teams.sent(NEWS))) == 2  # the intro card, then the announcement


async def test_progress_card_is_updated_in_place_with_a_bar_and_a_final_report(bot: BotHarness,
                                                                                  deliver: Deliver) -> None:
    volunteers = await add_volunteers(bot, 12, first=100)
    blocked = volunteers[:2]
    slow = volunteers[2:4]
    for member in blocked:
        bot.teams.block(personal_chat(member))
    for member in slow:
        bot.teams.fail_next(503, path_contains=personal_chat(member), times=1)
    await announce(bot, spaces="minoritised")
    await tick(bot)
    await deliver()  # two are blocked, two wait to retry after a 503

    await tick(bot)
    await deliver()
    middle = await progress_card(bot)
    text = card_text(middle)
    assert "Sending your announcement" in text
    assert "▓▓▓▓▓▓▓▓░░ 80%" in text  # 10 of 12 dealt with, rounded down to a ten
    assert "2 could not be delivered." in text
    assert "Stop sending" in text
    for figure in ("12", "10 of"):
        assert figure not in text  # no exact counts but the undelivered ones (design §5)

    bot.clock.advance(timedelta(minutes=5))
    await deliver()
    await tick(bot)
    await deliver()
    final = await progress_card(bot)
    text = card_text(final)
    assert "Your announcement has gone" in text and "Final report" in text
    assert "about 80%" in text  # delivered: 10 of 12
    assert "2 could not be delivered, because the person or channel can't be reached" in text
    assert "Stop sending" not in text and "Send another announcement" in text

    # One progress card, updated in place: every later version was a PUT of the same activity.
    author_chat = personal_chat(AUTHOR)
    progress_sends = [c for c in cards_in(bot.teams.sent(author_chat)) if c["body"][0]["text"] in (
        "Getting ready to send", "Sending your announcement", "Your announcement has gone")]
    assert len(progress_sends) == 1
    puts = [r for r in bot.teams.requests if r.method == "PUT" and r.conversation_id == author_chat]
    assert len(puts) >= 2 and len({r.activity_id for r in puts}) == 1
    [row] = await announcements(bot)
    assert row.status == "done" and row.finished_at is not None


async def test_stop_sending_cancels_what_has_not_gone_and_keeps_what_has(bot: BotHarness, deliver: Deliver) -> None:
    from tests.test_sessions_helpers import press_execute

    volunteers = await add_volunteers(bot, 12, first=100)
    for member in volunteers[:3]:
        bot.teams.fail_next(503, path_contains=personal_chat(member), times=1)
    await announce(bot, spaces="minoritised")
    await tick(bot)
    await deliver()  # nine delivered, three wait to retry
    [row] = await announcements(bot)
    card = await progress_card(bot)
    stop = button_data(card, title="Stop sending")
    assert stop == {"action": "announcement_stop", "announcement_id": row.id}

    answer = await press_execute(bot, "announcement_stop", {"announcement_id": row.id}, AUTHOR)
    text = card_text(answer["value"])
    assert "You stopped this announcement" in text and "Not sent, because you stopped it" in text
    assert "Stop sending" not in text
    statuses = sorted(m.status for m in await outbox(bot))
    assert statuses == ["cancelled"] * 3 + ["sent"] * 9

    bot.clock.advance(timedelta(minutes=5))
    await deliver()
    assert not any(announcement_cards(bot, m) for m in volunteers[:3])
    assert all(len(announcement_cards(bot, m)) == 1 for m in volunteers[3:])
    final = card_text(await progress_card(bot))
    assert "You stopped this announcement" in final and "about 80%" in final and "about 30%" in final
    assert (AUTHOR.aad_object_id, "announcement.stop", str(row.id), "done") in await audit_rows(bot)

    # Pressing again (or the Submit fallback) changes nothing.
    again = await bot.press(stop, AUTHOR)
    assert "already finished" in again[0]["text"]


async def test_stop_sending_a_scheduled_announcement_sends_nothing(bot: BotHarness, deliver: Deliver) -> None:
    volunteers = await add_volunteers(bot, 3, first=100)
    await announce(bot, spaces="minoritised", mode="later", date="2026-11-27", time="09:30", send="Schedule it")
    await deliver()
    [row] = await announcements(bot)
    scheduled = card_text(await progress_card(bot))
    assert "Announcement scheduled" in scheduled and "Friday 27 November 2026 at 09:30 (UK time)" in scheduled

    replies = await bot.press(button_data(await progress_card(bot), title="Stop sending"), AUTHOR)
    assert "Sending stopped" in replies[0]["text"]
    await deliver()
    assert "Nothing was sent" in card_text(await progress_card(bot))
    bot.clock.advance(timedelta(days=2))
    await tick(bot)
    await deliver()
    assert await outbox(bot) == []
    assert not any(announcement_cards(bot, m) for m in volunteers)
    assert [a.status for a in await announcements(bot)] == ["stopped"]
    assert (AUTHOR.aad_object_id, "announcement.stop", str(row.id), "done") in await audit_rows(bot)


async def test_only_the_author_or_an_admin_can_stop_sending(bot: BotHarness, deliver: Deliver) -> None:
    from tests.test_announcements_helpers import OTHER_FACILITATOR
    from tests.test_sessions_helpers import press_execute

    await add_volunteers(bot, 2, first=100)
    await announce(bot, spaces="minoritised", mode="later", date="2026-11-27", time="09:30", send="Schedule it")
    [row] = await announcements(bot)
    answer = await press_execute(bot, "announcement_stop", {"announcement_id": row.id}, OTHER_FACILITATOR)
    assert "Only the facilitator who sent this announcement" in answer["value"]
    assert (await announcements(bot))[0].status == "scheduled"
    assert (OTHER_FACILITATOR.aad_object_id, "announcement.stop", str(row.id), "refused") in await audit_rows(bot)


async def test_the_author_is_told_when_nobody_matches(bot: BotHarness, deliver: Deliver) -> None:
    card = last_card(await write(bot, await start(bot)))
    preview = last_card(await choose(bot, card, spaces="ally"))
    assert "No volunteers match this yet." in card_text(preview)
    await confirm(bot, last_card(await when(bot, preview)))
    await tick(bot)
    await deliver()
    assert "Nothing to send" in card_text(await progress_card(bot))


async def test_outbox_rows_carry_the_announcement_as_batch_and_one_key_per_recipient(bot: BotHarness) -> None:
    volunteers = await add_volunteers(bot, 2, first=100)
    await announce(bot, spaces="minoritised")
    await tick(bot)
    await tick(bot)  # a second tick (or instance) queues nothing twice
    [row] = await announcements(bot)
    rows = await outbox(bot)
    assert sorted(m.key for m in rows) == sorted(f"announcement:{row.id}:person:{m.aad_object_id}" for m in volunteers)
    assert {(m.batch, m.author_id, m.status) for m in rows} == {(f"announcement:{row.id}", AUTHOR.aad_object_id,
                                                                "pending")}
    async with bot.core.database.transaction() as session:
        progress = (await session.execute(select(OutboxMessage).where(
            OutboxMessage.purpose == "announcement-progress").order_by(OutboxMessage.id))).scalars().all()
    assert progress[0].id == row.progress_outbox_id and progress[0].person_id == AUTHOR.aad_object_id
    assert all(p.updates_id == row.progress_outbox_id for p in progress[1:])
    assert COLLEAGUE.aad_object_id not in {m.person_id for m in rows}



async def test_people_queued_in_one_statement_get_the_very_rows_enqueue_writes(bot: BotHarness) -> None:
    """The people's messages are written by one INSERT … SELECT, not by enqueue(): stored value for stored value
    (times as the database keeps them, the order key that keeps a person's messages in order) they must be the
    rows enqueue() would write, and enqueueing one again is the same message."""
    [volunteer] = await add_volunteers(bot, 1, first=100)
    await announce(bot, spaces="minoritised")
    await tick(bot)
    [queued] = await outbox(bot)
    async with bot.core.database.transaction() as session:
        again = await enqueue(session, key=queued.key, recipient=Recipient.person(volunteer.aad_object_id),
                              message=Message(text="ignored"), purpose="announcement", now=bot.clock.now())
        by_enqueue = await enqueue(session, key="by-enqueue", recipient=Recipient.person(volunteer.aad_object_id),
                                   message=Message(text="x"), purpose="announcement", now=bot.clock.now(),
                                   batch=queued.batch, author_id=queued.author_id)
    assert again == queued.id
    async with bot.core.database.read() as session:  # raw values, as stored
        rows = {row["id"]: row for row in (await session.execute(
            text("SELECT * FROM outbox WHERE id IN (:a, :b)"), {"a": queued.id, "b": by_enqueue})).mappings()}
    assert {name: value for name, value in rows[queued.id].items() if name not in ("id", "key", "payload")} == \
        {name: value for name, value in rows[by_enqueue].items() if name not in ("id", "key", "payload")}

"""Edit and withdraw an announcement after it was delivered (issue 24), end to end through /api/messages, the
delivery worker and the Teams double, on SQLite and PostgreSQL: every delivered copy changes in place (a PUT of
the activity people already have, never a new message), says "Updated" with the UK time or that its author
withdrew it, the author's progress card follows it with figures suppressed per design §5, only the author or an
admin may do it, and both are audited with ids only."""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import pytest

from cards.announcement_changes import EditView, edit_card, edit_check_card, recall_card
from cards.announcements import AnnouncementView, ChangeProgressView, ProgressView, withdrawn_card
from cards.announcements import progress_card as draw_progress
from storage.repositories.outbox import OUTBOX_CHANNEL
from tests.app_fixtures import BotHarness, card_text, cards_in, nodes
from tests.db_fixtures import _asyncpg_dsn
from tests.doubles.teams import Member
from tests.signup_helpers import button_data, buttons, inputs, last_card
from tests.test_announcements_helpers import (
    AUTHOR,
    COLLEAGUE,
    OTHER_FACILITATOR,
    Deliver,
    add_volunteers,
    announce,
    announcements,
    audit_rows,
    bot,
    deliver,
    install_in_channel,
    outbox,
    personal_chat,
    progress_card,
    tick,
)
from vocabulary.words import AnnouncementChangeKind, Role

__all__ = ["bot", "deliver"]

NEWS = "19:news@thread.tacv2"
WITHDRAWN = "This announcement was withdrawn by its author."


def copies(harness: BotHarness, conversation_id: str) -> list[dict[str, Any]]:
    """The announcement cards in a chat as Teams shows them now (after every update in place)."""
    found = []
    for delivered in harness.teams.delivered:
        if delivered.conversation_id != conversation_id:
            continue
        current = harness.teams.activity(conversation_id, delivered.activity_id)
        for card in cards_in([current] if current else []):
            if "An announcement from HNY Inc." in card_text(card):
                found.append(card)
    return found


def puts_to(harness: BotHarness, conversation_id: str) -> int:
    return len([r for r in harness.teams.requests if r.method == "PUT" and r.conversation_id == conversation_id])


async def sent_and_reported(harness: BotHarness, deliver: Deliver) -> None:
    """Start what is due, deliver it, and bring the author's card up to date (twice: the card is a message too)."""
    for _ in range(2):
        await tick(harness)
        await deliver()


def change_section(card: dict[str, Any]) -> str:
    """The text of the card from the edit's or recall's own heading on."""
    text = card_text(card)
    for start in ("Updating the copies", "Withdrawing the copies", "Your changes are in place",
                  "Announcement withdrawn"):
        if start in text:
            return text[text.index(start):]
    raise AssertionError(f"no change section in {text}")


async def press(harness: BotHarness, card: dict[str, Any], button: str, member: Member = AUTHOR,
                **typed: str) -> list[dict[str, Any]]:
    """Press the button titled `button`, with what was typed into the card's inputs."""
    return await harness.press({**button_data(card, title=button), **typed}, member)


async def test_the_author_edits_it_and_every_delivered_copy_changes_in_place_marked_updated(
        bot: BotHarness, deliver: Deliver, caplog: pytest.LogCaptureFixture) -> None:
    volunteers = await add_volunteers(bot, 12, first=100)
    await install_in_channel(bot, "Inclusion Assembly", "News", NEWS)
    await announce(bot, spaces="minoritised", channels=["Inclusion Assembly › News"], title="Co-design day in Hull",
                   body="Join us on Friday in room 4.")
    await sent_and_reported(bot, deliver)
    final = await progress_card(bot)
    assert [b["title"] for b in buttons(final)] == ["Edit announcement", "Withdraw announcement",
                                                    "Send another announcement"]
    blocked = volunteers[0]
    bot.teams.block(personal_chat(blocked))  # removed the app after the announcement reached them

    edit = last_card(await press(bot, final, "Edit announcement"))
    assert "Edit your announcement" in card_text(edit)
    assert inputs(edit)["title"]["value"] == "Co-design day in Hull"
    assert inputs(edit)["body"]["value"] == "Join us on Friday in room 4."
    assert inputs(edit)["title"]["label"] == "Title (required)"
    assert [b["title"] for b in buttons(edit)] == ["Next", "Cancel"]

    empty = last_card(await press(bot, edit, "Next", title="Co-design day in Hull", body="  "))
    assert "Please fix 1 answer below." in card_text(empty) and "Write the message." in card_text(empty)
    new_body = "Join us on Friday in room 9."
    check = last_card(await press(bot, empty, "Next", title="Co-design day in Hull", body=new_body))
    text = card_text(check)
    assert "Check your changes" in text and "Join us on Friday in room 9." in text
    assert "Updated on Thursday 26 November 2026 at 10:00 (UK time)." in text
    assert [b["title"] for b in buttons(check)] == ["Update the announcement", "Back", "Cancel"]
    back = last_card(await press(bot, check, "Back"))
    assert inputs(back)["body"]["value"] == "Join us on Friday in room 9."  # what was typed is kept
    check = last_card(await press(bot, back, "Next", title="Co-design day in Hull", body=new_body))

    with caplog.at_level(logging.DEBUG):
        replies = await press(bot, check, "Update the announcement")
        assert "being updated" in replies[0]["text"]
        posts_before = len(bot.teams.sent())
        await tick(bot)
        await deliver()
        await sent_and_reported(bot, deliver)

    # Everyone who got it sees the new text on the very card they had; nobody got a new message.
    assert len(bot.teams.sent()) == posts_before
    for member in volunteers[1:]:
        [copy] = copies(bot, personal_chat(member))
        copy_text = card_text(copy)
        assert "Join us on Friday in room 9." in copy_text and "room 4" not in copy_text
        assert "Updated on Thursday 26 November 2026 at 10:00 (UK time)." in copy_text
        assert "Stop announcements" in [b["title"] for b in buttons(copy)]
        assert puts_to(bot, personal_chat(member)) == 1
    [channel_copy] = copies(bot, NEWS)
    assert "room 9" in card_text(channel_copy) and "Stop announcements" not in card_text(channel_copy)
    [old_copy] = copies(bot, personal_chat(blocked))
    assert "room 4" in card_text(old_copy)

    report = await progress_card(bot)
    section = change_section(report)
    assert "Your changes are in place" in section and "about 90%" in section  # 12 of 13 copies
    assert "Could not be changed\n1" in section
    assert "Edit announcement" in card_text(report)  # it can be edited again

    [row] = await announcements(bot)
    assert (row.title, row.body, row.revision) == ("Co-design day in Hull", "Join us on Friday in room 9.", 1)
    assert (AUTHOR.aad_object_id, "announcement.edit", str(row.id), "done") in await audit_rows(bot)
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.split(".")[0] in ("bot", "cards", "storage"))
    assert "announcement" in ours
    for secret in ("room 9", "Co-design day", AUTHOR.name, volunteers[1].name):
        assert secret not in ours


async def test_withdrawing_replaces_every_copy_with_a_short_note_and_a_small_audience_gets_no_figures(
        bot: BotHarness, deliver: Deliver) -> None:
    volunteers = await add_volunteers(bot, 3, first=100)
    await announce(bot, spaces="minoritised", body="The venue is the old library.")
    await sent_and_reported(bot, deliver)

    confirm = last_card(await press(bot, await progress_card(bot), "Withdraw announcement"))
    text = card_text(confirm)
    assert "Withdraw this announcement?" in text and WITHDRAWN in text and "You can't undo this." in text
    assert [b["title"] for b in buttons(confirm)] == ["Withdraw announcement", "Cancel"]
    cancelled = await press(bot, confirm, "Cancel")
    assert "Nothing was changed" in cancelled[0]["text"]
    assert (await announcements(bot))[0].recalled_at is None

    replies = await press(bot, confirm, "Withdraw announcement")
    assert "being withdrawn" in replies[0]["text"]
    await tick(bot)
    await deliver()
    await sent_and_reported(bot, deliver)
    for member in volunteers:
        [copy] = copies(bot, personal_chat(member))
        assert WITHDRAWN in card_text(copy) and "old library" not in card_text(copy)
        assert buttons(copy) == []

    report = await progress_card(bot)
    section = change_section(report)
    assert "Announcement withdrawn" in section and "Every copy was changed." in section
    assert not any(ch.isdigit() for ch in section)  # 3 copies: neither a percentage nor a figure (design §5)
    assert "Edit announcement" not in card_text(report) and "Withdraw announcement" not in card_text(report)

    again = await press(bot, confirm, "Withdraw announcement")
    assert "was withdrawn, so it can't be changed" in again[0]["text"]
    [row] = await announcements(bot)
    recalls = [r for r in await audit_rows(bot) if r[1] == "announcement.recall"]
    assert recalls == [(AUTHOR.aad_object_id, "announcement.recall", str(row.id), "done")]
    assert len([m for m in await outbox(bot, "announcement-recall")]) == 3  # one update per copy, once


async def test_only_the_author_or_an_admin_may_edit_or_withdraw_and_refusals_are_audited(
        bot: BotHarness, deliver: Deliver) -> None:
    volunteers = await add_volunteers(bot, 2, first=100)
    await announce(bot, spaces="minoritised")
    await sent_and_reported(bot, deliver)
    final = await progress_card(bot)
    [row] = await announcements(bot)
    edit_data = button_data(final, title="Edit announcement")
    recall_data = button_data(final, title="Withdraw announcement")

    other = await bot.press(edit_data, OTHER_FACILITATOR)
    assert "Only the facilitator who sent this announcement, or an admin" in other[0]["text"]
    other = await bot.press({"action": "announcement_recall_send", "announcement_id": row.id}, OTHER_FACILITATOR)
    assert "Only the facilitator who sent this announcement, or an admin" in other[0]["text"]
    colleague = await bot.press(recall_data, COLLEAGUE)
    assert "Only facilitators can do that" in card_text(last_card(colleague))
    rows = await audit_rows(bot)
    assert (OTHER_FACILITATOR.aad_object_id, "announcement.edit", str(row.id), "refused") in rows
    assert (OTHER_FACILITATOR.aad_object_id, "announcement.recall", str(row.id), "refused") in rows
    assert (COLLEAGUE.aad_object_id, "announcement_recall", None, "refused") in rows
    assert (await announcements(bot))[0].recalled_at is None

    # An admin may withdraw someone else's announcement.
    await bot.core.roles.grant("test", OTHER_FACILITATOR.aad_object_id, Role.ADMIN)
    replies = await bot.press({"action": "announcement_recall_send", "announcement_id": row.id}, OTHER_FACILITATOR)
    assert "being withdrawn" in replies[0]["text"]
    await tick(bot)
    await deliver()
    assert all(WITHDRAWN in card_text(copies(bot, personal_chat(m))[0]) for m in volunteers)
    assert (OTHER_FACILITATOR.aad_object_id, "announcement.recall", str(row.id), "done") in await audit_rows(bot)

    # Forged or broken presses change nothing.
    for forged in ({"action": "announcement_edit_send", "announcement_id": 2**31, "revision": 0},
                   {"action": "announcement_edit_send", "announcement_id": row.id, "revision": -1},
                   {"action": "announcement_recall_send", "announcement_id": True},
                   {"action": "announcement_recall_send", "announcement_id": "7"}):
        assert "out of date" in card_text(last_card(await bot.press(forged, AUTHOR)))


async def test_an_edit_started_before_another_one_changes_nothing_and_nothing_changes_while_sending(
        bot: BotHarness, deliver: Deliver) -> None:
    await add_volunteers(bot, 2, first=100)
    await announce(bot, spaces="minoritised", mode="later", date="2026-11-27", time="09:30", send="Schedule it")
    [row] = await announcements(bot)
    early = await bot.press({"action": "announcement_edit", "announcement_id": row.id}, AUTHOR)
    assert "still being sent" in early[0]["text"]

    bot.clock.advance(timedelta(days=1))
    await sent_and_reported(bot, deliver)
    final = await progress_card(bot)
    first = last_card(await press(bot, final, "Edit announcement"))
    second = last_card(await press(bot, final, "Edit announcement"))
    first_check = last_card(await press(bot, first, "Next", title="Room change", body="Room 9 now."))
    second_check = last_card(await press(bot, second, "Next", title="Room change", body="Room 7 now."))
    assert "being updated" in (await press(bot, first_check, "Update the announcement"))[0]["text"]
    stale = await press(bot, second_check, "Update the announcement")
    assert "changed after you started" in stale[0]["text"]
    assert inputs(last_card(stale))["body"]["value"] == "Room 9 now."  # the card as it is now
    same = await press(bot, last_card(stale), "Next", title="Room change", body="Room 9 now.")
    assert "same as before" in same[0]["text"]
    [row] = await announcements(bot)
    assert (row.body, row.revision) == ("Room 9 now.", 1)
    assert len(await outbox(bot, "announcement-edit")) == 2  # one edit, one update per copy


async def test_an_edit_and_a_withdrawal_wake_the_delivery_workers_on_postgresql(
        bot: BotHarness, deliver: Deliver) -> None:
    """The copies change when the author confirms, not at a listening worker's next poll (issue 23 item 3)."""
    if not bot.core.database.is_postgres:
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's; on SQLite the worker polls")
    await add_volunteers(bot, 2, first=100)
    await announce(bot, spaces="minoritised", title="Room change", body="Room 4.")
    await sent_and_reported(bot, deliver)
    woken: asyncio.Queue[str] = asyncio.Queue()
    listener = await asyncpg.connect(_asyncpg_dsn(bot.core.database.engine.url.render_as_string(hide_password=False)))
    try:
        await listener.add_listener(OUTBOX_CHANNEL, lambda *_: woken.put_nowait("woken"))
        edit = last_card(await press(bot, await progress_card(bot), "Edit announcement"))
        check = last_card(await press(bot, edit, "Next", title="Room change", body="Room 9."))
        assert woken.empty()  # a draft of the change queues nothing
        assert "being updated" in (await press(bot, check, "Update the announcement"))[0]["text"]
        assert await asyncio.wait_for(woken.get(), timeout=10) == "woken"
        await sent_and_reported(bot, deliver)
        while not woken.empty():
            woken.get_nowait()

        recall = last_card(await press(bot, await progress_card(bot), "Withdraw announcement"))
        await press(bot, recall, "Withdraw announcement")
        assert await asyncio.wait_for(woken.get(), timeout=10) == "woken"
    finally:
        await listener.close()


def test_the_new_cards_follow_the_card_rules() -> None:
    """Design §9 and the content guide: 1.5, wrapped text, labelled inputs, verbs in the same order, small."""
    view = EditView(7, 2, "T" * 100, "B" * 2000, "https://www.nhs.uk/a", "Read more")
    summer = datetime(2026, 7, 1, 9, 5, tzinfo=UTC)
    sample = AnnouncementView("T" * 100, "B" * 2000, "https://www.nhs.uk/a", "Read more", updated_at=summer)
    progress = ProgressView(
        announcement_id=7, title="Hello", state="done", send_at=summer,
        waits_for_quiet_hours=False, percent=100, delivered_percent=100, stopped_percent=0, unreachable=0, failed=0,
        finished=True, nobody=False, due=True, can_stop=False,
        change=ChangeProgressView(AnnouncementChangeKind.EDIT, percent=40, finished=False), can_change=False)
    cards = [edit_card(view, {"body": "Write the message."}), edit_check_card(view, sample), recall_card(7, "Hello"),
             withdrawn_card(to_people=True), withdrawn_card(to_people=False), draw_progress(progress)]
    for card in cards:
        assert card["version"] == "1.5"
        assert len(json.dumps(card).encode()) < 80 * 1024
        assert "!" not in json.dumps(card)
        assert all(node.get("wrap") is True for node in nodes(card) if node.get("type") == "TextBlock")
        for element in (node for node in nodes(card) if str(node.get("type", "")).startswith("Input.")):
            assert str(element["label"]).endswith(("(required)", "(optional)"))
            assert element.get("errorMessage")
    assert "Updated on Wednesday 1 July 2026 at 10:05 (UK time)." in card_text(cards[1])  # BST
    assert "The button \"Read more\" stays as it is." in card_text(cards[0])
    assert "▓▓▓▓░░░░░░ 40%" in change_section(cards[5])
    assert progress.change is not None
    small = draw_progress(replace(progress, change=replace(progress.change, small=True)))
    assert not any(ch.isdigit() for ch in change_section(small))

"""Your details (design §4): every stored answer, change one, get a copy of the data, withdraw's two buttons,
and asking for consent again when a new privacy notice is published (design §6)."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.features.signup import data_messages
from storage.models import ConsentRecord, Person, PrivacyNotice, Volunteer
from tests.app_fixtures import BotHarness, card_text
from tests.doubles.fixtures import DEFAULT_MEMBER
from tests.doubles.teams import make_member
from tests.signup_helpers import (
    all_text,
    answer,
    bot,
    button_data,
    consents,
    count,
    inputs,
    last_card,
    navigate,
    organisation_id,
    sign_up,
    step_of,
    texts_in,
    volunteer,
)

__all__ = ["bot"]

ME = DEFAULT_MEMBER.aad_object_id


async def test_my_details_shows_every_answer(bot: BotHarness) -> None:
    await sign_up(bot, space="both", communities="ethnicity,neurodivergent", phases="train_the_trainer",
                  adjustments="yes", organisation="Navigo")
    for replies in (await bot.say("my details"), await bot.press({"action": "my_details"})):
        text = card_text(last_card(replies))
        for expected in ("Your details", "Volunteer 1", "Minoritised colleague and Active ally",
                         "Ethnically minoritised", "Neurodivergent", "Navigo", "Train the trainer",
                         "Yes, please contact me", "privacy notice version 1", "26 November 2026"):
            assert expected in text
        titles = [action["title"] for action in last_card(replies)["actions"]]
        assert titles == ["Get a copy of my data", "Withdraw", "Privacy notice"]


async def test_my_details_before_signing_up(bot: BotHarness) -> None:
    replies = await bot.say("my details")
    assert "You haven't signed up yet" in card_text(last_card(replies))


async def test_change_one_answer(bot: BotHarness) -> None:
    changed: list[str] = []

    async def hook(session: AsyncSession, person_id: str) -> None:
        changed.append(person_id)

    await sign_up(bot, organisation="Navigo")
    bot.core.hooks.volunteer_changed.append(hook)
    details = last_card(await bot.say("my details"))
    card = last_card(await bot.press(button_data(details, action="change_answer", field="organisation")))
    assert step_of(card) == "organisation"
    assert inputs(card)["organisation"]["value"] == await organisation_id(card, "Navigo")  # prefilled
    card = last_card(await answer(bot, card, organisation=await organisation_id(card, "City Health Care")))
    assert step_of(card) == "review"
    replies = await answer(bot, card)
    assert "Your changes are saved." in all_text(replies)
    assert "City Health Care Partnership" in card_text(last_card(replies))
    assert changed == [ME]
    assert len(await consents(bot)) == 1  # a change is not a new consent


async def test_cancel_a_change_keeps_everything(bot: BotHarness) -> None:
    await sign_up(bot, space="both")
    details = last_card(await bot.say("my details"))
    card = last_card(await bot.press(button_data(details, action="change_answer", field="space")))
    card = last_card(await answer(bot, card, space="ally"))
    replies = await navigate(bot, card, "cancel")
    assert "Nothing was changed" in all_text(replies)
    row = await volunteer(bot)
    assert row is not None and row.space_minoritised and row.space_ally


async def test_change_with_a_forged_field_is_refused(bot: BotHarness) -> None:
    await sign_up(bot)
    for value in ({"action": "change_answer", "field": "consent"},
                  {"action": "change_answer", "field": "space", "person_id": "00000000-0000-4000-8000-000000000002"}):
        replies = await bot.press(value)
        assert "out of date" in all_text(replies)


async def test_my_data_returns_every_field_and_the_consent_history_as_json(bot: BotHarness) -> None:
    await sign_up(bot, space="minoritised", communities="lgbtq", organisation="Navigo")
    replies = await bot.say("my data")
    texts = texts_in(replies)
    assert "everything we hold about you" in texts[0]
    block = "\n".join(texts[1:])
    payload = re.search(r"```json\n(.*)\n```", block, re.DOTALL)
    assert payload is not None
    data: dict[str, Any] = json.loads(payload.group(1))
    assert data["person"]["id"] == ME and data["person"]["display_name"] == "Volunteer 1"
    sign_up_data = data["sign_up"]
    assert sign_up_data["space_minoritised"] is True and sign_up_data["community_lgbtq"] is True
    assert sign_up_data["organisation_name"] == "Navigo"
    for column in Volunteer.__table__.columns:
        if column.name != "person_id":
            assert column.name in sign_up_data
    [consent] = data["consent_history"]
    assert consent["action"] == "given" and consent["notice_version"] == 1 and consent["method"] == "teams-card"
    assert "conversation_refs" in data["other_records"]
    assert all(activity.get("textFormat") == "markdown" for activity in replies[1:])


async def test_withdraw_asks_once_and_keep_changes_nothing(bot: BotHarness) -> None:
    await sign_up(bot)
    card = last_card(await bot.say("withdraw"))
    assert [action["title"] for action in card["actions"]] == ["Delete my answers", "Keep my details"]
    assert "cancel any session places" in card_text(card)
    assert "!" not in card_text(card)
    replies = await bot.press(button_data(card, action="withdraw_keep"))
    assert "Nothing was changed" in all_text(replies)
    assert await count(bot, Volunteer) == 1


async def test_withdraw_without_signing_up(bot: BotHarness) -> None:
    replies = await bot.say("withdraw")
    assert "nothing to delete" in all_text(replies)
    replies = await bot.press({"action": "withdraw_confirm"})
    assert "nothing was changed" in all_text(replies)


# -- consent again -------------------------------------------------------------------------------------------


async def publish_notice_v2(bot: BotHarness) -> str:
    text = "Version 2 of the privacy notice.\n\nWe changed a sentence."
    async with bot.core.database.transaction() as session:
        session.add(PrivacyNotice(version=2, sha256=hashlib.sha256(text.encode()).hexdigest(), text=text,
                                  published_at=bot.clock.now()))
    return text


async def test_a_new_notice_asks_for_consent_again_before_anything_else(bot: BotHarness) -> None:
    changed: list[str] = []

    async def hook(session: AsyncSession, person_id: str) -> None:
        changed.append(person_id)

    await sign_up(bot)
    assert await _consented(bot) == [ME]
    await publish_notice_v2(bot)
    assert await _consented(bot) == []  # not used for invitations until they agree
    bot.core.hooks.volunteer_changed.append(hook)

    for replies in (await bot.say("my details"), await bot.say("help"), await bot.press({"action": "my_details"})):
        card = last_card(replies)
        assert "Our privacy notice has changed" in card_text(card)
        assert "Version 2 of the privacy notice." in card_text(card)
    # Rights stay open without agreeing first.
    assert "Privacy notice version 2" in all_text(await bot.say("privacy"))
    assert "```json" in all_text(await bot.say("my data"))

    replies = await bot.press({**button_data(card, action="consent_again"), "agree": "false"})
    assert "tick \"I agree\"" in all_text(replies)
    assert (await volunteer(bot)).consent_version == 1  # type: ignore[union-attr]
    replies = await bot.press({**button_data(card, action="consent_again"), "agree": "true"})
    assert "Your permission is saved" in all_text(replies)
    assert (await volunteer(bot)).consent_version == 2  # type: ignore[union-attr]
    records = await consents(bot)
    assert [(r.action, r.notice_version) for r in records] == [("given", 1), ("given", 2)]
    assert records[1].notice_sha256 == hashlib.sha256(b"Version 2 of the privacy notice.\n\nWe changed a sentence."
                                                      ).hexdigest()
    assert changed == [ME] and await _consented(bot) == [ME]
    assert "Your details" in card_text(last_card(await bot.say("my details")))
    # The old card pressed again changes nothing.
    await bot.press({**button_data(card, action="consent_again"), "agree": "true"})
    assert await count(bot, ConsentRecord) == 2


async def test_people_who_never_signed_up_are_not_asked(bot: BotHarness) -> None:
    await publish_notice_v2(bot)
    assert "Help" in card_text(last_card(await bot.say("help")))


async def test_withdraw_works_without_agreeing_to_the_new_notice(bot: BotHarness) -> None:
    await sign_up(bot)
    await publish_notice_v2(bot)
    card = last_card(await bot.say("withdraw"))
    replies = await bot.press(button_data(card, action="withdraw_confirm"))
    assert "Your answers have been deleted" in all_text(replies)
    assert await count(bot, Volunteer) == 0


async def test_your_details_turns_announcements_off_and_on_even_before_agreeing_again(bot: BotHarness) -> None:
    await sign_up(bot)
    details = last_card(await bot.say("my details"))
    assert "Announcements\nOn." in card_text(details)
    await publish_notice_v2(bot)  # consent is behind now: stopping announcements must still work
    replies = await bot.press(button_data(details, title="Stop announcements", action="announcements_stop"))
    assert "Announcements stopped" in card_text(last_card(replies))
    assert await _stopped(bot)
    assert "Our privacy notice has changed" in card_text(last_card(await bot.say("my details")))
    await bot.press({**button_data(last_card(await bot.say("hello")), action="consent_again"), "agree": "true"})
    details = last_card(await bot.say("my details"))
    assert "Announcements\nOff. You still get your session invitations and reminders." in card_text(details)
    replies = await bot.press(button_data(details, title="Turn announcements back on",
                                          action="announcements_resume"))
    assert "Announcements are back on" in card_text(last_card(replies))
    assert not await _stopped(bot)
    # Typed, too, while a newer notice waits for an answer; and the help card tells colleagues how.
    await publish_notice_v3(bot)
    assert "Announcements stopped" in card_text(last_card(await bot.say("stop announcements")))
    assert await _stopped(bot)
    assert "stop announcements" in card_text(last_card(await bot.say("help", make_member(77))))


async def _stopped(bot: BotHarness) -> bool:
    async with bot.core.database.read() as session:
        person = await session.get(Person, ME)
        return person is not None and person.announcements_stopped


async def publish_notice_v3(bot: BotHarness) -> None:
    text = "Version 3 of the privacy notice."
    async with bot.core.database.transaction() as session:
        session.add(PrivacyNotice(version=3, sha256=hashlib.sha256(text.encode()).hexdigest(), text=text,
                                  published_at=bot.clock.now()))


async def _consented(bot: BotHarness) -> list[str]:
    return await bot.core.volunteers.consented_ids()


def test_a_long_export_is_split_into_code_blocks_that_join_back() -> None:
    data = {"other_records": {"invitations": [{"id": n, "status": "accepted" * 20} for n in range(400)]}}
    messages = data_messages(data)
    assert len(messages) > 1
    bodies = []
    for number, message in enumerate(messages, start=1):
        assert message.startswith(f"Part {number} of {len(messages)}")
        assert len(message.encode("utf-16-le")) < 40_000
        bodies.append(re.search(r"```json\n(.*)\n```", message, re.DOTALL).group(1))  # type: ignore[union-attr]
    assert json.loads("\n".join(bodies)) == data

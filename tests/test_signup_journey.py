"""The express-interest journey through the real HTTP path (signed tokens, the Teams double), on SQLite and,
with TEST_DATABASE_URL, PostgreSQL: every branch of the dialog, typed answers, stale cards and validation."""

from __future__ import annotations

import asyncio
import hashlib
import json
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services.notices import repo_notices
from storage.models import ConsentRecord, Organisation, OutboxMessage, StateDocument, Volunteer
from tests.app_fixtures import BotHarness, card_text, cards_in, start_harness
from tests.doubles.fixtures import DEFAULT_MEMBER, make_activity
from tests.signup_helpers import (
    all_text,
    answer,
    bot,
    button_data,
    buttons,
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

__all__ = ["bot"]  # the fixture, imported for pytest

ME = DEFAULT_MEMBER.aad_object_id


async def start(bot: BotHarness) -> dict[str, Any]:
    return last_card(await bot.say("express interest"))


async def to_step(bot: BotHarness, step: str, *, space: str = "both") -> dict[str, Any]:
    card = await start(bot)
    answers: dict[str, dict[str, str]] = {
        "consent": {"agree": "true"}, "space": {"space": space}, "communities": {"communities": "disability"},
        "phases": {"phases": "codesign"}, "adjustments": {"adjustments": "no"}}
    while step_of(card) != step:
        current = step_of(card)
        values = answers.get(current) or {"organisation": await organisation_id(card, "Navigo")}
        card = last_card(await answer(bot, card, **values))
    return card


# -- the cards ---------------------------------------------------------------------------------------------------


async def test_first_card_says_the_length_asks_consent_unticked_and_every_card_has_next_back_cancel(
        bot: BotHarness) -> None:
    card = await start(bot)
    text = card_text(card)
    assert "There are 5 short questions. If you join the space for minoritised colleagues, there is 1 more." in text
    assert "Question 1 of 5: Your permission" in text
    assert "special category data" in text
    toggle = inputs(card)["agree"]
    assert toggle["type"] == "Input.Toggle" and toggle["value"] == "false"
    assert toggle["isRequired"] is True and toggle["errorMessage"] and toggle["label"].endswith("(required)")
    seen = set()
    while True:
        step = step_of(card)
        seen.add(step)
        titles = [action["title"] for action in card["actions"]]
        assert titles == (["Confirm", "Back", "Cancel"] if step == "review" else ["Next", "Back", "Cancel"])
        for action in card["actions"][1:]:
            assert action["associatedInputs"] == "none"  # Back and Cancel work with an empty required answer
        for field in inputs(card).values():
            assert field["label"].endswith("(required)") or field["label"].endswith("(optional)")
            assert field.get("isRequired") is field["label"].endswith("(required)")
            if field["isRequired"]:
                assert field["errorMessage"]
            if field["type"] == "Input.ChoiceSet":
                assert field["style"] == "expanded" and field["wrap"] is True
        for block in _text_blocks(card):
            assert block.get("wrap") is True
        assert card["version"] == "1.5" and len(json.dumps(card)) < 80_000
        if step == "review":
            break
        values = {"consent": {"agree": "true"}, "space": {"space": "both"}, "communities": {"communities": ""},
                  "phases": {"phases": "codesign,train_the_trainer"}, "adjustments": {"adjustments": ""}}
        card = last_card(await answer(bot, card, **(values.get(step) or {
            "organisation": await organisation_id(card, "Another organisation")})))
    assert seen == {"consent", "space", "communities", "organisation", "phases", "adjustments", "review"}


def _text_blocks(node: Any) -> list[dict[str, Any]]:
    found = []
    if isinstance(node, dict):
        if node.get("type") == "TextBlock":
            found.append(node)
        for value in node.values():
            found += _text_blocks(value)
    elif isinstance(node, list):
        for item in node:
            found += _text_blocks(item)
    return found


async def test_each_answer_is_confirmed_on_the_next_card(bot: BotHarness) -> None:
    card = await to_step(bot, "space")
    replies = await answer(bot, card, space="ally")
    assert "Thank you. Your space: active ally." in card_text(last_card(replies))


# -- each space --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("space", "minoritised", "ally"),
                         [("minoritised", True, False), ("ally", False, True), ("both", True, True)])
async def test_sign_up_in_each_space(bot: BotHarness, space: str, minoritised: bool, ally: bool) -> None:
    changed: list[str] = []

    async def hook(session: AsyncSession, person_id: str) -> None:
        assert await session.get(Volunteer, person_id) is not None  # called inside the sign-up transaction
        changed.append(person_id)

    bot.core.hooks.volunteer_changed.append(hook)
    replies = await sign_up(bot, space=space, communities="ethnicity,lgbtq", phases="codesign,train_the_trainer")
    assert "Thank you, you're signed up. I'll message you here when there's a session for you." in texts_in(replies)
    assert "Your details" in card_text(last_card(replies))
    row = await volunteer(bot)
    assert row is not None
    assert (row.space_minoritised, row.space_ally) == (minoritised, ally)
    # Communities only in the minoritised space: the ally-only journey never asked.
    assert (row.community_ethnicity, row.community_lgbtq) == (minoritised, minoritised)
    assert not row.community_disability and not row.community_neurodivergent
    assert row.phase_codesign and row.phase_train_the_trainer and row.adjustments_contact
    assert row.consent_version == 1
    [consent] = await consents(bot)
    notice = repo_notices()[-1]
    assert (consent.action, consent.notice_version, consent.method) == ("given", 1, "teams-card")
    assert consent.notice_sha256 == hashlib.sha256(notice.text.encode()).hexdigest()
    assert consent.recorded_at.tzinfo is not None
    assert changed == [ME]


async def test_ally_space_skips_the_communities_question(bot: BotHarness) -> None:
    card = await to_step(bot, "space")
    card = last_card(await answer(bot, card, space="ally"))
    assert step_of(card) == "organisation"
    assert "Question 3 of 5: Your organisation" in card_text(card)


async def test_rather_not_say_stores_no_community(bot: BotHarness) -> None:
    await sign_up(bot, space="minoritised", communities="rather_not_say")
    row = await volunteer(bot)
    assert row is not None and row.space_minoritised
    assert not any([row.community_ethnicity, row.community_disability, row.community_neurodivergent,
                    row.community_lgbtq])


async def test_communities_are_optional(bot: BotHarness) -> None:
    await sign_up(bot, space="minoritised", communities="")
    row = await volunteer(bot)
    assert row is not None and row.space_minoritised and not row.community_lgbtq


# -- back, cancel, change ----------------------------------------------------------------------------------------


async def test_back_goes_to_the_previous_question_with_the_answer_prefilled(bot: BotHarness) -> None:
    card = await to_step(bot, "organisation")
    card = last_card(await navigate(bot, card, "back"))
    assert step_of(card) == "communities"
    assert inputs(card)["communities"]["value"] == "disability"
    card = last_card(await navigate(bot, card, "back"))
    assert step_of(card) == "space" and inputs(card)["space"]["value"] == "both"
    card = last_card(await navigate(bot, card, "back"))
    assert step_of(card) == "consent" and inputs(card)["agree"]["value"] == "true"  # ticked by them, earlier
    replies = await navigate(bot, card, "back")
    assert "back at the start" in all_text(replies)
    assert "Hello, I'm the HNY Inc. volunteers bot." in card_text(last_card(replies))
    assert await count(bot, Volunteer) == 0


async def test_back_skips_communities_for_allies(bot: BotHarness) -> None:
    card = await to_step(bot, "organisation", space="ally")
    card = last_card(await navigate(bot, card, "back"))
    assert step_of(card) == "space"


async def test_cancel_stores_nothing_and_its_cards_go_stale(bot: BotHarness) -> None:
    card = await to_step(bot, "phases")
    replies = await navigate(bot, card, "cancel")
    assert "You've stopped the sign-up. Nothing was saved." in all_text(replies)
    assert await count(bot, Volunteer) == 0 and await count(bot, ConsentRecord) == 0
    replies = await answer(bot, card, phases="codesign")
    assert "out of date" in all_text(replies)
    assert await count(bot, Volunteer) == 0


async def test_change_from_review(bot: BotHarness) -> None:
    review = await to_step(bot, "review", space="both")
    assert "LGBT" not in card_text(review) and "Disabled" in card_text(review)
    card = last_card(await navigate(bot, review, "change", field="space"))
    assert step_of(card) == "space" and "Question" not in card_text(card)
    card = last_card(await answer(bot, card, space="ally"))
    assert step_of(card) == "review"
    assert "Communities" not in card_text(card)
    card = last_card(await navigate(bot, card, "change", field="phases"))
    card = last_card(await navigate(bot, card, "back"))  # Back from a change returns to the review
    assert step_of(card) == "review"
    await answer(bot, card)
    row = await volunteer(bot)
    assert row is not None and row.space_ally and not row.space_minoritised
    assert not row.community_disability  # communities go with the minoritised space


async def test_choosing_the_minoritised_space_in_a_change_asks_communities_once(bot: BotHarness) -> None:
    review = await to_step(bot, "review", space="ally")
    card = last_card(await navigate(bot, review, "change", field="space"))
    card = last_card(await answer(bot, card, space="both"))
    assert step_of(card) == "communities"
    card = last_card(await answer(bot, card, communities="neurodivergent"))
    assert step_of(card) == "review" and "Neurodivergent" in card_text(card)
    await answer(bot, card)
    row = await volunteer(bot)
    assert row is not None and row.space_minoritised and row.space_ally and row.community_neurodivergent


# -- typed answers -----------------------------------------------------------------------------------------------


async def test_typed_answers_work(bot: BotHarness) -> None:
    await bot.say("express interest")
    assert step_of(last_card(await bot.say("I agree"))) == "space"
    assert step_of(last_card(await bot.say("ally"))) == "organisation"
    assert step_of(last_card(await bot.say("back"))) == "space"
    assert step_of(last_card(await bot.say("3"))) == "communities"
    assert step_of(last_card(await bot.say("1, 4"))) == "organisation"
    assert step_of(last_card(await bot.say("navigo"))) == "phases"
    replies = await bot.say("pizza")
    assert "Please choose at least one part of the programme" in all_text(replies)
    assert step_of(last_card(replies)) == "phases"
    assert step_of(last_card(await bot.say("both"))) == "adjustments"
    assert step_of(last_card(await bot.say("no"))) == "review"
    replies = await bot.say("confirm")
    assert "Thank you, you're signed up." in all_text(replies)
    row = await volunteer(bot)
    assert row is not None
    assert row.space_minoritised and row.space_ally and row.community_ethnicity and row.community_lgbtq
    assert row.phase_codesign and row.phase_train_the_trainer and not row.adjustments_contact


async def test_typed_cancel_stops(bot: BotHarness) -> None:
    await bot.say("express interest")
    await bot.say("yes")
    replies = await bot.say("cancel")
    assert "Nothing was saved" in all_text(replies)
    assert bot.core  # the conversation carries on normally
    assert "Help" in all_text(await bot.say("help"))


async def test_typing_privacy_mid_journey_shows_it_and_asks_again(bot: BotHarness) -> None:
    await bot.say("express interest")
    replies = await bot.say("privacy notice")
    cards = cards_in(replies)
    assert "Privacy notice version 1" in card_text(cards[0])
    assert step_of(cards[-1]) == "consent"


async def test_help_mid_journey_keeps_the_place(bot: BotHarness) -> None:
    card = await to_step(bot, "space")
    replies = await bot.say("help")
    assert step_of(last_card(replies)) == "space"
    await answer(bot, card, space="ally")


async def test_express_interest_again_mid_journey_shows_the_current_question(bot: BotHarness) -> None:
    await to_step(bot, "phases")
    replies = await bot.press({"action": "express_interest"})
    assert "part way through" in all_text(replies)
    assert step_of(last_card(replies)) == "phases"


async def test_someone_signed_up_gets_their_details_instead(bot: BotHarness) -> None:
    await sign_up(bot)
    for replies in (await bot.say("express interest"), await bot.press({"action": "express_interest"})):
        assert "already signed up" in all_text(replies)
        assert "Your details" in card_text(last_card(replies))
    assert await count(bot, Volunteer) == 1


# -- stale and forged cards ----------------------------------------------------------------------------------


async def test_a_card_from_an_earlier_journey_changes_nothing(bot: BotHarness) -> None:
    old = await to_step(bot, "space")
    await bot.say("cancel")
    current = await to_step(bot, "organisation")
    replies = await answer(bot, old, space="ally")  # the old journey's card, while a new one runs
    assert "from an earlier sign-up, so nothing was changed" in all_text(replies)
    assert step_of(last_card(replies)) == "organisation"
    await answer(bot, current, organisation=await organisation_id(current, "Navigo"))


async def test_a_card_for_an_earlier_question_changes_nothing(bot: BotHarness) -> None:
    space = await to_step(bot, "space")
    await answer(bot, space, space="both")
    replies = await answer(bot, space, space="ally")
    assert "for an earlier question, so nothing was changed" in all_text(replies)
    assert step_of(last_card(replies)) == "communities"


async def test_a_finished_journeys_card_is_stale(bot: BotHarness) -> None:
    review = await to_step(bot, "review")
    await answer(bot, review)
    replies = await navigate(bot, review, "change", field="space")
    assert "out of date" in all_text(replies)
    assert await count(bot, Volunteer) == 1


BAD_ANSWERS = [
    ("consent", {"agree": "false"}, "we need your permission"),
    ("consent", {}, "we need your permission"),
    ("consent", {"agree": True}, "we need your permission"),
    ("space", {"space": "martian"}, "Please choose a space"),
    ("space", {"space": ["ally"]}, "Please choose a space"),
    ("space", {"space": "ally" * 50_000}, "Please choose a space"),
    ("space", {"space": "ally", "person_id": "00000000-0000-4000-8000-000000000002"}, "Please choose a space"),
    ("communities", {"communities": "gender_history"}, "Please choose any communities"),
    ("communities", {"communities": "lgbtq,rather_not_say"}, "choose one or the other"),
    ("communities", {"communities": {"a": 1}}, "Please choose any communities"),
    ("organisation", {"organisation": "999999"}, "choose an organisation from the list"),
    ("organisation", {"organisation": "Navigo"}, "Please choose your organisation"),
    ("organisation", {"organisation": None}, "Please choose your organisation"),
    ("phases", {"phases": ""}, "Please choose at least one part"),
    ("phases", {"phases": "codesign,sleeping"}, "Please choose at least one part"),
    ("adjustments", {"adjustments": "maybe"}, "Please answer yes or no"),
    ("review", {"extra": "x"}, "Please press Confirm"),
]


@pytest.mark.parametrize(("step", "values", "reply"), BAD_ANSWERS)
async def test_bad_answers_get_a_clear_reply_and_store_nothing(bot: BotHarness, step: str, values: dict[str, Any],
                                                               reply: str) -> None:
    card = await to_step(bot, step)
    replies = await bot.press({**button_data(card, nav="next"), **values})
    assert reply in all_text(replies)
    assert "something went wrong" not in all_text(replies).lower()
    assert step_of(last_card(replies)) == step  # asked again
    assert await count(bot, Volunteer) == 0 and await count(bot, ConsentRecord) == 0


@pytest.mark.parametrize("envelope", [
    {"journey": 5, "step": "space", "nav": "next"},
    {"journey": "x" * 100_000, "step": "space"},
    {"journey": "abc", "step": "space", "nav": "jump"},
])
async def test_forged_journey_envelopes_change_nothing(bot: BotHarness, envelope: dict[str, Any]) -> None:
    await to_step(bot, "space")
    replies = await bot.press({**envelope, "space": "ally"})
    assert "nothing was changed" in all_text(replies)
    assert step_of(last_card(replies)) == "space"


# -- restart, double press ---------------------------------------------------------------------------------------


async def test_a_journey_survives_a_restart(db_url: str, token_issuer: Any, teams_double: Any, clock: Any) -> None:
    teams_double.set_limits(per_conversation=False)
    first = start_harness(db_url, token_issuer, teams_double, clock)
    harness = await first.__anext__()
    card = await to_step(harness, "organisation")
    with pytest.raises(StopAsyncIteration):
        await first.__anext__()  # the server stops and its database engine is disposed

    second = start_harness(db_url, token_issuer, teams_double, clock)
    harness = await second.__anext__()
    async with harness.core.database.transaction() as session:
        assert await session.get(StateDocument, f"msteams/conversations/a:personal-{ME}") is not None
    card = last_card(await answer(harness, card, organisation=await organisation_id(card, "Navigo")))
    assert step_of(card) == "phases"
    card = last_card(await answer(harness, card, phases="codesign"))
    card = last_card(await answer(harness, card, adjustments="no"))
    await answer(harness, card)
    row = await volunteer(harness)
    assert row is not None and row.community_disability  # the answer given before the restart
    with pytest.raises(StopAsyncIteration):
        await second.__anext__()


async def test_pressing_confirm_twice_signs_up_once(bot: BotHarness) -> None:
    review = await to_step(bot, "review")
    await answer(bot, review)
    replies = await answer(bot, review)
    assert "out of date" in all_text(replies)
    assert await count(bot, Volunteer) == 1 and await count(bot, ConsentRecord) == 1


async def test_two_confirms_at_the_same_moment_sign_up_once(bot: BotHarness) -> None:
    review = await to_step(bot, "review")
    data = button_data(review, nav="next")
    responses = await asyncio.gather(*[bot.post(make_activity(bot.teams.url, text=None, value=data))
                                       for _ in range(2)])
    assert all(response.status in (200, 201) for response in responses)
    assert await count(bot, Volunteer) == 1 and await count(bot, ConsentRecord) == 1


# -- entry from a team channel ----------------------------------------------------------------------------------


def channel_activity(bot: BotHarness, value: dict[str, Any]) -> dict[str, Any]:
    activity = make_activity(bot.teams.url, text=None, value=value, conversation_id="19:intro@thread.tacv2")
    activity["conversation"]["conversationType"] = "channel"
    activity["channelData"].update(team={"id": "19:team@thread.tacv2", "name": "HNY"},
                                   channel={"id": "19:intro@thread.tacv2", "name": "General"})
    return activity


async def test_express_interest_in_a_channel_sends_the_start_privately(bot: BotHarness) -> None:
    before = len(bot.teams.sent())
    response = await bot.post(channel_activity(bot, {"action": "express_interest_from_channel"}))
    assert response.status in (200, 201)
    in_channel = bot.teams.sent()[before:]
    assert texts_in(in_channel) == ["I've sent you a private message."]
    assert not cards_in(in_channel)
    async with bot.core.database.transaction() as session:
        rows = (await session.execute(select(OutboxMessage))).scalars().all()
    assert [(row.person_id, row.conversation_id, row.purpose) for row in rows] == [(ME, None, "signup-start")]
    assert "There are 5 short questions." in rows[0].payload
    # Pressing again the same day queues nothing more.
    await bot.post(channel_activity(bot, {"action": "express_interest_from_channel"}))
    assert await count(bot, OutboxMessage) == 1
    # The private card's button starts the journey in the 1:1 chat.
    start_card = json.loads(rows[0].payload)["card"]
    replies = await bot.press(button_data(start_card, action="express_interest"))
    assert step_of(last_card(replies)) == "consent"


async def test_no_personal_data_in_a_channel(bot: BotHarness) -> None:
    await sign_up(bot)
    for command in ("my details", "my data", "withdraw"):
        activity = channel_activity(bot, {})
        del activity["value"]
        activity["text"] = f"<at>HNY Inc. volunteers</at> {command}"
        before = len(bot.teams.sent())
        await bot.post(activity)
        sent = bot.teams.sent()[before:]
        assert "private chat" in all_text(sent)
        assert "Navigo" not in all_text(sent) and "LGBT" not in all_text(sent)
        assert not cards_in(sent)


async def test_buttons_are_journey_submits_with_step(bot: BotHarness) -> None:
    card = await start(bot)
    for button in buttons(card):
        if "nav" in button["data"]:
            assert len(button["data"]["journey"]) == 32 and button["data"]["step"] == "consent"


async def test_an_organisation_retired_during_the_journey_is_asked_again(bot: BotHarness) -> None:
    review = await to_step(bot, "review")
    async with bot.core.database.transaction() as session:
        await session.execute(update(Organisation).where(Organisation.name == "Navigo").values(retired=True))
    replies = await answer(bot, review)
    assert "can't be used any more" in all_text(replies)
    card = last_card(replies)
    assert step_of(card) == "organisation"
    assert "Navigo" not in card_text(card)
    card = last_card(await answer(bot, card, organisation=await organisation_id(card, "Another organisation")))
    assert step_of(card) == "review"
    await answer(bot, card)
    assert await count(bot, Volunteer) == 1

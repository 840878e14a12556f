"""Helpers for the colleague-journey tests: read journey cards and press their buttons as Teams would."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from storage.models import ConsentRecord, Volunteer
from tests.app_fixtures import BotHarness, card_text, cards_in
from tests.app_fixtures import all_text as all_text
from tests.app_fixtures import buttons as buttons
from tests.app_fixtures import inputs as inputs
from tests.app_fixtures import texts_in as texts_in
from tests.doubles.fixtures import DEFAULT_MEMBER
from tests.doubles.teams import Member


def last_card(activities: list[dict[str, Any]]) -> dict[str, Any]:
    cards = cards_in(activities)
    assert cards, f"no card in {activities}"
    return cards[-1]


def button_data(card: dict[str, Any], *, nav: str | None = None, title: str | None = None,
                field: str | None = None, action: str | None = None) -> dict[str, Any]:
    for button in buttons(card):
        data = button["data"]
        if nav is not None and data.get("nav") != nav:
            continue
        if title is not None and button["title"] != title:
            continue
        if field is not None and data.get("field") != field:
            continue
        if action is not None and data.get("action") != action:
            continue
        return dict(data)
    raise AssertionError(f"no button nav={nav} title={title} field={field} action={action} in {card_text(card)}")


def step_of(card: dict[str, Any]) -> str:
    return str(button_data(card, nav="next")["step"])


async def answer(harness: BotHarness, card: dict[str, Any], member: Member = DEFAULT_MEMBER,
                 **values: Any) -> list[dict[str, Any]]:
    """Press the card's primary button with these input values (as Teams merges them into the data)."""
    return await harness.press({**button_data(card, nav="next"), **values}, member)


async def navigate(harness: BotHarness, card: dict[str, Any], nav: str, member: Member = DEFAULT_MEMBER,
                   **extra: Any) -> list[dict[str, Any]]:
    return await harness.press(button_data(card, nav=nav, **extra), member)


async def organisation_id(card: dict[str, Any], name_start: str) -> str:
    for choice in inputs(card)["organisation"]["choices"]:
        if choice["title"].startswith(name_start):
            return str(choice["value"])
    raise AssertionError(name_start)


async def sign_up(harness: BotHarness, member: Member = DEFAULT_MEMBER, *, space: str = "both",
                  communities: str = "lgbtq", phases: str = "codesign", adjustments: str = "yes",
                  organisation: str = "Navigo") -> list[dict[str, Any]]:
    """The whole journey by buttons; returns the replies to Confirm."""
    card = last_card(await harness.say("express interest", member))
    card = last_card(await answer(harness, card, member, agree="true"))
    card = last_card(await answer(harness, card, member, space=space))
    if step_of(card) == "communities":
        card = last_card(await answer(harness, card, member, communities=communities))
    card = last_card(await answer(harness, card, member, organisation=await organisation_id(card, organisation)))
    card = last_card(await answer(harness, card, member, phases=phases))
    card = last_card(await answer(harness, card, member, adjustments=adjustments))
    assert step_of(card) == "review"
    return await answer(harness, card, member)


async def count(harness: BotHarness, model: type, *where: Any) -> int:
    async with harness.core.database.transaction() as session:
        query = select(func.count()).select_from(model)
        for condition in where:
            query = query.where(condition)
        return int((await session.execute(query)).scalar_one())


async def volunteer(harness: BotHarness, person_id: str = DEFAULT_MEMBER.aad_object_id) -> Volunteer | None:
    async with harness.core.database.transaction() as session:
        return await session.get(Volunteer, person_id)


async def consents(harness: BotHarness, person_id: str = DEFAULT_MEMBER.aad_object_id) -> list[ConsentRecord]:
    async with harness.core.database.transaction() as session:
        result = await session.execute(
            select(ConsentRecord).where(ConsentRecord.person_id == person_id).order_by(ConsentRecord.id))
        return list(result.scalars())


@pytest.fixture
async def bot(harness: BotHarness) -> BotHarness:
    """The harness with Teams' send limits off: tests press faster than any person can, and the bot's replies
    within a turn are Teams' to pace, not ours (the delivery tests switch the limits on to test pacing)."""
    harness.teams.set_limits(per_conversation=False, global_per_second=None)
    return harness

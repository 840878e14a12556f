"""Roles with Microsoft Graph on (design §2, §8), through /api/messages and the Graph double: an admin gives a
role by the e-mail of anyone in the directory, even someone who never messaged the bot, and the roles card lists
people who hold a role through an Entra group, without buttons. Nothing logged names or addresses anyone."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from storage.models import Person
from tests.app_fixtures import BotHarness, buttons, card_text, only_card
from tests.doubles.graph import GraphDouble
from tests.doubles.teams import DEFAULT_TENANT_ID, Member
from tests.test_graph_app import ADA, ADMIN, EMAILS, FAC, NAMES, graph, graph_harness
from vocabulary.words import Role

__all__ = ["graph", "graph_harness"]

# The admin, who holds the role through the admins' Entra group only.
CHRIS = Member(aad_object_id=ADMIN, teams_user_id="29:chris-admin", name=NAMES[2], email=EMAILS[2],
               tenant_id=DEFAULT_TENANT_ID)


def ids_on_buttons(card: dict[str, Any]) -> set[str]:
    return {str(button["data"].get("person_id")) for button in buttons(card)}


async def test_an_admin_gives_a_role_by_the_email_of_anyone_in_the_directory(
        graph_harness: BotHarness, graph: GraphDouble, caplog: pytest.LogCaptureFixture) -> None:
    bot = graph_harness
    bot.teams.add_member(CHRIS)
    with caplog.at_level(logging.DEBUG, logger="bot"):
        card = only_card(await bot.say(f"roles grant facilitator {EMAILS[1].upper()}", CHRIS))
        assert f"{NAMES[1]} ({EMAILS[1]}) is now a facilitator." in card_text(card)
        assert await bot.core.roles.roles_of(ADA) == {"facilitator"}
        async with bot.core.database.read() as session:
            assert await session.get(Person, ADA) is None  # found in the directory, not stored

        # The card's form too; and an address the directory does not know gets a kind answer.
        card = only_card(await bot.press({"action": "roles_grant_email", "role": "admin",
                                          "email": "nobody.known@hny.test"}, CHRIS))
        assert ("I couldn't find anyone with the e-mail nobody.known@hny.test in your organisation's directory"
                in card_text(card))
        assert "I'll look them up in your organisation's directory." in card_text(card)
        graph.fail(403, path_contains="/users")
        card = only_card(await bot.press({"action": "roles_grant_email", "role": "admin",
                                          "email": "someone.else@hny.test"}, CHRIS))
        assert "I couldn't look up someone.else@hny.test in your organisation's directory just now" in card_text(
            card)
    text = "\n".join(record.getMessage() for record in caplog.records if record.name.startswith("bot")).lower()
    for secret in (*NAMES, *EMAILS, "nobody.known", "someone.else"):
        assert secret.lower() not in text, secret


async def test_group_role_holders_are_listed_read_only(graph_harness: BotHarness) -> None:
    bot = graph_harness
    bot.teams.add_member(CHRIS)
    await bot.say("hello", CHRIS)  # met: the card can show their name
    await bot.core.roles.grant(ADMIN, FAC, Role.FACILITATOR)  # also in the facilitators' group
    card = only_card(await bot.say("roles", CHRIS))
    text = card_text(card)
    assert f"{NAMES[2]} ({EMAILS[2]}) (you) (from the Entra group)" in text
    assert f"{FAC} (also from the Entra group)" in text
    assert "change the group in Microsoft Entra" in text
    # Only the stored grant can be removed here; the group's admin has no button at all.
    assert ADMIN not in ids_on_buttons(card)
    assert FAC in ids_on_buttons(card)
    # An admin through the group is an admin: no "Make admin" button offered for them anywhere.
    assert not any(button["data"].get("role") == "admin" and button["data"].get("person_id") == ADMIN
                   for button in buttons(card))


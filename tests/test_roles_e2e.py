"""Roles through the real HTTP path (issue 3): grant by @mention and by e-mail, revoke, the last admin, refusals
for colleagues, forged card payloads, and names and e-mails filled from Teams' member API."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest
from sqlalchemy import select

from cards.roles import RoleRow, RolesView, roles_card
from storage.models import Person, RoleGrant
from tests.app_fixtures import BotHarness, audit_rows, card_text, cards_in
from tests.doubles.fixtures import DEFAULT_MEMBER
from tests.doubles.teams import DEFAULT_TENANT_ID, Member, make_member
from vocabulary.words import Role

ADMIN = DEFAULT_MEMBER
COLLEAGUE = make_member(2)
NEWCOMER = make_member(3)  # in Teams, but has never written to the bot
STRANGER = make_member(4)  # not even known to Teams (the double answers 404)
REFUSAL = "Only admins can do that. If you think you should be one, contact HNY.Inc@nhs.net."
STALE = "out of date, so nothing was changed"


async def grants(harness: BotHarness) -> set[tuple[str, str]]:
    async with harness.core.database.transaction() as session:
        rows = (await session.execute(select(RoleGrant))).scalars().all()
        return {(row.person_id, row.role) for row in rows}


async def person(harness: BotHarness, member: Member) -> Person | None:
    async with harness.core.database.transaction() as session:
        return await session.get(Person, member.aad_object_id)


def only_card(replies: list[dict[str, Any]]) -> str:
    cards = cards_in(replies)
    assert len(cards) == 1, replies
    return card_text(cards[0])


def mention(member: Member) -> dict[str, Any]:
    return {"type": "mention", "text": f"<at>{member.name}</at>",
            "mentioned": {"id": member.teams_user_id, "name": member.name}}


def member_lookups(harness: BotHarness, member: Member) -> int:
    return sum(1 for request in harness.teams.requests
               if request.route == "member" and request.path.endswith("/" + member.teams_user_id))


BOOTSTRAP = (ADMIN.aad_object_id, "admin")


# -- names and e-mails from Teams --------------------------------------------------------------------------------

async def test_the_first_message_fills_name_and_email_from_teams_once(admin_harness: BotHarness) -> None:
    await admin_harness.say("hi", member=COLLEAGUE)
    stored = await person(admin_harness, COLLEAGUE)
    assert stored is not None
    assert (stored.display_name, stored.email) == ("Volunteer 2", "volunteer2@hny.test")
    await admin_harness.say("privacy", member=COLLEAGUE)
    assert member_lookups(admin_harness, COLLEAGUE) == 1


@pytest.mark.parametrize("failure", ["unknown_member", "server_error"])
async def test_a_failed_member_lookup_never_breaks_the_turn(admin_harness: BotHarness, failure: str) -> None:
    member = COLLEAGUE
    if failure == "unknown_member":
        member = STRANGER
    else:
        admin_harness.teams.fail_next(500, method="GET", path_contains="/members/", times=10)
    replies = await admin_harness.say("help", member=member)
    assert "Help" in only_card(replies)
    stored = await person(admin_harness, member)
    assert stored is not None and stored.email is None


# -- the roles card ----------------------------------------------------------------------------------------------

async def test_an_admin_sees_the_roles_card(admin_harness: BotHarness) -> None:
    text = only_card(await admin_harness.say("Roles please"))
    assert "Volunteer 1 (volunteer1@hny.test) (you)" in text
    assert "Facilitators" in text and "No one yet." in text
    assert "Their work e-mail (required)" in text


async def test_the_roles_list_is_not_shown_in_a_channel(admin_harness: BotHarness) -> None:
    text = only_card(await admin_harness.say("roles", **channel_extra()))
    assert "only in a private chat" in text
    assert "volunteer1@hny.test" not in text


# -- grant -------------------------------------------------------------------------------------------------------

async def test_grant_by_typed_email(admin_harness: BotHarness, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="bot")
    await admin_harness.say("hi", member=COLLEAGUE)
    text = only_card(await admin_harness.say("roles grant facilitator Volunteer2@HNY.test"))
    assert "Volunteer 2 (volunteer2@hny.test) is now a facilitator." in text
    assert "Make Volunteer 2 (volunteer2@hny.test) an admin" in text
    assert await grants(admin_harness) == {BOOTSTRAP, (COLLEAGUE.aad_object_id, "facilitator")}
    assert (await audit_rows(admin_harness))[-1] == (
        ADMIN.aad_object_id, "role.grant.facilitator", COLLEAGUE.aad_object_id, "done")
    # Our logs hold ids only (the SDK's own debug logs are not ours to police).
    ours = "\n".join(record.getMessage() for record in caplog.records if record.name.startswith("bot"))
    assert COLLEAGUE.aad_object_id in ours
    assert "volunteer2@hny.test" not in ours.lower() and "Volunteer 2" not in ours


async def test_grant_by_the_email_form(admin_harness: BotHarness) -> None:
    await admin_harness.say("hi", member=COLLEAGUE)
    text = only_card(await admin_harness.press(
        {"action": "roles_grant_email", "email": "  volunteer2@hny.test ", "role": "admin"}))
    assert "Volunteer 2 (volunteer2@hny.test) is now an admin." in text
    assert (COLLEAGUE.aad_object_id, "admin") in await grants(admin_harness)
    # Pressing again has no second effect, and says so.
    text = only_card(await admin_harness.press(
        {"action": "roles_grant_email", "email": "volunteer2@hny.test", "role": "admin"}))
    assert "is already an admin, so nothing changed" in text
    assert [row[3] for row in await audit_rows(admin_harness) if row[1] == "role.grant.admin"][-2:] == [
        "done", "unchanged"]


async def test_grant_by_email_of_someone_unknown_changes_nothing(admin_harness: BotHarness) -> None:
    text = only_card(await admin_harness.say("roles grant facilitator nobody@nhs.net"))
    assert "I don't know anyone with the e-mail nobody@nhs.net yet" in text
    text = only_card(await admin_harness.press(
        {"action": "roles_grant_email", "email": "not an email", "role": "facilitator"}))
    assert "doesn't look like an e-mail address" in text
    assert await grants(admin_harness) == {BOOTSTRAP}


async def test_grant_by_mention(admin_harness: BotHarness) -> None:
    text = only_card(await admin_harness.say(f"roles grant facilitator <at>{NEWCOMER.name}</at>",
                                             entities=[mention(NEWCOMER)]))
    assert "Volunteer 3 (volunteer3@hny.test) is now a facilitator." in text
    assert (NEWCOMER.aad_object_id, "facilitator") in await grants(admin_harness)
    # Someone who never wrote to the bot is not stored as a person: the list shows their id.
    assert await person(admin_harness, NEWCOMER) is None
    assert NEWCOMER.aad_object_id in text


async def test_grant_by_mention_in_a_channel_answers_there_without_the_list(admin_harness: BotHarness) -> None:
    extra = channel_extra()
    bot = {"type": "mention", "text": "<at>HNY Inc. volunteers</at>",
           "mentioned": {"id": f"28:{admin_harness.issuer.app_id}", "name": "HNY Inc. volunteers"}}
    replies = await admin_harness.say(
        f"<at>HNY Inc. volunteers</at> roles grant admin <at>{NEWCOMER.name}</at>",
        entities=[bot, mention(NEWCOMER)], **extra)
    text = only_card(replies)
    assert "Volunteer 3 (volunteer3@hny.test) is now an admin." in text
    assert "Volunteer 1" not in text
    assert replies[0]["conversation"]["id"] == extra["conversation"]["id"]
    assert await grants(admin_harness) == {BOOTSTRAP, (NEWCOMER.aad_object_id, "admin")}


async def test_a_mention_teams_cannot_resolve_changes_nothing(admin_harness: BotHarness) -> None:
    text = only_card(await admin_harness.say(f"roles grant admin <at>{STRANGER.name}</at>",
                                             entities=[mention(STRANGER)]))
    assert "I couldn't look up Volunteer 4 in Teams" in text
    assert await grants(admin_harness) == {BOOTSTRAP}


async def test_a_command_without_a_role_explains_itself(admin_harness: BotHarness) -> None:
    await admin_harness.say("hi", member=COLLEAGUE)
    text = only_card(await admin_harness.say("roles grant volunteer2@hny.test"))
    assert 'type "roles grant facilitator"' in text
    assert await grants(admin_harness) == {BOOTSTRAP}


async def test_grant_and_revoke_by_typed_entra_id(admin_harness: BotHarness) -> None:
    target = NEWCOMER.aad_object_id
    text = only_card(await admin_harness.say(f"roles give facilitator {target.upper()}"))
    assert f"{target} is now a facilitator." in text
    text = only_card(await admin_harness.say(f"roles revoke admin {target}"))
    assert f"{target} is not an admin, so nothing changed." in text
    assert await grants(admin_harness) == {BOOTSTRAP, (target, "facilitator")}
    assert (await audit_rows(admin_harness))[-1] == (ADMIN.aad_object_id, "role.revoke.admin", target, "unchanged")


# -- revoke and the last admin -----------------------------------------------------------------------------------

async def test_revoke_by_button_and_by_command(admin_harness: BotHarness) -> None:
    await admin_harness.say("hi", member=COLLEAGUE)
    roles = admin_harness.core.roles
    await roles.grant(ADMIN.aad_object_id, COLLEAGUE.aad_object_id, Role.FACILITATOR)
    await roles.grant(ADMIN.aad_object_id, COLLEAGUE.aad_object_id, Role.ADMIN)
    text = only_card(await admin_harness.press(
        {"action": "roles_revoke", "role": "facilitator", "person_id": COLLEAGUE.aad_object_id.upper()}))
    assert "Volunteer 2 (volunteer2@hny.test) is no longer a facilitator." in text
    text = only_card(await admin_harness.say("roles remove admin volunteer2@hny.test"))
    assert "is no longer an admin." in text
    assert await grants(admin_harness) == {BOOTSTRAP}
    assert [row for row in await audit_rows(admin_harness) if row[1].startswith("role.revoke")] == [
        (ADMIN.aad_object_id, "role.revoke.facilitator", COLLEAGUE.aad_object_id, "done"),
        (ADMIN.aad_object_id, "role.revoke.admin", COLLEAGUE.aad_object_id, "done"),
    ]


async def test_the_last_admin_cannot_be_removed(admin_harness: BotHarness) -> None:
    text = only_card(await admin_harness.press(
        {"action": "roles_revoke", "role": "admin", "person_id": ADMIN.aad_object_id}))
    assert "is the only admin, so I can't remove their admin role" in text
    assert await grants(admin_harness) == {BOOTSTRAP}
    assert (await audit_rows(admin_harness))[-1] == (
        ADMIN.aad_object_id, "role.revoke.admin", ADMIN.aad_object_id, "last_admin")


async def test_removing_a_bootstrap_admin_warns_they_come_back(admin_harness: BotHarness) -> None:
    await admin_harness.core.roles.grant("cli", COLLEAGUE.aad_object_id, Role.ADMIN)
    text = only_card(await admin_harness.press(
        {"action": "roles_revoke", "role": "admin", "person_id": ADMIN.aad_object_id}))
    assert "no longer an admin" in text and "BOOTSTRAP_ADMINS" in text


async def test_two_admins_removing_each_other_at_once_leave_one_admin(admin_harness: BotHarness) -> None:
    await admin_harness.say("hi", member=COLLEAGUE)
    await admin_harness.core.roles.grant(ADMIN.aad_object_id, COLLEAGUE.aad_object_id, Role.ADMIN)
    await asyncio.gather(
        admin_harness.press({"action": "roles_revoke", "role": "admin", "person_id": COLLEAGUE.aad_object_id}),
        admin_harness.press({"action": "roles_revoke", "role": "admin", "person_id": ADMIN.aad_object_id},
                            member=COLLEAGUE),
    )
    assert len([grant for grant in await grants(admin_harness) if grant[1] == "admin"]) == 1
    # The slower press is refused: either its sender is no longer an admin, or it met the last admin.
    outcomes = sorted((row[1], row[3]) for row in await audit_rows(admin_harness)
                      if row[1] in ("role.revoke.admin", "roles_revoke"))
    assert outcomes in ([("role.revoke.admin", "done"), ("role.revoke.admin", "last_admin")],
                        [("role.revoke.admin", "done"), ("roles_revoke", "refused")])


async def test_concurrent_revocations_in_the_service_leave_one_admin(admin_harness: BotHarness) -> None:
    roles = admin_harness.core.roles
    others = [make_member(10 + i).aad_object_id for i in range(4)]
    for other in others:
        await roles.grant("cli", other, Role.ADMIN)
    everyone = [ADMIN.aad_object_id, *others]
    await asyncio.gather(*(roles.revoke("cli", person_id, Role.ADMIN) for person_id in everyone))
    assert len([grant for grant in await grants(admin_harness) if grant[1] == "admin"]) == 1


# -- colleagues are refused, and forged cards change nothing -----------------------------------------------------

@pytest.mark.parametrize(("text", "action"), [
    ("roles", "command.roles"),
    ("roles grant admin volunteer2@hny.test", "command.roles"),
    ("audit", "command.audit"),
    ("show me the audit log", "command.audit"),
])
async def test_a_colleague_typing_an_admin_command_is_refused(admin_harness: BotHarness, text: str,
                                                               action: str) -> None:
    await admin_harness.say("hi", member=COLLEAGUE)
    before = await grants(admin_harness)
    reply = only_card(await admin_harness.say(text, member=COLLEAGUE))
    assert REFUSAL in reply
    assert "volunteer1@hny.test" not in reply
    assert await grants(admin_harness) == before
    assert (await audit_rows(admin_harness))[-1] == (COLLEAGUE.aad_object_id, action, None, "refused")


@pytest.mark.parametrize("value", [
    {"action": "roles"},
    {"action": "audit"},
    {"action": "roles_grant", "role": "admin", "person_id": COLLEAGUE.aad_object_id},
    {"action": "roles_revoke", "role": "admin", "person_id": ADMIN.aad_object_id},
    {"action": "roles_grant_email", "role": "admin", "email": "volunteer2@hny.test"},
    # Made-up data from a colleague is refused before it is even read.
    {"action": "roles_grant", "role": "superuser", "person_id": "me", "extra": "x" * 100_000},
    {"action": "roles_grant", "role": ["admin"], "person_id": 12},
])
async def test_a_colleague_pressing_a_role_button_is_refused(admin_harness: BotHarness,
                                                            value: dict[str, Any]) -> None:
    reply = only_card(await admin_harness.press(value, member=COLLEAGUE))
    assert REFUSAL in reply
    assert await grants(admin_harness) == {BOOTSTRAP}
    assert (await audit_rows(admin_harness))[-1] == (COLLEAGUE.aad_object_id, value["action"], None, "refused")


@pytest.mark.parametrize("value", [
    {"action": "roles_grant", "role": "superuser", "person_id": COLLEAGUE.aad_object_id},
    {"action": "roles_grant", "role": "Admin", "person_id": COLLEAGUE.aad_object_id},
    {"action": "roles_grant", "role": "admin", "person_id": "not-a-guid"},
    {"action": "roles_grant", "role": "admin", "person_id": COLLEAGUE.aad_object_id + "0"},
    {"action": "roles_grant", "role": "admin", "person_id": 12345},
    {"action": "roles_grant", "role": ["admin"], "person_id": COLLEAGUE.aad_object_id},
    {"action": "roles_grant", "role": "admin"},
    {"action": "roles_grant", "role": "admin", "person_id": COLLEAGUE.aad_object_id, "granted": True},
    {"action": "roles_grant", "role": "admin", "person_id": "a" * 100_000},
    {"action": "roles_revoke", "role": None, "person_id": ADMIN.aad_object_id},
    {"action": "roles_grant_email", "role": "admin", "email": "x" * 5000 + "@nhs.net"},
    {"action": "roles_grant_email", "role": "owner", "email": "volunteer2@hny.test"},
    {"action": "roles_grant_email", "role": "admin", "email": {"$ne": ""}},
])
async def test_a_forged_payload_from_an_admin_changes_nothing(admin_harness: BotHarness,
                                                             value: dict[str, Any]) -> None:
    await admin_harness.say("hi", member=COLLEAGUE)
    before = await audit_rows(admin_harness)
    reply = only_card(await admin_harness.press(value))
    assert STALE in reply
    assert await grants(admin_harness) == {BOOTSTRAP}
    assert await audit_rows(admin_harness) == before


def channel_extra() -> dict[str, Any]:
    conversation_id = "19:general-hny@thread.tacv2"
    return {
        "conversation": {"id": conversation_id, "conversationType": "channel", "tenantId": DEFAULT_TENANT_ID},
        "channelData": {"tenant": {"id": DEFAULT_TENANT_ID}, "team": {"id": conversation_id, "name": "HNY Inc."},
                        "channel": {"id": conversation_id}},
    }


def test_a_long_roles_list_stays_under_the_card_size_limit() -> None:
    rows = tuple(RoleRow(person_id=make_member(i).aad_object_id, role=(Role.ADMIN, Role.FACILITATOR)[i % 2],
                         label=f"A rather long display name number {i} (someone.with.a.long.name{i}@nhs.net)")
                 for i in range(400))
    card = roles_card(RolesView(rows=rows, status="Done."))
    assert len(json.dumps(card)) < 80 * 1024
    assert "140 more are not shown here" in card_text(card)

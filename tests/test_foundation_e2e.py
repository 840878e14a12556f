"""The first conversation through the real HTTP path: signed tokens, the real adapter, replies at the double."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from storage.models import ConversationRef, Person
from tests.app_fixtures import BotHarness, card_text, cards_in
from tests.doubles.fixtures import DEFAULT_MEMBER, make_activity


async def count(harness: BotHarness, model: type) -> int:
    async with harness.core.database.transaction() as session:
        return int((await session.execute(select(func.count()).select_from(model))).scalar_one())


async def test_help_card_reaches_teams_and_the_person_is_remembered(harness: BotHarness) -> None:
    replies = await harness.say("help")
    cards = cards_in(replies)
    assert len(cards) == 1
    assert "express interest" in card_text(cards[0])
    async with harness.core.database.transaction() as session:
        person = await session.get(Person, DEFAULT_MEMBER.aad_object_id)
        refs = (await session.execute(select(ConversationRef))).scalars().all()
    assert person is not None
    assert [(ref.kind, ref.person_id) for ref in refs] == [("personal", DEFAULT_MEMBER.aad_object_id)]


async def test_unknown_message_gets_the_help_card_not_silence(harness: BotHarness) -> None:
    replies = await harness.say("what is the weather like")
    text = card_text(cards_in(replies)[0])
    assert "didn't understand" in text
    assert "my details" in text


async def test_commands_tolerate_case_and_extra_words(harness: BotHarness) -> None:
    replies = await harness.say("Please show me the PRIVACY notice")
    assert "Privacy notice version 1" in card_text(cards_in(replies)[0])


@pytest.mark.parametrize(
    "bad",
    ["none", "malformed", "expired", "bad_signature", "unknown_key", "wrong_audience", "wrong_issuer", "no_serviceurl",
     "wrong_serviceurl"],
)
async def test_every_authentication_failure_is_401_and_stores_nothing(harness: BotHarness, bad: str) -> None:
    activity = make_activity(harness.teams.url, text="help")
    issuer = harness.issuer
    url = activity["serviceUrl"]
    tokens = {
        "none": "",
        "malformed": "Bearer not-a-token",
        "expired": "Bearer " + issuer.token(url, expires_in=-3600),
        "bad_signature": "Bearer " + issuer.token(url, signed_by_unknown_key=True),
        "unknown_key": "Bearer " + issuer.token(url, kid="no-such-key"),
        "wrong_audience": "Bearer " + issuer.token(url, audience="someone-else"),
        "wrong_issuer": "Bearer " + issuer.token(url, issuer="https://evil.example"),
        "wrong_serviceurl": "Bearer " + issuer.token("https://elsewhere.example/"),
        "no_serviceurl": "Bearer " + issuer.token(url, omit_serviceurl=True),
    }
    response = await harness.post(activity, authorization=tokens[bad])
    assert response.status == 401
    assert harness.teams.sent() == []
    assert await count(harness, Person) == 0


async def test_a_tenant_outside_the_allowed_list_is_refused_unprocessed(harness: BotHarness) -> None:
    activity = make_activity(harness.teams.url, text="help", tenant_id="11111111-1111-4111-8111-111111111111")
    response = await harness.post(activity)
    assert response.status == 403
    assert harness.teams.sent() == []
    assert await count(harness, Person) == 0


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"type": "message"}', b'{"type": 5}'])
async def test_garbage_bodies_get_400_not_500(harness: BotHarness, body: bytes) -> None:
    async with harness.http.post(harness.url, data=body, headers={
            "Content-Type": "application/json",
            "Authorization": "Bearer " + harness.issuer.token(harness.teams.url)}) as response:
        assert response.status == 400


async def test_one_welcome_for_the_two_activities_of_one_install(harness: BotHarness) -> None:
    install = make_activity(harness.teams.url, text=None, activity_type="installationUpdate", action="add")
    added = make_activity(harness.teams.url, text=None, activity_type="conversationUpdate",
                          membersAdded=[{"id": install["recipient"]["id"]}])
    await harness.post(install)
    await harness.post(added)
    welcomes = [card for card in cards_in(harness.teams.sent()) if "Hello, I'm the HNY Inc." in card_text(card)]
    assert len(welcomes) == 1


async def test_an_unknown_action_execute_is_answered_200_with_a_clear_message(harness: BotHarness) -> None:
    activity = make_activity(harness.teams.url, text=None, activity_type="invoke", name="adaptiveCard/action",
                             value={"action": {"type": "Action.Execute", "verb": "no_such_verb", "data": {}},
                                    "trigger": "manual"})
    async with harness.http.post(harness.url, json=activity, headers={
            "Authorization": "Bearer " + harness.issuer.token(activity["serviceUrl"])}) as response:
        assert response.status == 200
        body = await response.json()
    assert body["statusCode"] == 200
    assert body["type"] == "application/vnd.microsoft.activity.message"
    assert "out of date" in body["value"]


async def test_a_forged_submit_for_an_unknown_action_changes_nothing(harness: BotHarness) -> None:
    replies = await harness.press({"action": "grant_everything", "role": "admin"})
    assert "out of date" in card_text(cards_in(replies)[0])
    assert await harness.core.roles.roles_of(DEFAULT_MEMBER.aad_object_id) == set()


async def test_people_and_conversations_survive_a_restart_of_the_bot(
        db_url: str, token_issuer, teams_double, clock) -> None:  # type: ignore[no-untyped-def]
    from tests.app_fixtures import start_harness

    async for first in start_harness(db_url, token_issuer, teams_double, clock):
        await first.say("help")
    async for second in start_harness(db_url, token_issuer, teams_double, clock):
        async with second.core.database.transaction() as session:
            person = await session.get(Person, DEFAULT_MEMBER.aad_object_id)
            refs = (await session.execute(select(ConversationRef))).scalars().all()
        assert person is not None and person.welcomed_at is None
        assert len(refs) == 1
        # The restarted bot still answers, into the same conversation.
        replies = await second.say("help")
        assert replies and replies[0]["conversation"]["id"] == refs[0].conversation_id


def channel_activity(harness: BotHarness, **extra: object) -> dict[str, object]:
    activity = make_activity(harness.teams.url, text=None, conversation_id="19:general@thread.tacv2", **extra)
    activity["conversation"]["conversationType"] = "channel"  # type: ignore[index]
    activity["channelData"] = {
        "tenant": {"id": activity["conversation"]["tenantId"]},  # type: ignore[index]
        "team": {"id": "19:team@thread.tacv2", "name": "Inclusion Assembly"},
        "channel": {"id": "19:general@thread.tacv2", "name": "General"},
        "eventType": "teamMemberAdded",
    }
    return activity


async def test_installing_in_a_team_posts_one_intro_card_and_remembers_the_channel(harness: BotHarness) -> None:
    install = channel_activity(harness, activity_type="conversationUpdate")
    install["membersAdded"] = [{"id": install["recipient"]["id"]}]  # type: ignore[index]
    assert (await harness.post(install)).status in (200, 201)
    assert (await harness.post(install)).status in (200, 201)
    cards = cards_in(harness.teams.sent("19:general@thread.tacv2"))
    assert len(cards) == 1
    assert "Nothing you tell me is shared in this channel" in card_text(cards[0])
    async with harness.core.database.transaction() as session:
        ref = (await session.execute(select(ConversationRef))).scalars().one()
    assert (ref.kind, ref.team_name, ref.channel_name, ref.person_id) == (
        "channel", "Inclusion Assembly", "General", None)


async def test_a_failing_turn_is_answered_kindly_and_logged_without_personal_data(
        harness: BotHarness, caplog: pytest.LogCaptureFixture) -> None:
    from bot.app import WIRING

    async def boom(turn: object) -> None:
        raise RuntimeError("database fell over")

    harness.app[WIRING].commands.add("boom", ["boom"], boom)  # type: ignore[arg-type]
    with caplog.at_level("ERROR"):
        replies = await harness.say("boom my secret text")
    assert "Your saved answers are safe" in card_text(cards_in(replies)[0])
    failures = [record for record in caplog.records if record.name == "bot.turn_failures"]
    assert failures and failures[0].exc_info is not None
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "secret" not in logged and DEFAULT_MEMBER.name not in logged and DEFAULT_MEMBER.email not in logged


async def test_removing_and_adding_the_bot_again_welcomes_again(harness: BotHarness) -> None:
    def install(action: str) -> dict[str, object]:
        return make_activity(harness.teams.url, text=None, activity_type="installationUpdate", action=action)

    await harness.post(install("add"))
    await harness.post(install("remove"))
    await harness.post(install("add"))
    welcomes = [card for card in cards_in(harness.teams.sent()) if "Hello, I'm the HNY Inc." in card_text(card)]
    assert len(welcomes) == 2


async def test_a_body_over_the_size_limit_is_refused_with_413(harness: BotHarness) -> None:
    activity = make_activity(harness.teams.url, text="x" * 300_000)
    response = await harness.post(activity)
    assert response.status == 413
    assert harness.teams.sent() == []
    assert await count(harness, Person) == 0


async def test_channel_data_of_the_wrong_shape_still_gets_an_answer(harness: BotHarness) -> None:
    activity = make_activity(harness.teams.url, text="help")
    activity["channelData"] = {"tenant": activity["channelData"]["tenant"], "team": "not an object",
                               "channel": ["nor", "this"]}
    activity["conversation"]["conversationType"] = "channel"
    response = await harness.post(activity)
    assert response.status == 201
    text = card_text(cards_in(harness.teams.sent())[0])
    assert "Type one of these words" in text and "something went wrong" not in text


async def test_a_reply_teams_throttles_is_sent_when_teams_allows(harness: BotHarness) -> None:
    """Teams answers 429 when a chat gets messages too fast (a person pressing quickly): the reply waits as
    Retry-After says and goes, instead of the turn failing."""
    harness.teams.fail_next(429, retry_after=0.05, method="POST", path_contains="/activities", times=2)
    response = await harness.post(make_activity(harness.teams.url, text="help"))
    assert response.status == 201
    [card] = cards_in(harness.teams.sent())
    assert "Type one of these words" in card_text(card)
    assert "something went wrong" not in card_text(card)

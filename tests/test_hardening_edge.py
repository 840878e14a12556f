"""What reaches /api/messages from outside, as a careful tester would send it: a new person's first activities all
at once, ids out of range, wrong shapes, hostile bodies, control characters in ids, and service URLs that are not
Teams'. Each is answered plainly (a reply, or a 4xx), changes nothing it must not, and never fails a turn."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.app import WIRING
from bot.features.delivery import METRICS_REGISTRY
from bot.log_format import SafeFormatter
from bot.service_urls import service_url_allowed
from bot.settings import SettingsError, load_settings
from storage.models import ConversationRef, Person, ProgrammeSetting
from tests.app_fixtures import BotHarness, card_text, cards_in
from tests.doubles.fixtures import make_activity
from tests.doubles.teams import make_member


def failed_turns(harness: BotHarness) -> float:
    return sum(sample.value for metric in harness.app[METRICS_REGISTRY].collect() for sample in metric.samples
               if sample.name == "turn_failures_total")


async def rows(harness: BotHarness, model: type) -> int:
    async with harness.core.database.read() as session:
        return int((await session.execute(select(func.count()).select_from(model))).scalar_one())


async def post_raw(harness: BotHarness, body: bytes, content_type: str) -> int:
    headers = {"Content-Type": content_type, "Authorization": "Bearer " + harness.issuer.token(harness.teams.url)}
    async with harness.http.post(harness.url, data=body, headers=headers) as response:
        return response.status


# -- 1. first contact races ------------------------------------------------------------------------------------

async def test_eight_messages_at_once_from_someone_new_all_get_their_answer(harness: BotHarness) -> None:
    harness.teams.set_limits(per_conversation=False, global_per_second=None)
    newcomer = harness.teams.add_member(make_member(4001))
    statuses = await asyncio.gather(*(harness.post(make_activity(harness.teams.url, text="help", member=newcomer))
                                      for _ in range(8)))
    assert [response.status for response in statuses] == [201] * 8
    helps = [card for card in cards_in(harness.teams.sent()) if card_text(card).startswith("Help")]
    assert len(helps) == 8
    assert failed_turns(harness) == 0
    assert await rows(harness, Person) == 1 and await rows(harness, ConversationRef) == 1


async def test_an_install_arriving_twice_at_once_welcomes_once(harness: BotHarness) -> None:
    newcomer = harness.teams.add_member(make_member(4002))
    install = make_activity(harness.teams.url, text=None, member=newcomer, activity_type="installationUpdate",
                            action="add")
    added = make_activity(harness.teams.url, text=None, member=newcomer, activity_type="conversationUpdate",
                          membersAdded=[{"id": install["recipient"]["id"]}])
    await asyncio.gather(*(harness.post(activity) for activity in (install, added, install, added)))
    welcomes = [card for card in cards_in(harness.teams.sent()) if "Hello, I'm the HNY Inc." in card_text(card)]
    assert len(welcomes) == 1 and failed_turns(harness) == 0


async def test_eight_card_refreshes_at_once_from_someone_new_are_all_answered(harness: BotHarness) -> None:
    newcomer = harness.teams.add_member(make_member(4003))
    activity = make_activity(harness.teams.url, text=None, member=newcomer, activity_type="invoke",
                             name="adaptiveCard/action",
                             value={"action": {"type": "Action.Execute", "verb": "invitation_show",
                                               "data": {"session_id": 1}}, "trigger": "automatic"})
    answers = await asyncio.gather(*(harness.post(activity) for _ in range(8)))
    assert [response.status for response in answers] == [200] * 8
    assert failed_turns(harness) == 0


async def test_two_admins_saving_the_programme_at_once_both_get_an_answer(admin_harness: BotHarness) -> None:
    second = make_member(2)
    async with admin_harness.core.database.transaction() as session:
        from storage.repositories.roles import RoleRepository
        await RoleRepository(session).grant(second.aad_object_id, "admin", "test", admin_harness.clock.now())
    admin_harness.teams.set_limits(per_conversation=False, global_per_second=None)
    value = {"action": "programme_save", "phase": "train_the_trainer", "end_date": "", "confirmed": "false"}
    presses = [make_activity(admin_harness.teams.url, text=None, value=value, member=member)
               for member in (make_member(1), second) for _ in range(3)]
    answers = await asyncio.gather(*(admin_harness.post(activity) for activity in presses))
    assert [response.status for response in answers] == [201] * 6
    assert failed_turns(admin_harness) == 0
    async with admin_harness.core.database.read() as session:
        phase = (await session.execute(select(ProgrammeSetting.value).where(ProgrammeSetting.key == "phase")))
        assert phase.scalar_one() == "train_the_trainer"


# -- 2 and 3. ids out of range, routing fields of the wrong shape ---------------------------------------------

@pytest.mark.parametrize("value", [
    {"action": "session_publish", "session_id": 2**31},
    {"action": "session_publish", "session_id": 2**63 - 1},
    {"action": "session_publish", "session_id": True},
    {"action": "invitation_accept", "session_id": 2**31},
    {"action": "programme_org_retire", "retire_id": 2**31},
    {"action": []},
    {"action": {}},
    {"action": 5},
    {"action": "help", "journey": ["x"]},
    {"journey": {"a": 1}, "step": [], "nav": {}},
])
async def test_a_forged_or_broken_submit_gets_the_out_of_date_reply(admin_harness: BotHarness,
                                                                     value: dict[str, Any]) -> None:
    replies = await admin_harness.press(value)
    assert "out of date" in card_text(cards_in(replies)[0])
    assert failed_turns(admin_harness) == 0


async def test_an_empty_submit_in_the_middle_of_sign_up_asks_the_question_again(harness: BotHarness) -> None:
    started = cards_in(await harness.say("express interest"))
    question = card_text(started[-1])
    replies = await harness.press({})
    texts = [card_text(card) for card in cards_in(replies)] + [a.get("text") or "" for a in replies]
    assert any("out of date" in text or "earlier sign-up" in text for text in texts)
    assert card_text(cards_in(replies)[-1]) == question  # the open question, asked again


# -- 4. bodies that are not what they claim --------------------------------------------------------------------

@pytest.mark.parametrize(("body", "content_type", "status"), [
    (b"[" * 200_000, "application/json", 400),
    (b'{"type": "message"}', "application/json; charset=xyz", 415),
    (b'{"type": "message"}', "text/plain; charset=application/json", 415),
    (b'{"type": "message"}', "application/jsonx", 415),
    ('{"type": "message", "text": "é"}'.encode("latin-1"), "application/json", 400),
    (b'{"a":' * 40 + b"1" + b"}" * 40, "application/json", 400),
])
async def test_hostile_bodies_are_refused_with_a_4xx(harness: BotHarness, body: bytes, content_type: str,
                                                     status: int) -> None:
    assert await post_raw(harness, body, content_type) == status
    assert await rows(harness, Person) == 0 and harness.teams.sent() == []


async def test_json_with_a_charset_of_utf_8_is_taken(harness: BotHarness) -> None:
    activity = make_activity(harness.teams.url, text="help")
    import json
    assert await post_raw(harness, json.dumps(activity).encode(), "application/json; charset=UTF-8") == 201


# -- 5. control characters and lengths in ids -----------------------------------------------------------------

@pytest.mark.parametrize(("path", "value"), [
    (("conversation", "id"), "a:1\r\nINFO forged line"),
    (("conversation", "id"), "a:1\u2028x"),
    (("from", "id"), "29:1\x00"),
    (("from", "aadObjectId"), "00000000-0000-4000-8000-000000000001\x85"),
    (("id",), "1\x7f"),
    (("conversation", "id"), "a:" + "1" * 600),
    (("from", "aadObjectId"), "0" * 65),
    (("channelData", "tenant", "id"), 12345),
])
async def test_ids_with_control_characters_or_too_long_are_refused_and_not_stored(
        harness: BotHarness, caplog: pytest.LogCaptureFixture, path: tuple[str, ...], value: object) -> None:
    activity = make_activity(harness.teams.url, text="help")
    holder: dict[str, Any] = activity
    for key in path[:-1]:
        holder = holder[key]
    holder[path[-1]] = value
    with caplog.at_level(logging.INFO):
        response = await harness.post(activity)
    assert response.status == 400
    assert await rows(harness, Person) == 0 and await rows(harness, ConversationRef) == 0
    assert "forged line" not in caplog.text


def test_log_lines_escape_control_characters_in_every_value() -> None:
    record = logging.LogRecord("bot", logging.INFO, __file__, 1, "conversation %s done", ("a:1\r\nINFO x\u2028",),
                               None)
    line = SafeFormatter("%(levelname)s %(message)s").format(record)
    assert line == "INFO conversation a:1\\x0d\\x0aINFO x\\u2028 done"
    assert "\n" not in line


# -- 6. only Teams' service URLs --------------------------------------------------------------------------------

@pytest.mark.parametrize("service_url", [
    "https://evil.example/uk/",
    "https://smba.trafficmanager.net.evil.example/uk/",
    "http://smba.trafficmanager.net/uk/",
    "http://localhost:1/uk/",  # loopback, but not the configured http host (tests allow http://127.0.0.1 only)
    "https://user@smba.trafficmanager.net/uk/",
    "https://smba.trafficmanager.net:abc/uk/",
])
async def test_a_valid_token_for_a_host_that_is_not_teams_is_refused_401(harness: BotHarness,
                                                                        service_url: str) -> None:
    activity = make_activity(service_url, text="help")
    response = await harness.post(activity, token=harness.issuer.token(service_url))
    assert response.status == 401
    assert await rows(harness, Person) == 0 and harness.teams.sent() == []


def test_service_urls_allowed_by_host_and_scheme() -> None:
    hosts = ["smba.trafficmanager.net", "smba.infra.gcc.teams.microsoft.com"]
    for url in ("https://smba.trafficmanager.net/emea/", "https://smba.trafficmanager.net/uk/",
                "https://SMBA.trafficmanager.net/amer/", "https://smba.trafficmanager.net/teams/",
                "https://smba.infra.gcc.teams.microsoft.com/gcc/"):
        assert service_url_allowed(url, hosts, local_mode=False), url
    assert not service_url_allowed("http://127.0.0.1:3978/", hosts, local_mode=False)
    assert service_url_allowed("http://127.0.0.1:3978/", hosts, local_mode=True)
    assert service_url_allowed("http://127.0.0.1:9/", [*hosts, "http://127.0.0.1"], local_mode=False)
    assert not service_url_allowed("http://10.0.0.1/", hosts, local_mode=True)


@pytest.mark.parametrize("setting", ["http://smba.trafficmanager.net", "smba.trafficmanager.net/uk", "a b"])
def test_a_service_host_that_cannot_be_used_stops_the_bot_with_its_name(setting: str) -> None:
    with pytest.raises(SettingsError, match="ALLOWED_SERVICE_URL_HOSTS"):
        load_settings(_env_file=None, allowed_service_url_hosts=setting)


def test_the_default_allows_teams_public_cloud_only() -> None:
    settings = load_settings(_env_file=None)
    assert settings.allowed_service_url_hosts == ["smba.trafficmanager.net"]


# -- the operator sees failed turns ---------------------------------------------------------------------------

async def test_a_failed_turn_is_counted_in_metrics_by_kind(harness: BotHarness) -> None:
    async def boom(turn: object) -> None:
        raise RuntimeError("database fell over")

    harness.app[WIRING].commands.add("boom", ["boom"], boom)  # type: ignore[arg-type]
    await harness.say("boom")
    async with harness.http.get(harness.server.make_url("/metrics")) as response:
        text = await response.text()
    assert 'turn_failures_total{kind="RuntimeError"} 1.0' in text

"""The Teams doubles themselves: real botbuilder clients and authentication against them."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import aiohttp
import jwt
import pytest
from botbuilder.core import TurnContext
from botbuilder.core.teams import TeamsInfo
from botbuilder.integration.aiohttp import CloudAdapter, ConfigurationBotFrameworkAuthentication
from botbuilder.schema import Activity, Attachment, ChannelAccount, ConversationParameters
from botframework.connector.aio import ConnectorClient
from botframework.connector.models import ErrorResponseException
from botframework.connector.teams import TeamsConnectorClient

from tests.doubles.fixtures import DEFAULT_MEMBER, make_activity
from tests.doubles.issuer import StaticCredentialsFactory, StaticTokenCredentials, TokenIssuer
from tests.doubles.teams import DEFAULT_TENANT_ID, TeamsDouble, make_member

TOKEN = "Bearer test-token"
REPO_ROOT = Path(__file__).resolve().parent.parent


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def connector(double: TeamsDouble) -> ConnectorClient:
    return ConnectorClient(StaticTokenCredentials("bot", "test-token"), base_url=double.url)


def endpoint(double: TeamsDouble, path: str) -> str:
    return double.url.rstrip("/") + path


async def post(double: TeamsDouble, path: str, body: Any, *, auth: str | None = TOKEN) -> aiohttp.ClientResponse:
    headers = {"Authorization": auth} if auth else {}
    url = endpoint(double, path)
    async with aiohttp.ClientSession() as session, session.post(url, json=body, headers=headers) as r:
        await r.read()
        return r


async def send(double: TeamsDouble, cid: str, text: str = "hi") -> aiohttp.ClientResponse:
    return await post(double, f"/v3/conversations/{cid}/activities", {"type": "message", "text": text})


def card(title: str) -> Attachment:
    content = {"type": "AdaptiveCard", "version": "1.5", "body": [{"type": "TextBlock", "text": title}]}
    return Attachment(content_type="application/vnd.microsoft.card.adaptive", content=content)


# -- token issuer + botbuilder authentication -------------------------------------------------------------------

SERVICE_URL = "https://smba.example.test/uk/"


def authentication(issuer: TokenIssuer) -> ConfigurationBotFrameworkAuthentication:
    return ConfigurationBotFrameworkAuthentication(issuer.bot_configuration())


def inbound() -> Activity:
    return Activity().deserialize(make_activity(SERVICE_URL))


async def test_issuer_serves_metadata_and_keys(token_issuer: TokenIssuer) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(token_issuer.metadata_url) as r:
            metadata = await r.json()
        async with session.get(metadata["jwks_uri"]) as r:
            keys = (await r.json())["keys"]
    assert metadata["issuer"] == token_issuer.issuer
    assert metadata["id_token_signing_alg_values_supported"] == ["RS256"]
    assert [k["kid"] for k in keys] == [token_issuer.kid]
    assert keys[0]["endorsements"] == ["msteams"] and keys[0]["use"] == "sig"


async def test_botbuilder_accepts_a_good_token(token_issuer: TokenIssuer) -> None:
    result = await authentication(token_issuer).authenticate_request(inbound(), token_issuer.auth_header(SERVICE_URL))
    assert result.claims_identity.claims["aud"] == token_issuer.app_id
    assert result.claims_identity.claims["serviceurl"] == SERVICE_URL


# What botbuilder 4.17 raises for each bad token: the bot must map all of them to 401.
BAD_TOKENS: dict[str, tuple[dict[str, Any], type[Exception]]] = {
    "wrong audience": ({"audience": "someone-else"}, PermissionError),
    "wrong issuer": ({"issuer": "https://api.botframework.com"}, PermissionError),
    "wrong serviceurl": ({"service_url": "https://elsewhere.test/"}, PermissionError),
    "no serviceurl": ({"omit_serviceurl": True}, PermissionError),
    "skill-shaped (ver + appid)": ({"extra_claims": {"ver": "1.0", "appid": "x"}}, PermissionError),
    "expired beyond leeway": ({"expires_in": -400}, jwt.ExpiredSignatureError),
    "not yet valid": ({"not_before_offset": 400}, jwt.ImmatureSignatureError),
    "bad signature": ({"signed_by_unknown_key": True}, jwt.InvalidSignatureError),
    "unknown key id": ({"kid": "no-such-key"}, IndexError),
}


@pytest.mark.parametrize("case", list(BAD_TOKENS))
async def test_botbuilder_rejects_bad_tokens(token_issuer: TokenIssuer, case: str) -> None:
    kwargs, error = BAD_TOKENS[case]
    kwargs = dict(kwargs)
    header = token_issuer.auth_header(kwargs.pop("service_url", SERVICE_URL), **kwargs)
    with pytest.raises(error):
        await authentication(token_issuer).authenticate_request(inbound(), header)


async def test_expired_token_within_leeway_is_still_accepted(token_issuer: TokenIssuer) -> None:
    header = token_issuer.auth_header(SERVICE_URL, expires_in=-60)
    await authentication(token_issuer).authenticate_request(inbound(), header)


@pytest.mark.parametrize(
    ("header", "error"),
    [(None, PermissionError), ("Bearer not-a-jwt", jwt.DecodeError), ("", AttributeError)],
)
async def test_botbuilder_on_missing_or_malformed_headers(
    token_issuer: TokenIssuer, header: str | None, error: type[Exception]
) -> None:
    with pytest.raises(error):
        await authentication(token_issuer).authenticate_request(inbound(), header)


# -- both doubles under botbuilder's CloudAdapter -----------------------------------------------------------------


async def test_cloud_adapter_turn_against_both_doubles(token_issuer: TokenIssuer, teams_double: TeamsDouble) -> None:
    auth = ConfigurationBotFrameworkAuthentication(
        token_issuer.bot_configuration(), credentials_factory=StaticCredentialsFactory(token_issuer.app_id)
    )
    seen: dict[str, str] = {}

    async def logic(turn: TurnContext) -> None:
        member = await TeamsInfo.get_member(turn, turn.activity.from_property.id)
        seen["email"] = member.email
        await turn.send_activity(f"echo: {turn.activity.text}")

    activity = Activity().deserialize(make_activity(teams_double.url, text="ping"))
    await CloudAdapter(auth).process_activity(token_issuer.auth_header(teams_double.url), activity, logic)

    assert seen == {"email": DEFAULT_MEMBER.email}
    [reply] = teams_double.sent(activity.conversation.id)
    assert reply["text"] == "echo: ping" and reply["replyToId"] == activity.id
    assert {r.authorization for r in teams_double.requests} == {"Bearer test-outbound-token"}
    assert [r.route for r in teams_double.requests] == ["member", "reply"]


# -- Teams double with botbuilder's ConnectorClient -------------------------------------------------------------


async def create_conversation(client: ConnectorClient, member_id: str) -> str:
    parameters = ConversationParameters(
        bot=ChannelAccount(id="28:bot"),
        members=[ChannelAccount(id=member_id)],
        is_group=False,
        channel_data={"tenant": {"id": DEFAULT_TENANT_ID}},
        tenant_id=DEFAULT_TENANT_ID,
    )
    return (await client.conversations.create_conversation(parameters)).id


async def test_connector_client_send_reply_update_delete(teams_double: TeamsDouble) -> None:
    client = connector(teams_double)
    cid = await create_conversation(client, DEFAULT_MEMBER.teams_user_id)
    assert cid.startswith("a:")
    assert await create_conversation(client, DEFAULT_MEMBER.teams_user_id) == cid  # Teams reuses it
    assert teams_double.conversation_for(DEFAULT_MEMBER.aad_object_id) == cid

    sent = await client.conversations.send_to_conversation(cid, Activity(type="message", attachments=[card("v1")]))
    reply = await client.conversations.reply_to_activity(cid, sent.id, Activity(type="message", text="thanks"))
    assert [a["id"] for a in teams_double.sent(cid)] == [sent.id, reply.id]
    assert teams_double.delivered[1].reply_to_id == sent.id

    updated = Activity(type="message", id=sent.id, attachments=[card("v2")])
    assert (await client.conversations.update_activity(cid, sent.id, updated)).id == sent.id
    current = teams_double.activity(cid, sent.id)
    assert current is not None and current["attachments"][0]["content"]["body"][0]["text"] == "v2"
    assert teams_double.sent(cid)[0]["attachments"][0]["content"]["body"][0]["text"] == "v1"  # as delivered

    await client.conversations.delete_activity(cid, reply.id)
    assert teams_double.activity(cid, reply.id) is None
    assert all(r.authorization == TOKEN for r in teams_double.requests)
    assert [r.route for r in teams_double.requests] == ["create", "create", "send", "reply", "update", "delete"]


async def test_connector_client_members(teams_double: TeamsDouble) -> None:
    teams_double.add_member(make_member(2))
    client = connector(teams_double)
    member = await client.conversations.get_conversation_member("a:any", DEFAULT_MEMBER.teams_user_id)
    assert member.aad_object_id == DEFAULT_MEMBER.aad_object_id and member.name == DEFAULT_MEMBER.name
    by_aad = await client.conversations.get_conversation_member("a:any", DEFAULT_MEMBER.aad_object_id)
    assert by_aad.id == DEFAULT_MEMBER.teams_user_id

    with pytest.raises(ErrorResponseException) as raised:
        await client.conversations.get_conversation_member("a:any", "29:nobody")
    assert raised.value.response.status_code == 404
    assert raised.value.error.error.code == "MemberNotFoundInConversation"

    assert len(await client.conversations.get_conversation_members("a:any")) == 2
    first = await client.conversations.get_conversation_paged_members("a:any", page_size=1)
    second = await client.conversations.get_conversation_paged_members(
        "a:any", page_size=1, continuation_token=first.continuation_token
    )
    assert [m.id for m in first.members + second.members] == [DEFAULT_MEMBER.teams_user_id, "29:1member00000002"]
    assert second.continuation_token is None


async def test_teams_connector_client_team_details(teams_double: TeamsDouble) -> None:
    teams_double.add_team("19:team@thread.tacv2", "Volunteers", [("19:events@thread.tacv2", "Events")])
    client = TeamsConnectorClient(StaticTokenCredentials("bot", "test-token"), base_url=teams_double.url)
    # These calls are synchronous (blocking requests): run off the loop or the double could never answer.
    details = await asyncio.to_thread(client.teams.get_team_details, "19:team@thread.tacv2")
    channels = await asyncio.to_thread(client.teams.get_teams_channels, "19:team@thread.tacv2")
    assert details.name == "Volunteers" and details.channel_count == 2
    assert [c.name for c in channels.conversations] == [None, "Events"]


# -- refusals and faults ----------------------------------------------------------------------------------------


async def test_requests_without_a_bearer_token_get_401(teams_double: TeamsDouble) -> None:
    assert (await post(teams_double, "/v3/conversations/a:1/activities", {"type": "message"}, auth=None)).status == 401
    assert (await post(teams_double, "/v3/conversations/a:1/activities", {}, auth="Basic abc")).status == 401
    anonymous = ConnectorClient(StaticTokenCredentials(""), base_url=teams_double.url)
    with pytest.raises(ErrorResponseException) as raised:
        await anonymous.conversations.send_to_conversation("a:1", Activity(type="message", text="x"))
    assert raised.value.response.status_code == 401
    assert teams_double.sent() == []


async def test_reject_all_tokens(teams_double: TeamsDouble) -> None:
    teams_double.reject_all_tokens(True)
    assert (await send(teams_double, "a:1")).status == 401
    teams_double.reject_all_tokens(False)
    assert (await send(teams_double, "a:1")).status == 201


async def test_fail_next_matches_method_and_path(teams_double: TeamsDouble) -> None:
    teams_double.fail_next(503, code="ServiceUnavailable", retry_after=2, method="POST", path_contains="a:2", times=2)
    assert (await send(teams_double, "a:1")).status == 201  # other conversation: untouched
    async with aiohttp.ClientSession() as session:
        url = endpoint(teams_double, "/v3/conversations/a:2/activities")
        async with session.post(url, json={"type": "message"}, headers={"Authorization": TOKEN}) as r:
            assert (r.status, r.headers["Retry-After"]) == (503, "2")
            assert await r.json() == {"error": {"code": "ServiceUnavailable", "message": ""}}
    assert (await send(teams_double, "a:2")).status == 503
    assert (await send(teams_double, "a:2")).status == 201  # times used up


async def test_fail_next_seen_by_connector_client(teams_double: TeamsDouble) -> None:
    teams_double.fail_next(403, code="BotNotInConversationRoster")
    with pytest.raises(ErrorResponseException) as raised:
        await connector(teams_double).conversations.send_to_conversation("a:1", Activity(type="message", text="x"))
    assert raised.value.response.status_code == 403
    assert raised.value.error.error.code == "BotNotInConversationRoster"


async def test_block_by_member_and_by_conversation(teams_double: TeamsDouble) -> None:
    client = connector(teams_double)
    cid = await create_conversation(client, DEFAULT_MEMBER.teams_user_id)
    teams_double.block(DEFAULT_MEMBER.aad_object_id)
    with pytest.raises(ErrorResponseException) as raised:
        await client.conversations.send_to_conversation(cid, Activity(type="message", text="x"))
    assert raised.value.error.error.code == "ConversationBlockedByUser"
    with pytest.raises(ErrorResponseException):
        await create_conversation(client, DEFAULT_MEMBER.teams_user_id)

    teams_double.block("a:gone", status=404, code="ConversationNotFound")
    response = await send(teams_double, "a:gone")
    assert response.status == 404
    teams_double.unblock(DEFAULT_MEMBER.teams_user_id)
    assert (await send(teams_double, cid)).status == 201


async def test_per_conversation_send_limits() -> None:
    clock = FakeClock()
    async with TeamsDouble(clock=clock, global_limit=None) as double:
        statuses = [(await send(double, "a:1")).status for _ in range(8)]
        assert statuses == [201] * 7 + [429]
        refused = double.requests[-1]
        assert refused.status == 429 and refused.conversation_id == "a:1"
        assert (await send(double, "a:2")).status == 201  # another conversation has its own budget

        clock.now += 1.0  # 7 per 1 s is free again, but 8 per 2 s is now the limit
        assert (await send(double, "a:1")).status == 201
        async with aiohttp.ClientSession() as session:
            url = endpoint(double, "/v3/conversations/a:1/activities")
            async with session.post(url, json={"text": "x"}, headers={"Authorization": TOKEN}) as r:
                assert (r.status, r.headers["Retry-After"]) == (429, "1")
        clock.now += 1.0
        assert (await send(double, "a:1")).status == 201

        double.set_limits(per_conversation=False, global_per_second=None)
        assert all([(await send(double, "a:1")).status == 201 for _ in range(20)])


async def test_hourly_and_thirty_second_windows() -> None:
    clock = FakeClock()
    async with TeamsDouble(clock=clock, global_limit=None) as double:
        for _ in range(60):
            assert (await send(double, "a:1")).status == 201
            clock.now += 0.4  # 2.5/s: under the 1 s and 2 s limits
        assert clock.now - 1000.0 == pytest.approx(24.0)
        assert (await send(double, "a:1")).status == 429  # 60 per 30 s


async def test_global_limit() -> None:
    clock = FakeClock()
    async with TeamsDouble(clock=clock, global_limit=3, per_conversation_limits=False) as double:
        statuses = [(await send(double, f"a:{i}")).status for i in range(4)]
        assert statuses == [201, 201, 201, 429]
        clock.now += 1.0
        assert (await send(double, "a:9")).status == 201


async def test_connector_client_sees_429_with_retry_after() -> None:
    async with TeamsDouble(clock=FakeClock(), global_limit=1) as double:
        client = connector(double)
        await client.conversations.send_to_conversation("a:1", Activity(type="message", text="1"))
        with pytest.raises(ErrorResponseException) as raised:
            await client.conversations.send_to_conversation("a:1", Activity(type="message", text="2"))
        assert raised.value.response.status_code == 429
        assert raised.value.response.headers["Retry-After"] == "1"


async def test_random_faults_are_reproducible(teams_double: TeamsDouble) -> None:
    teams_double.set_limits(per_conversation=False, global_per_second=None)

    async def run() -> list[int]:
        teams_double.faults(p503=0.2, p502=0.1, p429=0.1, retry_after=3, seed=7)
        return [(await send(teams_double, "a:1")).status for _ in range(60)]

    first = await run()
    assert first == await run()
    assert {201, 503, 502, 429} <= set(first)
    assert 10 <= first.count(503) <= 20
    teams_double.faults()
    assert (await send(teams_double, "a:1")).status == 201


async def test_delivered_but_lost_reply_makes_duplicates(teams_double: TeamsDouble) -> None:
    teams_double.faults(p504_delivered=1.0)
    assert (await send(teams_double, "a:1", "reminder")).status == 504
    teams_double.faults()
    assert (await send(teams_double, "a:1", "reminder")).status == 201
    assert (await send(teams_double, "a:1", "other")).status == 201
    assert teams_double.duplicates() == {("a:1", "reminder"): 2}
    assert teams_double.send_counts()["a:1"] == 3
    assert teams_double.stats()["duplicate_deliveries"] == 1


async def test_oversized_message_and_bad_create(teams_double: TeamsDouble) -> None:
    assert (await send(teams_double, "a:1", "x" * 110_000)).status == 413
    no_tenant = {"bot": {"id": "28:bot"}, "members": [{"id": "29:x"}], "isGroup": False}
    assert (await post(teams_double, "/v3/conversations", no_tenant)).status == 400


async def test_wait_for_wakes_on_requests_and_explains_timeouts(teams_double: TeamsDouble) -> None:
    waiter = asyncio.create_task(teams_double.wait_for_sent(2, "a:1"))
    await send(teams_double, "a:1", "one")
    await send(teams_double, "a:1", "two")
    assert [a["text"] for a in await waiter] == ["one", "two"]

    with pytest.raises(AssertionError, match=r"POST /uk/v3/conversations/a:1/activities -> 201"):
        await teams_double.wait_for(lambda: len(teams_double.sent()) > 5, timeout=0.05)


async def test_runs_as_its_own_process() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.doubles.teams",
        "--port",
        "0",
        "--global-limit",
        "50",
        "--members",
        "3",
        stdout=asyncio.subprocess.PIPE,
        cwd=REPO_ROOT,
    )
    try:
        assert process.stdout is not None
        url = (await asyncio.wait_for(process.stdout.readline(), 20)).decode().strip()
        async with aiohttp.ClientSession(headers={"Authorization": TOKEN}) as session:
            async with session.post(url + "v3/conversations/a:1/activities", json={"text": "hi"}) as r:
                assert r.status == 201
            async with session.get(url + "v3/conversations/a:1/members/29:1member00000002") as r:
                assert (await r.json())["name"] == "Volunteer 2"
            async with session.get(url + "_double/stats") as r:
                stats = json.loads(await r.text())
        assert stats["delivered"] == 1 and stats["by_status"] == {"200": 1, "201": 1}
    finally:
        process.terminate()
        await process.wait()

"""The Graph client and token sources against the Graph double: retries that honour Retry-After, typed errors,
paging, and tokens from a client-credentials endpoint and from msal itself (over https)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from bot.clock import FixedClock
from bot.graph.client import GraphClient
from bot.graph.errors import (
    GraphAuthError,
    GraphBadRequest,
    GraphError,
    GraphForbidden,
    GraphNotFound,
    GraphThrottled,
    GraphUnavailable,
    TokenError,
)
from bot.graph.msal_tokens import MsalTokenSource
from bot.graph.services import build_token_source
from bot.graph.tokens import ClientCredentialsTokenSource, StaticTokenSource
from bot.settings import Settings, SettingsError
from tests.doubles.graph import DEFAULT_SECRET, GraphDouble
from tests.doubles.issuer import DEFAULT_APP_ID
from tests.doubles.teams import DEFAULT_TENANT_ID

START = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


class Sleeps:
    """Records the waits the client asks for instead of waiting."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@pytest.fixture
async def graph() -> AsyncIterator[GraphDouble]:
    async with GraphDouble() as double:
        double.add_user("11111111-0000-4000-8000-000000000001", "Ada Example", "ada@hny.test")
        yield double


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


def tokens_for(graph: GraphDouble, clock: FixedClock) -> ClientCredentialsTokenSource:
    return ClientCredentialsTokenSource(graph.authority, DEFAULT_APP_ID, DEFAULT_SECRET, clock)


@pytest.fixture
async def client(graph: GraphDouble, clock: FixedClock) -> AsyncIterator[tuple[GraphClient, Sleeps]]:
    sleeps = Sleeps()
    graph_client = GraphClient(graph.base_url, tokens_for(graph, clock), sleep=sleeps)
    yield graph_client, sleeps
    await graph_client.close()


USER = "/users/11111111-0000-4000-8000-000000000001"


async def test_a_429_is_retried_after_the_retry_after_it_names(graph: GraphDouble, client: tuple[GraphClient, Sleeps],
                                                               caplog: pytest.LogCaptureFixture) -> None:
    graph_client, sleeps = client
    graph.fail(429, times=2, retry_after=7)
    with caplog.at_level(logging.DEBUG):
        body = await graph_client.get("users.get", USER)
    assert body["displayName"] == "Ada Example"
    assert sleeps.calls == [7.0, 7.0]
    assert [r.status for r in graph.graph_requests("GET")] == [429, 429, 200]
    assert "users.get answered 429 (Retry-After)" in caplog.text


async def test_a_503_without_retry_after_backs_off_and_succeeds(graph: GraphDouble,
                                                                client: tuple[GraphClient, Sleeps]) -> None:
    graph_client, sleeps = client
    graph.fail(503, times=2)
    await graph_client.get("users.get", USER)
    assert len(sleeps.calls) == 2
    assert 0.5 <= sleeps.calls[0] <= 1.0 and 1.0 <= sleeps.calls[1] <= 2.0  # exponential, jittered


async def test_retries_are_bounded_and_the_error_is_typed(graph: GraphDouble,
                                                          client: tuple[GraphClient, Sleeps]) -> None:
    graph_client, sleeps = client
    graph.fail(429, times=4, retry_after=2)
    with pytest.raises(GraphThrottled) as caught:
        await graph_client.get("users.get", USER)
    assert caught.value.status == 429 and caught.value.retryable and caught.value.retry_after == 2.0
    assert len(graph.graph_requests("GET")) == 4 and sleeps.calls == [2.0, 2.0, 2.0]

    graph.fail(503, times=10)
    with pytest.raises(GraphUnavailable):
        await graph_client.get("users.get", USER)


async def test_a_long_retry_after_is_not_waited_out_but_handed_to_the_caller(
        graph: GraphDouble, client: tuple[GraphClient, Sleeps]) -> None:
    graph_client, sleeps = client
    graph.fail(429, retry_after=600)
    with pytest.raises(GraphThrottled) as caught:
        await graph_client.get("users.get", USER)
    assert caught.value.retry_after == 600.0 and sleeps.calls == []


async def test_an_http_date_retry_after_is_understood(graph: GraphDouble, client: tuple[GraphClient, Sleeps]) -> None:
    graph_client, sleeps = client
    graph.fail(503, retry_after="Wed, 21 Oct 2015 07:28:00 GMT")  # in the past: go at once
    await graph_client.get("users.get", USER)
    assert sleeps.calls == [0.0]


@pytest.mark.parametrize(("status", "error"), [(400, GraphBadRequest), (403, GraphForbidden), (404, GraphNotFound)])
async def test_client_errors_are_not_retried(graph: GraphDouble, client: tuple[GraphClient, Sleeps], status: int,
                                             error: type[GraphError]) -> None:
    graph_client, sleeps = client
    graph.fail(status, code="SomeCode")
    with pytest.raises(error) as caught:
        await graph_client.get("users.get", USER)
    assert caught.value.code == "SomeCode" and not caught.value.retryable
    assert sleeps.calls == [] and len(graph.graph_requests("GET")) == 1


async def test_a_refused_token_is_replaced_once_then_reported(graph: GraphDouble,
                                                              client: tuple[GraphClient, Sleeps]) -> None:
    graph_client, _ = client
    await graph_client.get("users.get", USER)
    graph.revoke_tokens()
    await graph_client.get("users.get", USER)  # 401, a new token, 200
    assert graph.token_requests == 2

    graph.fail(401, times=5, code="InvalidAuthenticationToken")
    with pytest.raises(GraphAuthError):
        await graph_client.get("users.get", USER)


async def test_tokens_are_cached_until_shortly_before_they_expire(graph: GraphDouble, clock: FixedClock) -> None:
    tokens = tokens_for(graph, clock)
    first = await tokens.token()
    assert await tokens.token() == first and graph.token_requests == 1
    clock.advance(timedelta(minutes=56))  # the double's tokens live 3599 s; we renew 5 minutes early
    assert await tokens.token() != first and graph.token_requests == 2


async def test_wrong_credentials_give_a_token_error(graph: GraphDouble, clock: FixedClock) -> None:
    tokens = ClientCredentialsTokenSource(graph.authority, DEFAULT_APP_ID, "wrong", clock)
    with pytest.raises(TokenError) as caught:
        await tokens.token()
    assert caught.value.code == "invalid_client" and caught.value.retryable


async def test_a_connection_failure_is_retried_then_typed(clock: FixedClock) -> None:
    async with GraphDouble() as double:
        base_url = double.base_url
    sleeps = Sleeps()
    graph_client = GraphClient(base_url, StaticTokenSource("t"), sleep=sleeps)
    try:
        with pytest.raises(GraphUnavailable):
            await graph_client.get("users.get", USER)
    finally:
        await graph_client.close()
    assert len(sleeps.calls) == 3


async def test_paging_follows_next_links_on_the_same_host_only(graph: GraphDouble,
                                                               client: tuple[GraphClient, Sleeps]) -> None:
    graph_client, _ = client
    graph.add_group("g1", users=[f"u{i}" for i in range(5)])
    items = [item["id"] async for item in graph_client.items("groups.members", "/groups/g1/transitiveMembers",
                                                              {"$select": "id", "$top": "999"})]
    assert items == ["u0", "u1", "u2", "u3", "u4"]
    assert len(graph.graph_requests("GET", "transitiveMembers")) == 3

    with pytest.raises(GraphError) as caught:
        await graph_client.call("x", "GET", graph_client.url("/x").with_host("example.org"))
    assert caught.value.code == "foreign_url"


async def test_msal_gets_tokens_from_an_https_authority(clock: FixedClock, monkeypatch: pytest.MonkeyPatch) -> None:
    """The production token source, msal itself, against the double's https identity endpoints."""
    # requests prefers these to the session's own `verify`, which is how msal is told to trust the double's CA.
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    async with GraphDouble(tls=True) as double:
        double.add_user("u1", "Ada Example", "ada@hny.test")
        assert double.ca_file is not None
        tokens = MsalTokenSource(DEFAULT_APP_ID, double.authority, client_secret=DEFAULT_SECRET,
                                 verify=double.ca_file, instance_discovery=False)
        first = await tokens.token()
        assert first in double.issued_tokens
        assert await tokens.token() == first and double.token_requests == 1  # msal's own cache
        tokens.invalidate()
        assert await tokens.token() != first

        wrong = MsalTokenSource(DEFAULT_APP_ID, double.authority, client_secret="wrong", verify=double.ca_file,
                                instance_discovery=False)
        with pytest.raises(TokenError) as caught:
            await wrong.token()
        assert caught.value.code == "invalid_client"


def _settings(**values: object) -> Settings:
    base: dict[str, object] = dict(microsoft_app_id=DEFAULT_APP_ID, microsoft_app_password=DEFAULT_SECRET,
                                   microsoft_app_tenant_id=DEFAULT_TENANT_ID, graph_enabled=True)
    base.update(values)
    return Settings(_env_file=None, **base)  # type: ignore[call-arg]


def test_the_token_source_follows_the_authority(clock: FixedClock) -> None:
    assert isinstance(build_token_source(_settings(), clock), MsalTokenSource)  # Microsoft's, for the tenant
    local = build_token_source(_settings(graph_authority_url="http://127.0.0.1:9/tenant"), clock)
    assert isinstance(local, ClientCredentialsTokenSource)
    with pytest.raises(SettingsError):
        build_token_source(_settings(graph_authority_url="http://login.example.org/tenant"), clock)
    with pytest.raises(SettingsError):
        build_token_source(_settings(microsoft_app_tenant_id="", microsoft_app_type="MultiTenant"), clock)

"""Where the sender's token comes from: botbuilder's credentials in production (wrapped, cached, errors turned
into TokenRefused), nothing at all for a bot without an app id."""

from __future__ import annotations

import argparse
from typing import Any

import pytest
from botframework.connector.auth import AppCredentials

from bot.delivery.tokens import AnonymousTokenProvider, StaticTokenProvider, TokenRefused
from bot.edge.agents.credentials import MsalTokens
from bot.edge.botbuilder.credentials import CredentialsTokenProvider
from bot.features.delivery import production_tokens, worker_config
from bot.settings import Settings
from tests.doubles.issuer import StaticCredentialsFactory


class CountingCredentials(AppCredentials):
    def __init__(self, error: Exception | None = None) -> None:
        super().__init__(app_id="bot")
        self.calls: list[bool] = []
        self.error = error

    def get_access_token(self, force_refresh: bool = False) -> str:
        self.calls.append(force_refresh)
        if self.error is not None:
            raise self.error
        return f"token-{len(self.calls)}"


class Factory(StaticCredentialsFactory):
    def __init__(self, credentials: CountingCredentials) -> None:
        super().__init__("bot")
        self.credentials = credentials
        self.asked: list[tuple[Any, ...]] = []

    async def create_credentials(self, app_id: str, oauth_scope: str, login_endpoint: str,
                                 validate_authority: bool) -> Any:
        self.asked.append((app_id, oauth_scope, login_endpoint, validate_authority))
        return self.credentials


async def test_botbuilder_credentials_are_asked_once_and_their_token_reused() -> None:
    credentials = CountingCredentials()
    factory = Factory(credentials)
    provider = CredentialsTokenProvider(factory, "bot")

    assert await provider.token() == "token-1"
    assert await provider.token() == "token-1"  # reused: no thread hop per send
    assert await provider.token(force_refresh=True) == "token-2"
    assert credentials.calls == [False, True]
    assert factory.asked == [("bot", "https://api.botframework.com", "https://login.microsoftonline.com/", True)]


@pytest.mark.parametrize(("error", "code"), [
    (PermissionError("Failed to get access token with error: invalid_client"), "TokenRefused"),
    (ConnectionError("login.microsoftonline.com unreachable"), "TokenUnavailable"),
])
async def test_no_token_is_token_refused_with_a_code(error: Exception, code: str) -> None:
    provider = CredentialsTokenProvider(Factory(CountingCredentials(error)), "bot")
    with pytest.raises(TokenRefused) as refused:
        await provider.token()
    assert refused.value.code == code
    assert "invalid_client" not in str(refused.value)


@pytest.mark.parametrize(("sdk", "kind"), [("agents", MsalTokens), ("botbuilder", CredentialsTokenProvider)])
def test_production_tokens_follow_the_settings(sdk: str, kind: type) -> None:
    anonymous = Settings(_env_file=None, bot_sdk=sdk)  # type: ignore[call-arg]
    assert isinstance(production_tokens(anonymous), AnonymousTokenProvider)
    configured = Settings(_env_file=None, microsoft_app_id="00000000-0000-4000-8000-00000000b07a",  # type: ignore[call-arg]
                          microsoft_app_password="secret", microsoft_app_type="MultiTenant", bot_sdk=sdk,
                          send_rate_per_second=12.5, delivery_max_attempts=3)
    assert isinstance(production_tokens(configured), kind)
    config = worker_config(configured)
    assert (config.rate_per_second, config.max_attempts, config.bot_id) == (
        12.5, 3, "28:00000000-0000-4000-8000-00000000b07a")


async def test_the_static_token_is_refused_next_to_real_credentials(capsys: pytest.CaptureFixture[str]) -> None:
    from bot.cli.worker import run

    settings = Settings(_env_file=None, microsoft_app_id="00000000-0000-4000-8000-00000000b07a",  # type: ignore[call-arg]
                        microsoft_app_password="secret", microsoft_app_type="MultiTenant")
    args = argparse.Namespace(static_token="x", port=0, host="127.0.0.1", max_in_flight=None, poll_seconds=None,
                              heartbeat_seconds=None)
    assert await run(args, settings) == 2
    assert "--static-token" in capsys.readouterr().err


async def test_the_static_provider_can_refuse() -> None:
    provider = StaticTokenProvider("t")
    assert await provider.token() == "t"
    provider.refuse = True
    with pytest.raises(TokenRefused):
        await provider.token()


class _Msal:
    """Stands in for MsalAuth (the Agents SDK's), which raises ValueError when Entra answers with an error."""

    def __init__(self, answer: str | Exception) -> None:
        self.answer = answer
        self.calls = 0

    async def get_access_token(self, resource_url: str, scopes: list[str], force_refresh: bool = False) -> str:
        self.calls += 1
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


@pytest.mark.parametrize(("error", "code"), [(ValueError("invalid_client: AADSTS7000215"), "TokenRefused"),
                                              (OSError("no route"), "TokenUnavailable")])
async def test_an_msal_failure_on_the_agents_path_is_token_refused_with_a_code(error: Exception, code: str) -> None:
    with pytest.raises(TokenRefused) as refused:
        await MsalTokens(_Msal(error)).token()  # type: ignore[arg-type]
    assert refused.value.code == code
    assert "invalid_client" not in str(refused.value)


async def test_the_agents_path_keeps_a_token_a_few_minutes_and_refreshes_when_asked() -> None:
    msal = _Msal("t1")
    tokens = MsalTokens(msal)  # type: ignore[arg-type]
    assert [await tokens.token(), await tokens.token()] == ["t1", "t1"]
    assert msal.calls == 1
    msal.answer = "t2"
    assert await tokens.token(force_refresh=True) == "t2"

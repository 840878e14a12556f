"""Tokens on the Agents SDK path: MsalAuth (through MsalConnectionManager) from the Entra settings, for the
outbox's own Bot Connector client and for replies within a turn, kept a few minutes so a send does not hop to
MSAL's thread each time. Client secret, certificate (PFX), managed identity and federated credentials are what
MsalAuth supports (docs/deploy.md, "Entra settings")."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from microsoft_agents.authentication.msal import MsalConnectionManager
from microsoft_agents.hosting.core.authorization import (
    AccessTokenProviderBase,
    AgentAuthConfiguration,
    AuthTypes,
    ClaimsIdentity,
    Connections,
)

from bot.delivery.tokens import TokenProvider, TokenRefused
from bot.settings import Settings

log = logging.getLogger(__name__)

BOT_CONNECTOR_RESOURCE = "https://api.botframework.com"
BOT_CONNECTOR_SCOPES = ["https://api.botframework.com/.default"]
# MSAL tokens live about an hour; asking MSAL again well before then costs nothing (it serves its cache).
REUSE_SECONDS = 300.0

_AUTH_TYPES = {
    "ClientSecret": AuthTypes.client_secret,
    "Certificate": AuthTypes.certificate,
    "UserManagedIdentity": AuthTypes.user_managed_identity,
    "SystemManagedIdentity": AuthTypes.system_managed_identity,
    "FederatedCredentials": AuthTypes.federated_credentials,
    "WorkloadIdentity": AuthTypes.workload_identity,
}


def auth_configuration(settings: Settings) -> AgentAuthConfiguration:
    """The SDK's configuration of the bot's Entra app: who it is, how it proves it, which tokens it accepts."""
    password = settings.microsoft_app_password.get_secret_value() if settings.microsoft_app_password else None
    issuers = [settings.to_bot_from_channel_token_issuer] if settings.to_bot_from_channel_token_issuer else None
    return AgentAuthConfiguration(
        auth_type=_AUTH_TYPES[settings.agents_auth_type],
        client_id=settings.microsoft_app_id or None,
        tenant_id=settings.microsoft_app_tenant_id or None,
        client_secret=password,
        cert_pfx_file=settings.microsoft_app_certificate_pfx_file,
        federated_client_id=settings.microsoft_app_federated_client_id,
        federated_token_file=settings.microsoft_app_federated_token_file,
        anonymous_allowed=not settings.authenticated,
        # Off by default in the SDK: the bot accepts only tokens from the issuers it trusts.
        validate_issuer=True,
        issuers=issuers,
    )


class MsalTokens:
    """The TokenProvider of bot/delivery/tokens.py over the SDK's MsalAuth."""

    def __init__(self, provider: AccessTokenProviderBase, *, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._provider = provider
        self._time = monotonic
        self._cached: tuple[str, float] | None = None
        self._lock = asyncio.Lock()

    async def token(self, *, force_refresh: bool = False) -> str:
        async with self._lock:
            if self._cached is not None and not force_refresh and self._time() - self._cached[1] < REUSE_SECONDS:
                return self._cached[0]
            self._cached = None
            try:
                token = await self._provider.get_access_token(BOT_CONNECTOR_RESOURCE, BOT_CONNECTOR_SCOPES,
                                                              force_refresh)
            except ValueError:
                # MsalAuth raises ValueError when Entra answered with an error (e.g. invalid_client).
                raise TokenRefused("TokenRefused") from None
            except Exception as exc:  # network, authority discovery, ...: no token, whatever the cause
                log.warning("could not obtain a Bot Connector token: %s", type(exc).__name__)
                raise TokenRefused("TokenUnavailable") from None
            if not isinstance(token, str) or not token:
                raise TokenRefused("TokenUnavailable")
            self._cached = (token, self._time())
            return token


def msal_tokens(settings: Settings) -> MsalTokens:
    manager = MsalConnectionManager(connections_configurations={"SERVICE_CONNECTION": auth_configuration(settings)})
    return MsalTokens(manager.get_default_connection())


class ProvidedTokenAccess(AccessTokenProviderBase):
    """The SDK's token-provider interface over the bot's TokenProvider (cached MsalAuth, or a test's token)."""

    def __init__(self, tokens: TokenProvider, configuration: AgentAuthConfiguration) -> None:
        self._tokens = tokens
        self._configuration = configuration

    @property
    def configuration(self) -> AgentAuthConfiguration:
        return self._configuration

    async def get_access_token(self, resource_url: str, scopes: list[str], force_refresh: bool = False) -> str:
        return await self._tokens.token(force_refresh=force_refresh)

    def get_token_credential(self) -> Any:
        raise NotImplementedError("the bot reaches Graph through bot/graph, not the SDK")

    async def acquire_token_on_behalf_of(self, *args: Any, **kwargs: Any) -> str:
        raise NotImplementedError("the bot signs no user in through the SDK")

    async def get_agentic_application_token(self, *args: Any, **kwargs: Any) -> str | None:
        raise NotImplementedError("the bot has no agentic identity")

    async def get_agentic_instance_token(self, *args: Any, **kwargs: Any) -> tuple[str, str]:
        raise NotImplementedError("the bot has no agentic identity")

    async def get_agentic_user_token(self, *args: Any, **kwargs: Any) -> str | None:
        raise NotImplementedError("the bot has no agentic identity")


class ProvidedConnections(Connections):
    """One connection, the bot's own app (no skills, no agentic identities)."""

    def __init__(self, access: ProvidedTokenAccess) -> None:
        self._access = access

    def get_connection(self, connection_name: str) -> AccessTokenProviderBase:
        return self._access

    def get_default_connection(self) -> AccessTokenProviderBase:
        return self._access

    def get_token_provider(self, claims_identity: ClaimsIdentity, service_url: str) -> AccessTokenProviderBase:
        return self._access

    def get_token_provider_from_activity(self, *args: object, **kwargs: object) -> AccessTokenProviderBase:
        return self._access

    def get_default_connection_configuration(self) -> AgentAuthConfiguration:
        return self._access.configuration

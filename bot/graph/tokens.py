"""Where Graph access tokens come from.

Production uses `bot.graph.msal_tokens.MsalTokenSource` (msal's `ConfidentialClientApplication`, the only module
that imports msal). msal insists on an https authority and discovers it over the network, so a local test double
would need TLS; `ClientCredentialsTokenSource` is a tiny client-credentials POST used only when the authority is
plain http on a loopback address (a test double). `bot.graph.services.build_token_source` picks between them;
tests may also pass a `StaticTokenSource`. Choosing by the authority keeps one code path for everything after the
token.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Protocol

import aiohttp

from bot.clock import Clock
from bot.graph.errors import GraphUnavailable, TokenError
from bot.settings import Settings, SettingsError

GRAPH_SCOPE = "https://graph.microsoft.com/.default"
# Fetch a new token this long before the old one expires.
EXPIRY_MARGIN = timedelta(minutes=5)


class TokenSource(Protocol):
    async def token(self) -> str:
        """A valid app-only access token for Graph (from a cache when possible)."""
        ...

    def invalidate(self) -> None:
        """Forget the cached token (Graph answered 401 to it)."""
        ...


class StaticTokenSource:
    """A fixed token (unit tests)."""

    def __init__(self, value: str) -> None:
        self._value = value

    async def token(self) -> str:
        return self._value

    def invalidate(self) -> None:
        return None


class ClientCredentialsTokenSource:
    """OAuth 2.0 client credentials against `{authority}/oauth2/v2.0/token`, cached until shortly before expiry.
    Only for a loopback test double (see the module docstring)."""

    def __init__(self, authority: str, client_id: str, client_secret: str, clock: Clock, *,
                 scope: str = GRAPH_SCOPE, timeout: float = 30.0) -> None:
        self._token_url = authority.rstrip("/") + "/oauth2/v2.0/token"
        self._form = {"grant_type": "client_credentials", "client_id": client_id,
                      "client_secret": client_secret, "scope": scope}
        self._clock = clock
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._lock = asyncio.Lock()
        self._cached: tuple[str, datetime] | None = None

    async def token(self) -> str:
        async with self._lock:  # one request at a time: callers arriving together share the fresh token
            if self._cached and self._clock.now() < self._cached[1]:
                return self._cached[0]
            try:
                async with aiohttp.ClientSession(timeout=self._timeout) as http, \
                        http.post(self._token_url, data=self._form) as response:
                    body = await response.json(content_type=None)
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                raise GraphUnavailable("token", None, type(exc).__name__) from None
            if response.status != 200 or not isinstance(body, dict) or "access_token" not in body:
                code = body.get("error") if isinstance(body, dict) else None
                raise TokenError("token", response.status, str(code) if code else None)
            lifetime = timedelta(seconds=int(body.get("expires_in", 3600)))
            self._cached = (str(body["access_token"]), self._clock.now() + lifetime - EXPIRY_MARGIN)
            return self._cached[0]

    def invalidate(self) -> None:
        self._cached = None


def authority_of(settings: Settings) -> str:
    """GRAPH_AUTHORITY_URL, or Microsoft's authority for the bot's own tenant."""
    if settings.graph_authority_url:
        return settings.graph_authority_url.rstrip("/")
    if not settings.microsoft_app_tenant_id:
        raise SettingsError("Setting GRAPH_ENABLED: Graph needs MICROSOFT_APP_TENANT_ID (app-only tokens are issued "
                            "by one tenant), or GRAPH_AUTHORITY_URL")
    return f"https://login.microsoftonline.com/{settings.microsoft_app_tenant_id}"

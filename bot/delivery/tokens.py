"""Where the sender's bearer token comes from. The worker depends only on the TokenProvider protocol, so
tests inject a fixed token (or one that is refused) and production wraps botbuilder's credentials
(bot/connector_credentials.py, at the edge: bot/delivery never touches botbuilder)."""

from __future__ import annotations

from typing import Protocol


class TokenRefused(Exception):
    """No token for the bot: the identity platform refused its credentials (wrong secret, disabled app) or
    could not be reached. `code` is safe to log and show in /healthz."""

    def __init__(self, code: str = "TokenRefused") -> None:
        super().__init__(code)
        self.code = code


class TokenProvider(Protocol):
    async def token(self, *, force_refresh: bool = False) -> str:
        """A bearer token for the Bot Connector; "" means send no Authorization header (a bot without an
        app id, e.g. against the Agents Playground). Raises TokenRefused when credentials are refused."""
        ...


class StaticTokenProvider:
    """A fixed token: tests and benchmarks against the local Connector double, which only checks a Bearer."""

    def __init__(self, token: str = "test-token") -> None:
        self._token = token
        self.refuse = False  # tests flip this to simulate refused credentials

    async def token(self, *, force_refresh: bool = False) -> str:
        if self.refuse:
            raise TokenRefused()
        return self._token


class AnonymousTokenProvider:
    """No app id, no authentication: botbuilder sends no Authorization header in this case too."""

    async def token(self, *, force_refresh: bool = False) -> str:
        return ""

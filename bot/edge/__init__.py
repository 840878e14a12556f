"""The Teams edge: the one place that knows which SDK receives activities (BOT_SDK, docs/architecture.md).

`build_edge` is called once by the app factory and imports the chosen SDK's package only then, so a bot on the
Agents SDK never imports botbuilder (tests/test_edge_imports.py checks it in a fresh interpreter). Both edges
take the same checked body from bot/messages.py, authenticate it with their SDK, run the turn through their
SDK's adapter, and hand the bot (bot/handler.py) the same `Turn`. Proactive messages never come here: they go
through the outbox and the project's own Bot Connector client (bot/delivery/); only their tokens do."""

from __future__ import annotations

from typing import Any, Protocol

from bot.activity import IncomingActivity, InvokeAnswer
from bot.delivery.tokens import AnonymousTokenProvider, TokenProvider
from bot.handler import VolunteersBot
from bot.settings import Settings
from bot.turn_failures import TurnFailures

__all__ = ["Edge", "EdgeMalformed", "EdgeRefused", "build_edge", "delivery_tokens"]


class EdgeMalformed(Exception):
    """The body is JSON but not an activity the SDK can read (answered 400)."""


class EdgeRefused(Exception):
    """The request's token is not one the bot accepts (answered 401, with only the reason's type logged)."""


class Edge(Protocol):
    name: str

    async def authenticate(self, body: dict[str, Any], authorization: str) -> object:
        """The caller's identity, as the SDK represents it; raises EdgeRefused."""

    async def process(self, identity: object, body: dict[str, Any],
                      activity: IncomingActivity) -> InvokeAnswer | None:
        """Run one turn; the invoke answer, or None for any other activity."""

    async def close(self) -> None: ...


def build_edge(settings: Settings, bot: VolunteersBot, failures: TurnFailures,
               outbound: TokenProvider | None = None) -> Edge:
    """`outbound`: the token for replies within a turn (tests pass a static one; None: from the settings)."""
    if settings.bot_sdk == "botbuilder":
        from bot.edge.botbuilder import build as build_botbuilder

        return build_botbuilder(settings, bot, failures, outbound)
    from bot.edge.agents import build as build_agents

    return build_agents(settings, bot, failures, outbound)


def delivery_tokens(settings: Settings) -> TokenProvider:
    """The tokens of the outbox's own Bot Connector client, from the chosen SDK's credentials."""
    if not settings.authenticated:
        return AnonymousTokenProvider()
    if settings.bot_sdk == "botbuilder":
        from bot.edge.botbuilder.credentials import botbuilder_tokens

        return botbuilder_tokens(settings)
    from bot.edge.agents.credentials import msal_tokens

    return msal_tokens(settings)

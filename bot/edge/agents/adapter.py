"""The Microsoft 365 Agents SDK edge (BOT_SDK=agents, the default): the SDK's JWT validation, its CloudAdapter,
and an AgentApplication whose routes (messages, Action.Execute verbs, invokes, installs) call the bot's entry
points (bot/handler.py). Hazards read from the SDK's source, each with a test (tests/test_edge_agents.py):

- the service-URL claim is compared only with OutboundHostValidator(enabled=True), and issuers only with
  VALIDATE_ISSUER: the bot checks both itself, as botbuilder did;
- the Teams extension parses channelData strictly before every turn: a field of the wrong shape failed the turn;
- the SDK's state (AgentState) is not used at all (bot/conversation_state.py says why);
- its connector client drops error bodies and opens a new HTTP session (and token request) per turn: replies go
  through a pooled client here, and every proactive message through the project's own client (bot/delivery/)."""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import UTC, datetime
from typing import Any

import aiohttp
from jwt import PyJWKClient
from microsoft_agents.activity import (
    Activity,
    ActivityTypes,
    AdaptiveCardInvokeResponse,
    InvokeResponse,
    ResourceResponse,
)
from microsoft_agents.hosting.aiohttp import CloudAdapter
from microsoft_agents.hosting.core import (
    AgentApplication,
    ChannelServiceClientFactoryBase,
    MemoryStorage,
    TurnContext,
    TurnState,
)
from microsoft_agents.hosting.core.app._routes import RouteRank
from microsoft_agents.hosting.core.authorization import ClaimsIdentity, JwtTokenValidator
from microsoft_agents.hosting.core.connector.teams import TeamsConnectorClient
from microsoft_agents.hosting.msteams import TeamsAgentExtension
from microsoft_teams.api.models.channel_data import ChannelData

from bot.activity import IncomingActivity, InvokeAnswer, MemberInfo, OutgoingActivity
from bot.delivery.tokens import AnonymousTokenProvider, TokenProvider
from bot.edge import EdgeMalformed, EdgeRefused
from bot.edge.agents.credentials import (
    ProvidedConnections,
    ProvidedTokenAccess,
    auth_configuration,
    msal_tokens,
)
from bot.handler import VolunteersBot
from bot.log_format import Fields
from bot.retry import retry_after_seconds
from bot.settings import Settings
from bot.turn_failures import TurnFailures

log = logging.getLogger(__name__)

REPLY_ATTEMPTS = 4
REPLY_WAIT_CAP_SECONDS = 3.0
_IO = "hny.turn_io"


class _KeysAt:
    """The SDK looks Bot Framework keys up at Microsoft's fixed address; a configured OpenID metadata URL (a
    sovereign cloud, or the tests' local issuer) names another, as botbuilder's setting of the same name did."""

    def __init__(self, metadata_url: str) -> None:
        self._metadata_url = metadata_url
        self._client: PyJWKClient | None = None
        self._lock = asyncio.Lock()

    async def get_signing_key(self, jwks_uri: str, header: dict[str, Any]) -> Any:
        async with self._lock:
            if self._client is None:
                async with aiohttp.ClientSession() as http, http.get(self._metadata_url) as response:
                    document = await response.json(content_type=None)
                self._client = PyJWKClient(str(document["jwks_uri"]))
        client = self._client
        return await asyncio.to_thread(client.get_signing_key, header["kid"])


class AgentsTurnIO:
    """The bot's TurnIO over the Agents SDK's TurnContext."""

    def __init__(self, context: TurnContext, activity: IncomingActivity, teams: TeamsAgentExtension[TurnState]
                 ) -> None:
        self._context = context
        self._activity = activity
        self._teams = teams

    @property
    def activity(self) -> IncomingActivity:
        return self._activity

    async def send_activity(self, activity: OutgoingActivity) -> str | None:
        response = await self._context.send_activity(Activity.model_validate(activity))
        return response.id if response else None

    async def member(self, teams_user_id: str) -> MemberInfo | None:
        conversation = self._activity.conversation
        if conversation is None:
            return None
        api = self._teams.get_teams_api_client(self._context)
        member = await api.conversations.members_client.get_by_id(conversation.id, teams_user_id)
        return MemberInfo(aad_object_id=member.aad_object_id, name=member.name, email=member.email,
                          user_principal_name=member.user_principal_name)


class StatelessTurnState(TurnState):
    """A TurnState that loads nothing: the SDK's own `load` reads ConversationState and UserState every turn."""

    async def load(self, context: TurnContext, storage: Any) -> StatelessTurnState:
        return self


class _NoUserTokens:
    """The bot signs no user in through the SDK (the desk has its own sign-in), so no token service client."""

    async def close(self) -> None:
        return None


class _SharedSessionClient(TeamsConnectorClient):
    """A connector client on a session kept per service URL, so a turn opens no new connection."""

    async def close(self) -> None:
        return None


class PooledClientFactory(ChannelServiceClientFactoryBase):
    def __init__(self, tokens: TokenProvider) -> None:
        self._tokens = tokens
        self._sessions: dict[str, aiohttp.ClientSession] = {}

    async def create_connector_client(self, context: TurnContext | None, claims_identity: ClaimsIdentity,
                                      service_url: str, audience: str, scopes: list[str] | None = None,
                                      use_anonymous: bool = False) -> TeamsConnectorClient:
        endpoint = service_url if service_url.endswith("/") else service_url + "/"
        session = self._sessions.get(endpoint)
        if session is None or session.closed:
            session = self._sessions[endpoint] = aiohttp.ClientSession(base_url=endpoint)
        token = "" if use_anonymous else await self._tokens.token()
        return _SharedSessionClient(endpoint, token, session=session)

    async def create_user_token_client(self, context: TurnContext, claims_identity: ClaimsIdentity,
                                       use_anonymous: bool = False) -> Any:
        return _NoUserTokens()

    async def close(self) -> None:
        for session in self._sessions.values():
            await session.close()
        self._sessions.clear()


def _retry_after(error: aiohttp.ClientResponseError) -> float | None:
    if error.status != 429:
        return None
    header = error.headers.get("Retry-After") if error.headers else None
    seconds = retry_after_seconds(header, datetime.now(UTC), cap=REPLY_WAIT_CAP_SECONDS)
    return 1.0 if seconds is None else seconds


class RetryingAgentsAdapter(CloudAdapter):
    """Replies within a turn, each tried again when Teams answers 429 (design §7), as on botbuilder."""

    async def send_activities(self, context: Any, activities: list[Activity]) -> list[ResourceResponse]:
        sent: list[ResourceResponse] = []
        for activity in activities:  # one at a time, so a retry never sends an earlier one twice
            for attempt in range(1, REPLY_ATTEMPTS + 1):
                try:
                    sent.extend(await super().send_activities(context, [activity.model_copy()]))
                    break
                except aiohttp.ClientResponseError as error:
                    wait = _retry_after(error)
                    if wait is None or attempt == REPLY_ATTEMPTS:
                        raise
                    log.info("reply throttled by Teams, trying again", extra=Fields(status=429, seconds=wait))
                    await asyncio.sleep(wait)
        return sent


async def _readable_channel_data(context: TurnContext, _: TurnState) -> bool:
    try:
        ChannelData.model_validate(context.activity.channel_data or {})
    except ValueError:
        context.activity.channel_data = None
    return True


def _io(context: TurnContext) -> AgentsTurnIO:
    io = context.turn_state[_IO]
    assert isinstance(io, AgentsTurnIO)
    return io


async def _answer_invoke(context: TurnContext, answer: InvokeAnswer) -> None:
    await context.send_activity(Activity(type=ActivityTypes.invoke_response,
                                         value=InvokeResponse(status=answer.status, body=answer.body)))


class AgentsEdge:
    name = "agents"

    def __init__(self, settings: Settings, bot: VolunteersBot, failures: TurnFailures,
                 outbound: TokenProvider | None) -> None:
        self._settings = settings
        self._bot = bot
        self._configuration = auth_configuration(settings)
        self._validator = JwtTokenValidator(self._configuration)
        if settings.to_bot_from_channel_openid_metadata_url:
            self._validator._jwk_client_manager = _KeysAt(  # type: ignore[assignment]
                settings.to_bot_from_channel_openid_metadata_url)
        tokens = outbound or (msal_tokens(settings) if settings.authenticated else AnonymousTokenProvider())
        self._factory = PooledClientFactory(tokens)
        self._adapter = RetryingAgentsAdapter(channel_service_client_factory=self._factory)

        async def on_turn_error(context: TurnContext, error: Exception) -> None:
            io = _io(context)
            await failures.on_turn_error(io.activity, io.send_activity, error)

        self._adapter.on_turn_error = on_turn_error
        # The SDK insists on a Storage; the bot keeps its state itself (bot/conversation_state.py), so each
        # turn gets an empty TurnState that loads and saves nothing.
        self.app: AgentApplication[TurnState] = AgentApplication[TurnState](
            storage=MemoryStorage(), connection_manager=ProvidedConnections(
                ProvidedTokenAccess(tokens, self._configuration)),
            start_typing_timer=False, remove_recipient_mention=False, turn_state_factory=StatelessTurnState)
        # Before the Teams extension's own before-turn hook, which parses channelData strictly and would fail the
        # whole turn on one field of the wrong shape; the bot reads the raw body itself (bot/activity.py).
        self.app.before_turn(_readable_channel_data)
        self.teams = TeamsAgentExtension[TurnState](self.app)
        self._routes()

    # -- routes --------------------------------------------------------------------------------------------------

    def _routes(self) -> None:
        app, bot = self.app, self._bot

        @app.activity(ActivityTypes.message)
        async def on_message(context: TurnContext, _: TurnState) -> None:
            turn = await bot.begin_turn(_io(context))
            await bot.on_message(turn)
            await bot.end_turn(turn)

        for spec in bot.actions.execute_specs():
            self._execute_route(spec.name)

        async def on_invoke(context: TurnContext, _: TurnState) -> None:
            turn = await bot.begin_turn(_io(context))
            answer = await bot.on_invoke(turn)
            await bot.end_turn(turn)
            await _answer_invoke(context, answer)

        # Every other invoke (file consent, an Action.Execute verb no card declares): after the verbs' routes.
        app.add_route(lambda context: context.activity.type == ActivityTypes.invoke, on_invoke, is_invoke=True,
                      rank=RouteRank.LAST)

        @app.conversation_update("membersAdded")
        async def on_members_added(context: TurnContext, _: TurnState) -> None:
            turn = await bot.begin_turn(_io(context))
            await bot.on_members_added(turn, turn.activity.members_added)
            await bot.end_turn(turn)

        @app.activity(ActivityTypes.installation_update)
        async def on_installation(context: TurnContext, _: TurnState) -> None:
            turn = await bot.begin_turn(_io(context))
            await bot.on_activity(turn)
            await bot.end_turn(turn)

        async def on_other(context: TurnContext, _: TurnState) -> None:
            # Other activities (typing, reactions, ...) only tell the bot where a person can be reached.
            turn = await bot.begin_turn(_io(context))
            await bot.end_turn(turn)

        app.add_route(lambda context: True, on_other, rank=RouteRank.LAST)

    def _execute_route(self, verb: str) -> None:
        bot = self._bot

        @self.app.adaptive_card.action_execute(re.compile(f"^{re.escape(verb)}$"))
        async def on_execute(context: TurnContext, _: TurnState, data: Any) -> AdaptiveCardInvokeResponse:
            turn = await bot.begin_turn(_io(context))
            answer = await bot.on_execute(turn, verb, data)
            await bot.end_turn(turn)
            body = answer.body or {}
            return AdaptiveCardInvokeResponse(status_code=body.get("statusCode", 200), type=body.get("type"),
                                              value=body.get("value"))

    # -- the endpoint's calls --------------------------------------------------------------------------------

    async def authenticate(self, body: dict[str, Any], authorization: str) -> object:
        try:
            sdk_activity = Activity.model_validate(body)
        except ValueError:
            raise EdgeMalformed("MalformedActivity") from None
        if not self._settings.authenticated and not authorization:
            return ClaimsIdentity({}, authentication_type=None), sdk_activity  # local mode: the Playground
        token = authorization[7:].strip() if authorization[:7].lower() == "bearer " else ""
        if not token or any(character.isspace() for character in token):
            raise EdgeRefused("MalformedHeader")
        try:
            identity = await self._validator.validate_token(token)
        except Exception as exc:  # PyJWT's errors, ValueError, key lookup failures: all a refused token
            raise EdgeRefused(type(exc).__name__) from None
        # The SDK compares the service-URL claim only with its host validator on; botbuilder required it equal.
        if identity.get_claim_value("serviceurl") != body.get("serviceUrl"):
            raise EdgeRefused("ServiceUrlClaim")
        return identity, sdk_activity

    async def process(self, identity: object, body: dict[str, Any],
                      activity: IncomingActivity) -> InvokeAnswer | None:
        assert isinstance(identity, tuple)
        claims, sdk_activity = identity

        async def callback(context: TurnContext) -> None:
            # Set first: the turn-error handler answers through it.
            context.turn_state[_IO] = AgentsTurnIO(context, activity, self.teams)
            await self.app.on_turn(context)

        response = await self._adapter.process_activity(claims, sdk_activity, callback)
        if activity.type != ActivityTypes.invoke:
            return None
        if response is None:
            return InvokeAnswer(501)
        result = response.body
        return InvokeAnswer(int(response.status or 501), result if isinstance(result, dict) or result is None
                            else {"value": result})

    async def close(self) -> None:
        await self._factory.close()


def build(settings: Settings, bot: VolunteersBot, failures: TurnFailures,
          outbound: TokenProvider | None) -> AgentsEdge:
    return AgentsEdge(settings, bot, failures, outbound)

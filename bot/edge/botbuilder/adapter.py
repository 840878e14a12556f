"""The botbuilder 4.17 edge (BOT_SDK=botbuilder): authentication settings, the CloudAdapter, and the turn.

botbuilder-python is archived (serviced until 2025-12-31); it stays selectable for one release so a deployment can
move back without a code change (docs/deploy.md)."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

from botbuilder.core import TurnContext
from botbuilder.core.teams import TeamsActivityHandler, TeamsInfo
from botbuilder.integration.aiohttp import CloudAdapter, ConfigurationBotFrameworkAuthentication
from botbuilder.schema import Activity, ErrorResponseException, ResourceResponse
from botframework.connector.auth import ServiceClientCredentialsFactory

from bot.activity import IncomingActivity, InvokeAnswer, MemberInfo, OutgoingActivity
from bot.delivery.tokens import TokenProvider
from bot.edge import EdgeMalformed, EdgeRefused
from bot.edge.botbuilder.credentials import ProvidedCredentialsFactory, credentials_factory_for
from bot.handler import VolunteersBot
from bot.log_format import Fields
from bot.retry import retry_after_seconds
from bot.settings import Settings
from bot.turn_failures import TurnFailures

log = logging.getLogger(__name__)

# A reply Teams throttles is tried again this many times, waiting as its Retry-After says (at most this long).
REPLY_ATTEMPTS = 4
REPLY_WAIT_CAP_SECONDS = 3.0
_IO = "hny.turn_io"


class _AuthConfiguration:
    """The attribute names botbuilder's configuration classes read."""

    def __init__(self, settings: Settings) -> None:
        self.APP_ID = settings.microsoft_app_id
        self.APP_PASSWORD = (
            settings.microsoft_app_password.get_secret_value() if settings.microsoft_app_password else ""
        )
        self.APP_TYPE = settings.microsoft_app_type
        self.APP_TENANTID = settings.microsoft_app_tenant_id
        if settings.to_bot_from_channel_openid_metadata_url:
            self.TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL = settings.to_bot_from_channel_openid_metadata_url
        if settings.to_bot_from_channel_token_issuer:
            self.TO_BOT_FROM_CHANNEL_TOKEN_ISSUER = settings.to_bot_from_channel_token_issuer
        if settings.to_channel_from_bot_login_url:
            self.TO_CHANNEL_FROM_BOT_LOGIN_URL = settings.to_channel_from_bot_login_url
        if settings.to_channel_from_bot_oauth_scope:
            self.TO_CHANNEL_FROM_BOT_OAUTH_SCOPE = settings.to_channel_from_bot_oauth_scope


def build_authentication(settings: Settings, credentials_factory: ServiceClientCredentialsFactory | None = None
                         ) -> ConfigurationBotFrameworkAuthentication:
    return ConfigurationBotFrameworkAuthentication(
        _AuthConfiguration(settings), credentials_factory=credentials_factory or credentials_factory_for(settings))


def _fast_msrest_retry_policy() -> None:
    """botbuilder builds two msrest clients per turn, and each builds a retry policy by testing 999 codes
    against a 502-item list: 3.6 ms of CPU each, about a third of a turn's own work (measured). A frozenset
    of the same codes gives the same policy in 0.05 ms. Idempotent; the SDK is pinned (4.17), so this
    cannot drift under us unnoticed (tests/test_adapter_edge.py checks the policy is unchanged)."""
    from msrest.universal_http.requests import ClientRetryPolicy

    if not isinstance(ClientRetryPolicy.safe_codes, frozenset):
        ClientRetryPolicy.safe_codes = frozenset(ClientRetryPolicy.safe_codes)  # type: ignore[assignment]


def _retry_after(error: ErrorResponseException) -> float | None:
    """How long Teams asks to wait when it throttled a reply (429), or None for any other error."""
    response = getattr(error, "response", None)
    if getattr(response, "status_code", None) != 429:
        return None
    seconds = retry_after_seconds(getattr(response, "headers", {}).get("Retry-After"), datetime.now(UTC),
                                  cap=REPLY_WAIT_CAP_SECONDS)
    return 1.0 if seconds is None else seconds


class RetryingCloudAdapter(CloudAdapter):
    """Replies within a turn, each tried again when Teams answers 429. A person pressing quickly can pass a
    chat's limits (7 messages a second, 8 in 2 s, design §7); msrest retries 5xx but not 429, so the whole turn
    failed. Proactive messages do not come here: they go through the outbox, which has its own pacing."""

    async def send_activities(self, context: TurnContext, activities: list[Activity]) -> list[ResourceResponse]:
        sent: list[ResourceResponse] = []
        for activity in activities:  # one at a time, so a retry never sends an earlier one twice
            for attempt in range(1, REPLY_ATTEMPTS + 1):
                try:
                    sent.extend(await super().send_activities(context, [activity]))
                    break
                except ErrorResponseException as error:
                    wait = _retry_after(error)
                    if wait is None or attempt == REPLY_ATTEMPTS:
                        raise
                    log.info("reply throttled by Teams, trying again", extra=Fields(status=429, seconds=wait))
                    await asyncio.sleep(wait)
        return sent


class BotbuilderTurnIO:
    """The bot's TurnIO over a botbuilder TurnContext."""

    def __init__(self, context: TurnContext, activity: IncomingActivity) -> None:
        self._context = context
        self._activity = activity

    @property
    def activity(self) -> IncomingActivity:
        return self._activity

    async def send_activity(self, activity: OutgoingActivity) -> str | None:
        response = await self._context.send_activity(Activity().deserialize(activity))
        return response.id if response else None

    async def member(self, teams_user_id: str) -> MemberInfo | None:
        member = await TeamsInfo.get_member(self._context, teams_user_id)
        if member is None:
            return None
        return MemberInfo(aad_object_id=member.aad_object_id, name=member.name, email=member.email,
                          user_principal_name=member.user_principal_name)


def _io(context: TurnContext) -> BotbuilderTurnIO:
    io = context.turn_state[_IO]
    assert isinstance(io, BotbuilderTurnIO)
    return io


class BotbuilderActivityHandler(TeamsActivityHandler):
    """botbuilder's own routing is not used: every activity goes to the bot's one router (bot/handler.py)."""

    def __init__(self, bot: VolunteersBot) -> None:
        self._bot = bot

    async def on_turn(self, turn_context: TurnContext) -> None:
        io = _io(turn_context)
        turn = await self._bot.begin_turn(io)
        answer = await self._bot.on_activity(turn)
        await self._bot.end_turn(turn)
        if answer is not None:
            # What botbuilder's own invoke handling does: the adapter sends this as the HTTP answer.
            await turn_context.send_activity(Activity(type="invokeResponse", value=_InvokeValue(answer)))


class _InvokeValue:
    """An InvokeResponse-shaped value (status, body) for botbuilder's adapter."""

    def __init__(self, answer: InvokeAnswer) -> None:
        self.status = answer.status
        self.body = answer.body


class BotbuilderEdge:
    name = "botbuilder"

    def __init__(self, settings: Settings, bot: VolunteersBot, failures: TurnFailures,
                 outbound: TokenProvider | None) -> None:
        factory = ProvidedCredentialsFactory(settings.microsoft_app_id, outbound) if outbound else None
        self._authentication = build_authentication(settings, factory)
        _fast_msrest_retry_policy()
        self._adapter = RetryingCloudAdapter(self._authentication)
        self._failures = failures

        async def on_turn_error(context: TurnContext, error: Exception) -> None:
            io = _io(context)
            await failures.on_turn_error(io.activity, io.send_activity, error)

        self._adapter.on_turn_error = on_turn_error
        self._handler = BotbuilderActivityHandler(bot)

    async def authenticate(self, body: dict[str, Any], authorization: str) -> object:
        try:
            activity = Activity().deserialize(body)
        except Exception:  # msrest raises several types for a malformed activity
            raise EdgeMalformed("MalformedActivity") from None
        try:
            return await self._authentication.authenticate_request(activity, authorization), activity
        except Exception as exc:  # botbuilder raises more than PermissionError for bad tokens (teams-facts)
            raise EdgeRefused(type(exc).__name__) from None

    async def process(self, identity: object, body: dict[str, Any],
                      activity: IncomingActivity) -> InvokeAnswer | None:
        assert isinstance(identity, tuple)
        authentication, sdk_activity = identity

        async def callback(context: TurnContext) -> None:
            # Set first: the turn-error handler answers through it.
            context.turn_state[_IO] = BotbuilderTurnIO(context, activity)
            await self._handler.on_turn(context)

        response = await self._adapter.process_activity(authentication, sdk_activity, callback)
        if response is None:
            return None
        result = response.body
        return InvokeAnswer(int(response.status), result if isinstance(result, dict) or result is None
                            else {"value": result})

    async def close(self) -> None:
        return None


def build(settings: Settings, bot: VolunteersBot, failures: TurnFailures,
          outbound: TokenProvider | None) -> BotbuilderEdge:
    return BotbuilderEdge(settings, bot, failures, outbound)

"""The Bot Framework edge: authentication settings, the CloudAdapter and its turn-error handler."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from botbuilder.core import TurnContext
from botbuilder.integration.aiohttp import CloudAdapter, ConfigurationBotFrameworkAuthentication
from botbuilder.schema import Activity, ActivityTypes, ErrorResponseException, ResourceResponse
from botframework.connector.auth import (
    CertificateServiceClientCredentialsFactory,
    PasswordServiceClientCredentialFactory,
    ServiceClientCredentialsFactory,
)
from prometheus_client import CollectorRegistry, Counter

from bot.log_format import Fields
from bot.retry import retry_after_seconds
from bot.settings import Settings
from bot.state_storage import StateConflict
from cards.basics import notice, something_went_wrong
from cards.common import attachment

log = logging.getLogger(__name__)


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


def credentials_factory_for(settings: Settings) -> ServiceClientCredentialsFactory:
    tenant = settings.microsoft_app_tenant_id
    if settings.microsoft_app_certificate_thumbprint and settings.microsoft_app_certificate_private_key_file:
        key = Path(settings.microsoft_app_certificate_private_key_file).read_text(encoding="utf-8")
        return CertificateServiceClientCredentialsFactory(
            settings.microsoft_app_certificate_thumbprint, key, settings.microsoft_app_id, tenant
        )
    password = settings.microsoft_app_password.get_secret_value() if settings.microsoft_app_password else ""
    return PasswordServiceClientCredentialFactory(settings.microsoft_app_id, password, tenant)


def build_authentication(
    settings: Settings, credentials_factory: ServiceClientCredentialsFactory | None = None
) -> ConfigurationBotFrameworkAuthentication:
    return ConfigurationBotFrameworkAuthentication(
        _AuthConfiguration(settings),
        credentials_factory=credentials_factory or credentials_factory_for(settings),
    )


def _fast_msrest_retry_policy() -> None:
    """botbuilder builds two msrest clients per turn, and each builds a retry policy by testing 999 codes
    against a 502-item list: 3.6 ms of CPU each, about a third of a turn's own work (measured). A frozenset
    of the same codes gives the same policy in 0.05 ms. Idempotent; the SDK is pinned (4.17), so this
    cannot drift under us unnoticed (tests/test_adapter_edge.py checks the policy is unchanged)."""
    from msrest.universal_http.requests import ClientRetryPolicy

    if not isinstance(ClientRetryPolicy.safe_codes, frozenset):
        ClientRetryPolicy.safe_codes = frozenset(ClientRetryPolicy.safe_codes)  # type: ignore[assignment]


# A reply Teams throttles is tried again this many times, waiting as its Retry-After says (at most this long).
REPLY_ATTEMPTS = 4
REPLY_WAIT_CAP_SECONDS = 3.0


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


def build_adapter(authentication: ConfigurationBotFrameworkAuthentication, failures: TurnFailures) -> CloudAdapter:
    _fast_msrest_retry_policy()
    adapter = RetryingCloudAdapter(authentication)
    adapter.on_turn_error = failures.on_turn_error
    return adapter


def _card_reply(content: dict[str, Any]) -> Activity:
    return Activity(type=ActivityTypes.message, attachments=[attachment(content)])


# The kind counted for a turn that lost a race to another turn of the same chat (answered kindly, not a fault).
LOST_RACE = "lost_race"


class TurnFailures:
    """The turn-error handler, counting every failed turn in /metrics (`turn_failures_total` by kind: the error's
    type, or lost_race), so an operator sees failures that people met without reading the logs."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._counter = Counter("turn_failures", "Turns that ended in an error, by kind", ["kind"],
                                registry=registry)

    async def on_turn_error(self, context: TurnContext, error: Exception) -> None:
        """Log with the stack (ids only, no message content) and answer kindly. The journey is kept:
        a lost concurrency race means the other turn already did the work."""
        activity = context.activity
        if isinstance(error, StateConflict):
            self._counter.labels(LOST_RACE).inc()
            log.info("turn lost a state race", extra=Fields(kind=activity.type))
            await context.send_activity(_card_reply(notice(
                "That was already done",
                "That was already done. You can carry on from the latest card.")))
            return
        self._counter.labels(type(error).__name__).inc()
        sender = activity.from_property.aad_object_id if activity.from_property else None
        log.error("turn failed", exc_info=error, extra=Fields(kind=activity.type, error=type(error).__name__,
                                                              person=sender))
        if activity.type in (ActivityTypes.message, ActivityTypes.invoke):
            await context.send_activity(_card_reply(something_went_wrong()))

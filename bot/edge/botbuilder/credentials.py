"""botbuilder's credentials, for replies within a turn (the adapter) and for the outbox's own Bot Connector
client (CredentialsTokenProvider: MSAL underneath, which caches tokens), so that bot/delivery never imports the
SDK. `get_access_token` is blocking (MSAL over `requests`), so it runs in a thread; the token is also kept here
for a few minutes so that sends do not each hop to a thread.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path

from botframework.connector.auth import (
    AppCredentials,
    AuthenticationConstants,
    CertificateServiceClientCredentialsFactory,
    PasswordServiceClientCredentialFactory,
    ServiceClientCredentialsFactory,
)

from bot.delivery.tokens import TokenProvider, TokenRefused
from bot.settings import Settings

log = logging.getLogger(__name__)

# MSAL tokens live about an hour; asking MSAL again well before then costs nothing (it serves its cache).
REUSE_SECONDS = 300.0


class CredentialsTokenProvider:
    def __init__(
        self,
        factory: ServiceClientCredentialsFactory,
        app_id: str,
        *,
        oauth_scope: str | None = None,
        login_endpoint: str | None = None,
        validate_authority: bool = True,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._factory = factory
        self._app_id = app_id
        # The public cloud's values, as botbuilder's own public-cloud authentication passes them.
        self._scope = oauth_scope or AuthenticationConstants.TO_CHANNEL_FROM_BOT_OAUTH_SCOPE
        self._login = login_endpoint or AuthenticationConstants.TO_CHANNEL_FROM_BOT_LOGIN_URL_PREFIX
        self._validate_authority = validate_authority
        self._time = monotonic
        self._credentials: AppCredentials | None = None
        self._cached: tuple[str, float] | None = None
        self._lock = asyncio.Lock()

    async def token(self, *, force_refresh: bool = False) -> str:
        async with self._lock:
            if self._cached is not None and not force_refresh and self._time() - self._cached[1] < REUSE_SECONDS:
                return self._cached[0]
            self._cached = None
            try:
                if self._credentials is None:
                    self._credentials = await self._factory.create_credentials(
                        self._app_id, self._scope, self._login, self._validate_authority
                    )
                credentials = self._credentials
                token = await asyncio.to_thread(credentials.get_access_token, force_refresh)
            except PermissionError:
                # MSAL answered with an error (e.g. invalid_client): the credentials are refused.
                raise TokenRefused("TokenRefused") from None
            except Exception as exc:  # network, authority discovery, ...: no token, whatever the cause
                log.warning("could not obtain a Bot Connector token: %s", type(exc).__name__)
                raise TokenRefused("TokenUnavailable") from None
            if not isinstance(token, str):
                raise TokenRefused("TokenUnavailable")
            self._cached = (token, self._time())
            return token


def credentials_factory_for(settings: Settings) -> ServiceClientCredentialsFactory:
    tenant = settings.microsoft_app_tenant_id
    if settings.microsoft_app_certificate_thumbprint and settings.microsoft_app_certificate_private_key_file:
        key = Path(settings.microsoft_app_certificate_private_key_file).read_text(encoding="utf-8")
        return CertificateServiceClientCredentialsFactory(
            settings.microsoft_app_certificate_thumbprint, key, settings.microsoft_app_id, tenant
        )
    password = settings.microsoft_app_password.get_secret_value() if settings.microsoft_app_password else ""
    return PasswordServiceClientCredentialFactory(settings.microsoft_app_id, password, tenant)


def botbuilder_tokens(settings: Settings) -> TokenProvider:
    return CredentialsTokenProvider(
        credentials_factory_for(settings),
        settings.microsoft_app_id,
        oauth_scope=settings.to_channel_from_bot_oauth_scope,
        login_endpoint=settings.to_channel_from_bot_login_url,
    )


class StaticTokenCredentials(AppCredentials):
    """Credentials with a token fetched beforehand (tests, benchmarks)."""

    def __init__(self, app_id: str, token: str) -> None:
        super().__init__(app_id=app_id)
        self._token = token

    def get_access_token(self, force_refresh: bool = False) -> str:
        return self._token


class ProvidedCredentialsFactory(ServiceClientCredentialsFactory):
    """Replies' credentials from a token the caller gives (create_app's `outbound`), instead of MSAL."""

    def __init__(self, app_id: str, tokens: TokenProvider) -> None:
        self._app_id = app_id
        self._tokens = tokens

    async def is_valid_app_id(self, app_id: str) -> bool:
        return app_id == self._app_id

    async def is_authentication_disabled(self) -> bool:
        return not self._app_id

    async def create_credentials(self, app_id: str, oauth_scope: str, login_endpoint: str,
                                 validate_authority: bool) -> AppCredentials:
        return StaticTokenCredentials(app_id, await self._tokens.token())

"""App-only Graph tokens from msal, the only module that touches msal (it is untyped and blocking).

msal's calls block on HTTP, so they run in a worker thread. Building `ConfidentialClientApplication` already
talks to the authority (tenant discovery), so it too is built lazily in the thread, on the first token request.
msal caches the token itself and renews it before it expires (msal >= 1.23), so every call goes through msal.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import msal

from bot.graph.errors import TokenError
from bot.graph.tokens import GRAPH_SCOPE
from bot.settings import Settings, SettingsError

GRAPH_RESOURCE = "https://graph.microsoft.com"


class MsalTokenSource:
    def __init__(self, client_id: str, authority: str, *, client_secret: str | None = None,
                 certificate: dict[str, str] | None = None, managed_identity_client_id: str | None = None,
                 verify: bool | str = True, instance_discovery: bool = True,
                 scopes: tuple[str, ...] = (GRAPH_SCOPE,)) -> None:
        """`verify` (a CA bundle path) and `instance_discovery=False` only for a local https double in tests."""
        self._client_id = client_id
        self._authority = authority
        self._credential: str | dict[str, str] | None = client_secret or certificate
        self._managed_identity_client_id = managed_identity_client_id
        self._verify = verify
        self._instance_discovery = instance_discovery
        self._scopes = list(scopes)
        self._app: Any = None
        self._lock = asyncio.Lock()

    @classmethod
    def from_settings(cls, settings: Settings, authority: str) -> MsalTokenSource:
        if settings.microsoft_app_type == "UserAssignedMSI":
            return cls(settings.microsoft_app_id, authority, managed_identity_client_id=settings.microsoft_app_id)
        if settings.microsoft_app_password:
            return cls(settings.microsoft_app_id, authority,
                       client_secret=settings.microsoft_app_password.get_secret_value())
        key_file = settings.microsoft_app_certificate_private_key_file
        if settings.microsoft_app_certificate_thumbprint and key_file:
            certificate = {"thumbprint": settings.microsoft_app_certificate_thumbprint,
                           "private_key": Path(key_file).read_text(encoding="utf-8")}
            return cls(settings.microsoft_app_id, authority, certificate=certificate)
        raise SettingsError("Setting GRAPH_ENABLED: Graph needs MICROSOFT_APP_PASSWORD, or "
                            "MICROSOFT_APP_CERTIFICATE_THUMBPRINT with MICROSOFT_APP_CERTIFICATE_PRIVATE_KEY_FILE")

    async def token(self) -> str:
        async with self._lock:  # one msal call at a time; the others then find the token in msal's cache
            result = await asyncio.to_thread(self._acquire)
        if not isinstance(result, dict) or "access_token" not in result:
            code = result.get("error") if isinstance(result, dict) else None
            raise TokenError("token", None, str(code) if code else "no_token")
        return str(result["access_token"])

    def invalidate(self) -> None:
        # msal will not force-refresh a client-credentials token; a new application starts with an empty cache.
        self._app = None

    def _acquire(self) -> Any:
        try:
            if self._app is None:
                self._app = self._build()
            if self._managed_identity_client_id:
                return self._app.acquire_token_for_client(resource=GRAPH_RESOURCE)
            return self._app.acquire_token_for_client(scopes=self._scopes)
        except ValueError:
            # msal raises ValueError when the authority cannot be discovered; its text names URLs only.
            return {"error": "authority_unavailable"}
        except Exception as exc:  # requests' connection errors and the like: report the type only
            return {"error": type(exc).__name__}

    def _build(self) -> Any:
        if self._managed_identity_client_id:
            import requests

            return msal.ManagedIdentityClient(
                msal.UserAssignedManagedIdentity(client_id=self._managed_identity_client_id),
                http_client=requests.Session())
        return msal.ConfidentialClientApplication(
            self._client_id, client_credential=self._credential, authority=self._authority, verify=self._verify,
            instance_discovery=self._instance_discovery)

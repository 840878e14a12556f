"""A local stand-in for the Bot Framework's token service, for inbound (channel → bot) tokens.

botbuilder in parameterised mode (``TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL`` and
``TO_BOT_FROM_CHANNEL_TOKEN_ISSUER`` set on the configuration) validates an inbound token like this
(``_ParameterizedBotFrameworkAuthentication`` and ``JwtTokenExtractor`` in botframework-connector 4.17):

- ``iss`` must equal the configured issuer, else the extractor returns no identity → ``PermissionError``;
- the header's ``kid`` is looked up in the JWKS named by the metadata document; a key with endorsements must list
  the activity's channel id (``msteams``); the algorithm must be RS256/384/512; ``exp``/``nbf`` are checked with
  a 5-minute leeway (PyJWT errors escape as they are);
- ``aud`` must be the bot's app id and ``serviceurl`` must equal the activity's ``serviceUrl``
  (``PermissionError`` otherwise);
- no ``ver`` claim: with ``ver`` and ``appid`` present the token would be taken for a skill token.

The keys are fetched with a blocking ``requests.get`` from inside the event loop and cached per metadata URL in
a class-level dict for a day, so this server runs on its own thread and keeps one key pair for its lifetime:
start one issuer per test session. Each instance's metadata URL carries a unique query string, so an issuer
started later on a recycled port never meets the cached keys of an earlier one.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from typing import Any

import jwt
from botframework.connector.auth import AppCredentials, ServiceClientCredentialsFactory
from cryptography.hazmat.primitives.asymmetric import rsa

DEFAULT_APP_ID = "00000000-0000-4000-8000-00000000b07a"
# Deliberately not Microsoft's issuer: a token is accepted only if the bot really reads its configuration.
DEFAULT_ISSUER = "https://issuer.hny.test"


def _b64url_uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class TokenIssuer:
    """Serves OpenID metadata and a JWKS from its own thread and mints Bot Framework style channel tokens."""

    def __init__(self, app_id: str = DEFAULT_APP_ID, *, issuer: str = DEFAULT_ISSUER) -> None:
        self._app_id = app_id
        self._issuer = issuer
        self._key = _new_key()
        self._kid = "hny-test-" + secrets.token_hex(4)
        # Never published: signs tokens whose signature must not verify.
        self._stranger_key = _new_key()
        self._instance = secrets.token_hex(6)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------------------------

    def start(self) -> TokenIssuer:
        if self._server is not None:
            return self
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="token-issuer", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> TokenIssuer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what the bot is configured with ---------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("TokenIssuer is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def metadata_url(self) -> str:
        return f"{self.url}/.well-known/openid-configuration?instance={self._instance}"

    @property
    def jwks_uri(self) -> str:
        return f"{self.url}/keys"

    @property
    def issuer(self) -> str:
        return self._issuer

    @property
    def app_id(self) -> str:
        return self._app_id

    @property
    def kid(self) -> str:
        return self._kid

    def bot_configuration(self, *, app_password: str = "test-password", **extra: Any) -> SimpleNamespace:
        """A configuration object for ``ConfigurationBotFrameworkAuthentication`` that trusts this issuer."""
        return SimpleNamespace(
            APP_ID=self._app_id,
            APP_PASSWORD=app_password,
            APP_TYPE="MultiTenant",
            TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL=self.metadata_url,
            TO_BOT_FROM_CHANNEL_TOKEN_ISSUER=self._issuer,
            **extra,
        )

    # -- tokens ----------------------------------------------------------------------------------------------

    def token(
        self,
        service_url: str,
        *,
        audience: str | None = None,
        issuer: str | None = None,
        expires_in: int = 3600,
        not_before_offset: int = 0,
        kid: str | None = None,
        signed_by_unknown_key: bool = False,
        omit_serviceurl: bool = False,
        extra_claims: dict[str, Any] | None = None,
    ) -> str:
        """A channel → bot token like the Bot Framework's: ``iss``, ``aud`` (app id), ``serviceurl``, times.

        ``kid`` overrides the header's key id (an unknown id); ``signed_by_unknown_key`` keeps the published key
        id but signs with another key (a bad signature); ``expires_in`` may be negative (expired).
        """
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self._issuer if issuer is None else issuer,
            "aud": self._app_id if audience is None else audience,
            "iat": now,
            "nbf": now + not_before_offset,
            "exp": now + expires_in,
        }
        if not omit_serviceurl:
            claims["serviceurl"] = service_url
        claims.update(extra_claims or {})
        key = self._stranger_key if signed_by_unknown_key else self._key
        headers = {"kid": self._kid if kid is None else kid, "typ": "JWT"}
        return jwt.encode(claims, key, algorithm="RS256", headers=headers)

    def auth_header(self, service_url: str, **kwargs: Any) -> str:
        return "Bearer " + self.token(service_url, **kwargs)

    # -- HTTP ------------------------------------------------------------------------------------------------

    def _metadata(self) -> dict[str, Any]:
        return {
            "issuer": self._issuer,
            "jwks_uri": self.jwks_uri,
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        }

    def _jwks(self) -> dict[str, Any]:
        numbers = self._key.public_key().public_numbers()
        # No x5t/x5c: botbuilder builds the key from n and e only.
        key = {
            "kty": "RSA",
            "use": "sig",
            "alg": "RS256",
            "kid": self._kid,
            "n": _b64url_uint(numbers.n),
            "e": _b64url_uint(numbers.e),
            "endorsements": ["msteams"],
        }
        return {"keys": [key]}

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/.well-known/openid-configuration":
                    self._json(issuer._metadata())
                elif path == "/keys":
                    self._json(issuer._jwks())
                else:
                    self.send_error(404)

            def _json(self, document: dict[str, Any]) -> None:
                body = json.dumps(document).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep test output clean

        return Handler


# -- outbound (bot → channel) ------------------------------------------------------------------------------------


class StaticTokenCredentials(AppCredentials):
    """Outbound credentials with a fixed bearer token: MSAL wants an https authority and calls Microsoft.
    An empty app id sends no Authorization header at all, as botbuilder does for an anonymous bot."""

    def __init__(self, app_id: str, token: str = "test-outbound-token") -> None:
        super().__init__(app_id=app_id)
        self._token = token

    def get_access_token(self, force_refresh: bool = False) -> str:
        return self._token


class StaticCredentialsFactory(ServiceClientCredentialsFactory):
    """Pass as ``credentials_factory=`` to ``ConfigurationBotFrameworkAuthentication`` in tests."""

    def __init__(self, app_id: str = DEFAULT_APP_ID, token: str = "test-outbound-token") -> None:
        self.app_id = app_id
        self.token = token

    async def is_valid_app_id(self, app_id: str) -> bool:
        return app_id == self.app_id

    async def is_authentication_disabled(self) -> bool:
        return False

    async def create_credentials(
        self, app_id: str, oauth_scope: str, login_endpoint: str, validate_authority: bool
    ) -> StaticTokenCredentials:
        return StaticTokenCredentials(app_id, self.token)

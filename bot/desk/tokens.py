"""The desk's sign-in tokens (docs/architecture.md "The desk").

In Teams, the tab asks `authentication.getAuthToken()` for an Entra access token for the app's
`webApplicationInfo` resource and posts it once to `/desk/session`. `DeskTokenValidator` accepts it only when:

- it is a JWT signed with RS256 by a key the issuer publishes (Entra's OpenID metadata → `jwks_uri`; keys are
  fetched again, at most once a minute, when a token names a key id not seen yet);
- `iss` is Entra's issuer for the token's own tenant (v2 `https://login.microsoftonline.com/{tid}/v2.0` or v1
  `https://sts.windows.net/{tid}/`), or exactly `DESK_TOKEN_ISSUER` when a local issuer stands in (tests);
- `aud` is the app: its id (v2 tokens) or the `webApplicationInfo` resource `api://{BOT_DOMAIN}/{app id}` (v1);
- `tid` is allowed: the same rule as the bot's (`ALLOWED_TENANTS`, else `MICROSOFT_APP_TENANT_ID`, else any);
- `exp`, `nbf` and `iat` hold, with a minute's leeway; `scp` names the scope `access_as_user`;
- `oid` is an Entra object id: the person (`Person.id`, design §2).

In local mode (no MICROSOFT_APP_ID, loopback only) `LocalIssuer` signs such tokens in this process for the
local sign-in page, and the validator trusts only its key: the same checks run on both paths.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from bot.loopback import is_loopback_http
from bot.settings import Settings, is_entra_id, is_playground_id

log = logging.getLogger(__name__)

ENTRA_METADATA_URL = "https://login.microsoftonline.com/common/v2.0/.well-known/openid-configuration"
SCOPE = "access_as_user"
LEEWAY_SECONDS = 60
KEY_REFRESH_SECONDS = 60  # at most one fetch a minute for an unknown key id
KEY_MAX_AGE_SECONDS = 24 * 3600
LOCAL_ISSUER = "urn:hny-inc:desk:local-issuer"
LOCAL_AUDIENCE = "api://localhost/hny-inc-desk"
LOCAL_TENANT = "00000000-0000-0000-0000-000000000001"


class DeskTokenRefused(Exception):
    """The token is not accepted. `reason` is a short code for logs and metrics, never the token or a claim."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class DeskIdentity:
    person_id: str  # the Entra object id (oid), lower case
    tenant_id: str
    expires_at: float  # the token's exp, seconds since the epoch


Fetch = Callable[[str], Awaitable[dict[str, Any]]]


class KeySet:
    """Signing keys by key id: fetched from OpenID metadata, or given (the local issuer's)."""

    def __init__(self, metadata_url: str | None = None, *, fetch: Fetch | None = None,
                 keys: dict[str, Any] | None = None, wall: Callable[[], float] = time.time) -> None:
        if metadata_url is not None and not (metadata_url.startswith("https://") or is_loopback_http(metadata_url)):
            raise ValueError("the desk's OpenID metadata must be fetched over https (plain http only on loopback)")
        self._metadata_url = metadata_url
        self._fetch = fetch
        self._keys: dict[str, jwt.PyJWK] = {}
        self._wall = wall
        self._fetched_at = -1e18
        self._lock = asyncio.Lock()
        if keys is not None:
            self._keys = _parse_jwks(keys)

    async def key(self, kid: str) -> jwt.PyJWK:
        if self._metadata_url is not None and self._due(kid):
            async with self._lock:
                if self._due(kid):  # another request may have fetched them while this one waited
                    await self._refresh()
        found = self._keys.get(kid)
        if found is None:
            raise DeskTokenRefused("unknown_key")
        return found

    def _due(self, kid: str) -> bool:
        age = self._wall() - self._fetched_at
        return age > KEY_MAX_AGE_SECONDS or (kid not in self._keys and age > KEY_REFRESH_SECONDS)

    async def _refresh(self) -> None:
        assert self._metadata_url is not None and self._fetch is not None
        self._fetched_at = self._wall()  # a failing issuer is asked again only after the refresh interval
        try:
            metadata = await self._fetch(self._metadata_url)
            jwks_uri = metadata.get("jwks_uri")
            if not isinstance(jwks_uri, str) or not (jwks_uri.startswith("https://") or is_loopback_http(jwks_uri)):
                raise ValueError("no usable jwks_uri")
            self._keys = _parse_jwks(await self._fetch(jwks_uri))
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            # Keep the keys we had: Entra rolls keys slowly, and a failed fetch must not sign everyone out.
            log.warning("desk: could not fetch the token signing keys (%s)", type(exc).__name__)


def _parse_jwks(document: dict[str, Any]) -> dict[str, jwt.PyJWK]:
    keys: dict[str, jwt.PyJWK] = {}
    for entry in document.get("keys") or []:
        if not isinstance(entry, dict) or entry.get("kty") != "RSA" or not isinstance(entry.get("kid"), str):
            continue
        if entry.get("use", "sig") != "sig":
            continue
        try:
            keys[entry["kid"]] = jwt.PyJWK({**entry, "alg": "RS256"})
        except (jwt.PyJWKError, ValueError, TypeError):
            continue
    return keys


def http_fetcher(session_factory: Callable[[], aiohttp.ClientSession]) -> Fetch:
    async def fetch(url: str) -> dict[str, Any]:
        async with session_factory().get(url, timeout=aiohttp.ClientTimeout(total=10)) as response:
            response.raise_for_status()
            document = await response.json(content_type=None)
            if not isinstance(document, dict):
                raise ValueError("not a JSON object")
            return document
    return fetch


def allowed_tenants(settings: Settings) -> frozenset[str]:
    """The bot's rule for tenants: ALLOWED_TENANTS, else the app's own tenant; empty means any (as for chat)."""
    if settings.allowed_tenants:
        return frozenset(settings.allowed_tenants)
    return frozenset([settings.microsoft_app_tenant_id]) if settings.microsoft_app_tenant_id else frozenset()


def audiences(settings: Settings) -> frozenset[str]:
    app_id = settings.microsoft_app_id.lower()
    found = {app_id}
    if settings.bot_domain:
        found.add(f"api://{settings.bot_domain.lower()}/{app_id}")
    return frozenset(found)


class DeskTokenValidator:
    def __init__(self, keys: KeySet, *, audiences: frozenset[str], tenants: frozenset[str],
                 issuer: str | None = None, local: bool = False, wall: Callable[[], float] = time.time) -> None:
        """`issuer`: the exact issuer to require (a stand-in or the local issuer); None: Entra's, per tenant.
        `tenants`: the allowed tenants; empty: any. `local`: the local issuer's tokens (Playground ids too)."""
        self._keys = keys
        self._audiences = audiences
        self._tenants = tenants
        self._issuer = issuer
        self._local = local
        self._wall = wall

    async def validate(self, token: str) -> DeskIdentity:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise DeskTokenRefused("malformed") from None
        if header.get("alg") != "RS256" or not isinstance(header.get("kid"), str):
            raise DeskTokenRefused("algorithm")
        key = await self._keys.key(header["kid"])
        try:
            claims: dict[str, Any] = jwt.decode(
                token, key, algorithms=["RS256"], audience=sorted(self._audiences), leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "iat", "nbf", "iss", "aud", "tid", "oid"], "verify_iss": False})
        except jwt.ExpiredSignatureError:
            raise DeskTokenRefused("expired") from None
        except jwt.ImmatureSignatureError:
            raise DeskTokenRefused("not_yet_valid") from None
        except jwt.InvalidAudienceError:
            raise DeskTokenRefused("audience") from None
        except jwt.InvalidSignatureError:
            raise DeskTokenRefused("signature") from None
        except jwt.InvalidTokenError:
            raise DeskTokenRefused("claims") from None
        tenant = str(claims["tid"]).lower()
        if not is_entra_id(tenant):
            raise DeskTokenRefused("tenant")
        if claims["iss"] not in self._issuers_for(tenant):
            raise DeskTokenRefused("issuer")
        if self._tenants and tenant not in self._tenants:
            raise DeskTokenRefused("tenant")
        if float(claims["iat"]) > self._wall() + LEEWAY_SECONDS:
            raise DeskTokenRefused("not_yet_valid")
        if SCOPE not in str(claims.get("scp", "")).split():
            raise DeskTokenRefused("scope")
        person = str(claims["oid"]).lower()
        if not (is_entra_id(person) or (self._local and is_playground_id(person))):
            raise DeskTokenRefused("person")
        return DeskIdentity(person, tenant, float(claims["exp"]))

    def _issuers_for(self, tenant: str) -> set[str]:
        if self._issuer is not None:
            return {self._issuer}
        return {f"https://login.microsoftonline.com/{tenant}/v2.0", f"https://sts.windows.net/{tenant}/"}


def _b64url_uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


class LocalIssuer:
    """Local mode only: signs desk tokens for a person picked on the local sign-in page. Its key lives in this
    process (made when the app is built, never at import) and is the only one the local validator trusts."""

    def __init__(self, wall: Callable[[], float] = time.time) -> None:
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._kid = "local-" + secrets.token_hex(4)
        self._wall = wall

    def jwks(self) -> dict[str, Any]:
        numbers = self._key.public_key().public_numbers()
        return {"keys": [{"kty": "RSA", "use": "sig", "alg": "RS256", "kid": self._kid,
                          "n": _b64url_uint(numbers.n), "e": _b64url_uint(numbers.e)}]}

    def token(self, person_id: str, *, minutes: int = 10) -> str:
        now = int(self._wall())
        claims = {"iss": LOCAL_ISSUER, "aud": LOCAL_AUDIENCE, "tid": LOCAL_TENANT, "oid": person_id,
                  "scp": SCOPE, "iat": now, "nbf": now, "exp": now + 60 * minutes, "ver": "2.0"}
        return jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self._kid, "typ": "JWT"})

    def validator(self) -> DeskTokenValidator:
        return DeskTokenValidator(KeySet(keys=self.jwks(), wall=self._wall), audiences=frozenset([LOCAL_AUDIENCE]),
                                  tenants=frozenset([LOCAL_TENANT]), issuer=LOCAL_ISSUER, local=True,
                                  wall=self._wall)

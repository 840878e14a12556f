"""The desk's session cookie and CSRF tokens (docs/architecture.md "The desk").

After a valid sign-in token, the server sets one short-lived cookie: `__Host-hny-desk`, `HttpOnly; Secure;
SameSite=None; Partitioned; Path=/`. SameSite=None because the tab is a page of another site inside Teams'
frame; Partitioned (CHIPS) because browsers that block third-party cookies still keep a partitioned one for that
frame (msteams-docs "Third-party cookies deprecation"); the `__Host-` prefix forbids a Domain, so no other host
can set or read it. It holds the person's id, the tenant, when it ends and a random nonce, signed with HMAC-SHA256
(nothing else: no name, no e-mail, no role; roles are read on every request). It ends at the token's own expiry
or after DESK_SESSION_MINUTES, whichever comes first.

Every write is a form POST that carries a CSRF token: HMAC of the session's nonce, so it is valid for that session
only. Every POST must also come from the desk's own origin (the Origin header).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

COOKIE_NAME = "__Host-hny-desk"
# What the last form did, for the page after the redirect: a minute at most, read once (bot/desk/programme.py).
SAID_COOKIE = "__Host-hny-desk-said"
SAID_MAX = 600


@dataclass(frozen=True)
class DeskSession:
    person_id: str
    tenant_id: str
    expires_at: float  # seconds since the epoch
    nonce: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SessionSigner:
    def __init__(self, secret: bytes | None, *, minutes: int, wall: Callable[[], float] = time.time) -> None:
        # No secret configured: a random key for this process (one instance; a restart signs people in again).
        self._key = hashlib.sha256(b"hny-desk-session|" + (secret or secrets.token_bytes(32))).digest()
        self._seconds = 60 * minutes
        self._wall = wall

    def issue(self, person_id: str, tenant_id: str, token_expires_at: float) -> tuple[DeskSession, str]:
        """A new session and its cookie value."""
        expires = min(token_expires_at, self._wall() + self._seconds)
        session = DeskSession(person_id, tenant_id, expires, secrets.token_urlsafe(16))
        body = _b64(json.dumps({"p": person_id, "t": tenant_id, "e": int(expires), "n": session.nonce},
                               separators=(",", ":")).encode())
        return session, f"{body}.{self._mac(body)}"

    def read(self, value: str | None) -> DeskSession | None:
        """The session in a cookie value, or None when it is missing, altered or over."""
        if not value or value.count(".") != 1 or len(value) > 1024:
            return None
        body, mac = value.split(".")
        if not hmac.compare_digest(mac, self._mac(body)):
            return None
        try:
            data = json.loads(_unb64(body))
            session = DeskSession(str(data["p"]), str(data["t"]), float(data["e"]), str(data["n"]))
        except (ValueError, KeyError, TypeError):
            return None
        return session if session.expires_at > self._wall() else None

    def seconds_left(self, session: DeskSession) -> int:
        return max(0, int(session.expires_at - self._wall()))

    def csrf(self, session: DeskSession) -> str:
        return self._mac("csrf|" + session.nonce)

    def csrf_ok(self, session: DeskSession, given: object) -> bool:
        return isinstance(given, str) and hmac.compare_digest(given, self.csrf(session))

    def seal(self, session: DeskSession, said: str) -> str:
        """What a form did, for the page the browser is sent to next (Post/Redirect/Get): signed and bound to
        this session, so no other session (and no other site) can make a page say something."""
        body = _b64(json.dumps({"n": session.nonce, "s": said[:SAID_MAX]}, separators=(",", ":")).encode())
        return f"{body}.{self._mac('said|' + body)}"

    def unseal(self, session: DeskSession, value: str | None) -> str | None:
        if not value or value.count(".") != 1 or len(value) > 4 * SAID_MAX:
            return None
        body, mac = value.split(".")
        if not hmac.compare_digest(mac, self._mac("said|" + body)):
            return None
        try:
            data = json.loads(_unb64(body))
        except ValueError:
            return None
        if not isinstance(data, dict) or data.get("n") != session.nonce or not isinstance(data.get("s"), str):
            return None
        return str(data["s"])

    def _mac(self, text: str) -> str:
        return _b64(hmac.new(self._key, text.encode(), hashlib.sha256).digest())


def cookie_header(value: str, max_age: int) -> str:
    """The Set-Cookie value. Written by hand: aiohttp's cookie API cannot say Partitioned."""
    return f"{COOKIE_NAME}={value}; Path=/; Max-Age={max_age}; HttpOnly; Secure; SameSite=None; Partitioned"


def clear_cookie_header() -> str:
    return f"{COOKIE_NAME}=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=None; Partitioned"


def said_cookie_header(value: str) -> str:
    return f"{SAID_COOKIE}={value}; Path=/; Max-Age=60; HttpOnly; Secure; SameSite=None; Partitioned"


def clear_said_cookie_header() -> str:
    return f"{SAID_COOKIE}=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=None; Partitioned"

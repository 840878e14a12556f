"""What the desk's tests share: the app's settings with the desk trusting the tests' token issuer, Teams-like
sign-in tokens for the desk, the session cookie read by hand, and a small programme world."""

from __future__ import annotations

from datetime import timedelta
from http.cookies import SimpleCookie
from typing import Any

from bot.desk.session import COOKIE_NAME
from bot.features.sessions import SESSIONS
from bot.settings import Settings
from tests.app_fixtures import BotHarness, bot_settings
from tests.doubles.issuer import TokenIssuer
from tests.doubles.teams import DEFAULT_TENANT_ID, Member, make_member
from tests.test_sessions_helpers import add_person, add_volunteer, draft, make_facilitator

BOT_DOMAIN = "desk.hny.test"
ADMIN = make_member(401)
FACILITATOR = make_member(402)
COLLEAGUE = make_member(403)  # signed up, invited to the session
STRANGER = make_member(404)  # signed in to the desk, never signed up
VOLUNTEERS = [make_member(410 + index) for index in range(14)]
SESSION_TITLE = "Allyship basics"


def desk_settings(db_url: str, issuer: TokenIssuer, **overrides: Any) -> Settings:
    """The bot as in production, but Entra stood in for by the tests' issuer (like TO_BOT_FROM_CHANNEL_*)."""
    values: dict[str, Any] = dict(desk_openid_metadata_url=issuer.metadata_url, desk_token_issuer=issuer.issuer,
                                  bot_domain=BOT_DOMAIN, bootstrap_admins=[ADMIN.aad_object_id])
    values.update(overrides)
    return bot_settings(db_url, issuer, **values)


def resource(issuer: TokenIssuer) -> str:
    """The manifest's webApplicationInfo resource: the audience of a v1 token."""
    return f"api://{BOT_DOMAIN}/{issuer.app_id}"


def sso_token(source: TokenIssuer, member: Member, **options: Any) -> str:
    """A token like the one Teams' getAuthToken() gives the tab (v1 claims: aud is the resource)."""
    claims: dict[str, Any] = {"tid": member.tenant_id or DEFAULT_TENANT_ID, "oid": member.aad_object_id,
                              "scp": "access_as_user", "ver": "1.0", "name": member.name}
    claims.update(options.pop("claims", {}))
    return source.token("", omit_serviceurl=True, audience=options.pop("audience", resource(source)),
                        extra_claims=claims, **options)


def session_cookie(set_cookie_headers: list[str]) -> str | None:
    """The desk cookie's value from Set-Cookie headers (sent back by hand: it is Secure, the tests speak http)."""
    for header in set_cookie_headers:
        cookie: SimpleCookie = SimpleCookie()
        cookie.load(header.split(";", 1)[0])
        if COOKIE_NAME in cookie and cookie[COOKIE_NAME].value:
            return cookie[COOKIE_NAME].value
    return None


async def build_world(harness: BotHarness) -> int:
    """Fourteen volunteers and the colleague (enough for figures above "fewer than 8"), a facilitator, an admin
    and a published session the colleague is invited to. Returns the session's id."""
    for member in (ADMIN, STRANGER):
        await add_person(harness, member)
    for index, member in enumerate([COLLEAGUE, *VOLUNTEERS]):
        await add_volunteer(harness, member, minoritised=index % 3 != 2, ally=index % 2 == 0,
                            communities=["lgbtq"] if index % 2 else ["ethnicity", "disability"],
                            train=index % 4 == 0)
    await make_facilitator(harness, FACILITATOR)
    result = await harness.app[SESSIONS].create(FACILITATOR.aad_object_id,
                                                draft(harness, capacity=12, starts_in=timedelta(days=5)),
                                                publish=True)
    assert result.outcome == "done" and result.session is not None, result
    return result.session.session_id

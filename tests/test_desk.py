"""The desk over HTTP (no browser): sign-in tokens checked like Entra's, the session cookie and CSRF, security
headers on every /desk/ response, role refusals as pages, the counts page and CSV through the counts service,
local mode's sign-in page only in local mode. The browser suite is tests/browser/test_desk_browser.py."""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy import select

from bot.app import create_app
from bot.cli.report import HEADER, report_rows
from bot.clock import FixedClock
from bot.delivery.tokens import StaticTokenProvider
from bot.desk.session import COOKIE_NAME
from bot.desk.site import FRAME_ANCESTORS
from bot.features.counts import COUNTS
from bot.services.csv_export import csv_bytes
from storage.models import AuditEntry
from tests.app_fixtures import BotHarness, start_harness
from tests.browser.world import (
    ADMIN,
    COLLEAGUE,
    FACILITATOR,
    SESSION_TITLE,
    STRANGER,
    build_world,
    desk_settings,
    session_cookie,
    sso_token,
)
from tests.doubles.issuer import TokenIssuer
from tests.doubles.teams import Member, TeamsDouble, make_member

TEAMS_JS = Path(__file__).resolve().parent.parent / "bot" / "desk" / "static" / "vendor" / "teams-js"
TEAMS_JS_SHA256 = "1737ae2e319c8ab56d71d2218fd5a49d96a8ad70eb01ff2e9ab7e35093b93379"


@pytest.fixture
async def desk(db_url: str, token_issuer: TokenIssuer, teams_double: TeamsDouble,
               clock: FixedClock) -> AsyncIterator[BotHarness]:
    settings = desk_settings(db_url, token_issuer)
    async for harness in start_harness(db_url, token_issuer, teams_double, clock,
                                       **{name: getattr(settings, name) for name in (
                                           "desk_openid_metadata_url", "desk_token_issuer", "bot_domain",
                                           "bootstrap_admins")}):
        await build_world(harness)
        yield harness


def url(harness: BotHarness, path: str) -> str:
    return str(harness.server.make_url(path))


def origin(harness: BotHarness) -> dict[str, str]:
    return {"Origin": url(harness, "/").rstrip("/")}


async def sign_in(harness: BotHarness, token: str) -> tuple[int, str | None, Any]:
    async with harness.http.post(url(harness, "/desk/session"), headers={
            "Authorization": f"Bearer {token}", **origin(harness)}) as response:
        body = await response.json()
        return response.status, session_cookie(response.headers.getall("Set-Cookie", [])), body


async def signed_in(harness: BotHarness, member: Member) -> str:
    status, cookie, _ = await sign_in(harness, sso_token(harness.issuer, member))
    assert status == 200 and cookie
    return cookie


async def get(harness: BotHarness, path: str, cookie: str | None = None) -> tuple[int, str, aiohttp.ClientResponse]:
    headers = {"Cookie": f"{COOKIE_NAME}={cookie}"} if cookie else {}
    async with harness.http.get(url(harness, path), headers=headers, allow_redirects=False) as response:
        return response.status, await response.text(), response


async def audit(harness: BotHarness) -> list[tuple[str, str, str]]:
    async with harness.core.database.read() as session:
        rows = (await session.execute(select(AuditEntry).order_by(AuditEntry.id))).scalars().all()
        return [(row.actor_id, row.action, row.outcome) for row in rows]


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


# -- sign-in ---------------------------------------------------------------------------------------------------


async def test_a_valid_teams_token_gives_a_short_partitioned_httponly_cookie(desk: BotHarness) -> None:
    async with desk.http.post(url(desk, "/desk/session"), headers={
            "Authorization": f"Bearer {sso_token(desk.issuer, COLLEAGUE)}", **origin(desk)}) as response:
        assert response.status == 200
        assert await response.json() == {"next": "/desk/home"}
        [header] = response.headers.getall("Set-Cookie")
    attributes = [part.strip() for part in header.split(";")]
    assert attributes[0].startswith(f"{COOKIE_NAME}=")
    assert {"Path=/", "HttpOnly", "Secure", "SameSite=None", "Partitioned"} <= set(attributes)
    max_age = int(next(part for part in attributes if part.startswith("Max-Age="))[8:])
    assert 0 < max_age <= 30 * 60
    # The cookie names the person by id only: no name, no e-mail, no role.
    assert COLLEAGUE.name not in header and COLLEAGUE.email not in header


@pytest.mark.parametrize("case", ["expired", "unknown key", "bad signature", "wrong audience", "wrong issuer",
                                  "tenant not allowed", "no scope", "not yet valid", "not a token", "no oid"])
async def test_a_forged_or_expired_token_is_refused_without_a_cookie(desk: BotHarness, case: str) -> None:
    issuer = desk.issuer
    token = {
        "expired": lambda: sso_token(issuer, COLLEAGUE, expires_in=-3600),
        "unknown key": lambda: sso_token(issuer, COLLEAGUE, kid="someone-else"),
        "bad signature": lambda: sso_token(issuer, COLLEAGUE, signed_by_unknown_key=True),
        "wrong audience": lambda: sso_token(issuer, COLLEAGUE, audience="api://elsewhere.example/app"),
        "wrong issuer": lambda: sso_token(issuer, COLLEAGUE, issuer="https://login.microsoftonline.com/x/v2.0"),
        "tenant not allowed": lambda: sso_token(issuer, make_member(
            405, tenant_id="11111111-2222-4333-8444-555555555555")),
        "no scope": lambda: sso_token(issuer, COLLEAGUE, claims={"scp": "User.Read"}),
        "not yet valid": lambda: sso_token(issuer, COLLEAGUE, not_before_offset=3600),
        "not a token": lambda: "not-a-jwt",
        "no oid": lambda: sso_token(issuer, COLLEAGUE, claims={"oid": "someone"}),
    }[case]()
    status, cookie, body = await sign_in(desk, token)
    assert (status, cookie) == (401, None)
    assert "could not check who you are" in body["error"] or "Teams" in body["error"]
    # And nothing behind the sign-in opens without a cookie: the page asked for leads to sign-in.
    status, _, response = await get(desk, "/desk/counts")
    assert status == 303 and response.headers["Location"] == "/desk/?next=/desk/counts"


async def test_a_sign_in_post_from_another_site_is_refused(desk: BotHarness) -> None:
    async with desk.http.post(url(desk, "/desk/session"), headers={
            "Authorization": f"Bearer {sso_token(desk.issuer, COLLEAGUE)}",
            "Origin": "https://evil.example"}) as response:
        assert response.status == 403
        assert "Set-Cookie" not in response.headers


async def test_an_altered_cookie_is_no_session(desk: BotHarness) -> None:
    cookie = await signed_in(desk, ADMIN)
    body, mac = cookie.split(".")
    for forged in (f"{body}x.{mac}", f"{body}.{mac[:-2]}AA", "", "a.b"):
        status, _, _ = await get(desk, "/desk/counts", forged)
        assert status == 303


# -- security headers and error pages ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/desk/", "/desk/home", "/desk/counts", "/desk/no-such-page",
                                  "/desk/static/desk.css", "/desk/static/vendor/teams-js/MicrosoftTeams.min.js",
                                  "/desk/local-sign-in"])
async def test_every_desk_response_has_the_security_headers(desk: BotHarness, path: str) -> None:
    _, _, response = await get(desk, path)
    csp = response.headers["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in csp.split(";"))
    assert directives["script-src"] == "'self'" and "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp
    assert directives["default-src"] == "'none'"
    assert directives["frame-ancestors"].split() == list(FRAME_ANCESTORS)
    assert "https://teams.microsoft.com" in FRAME_ANCESTORS and "https://*.cloud.microsoft" in FRAME_ANCESTORS
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"


async def test_pages_have_no_inline_script_or_style(desk: BotHarness) -> None:
    cookie = await signed_in(desk, ADMIN)
    for path in ("/desk/", "/desk/home", "/desk/counts"):
        _, html, _ = await get(desk, path, cookie)
        assert not re.search(r"<script(?![^>]*\ssrc=)", html), path
        assert " style=" not in html and "<style" not in html, path
        assert not re.search(r"\son[a-z]+=", html), path  # no event-handler attributes either


async def test_a_failure_inside_a_page_is_a_kind_500_page_and_logs_no_detail(
        desk: BotHarness, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    cookie = await signed_in(desk, ADMIN)

    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(f"secret detail {COLLEAGUE.email}")

    monkeypatch.setattr(desk.app[COUNTS], "report", broken)
    status, html, response = await get(desk, "/desk/counts", cookie)
    assert status == 500 and "Sorry, something went wrong" in html
    assert "secret detail" not in html and "Traceback" not in html
    assert "Content-Security-Policy" in response.headers
    assert COLLEAGUE.email not in caplog.text and "RuntimeError" in caplog.text


# -- pages by role ----------------------------------------------------------------------------------------------


async def test_a_colleague_sees_their_own_details_sessions_and_the_chat_commands(desk: BotHarness) -> None:
    status, html, _ = await get(desk, "/desk/home", await signed_in(desk, COLLEAGUE))
    assert status == 200
    text = text_of(html)
    assert COLLEAGUE.name in text and COLLEAGUE.email in text
    assert "Your space" in text and "Organisation" in text
    assert SESSION_TITLE in text and "Your reply: You have not replied yet." in text
    assert "express interest" in text and "my sessions" in text
    # Nothing else: no one else's name, no facilitator or admin commands or pages.
    assert make_member(410).name not in text
    assert "new session" not in text and "counts" not in text.lower().replace("accounts", "")
    assert 'href="/desk/counts"' not in html


async def test_someone_who_never_signed_up_is_told_so(desk: BotHarness) -> None:
    status, html, _ = await get(desk, "/desk/home", await signed_in(desk, STRANGER))
    assert status == 200 and "You haven't signed up yet" in html


@pytest.mark.parametrize("member", [COLLEAGUE, FACILITATOR])
async def test_the_counts_page_and_csv_are_refused_to_others_with_a_clear_page(desk: BotHarness,
                                                                              member: Member) -> None:
    cookie = await signed_in(desk, member)
    for path, action in (("/desk/counts", "desk.counts.view"), ("/desk/counts.csv", "desk.counts.csv")):
        status, html, response = await get(desk, path, cookie)
        assert status == 403, path
        assert response.content_type == "text/html"
        assert "You can't open this page" in html and "for the admins of HNY Inc." in html
        assert (member.aad_object_id, action, "refused") in await audit(desk)
    assert not [row for row in await audit(desk) if row[1] == "desk.counts.view" and row[2] == "done"]


async def test_the_admin_reads_every_counts_table_with_its_chart(desk: BotHarness) -> None:
    status, html, _ = await get(desk, "/desk/counts", await signed_in(desk, ADMIN))
    assert status == 200
    report = await desk.app[COUNTS].report("test", "test")
    text = text_of(html)
    for table in (report.space, report.communities, report.organisations, report.phases):
        assert table.title in text
        for cell in table.rows:
            assert cell.label in text
    assert html.count('<svg class="chart-svg"') == 4 + len(report.sessions)
    assert html.count("<table>") == 4 + len(report.sessions)
    assert html.count(report.footer.replace("'", "&#39;")) == 5
    assert "Figures from" in text and "(UK time)" in text
    assert (ADMIN.aad_object_id, "desk.counts.view", "done") in await audit(desk)
    # Every chart names its figures in words; a figure that reads "fewer than 8" is never drawn as a bar.
    for svg in re.findall(r"<svg.*?</svg>", html, re.S):
        assert re.search(r'role="img"', svg) and "<title id=" in svg and "<desc id=" in svg
        bars = len(re.findall(r"<rect ", svg))
        labels = len(re.findall(r'class="chart-label"', svg))
        hidden = len(re.findall(r"fewer than 8 \(not drawn\)</text>", svg))
        assert bars == labels - hidden


async def test_a_facilitator_sees_their_sessions_with_the_chats_figures(desk: BotHarness) -> None:
    status, html, _ = await get(desk, "/desk/sessions", await signed_in(desk, FACILITATOR))
    assert status == 200
    text = text_of(html)
    assert "Your sessions" in text and SESSION_TITLE in text
    for label in ("When", "Status", "Places", "Invited", "Accepted", "Waiting", "Places left", "No reply"):
        assert f" {label} " in f" {text} ", label
    assert "Numbers are rounded to the nearest 5." in text and "exact" in text
    assert 'href="/desk/sessions" aria-current="page"' in html and 'href="/desk/counts"' not in html
    assert (FACILITATOR.aad_object_id, "session.list", "done") in await audit(desk)


async def test_an_admin_sees_every_session(desk: BotHarness) -> None:
    status, html, _ = await get(desk, "/desk/sessions", await signed_in(desk, ADMIN))
    assert status == 200 and "Every session" in html and SESSION_TITLE in html


async def test_a_colleague_is_refused_the_sessions_page(desk: BotHarness) -> None:
    status, html, _ = await get(desk, "/desk/sessions", await signed_in(desk, COLLEAGUE))
    assert status == 403 and "for the facilitators of HNY Inc." in html and SESSION_TITLE not in html
    assert (COLLEAGUE.aad_object_id, "desk.sessions.view", "refused") in await audit(desk)


async def test_the_csv_download_is_the_command_lines_export(desk: BotHarness) -> None:
    cookie = await signed_in(desk, ADMIN)
    status, _, _ = await get(desk, "/desk/counts", cookie)  # the snapshot, taken now
    assert status == 200
    async with desk.http.get(url(desk, "/desk/counts.csv"), headers={"Cookie": f"{COOKIE_NAME}={cookie}"}) as r:
        assert r.status == 200 and r.content_type == "text/csv"
        assert r.headers["Content-Disposition"].startswith('attachment; filename="hny-inc-counts-')
        body = await r.read()
    report = await desk.app[COUNTS].report("test", "test")
    assert body == csv_bytes(HEADER, report_rows(report))
    assert (ADMIN.aad_object_id, "desk.counts.csv", "done") in await audit(desk)


async def test_sign_out_needs_the_forms_csrf_token(desk: BotHarness) -> None:
    cookie = await signed_in(desk, COLLEAGUE)
    _, html, _ = await get(desk, "/desk/home", cookie)
    csrf = re.search(r'name="csrf" value="([^"]+)"', html)
    assert csrf is not None
    headers = {"Cookie": f"{COOKIE_NAME}={cookie}", **origin(desk)}
    for data in ({}, {"csrf": "forged"}):
        async with desk.http.post(url(desk, "/desk/sign-out"), data=data, headers=headers) as response:
            assert response.status == 403
            assert "Set-Cookie" not in response.headers
    async with desk.http.post(url(desk, "/desk/sign-out"), data={"csrf": csrf.group(1)},
                              headers=headers) as response:
        assert response.status == 200
        assert "Max-Age=0" in response.headers["Set-Cookie"]


async def test_after_sign_in_the_desk_goes_only_to_its_own_pages(desk: BotHarness) -> None:
    cookie = await signed_in(desk, ADMIN)
    for asked, expected in (("/desk/counts", "/desk/counts"), ("https://evil.example/", "/desk/home"),
                            ("//evil.example", "/desk/home"), ("/desk/../api/messages", "/desk/home")):
        # Even with a cookie, the tab's address asks Teams again who is there (a shared computer).
        status, html, _ = await get(desk, f"/desk/?next={asked}", cookie)
        assert status == 200 and f'data-next="{expected}"' in html and 'id="sign-in-status"' in html


async def test_the_vendored_teams_library_is_the_pinned_release_with_its_licence() -> None:
    digest = hashlib.sha256((TEAMS_JS / "MicrosoftTeams.min.js").read_bytes()).hexdigest()
    assert digest == TEAMS_JS_SHA256
    assert "MIT License" in (TEAMS_JS / "LICENSE.txt").read_text(encoding="utf-8")
    assert "2.58.0" in (TEAMS_JS / "README.md").read_text(encoding="utf-8")


# -- local mode -------------------------------------------------------------------------------------------------


async def test_the_local_sign_in_page_is_not_there_outside_local_mode(desk: BotHarness) -> None:
    status, html, _ = await get(desk, "/desk/local-sign-in")
    assert status == 404 and ADMIN.name not in html
    async with desk.http.post(url(desk, "/desk/local-sign-in"), data={"person": ADMIN.aad_object_id},
                              headers=origin(desk)) as response:
        assert response.status == 404
        assert "Set-Cookie" not in response.headers


async def test_local_mode_signs_in_a_person_picked_from_the_database(db_url: str, token_issuer: TokenIssuer,
                                                                     teams_double: TeamsDouble,
                                                                     clock: FixedClock) -> None:
    settings = desk_settings(db_url, token_issuer, microsoft_app_id="", microsoft_app_password=None,
                             microsoft_app_tenant_id="", allowed_tenants=[])
    assert settings.local
    app = create_app(settings, clock=clock, outbound=StaticTokenProvider())
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as http:
            harness = BotHarness(server=server, http=http, issuer=token_issuer, teams=teams_double, clock=clock,
                                 app=app)
            await _local_sign_in(harness)
    finally:
        await server.close()


async def _local_sign_in(harness: BotHarness) -> None:
    from tests.test_sessions_helpers import add_person

    await add_person(harness, ADMIN)
    await add_person(harness, COLLEAGUE)
    await harness.core.roles.seed_bootstrap_admins([ADMIN.aad_object_id])
    status, html, _ = await get(harness, "/desk/")
    assert status == 200 and 'href="/desk/local-sign-in"' in html
    status, html, _ = await get(harness, "/desk/local-sign-in")
    assert status == 200 and ADMIN.name in html and COLLEAGUE.name in html
    # The person's id travels in the form's body, never in an address.
    async with harness.http.post(url(harness, "/desk/local-sign-in"), data={"person": "someone-else"},
                                 headers=origin(harness)) as response:
        assert response.status == 400 and "Set-Cookie" not in response.headers
    async with harness.http.post(url(harness, "/desk/local-sign-in"), data={"person": ADMIN.aad_object_id},
                                 headers=origin(harness), allow_redirects=False) as response:
        assert response.status == 303 and response.headers["Location"] == "/desk/home"
        cookie = session_cookie(response.headers.getall("Set-Cookie"))
    assert cookie
    status, html, _ = await get(harness, "/desk/counts", cookie)
    assert status == 200 and "Sign-up counts" in html
    # A token from anyone else's issuer means nothing in local mode.
    status, cookie, _ = await sign_in(harness, sso_token(harness.issuer, ADMIN))
    assert (status, cookie) == (401, None)


# -- the Teams app package --------------------------------------------------------------------------------------


def test_the_manifest_pins_the_desk_tab_whose_sso_resource_the_desk_accepts() -> None:
    from bot.desk.tokens import audiences
    from bot.manifest_build import render_manifest
    from tests.test_manifest import VALID, make_settings, schema_errors

    settings = make_settings()
    manifest = render_manifest(settings)
    assert schema_errors(manifest) == []
    tabs = {tab["entityId"]: tab for tab in manifest["staticTabs"]}  # type: ignore[attr-defined]
    assert tabs["conversations"] == {"entityId": "conversations", "scopes": ["personal"]}  # the bot's chat
    assert tabs["desk"]["contentUrl"] == f"https://{VALID['bot_domain']}/desk/"
    assert tabs["desk"]["scopes"] == ["personal"]
    resource = manifest["webApplicationInfo"]["resource"]  # type: ignore[index]
    assert resource in audiences(settings) and settings.microsoft_app_id in audiences(settings)

"""The desk in a real browser (Debian's Chromium through Playwright) against the real app on a real database.

Sign-in runs as in Teams, except that Teams itself is not there: the vendored @microsoft/teams-js is replaced, at
the network, by a stand-in that answers `app.initialize`, `app.getContext` (the theme) and
`authentication.getAuthToken` (a token from the tests' issuer, as Entra would sign it). desk.js, the
`/desk/session` exchange, the cookie and every page are the real ones. The one page that loads the real library
is the sign-in page outside Teams (it must say to open the desk in Teams).

Accessibility: axe-core (vendored, tests/browser/vendor/axe-core) on every page in Teams' default, dark and
high-contrast themes and in forced colours, 0 violations for wcag2a, wcag2aa, wcag21a, wcag21aa, wcag22aa; every
flow done with the keyboard alone; every page fits a 360 px wide screen; no Content-Security-Policy violation.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page

from bot.cli.report import HEADER, report_rows
from bot.features.counts import COUNTS
from bot.services.csv_export import csv_bytes
from tests.browser.server import DeskServer
from tests.browser.world import ADMIN, COLLEAGUE, FACILITATOR, SESSION_TITLE, build_world, desk_settings, sso_token
from tests.db_fixtures import BACKENDS
from tests.doubles.issuer import TokenIssuer
from tests.doubles.teams import Member
from tests.live_bot import _fresh_database

VENDOR = Path(__file__).resolve().parent / "vendor" / "axe-core"
AXE_SHA256 = "29348999450cdf2849a8e70b7912fc2da85a849da39c0d0d5394f51d4a9ed95c"
AXE_SOURCE = (VENDOR / "axe.min.js").read_text(encoding="utf-8")
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
THEMES = ("default", "dark", "contrast", "forced-colors")
TEAMS_ORIGINS_LIST = "https://res.cdn.office.net/teams-js/validDomains/json/validDomains.json"
TEAMS_JS = "**/desk/static/vendor/teams-js/MicrosoftTeams.min.js*"
# Stands in for @microsoft/teams-js inside Teams: the calls desk.js makes, answered as Teams would.
TEAMS_STAND_IN = """
window.microsoftTeams = {
  app: {
    initialize: function () { return Promise.resolve(); },
    getContext: function () { return Promise.resolve({ app: { theme: window.__teamsTheme || "default" } }); },
    registerOnThemeChangeHandler: function (handler) { window.__teamsThemeChanged = handler; }
  },
  authentication: {
    getAuthToken: function () { return Promise.resolve(window.__teamsToken); }
  }
};
"""


@dataclass
class Visit:
    """One browser context (one person), with every CSP violation or page error it met."""

    context: BrowserContext
    page: Page
    problems: list[str] = field(default_factory=list)


@pytest.fixture(scope="module", params=BACKENDS)
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
           token_issuer: TokenIssuer) -> Iterator[DeskServer]:
    url = _fresh_database(request, request.param, tmp_path_factory.mktemp("desk"))
    desk = DeskServer(desk_settings(url, token_issuer), token_issuer).start()
    try:
        desk.run(build_world(desk.harness))
        yield desk
    finally:
        desk.stop()


@pytest.fixture(scope="module")
def local_server(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest,
                 token_issuer: TokenIssuer) -> Iterator[DeskServer]:
    """Local mode: no MICROSOFT_APP_ID, so the local sign-in page exists."""
    url = _fresh_database(request, "sqlite", tmp_path_factory.mktemp("desk-local"))
    settings = desk_settings(url, token_issuer, microsoft_app_id="", microsoft_app_password=None,
                             microsoft_app_tenant_id="", allowed_tenants=[])
    desk = DeskServer(settings, token_issuer).start()
    try:
        desk.run(build_world(desk.harness))
        yield desk
    finally:
        desk.stop()


def open_visit(browser: Browser, server: DeskServer, token: str | None, *, teams: bool = True,
               width: int = 1024) -> Visit:
    context = browser.new_context(viewport={"width": width, "height": 800}, base_url=server.base_url,
                                  accept_downloads=True)
    if teams:
        context.add_init_script(f"window.__teamsToken = {json.dumps(token)};")
        context.route(TEAMS_JS, lambda route: route.fulfill(status=200, content_type="text/javascript",
                                                            body=TEAMS_STAND_IN))
    page = context.new_page()
    visit = Visit(context, page)

    def console(message: ConsoleMessage) -> None:
        # The real library asks Microsoft's CDN for its list of Teams' origins; the CSP refuses it, and the
        # library uses the list bundled with the pinned release (nothing comes from a CDN).
        if TEAMS_ORIGINS_LIST in message.text:
            return
        if "Content Security Policy" in message.text or "Refused to" in message.text:
            visit.problems.append(message.text)

    page.on("console", console)
    page.on("pageerror", lambda error: visit.problems.append(f"page error: {error}"))
    return visit


def signed_in(browser: Browser, server: DeskServer, member: Member) -> Visit:
    """Open the desk as Teams would: the sign-in page gets a token, posts it, and lands on the person's page."""
    visit = open_visit(browser, server, sso_token(server.issuer, member))
    visit.page.goto("/desk/")
    visit.page.wait_for_url("**/desk/home")
    return visit


@pytest.fixture(scope="module")
def admin(browser: Browser, server: DeskServer) -> Iterator[Visit]:
    visit = signed_in(browser, server, ADMIN)
    yield visit
    assert visit.problems == []
    visit.context.close()


@pytest.fixture(scope="module")
def colleague(browser: Browser, server: DeskServer) -> Iterator[Visit]:
    visit = signed_in(browser, server, COLLEAGUE)
    yield visit
    assert visit.problems == []
    visit.context.close()


def axe_violations(page: Page) -> list[str]:
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(AXE_SOURCE)  # run by the browser's debugger, so the page's CSP is not in the way
    found: list[dict[str, Any]] = page.evaluate(
        """async (tags) => {
             const result = await window.axe.run(document, { runOnly: { type: "tag", values: tags } });
             return result.violations.map(v => ({ id: v.id, nodes: v.nodes.map(n => n.target.join(" ")) }));
           }""", AXE_TAGS)
    return [f"{violation['id']}: {', '.join(violation['nodes'])}" for violation in found]


def use_theme(page: Page, theme: str) -> None:
    """Teams' theme as Teams changes it (the handler desk.js registered), or Windows' forced colours."""
    page.emulate_media(forced_colors="active" if theme == "forced-colors" else "none")
    teams_theme = "default" if theme == "forced-colors" else theme
    page.evaluate("""(theme) => {
        if (window.__teamsThemeChanged) { window.__teamsThemeChanged(theme); }
        else { document.documentElement.setAttribute("data-theme", theme); }
      }""", teams_theme)
    assert page.evaluate("() => document.documentElement.getAttribute('data-theme')") == teams_theme


def check_page(page: Page) -> None:
    """0 axe violations in every theme, and no sideways scrolling on a 360 px screen."""
    for theme in THEMES:
        use_theme(page, theme)
        assert axe_violations(page) == [], (page.url, theme)
    use_theme(page, "default")
    size = page.viewport_size
    page.set_viewport_size({"width": 360, "height": 740})
    try:
        assert page.evaluate("() => document.documentElement.scrollWidth") <= 360, page.url
    finally:
        assert size is not None
        page.set_viewport_size(size)


def tab_to(page: Page, name: str, limit: int = 40) -> None:
    """Press Tab until the focused element's text or label is `name`; the focus must be visible there."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        focused = page.evaluate("""() => {
            const e = document.activeElement;
            const label = e.labels && e.labels.length ? e.labels[0].innerText : "";
            return (label || e.innerText || e.value || "").trim(); }""")
        if focused == name or focused.startswith(name):
            outline = page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")
            assert outline != "none", f"no visible focus on {name}"
            return
    raise AssertionError(f"Tab never reached {name!r} on {page.url}")


def text(page: Page) -> str:
    return re.sub(r"\s+", " ", page.inner_text("body"))


# -- the admin ------------------------------------------------------------------------------------------------------


def test_admin_reads_counts_and_downloads_the_csv_with_the_keyboard(admin: Visit, server: DeskServer) -> None:
    page = admin.page
    page.goto("/desk/home")
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.innerText") == "Skip to content"
    page.keyboard.press("Enter")
    assert page.evaluate("() => document.activeElement.id") == "content"
    page.goto("/desk/home")
    tab_to(page, "Sessions")
    page.keyboard.press("Enter")
    page.wait_for_url("**/desk/sessions")
    assert SESSION_TITLE in text(page) and "Invited" in text(page)
    tab_to(page, "Counts")
    page.keyboard.press("Enter")
    page.wait_for_url("**/desk/counts")
    assert page.get_by_role("heading", level=1).inner_text() == "Sign-up counts"
    body = text(page)
    assert "Figures from" in body and "By space" in body and "By organisation" in body and SESSION_TITLE in body
    charts = page.locator("svg[role=img]")
    assert charts.count() == page.locator("table").count() >= 5
    for index in range(charts.count()):
        assert charts.nth(index).get_attribute("aria-labelledby")
    assert "fewer than 8" in body
    tab_to(page, "Download the counts as a CSV file")
    with page.expect_download() as download:
        page.keyboard.press("Enter")
    path = download.value.path()
    assert path is not None
    report = server.run(server.harness.app[COUNTS].report("test", "test"))
    assert Path(path).read_bytes() == csv_bytes(HEADER, report_rows(report))
    assert download.value.suggested_filename.startswith("hny-inc-counts-")


def test_every_admin_page_passes_axe_in_every_theme_and_fits_360_px(admin: Visit) -> None:
    for path in ("/desk/home", "/desk/sessions", "/desk/counts", "/desk/no-such-page"):
        admin.page.goto(path)
        check_page(admin.page)


def test_the_theme_comes_from_teams_and_follows_its_changes(browser: Browser, server: DeskServer) -> None:
    visit = open_visit(browser, server, sso_token(server.issuer, FACILITATOR))
    visit.context.add_init_script("window.__teamsTheme = 'dark';")
    visit.page.goto("/desk/")
    visit.page.wait_for_url("**/desk/home")
    page = visit.page
    page.wait_for_function("() => document.documentElement.getAttribute('data-theme') === 'dark'")
    dark = page.evaluate("() => getComputedStyle(document.body).backgroundColor")
    page.evaluate("() => window.__teamsThemeChanged('contrast')")
    assert page.evaluate("() => getComputedStyle(document.body).backgroundColor") == "rgb(0, 0, 0)" != dark
    assert visit.problems == []
    visit.context.close()


# -- a colleague ------------------------------------------------------------------------------------------------------


def test_a_colleague_sees_only_their_own_page_and_is_refused_the_other_pages(colleague: Visit) -> None:
    page = colleague.page
    page.goto("/desk/home")
    body = text(page)
    assert COLLEAGUE.name in body and SESSION_TITLE in body and "my details" in body
    assert page.get_by_role("link", name="Counts").count() == 0
    assert page.get_by_role("link", name="Sessions").count() == 0
    response = page.goto("/desk/sessions")
    assert response is not None and response.status == 403
    assert "for the facilitators of HNY Inc." in text(page)
    response = page.goto("/desk/counts")
    assert response is not None and response.status == 403
    assert page.get_by_role("heading", level=1).inner_text() == "You can't open this page"
    assert "for the admins of HNY Inc." in text(page)
    check_page(page)
    tab_to(page, "Go to your page")
    page.keyboard.press("Enter")
    page.wait_for_url("**/desk/home")
    check_page(page)


def test_a_colleague_signs_out_with_the_keyboard(browser: Browser, server: DeskServer) -> None:
    visit = signed_in(browser, server, COLLEAGUE)
    page = visit.page
    tab_to(page, "Sign out of the desk")
    page.keyboard.press("Enter")
    page.wait_for_load_state()
    assert "You have signed out of the desk" in text(page), text(page)
    check_page(page)
    # The cookie is gone. (Opening the desk again in Teams signs the person in again by itself: that is SSO.)
    assert visit.context.cookies() == [] and visit.problems == []
    visit.context.close()


def test_whoever_opens_the_tab_next_gets_their_own_session(browser: Browser, server: DeskServer) -> None:
    """A shared computer: the admin's cookie is still there when a colleague opens the tab in the same browser."""
    visit = signed_in(browser, server, ADMIN)
    page = visit.page
    assert page.get_by_role("link", name="Counts").count() == 1
    visit.context.add_init_script(f"window.__teamsToken = {json.dumps(sso_token(server.issuer, COLLEAGUE))};")
    page.goto("/desk/")
    page.wait_for_url("**/desk/home")
    assert COLLEAGUE.name in text(page) and page.get_by_role("link", name="Counts").count() == 0
    assert visit.problems == []
    visit.context.close()


# -- tokens that are not good enough -----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["forged", "expired"])
def test_a_forged_or_expired_token_is_refused(browser: Browser, server: DeskServer, kind: str) -> None:
    token = (sso_token(server.issuer, ADMIN, signed_by_unknown_key=True) if kind == "forged"
             else sso_token(server.issuer, ADMIN, expires_in=-3600))
    visit = open_visit(browser, server, token)
    page = visit.page
    page.goto("/desk/?next=/desk/counts")
    page.wait_for_selector("text=could not check who you are")
    assert page.url.endswith("/desk/?next=/desk/counts")
    assert visit.context.cookies() == []
    page.goto("/desk/counts")
    assert page.url.endswith("/desk/?next=/desk/counts")
    assert "Sign-up counts" not in text(page)
    assert visit.problems == []
    visit.context.close()


def test_outside_teams_the_sign_in_page_says_to_open_it_in_teams(browser: Browser, server: DeskServer) -> None:
    """The real @microsoft/teams-js, loaded under the desk's CSP: with no Teams around it, it says so."""
    visit = open_visit(browser, server, None, teams=False)
    page = visit.page
    page.goto("/desk/")
    page.wait_for_selector("text=Open the desk from the HNY Inc. volunteers app in Microsoft Teams")
    assert page.evaluate("() => typeof window.microsoftTeams.app.initialize") == "function"
    check_page(page)
    assert visit.problems == []
    visit.context.close()


# -- local mode -------------------------------------------------------------------------------------------------------


def test_local_mode_sign_in_with_the_keyboard(browser: Browser, local_server: DeskServer) -> None:
    visit = open_visit(browser, local_server, None, teams=False)
    page = visit.page
    page.goto("/desk/")
    check_page(page)
    tab_to(page, "Choose who to sign in as")
    page.keyboard.press("Enter")
    page.wait_for_url("**/desk/local-sign-in")
    check_page(page)
    # The first person (the admin) is chosen; the arrow key moves to the next one (the facilitator).
    tab_to(page, ADMIN.name)
    page.keyboard.press("ArrowDown")
    tab_to(page, "Sign in")
    page.keyboard.press("Enter")
    page.wait_for_url("**/desk/home")
    # The facilitator never signed up, and holds no admin role: their page says so, with no Counts link.
    assert "You haven't signed up yet" in text(page)
    assert page.get_by_role("link", name="Counts").count() == 0
    assert visit.problems == []
    visit.context.close()


def test_the_vendored_axe_core_is_the_pinned_release_with_its_licence() -> None:
    assert hashlib.sha256((VENDOR / "axe.min.js").read_bytes()).hexdigest() == AXE_SHA256
    assert "Mozilla Public License" in (VENDOR / "LICENSE.txt").read_text(encoding="utf-8")
    assert (VENDOR / "LICENSE-3RD-PARTY.txt").exists()

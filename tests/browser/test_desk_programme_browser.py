"""The desk's Programme page in a real browser (Debian's Chromium through Playwright; see test_desk_browser.py for
how Teams is stood in for): an admin gives a role and adds an organisation with the keyboard alone, and the page
has 0 axe violations in Teams' light and high-contrast themes and fits a 360 px wide screen. And
`python -m bot desk screenshots` writes its pictures where it is told."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser

from bot.features.programme import PROGRAMME
from cards.programme import ORGANISATION_NAME_LABEL
from cards.roles import EMAIL_LABEL, GIVE_ROLE_BUTTON
from tests.browser.conftest import CHROMIUM
from tests.browser.server import DeskServer
from tests.browser.test_desk_browser import Visit, axe_violations, signed_in, tab_to, text, use_theme
from tests.browser.world import ADMIN, VOLUNTEERS, build_world, desk_settings
from tests.cli_helpers import run_cli_sync
from tests.db_fixtures import BACKENDS
from tests.doubles.issuer import TokenIssuer
from tests.live_bot import _fresh_database
from vocabulary.words import Role

# The page is long: the navigation, the contents, the settings form and every role holder's buttons come first.
TABS = 80


@pytest.fixture(scope="module", params=BACKENDS)
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
           token_issuer: TokenIssuer) -> Iterator[DeskServer]:
    url = _fresh_database(request, request.param, tmp_path_factory.mktemp("desk-programme"))
    desk = DeskServer(desk_settings(url, token_issuer), token_issuer).start()
    try:
        desk.run(build_world(desk.harness))
        yield desk
    finally:
        desk.stop()


@pytest.fixture(scope="module")
def admin(browser: Browser, server: DeskServer) -> Iterator[Visit]:
    visit = signed_in(browser, server, ADMIN)
    yield visit
    assert visit.problems == []
    visit.context.close()


def test_an_admin_gives_a_role_and_adds_an_organisation_with_the_keyboard(admin: Visit, server: DeskServer) -> None:
    page = admin.page
    page.goto("/desk/home")
    tab_to(page, "Programme")
    page.keyboard.press("Enter")
    page.wait_for_url("**/desk/programme")
    assert page.get_by_role("heading", level=1).inner_text() == "Running the programme"

    person = VOLUNTEERS[1]
    tab_to(page, EMAIL_LABEL, TABS)
    page.keyboard.type(person.email)
    page.keyboard.press("Tab")  # the role: the first choice, Facilitator, is chosen
    assert page.evaluate("() => document.activeElement.value") == Role.FACILITATOR.value
    tab_to(page, GIVE_ROLE_BUTTON)
    # Post/Redirect/Get: back to the page, which says what happened at the top (#status).
    with page.expect_navigation(url="**/desk/programme#status"):
        page.keyboard.press("Enter")
    assert f"{person.name} ({person.email}) is now a facilitator." in page.locator("#status").inner_text()
    assert Role.FACILITATOR in server.run(server.harness.core.roles.roles_of(person.aad_object_id))

    tab_to(page, ORGANISATION_NAME_LABEL, TABS)
    page.keyboard.type("Keyboard Community Trust")
    tab_to(page, "Add")
    with page.expect_navigation(url="**/desk/programme#status"):
        page.keyboard.press("Enter")
    assert 'Added "Keyboard Community Trust".' in page.locator("#status").inner_text()
    offered = page.locator("#offered-heading + ol").inner_text()
    assert "Keyboard Community Trust" in offered
    assert f"Make {person.name} ({person.email}) an admin" in text(page)
    # A reload shows the page again and asks nothing again (nothing is posted twice).
    page.reload()
    assert page.locator("#status").count() == 0
    assert [row.name for row in server.run(server.harness.app[PROGRAMME].organisations())].count(
        "Keyboard Community Trust") == 1


@pytest.mark.parametrize("theme", ["default", "contrast"])
def test_the_programme_page_passes_axe_and_fits_360_px(admin: Visit, theme: str) -> None:
    page = admin.page
    page.goto("/desk/programme")
    use_theme(page, theme)
    assert axe_violations(page) == [], theme
    page.set_viewport_size({"width": 360, "height": 740})
    try:
        assert page.evaluate("() => document.documentElement.scrollWidth") <= 360
        assert axe_violations(page) == [], (theme, "360 px")
    finally:
        page.set_viewport_size({"width": 1024, "height": 800})
        use_theme(page, "default")


def png_size(path: Path) -> tuple[int, int]:
    """A PNG's width and height, from its IHDR chunk."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", path
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_the_screenshots_command_writes_each_page_light_dark_and_at_360_px(tmp_path: Path) -> None:
    out = tmp_path / "pictures"
    result = run_cli_sync(tmp_path, "desk", "screenshots", "--out", str(out), "--pages", "colleague-home",
                          "--chromium", CHROMIUM, HOME=str(tmp_path))
    assert result.code == 0, result.err
    names = sorted(path.name for path in out.iterdir())
    assert names == ["colleague-home-360.png", "colleague-home-dark.png", "colleague-home-light.png"]
    assert result.out.count("wrote ") == 3
    assert png_size(out / "colleague-home-light.png") == png_size(out / "colleague-home-dark.png") == (1024, 800)
    assert png_size(out / "colleague-home-360.png") == (360, 740)
    # The dark picture is another picture, and none is a blank page.
    light, dark = (out / "colleague-home-light.png").read_bytes(), (out / "colleague-home-dark.png").read_bytes()
    assert light != dark and min(len(light), len(dark)) > 10_000

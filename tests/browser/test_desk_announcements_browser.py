"""The desk's Announcements pages in a real browser (Debian's Chromium through Playwright), against the real app on
a real database, with the keyboard alone: a facilitator writes an announcement and watches its live preview,
chooses who gets it, checks it (the audience rounded, design §5), sends it, sees its progress card change as the
announcements tick starts it (desk.js polls; no reload) and stops it, so nobody gets it; a second one goes out,
its progress page turns into the final report by itself, and the history lists both reports. Every page has 0
axe violations in Teams' default, dark and high-contrast themes and in forced colours, fits a 360 px screen and
meets no CSP violation. The helpers (Teams' stand-in, axe, themes, Tab) are tests/browser/test_desk_browser.py's."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page

from bot.features.announcements import ANNOUNCEMENTS, STOPPED_TEXT
from bot.services.announcements import AudienceChoice
from tests.browser.server import DeskServer
from tests.browser.test_desk_browser import Visit, check_page, signed_in, tab_to, text
from tests.browser.test_desk_sessions_browser import chat_texts, deliver
from tests.browser.world import FACILITATOR, VOLUNTEERS, build_world, desk_settings
from tests.db_fixtures import BACKENDS
from tests.doubles.issuer import TokenIssuer
from tests.live_bot import _fresh_database
from vocabulary.words import VolunteerSpace

STOPPED_TITLE = "Listening circle moved"
SENT_TITLE = "Thank you, volunteers"
BODY = "The listening circle is now on Thursday at 10:00. Same room."
TABS = 120  # the audience page lists every partner organisation before its Preview button


@pytest.fixture(scope="module", params=BACKENDS)
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
           token_issuer: TokenIssuer) -> Iterator[DeskServer]:
    url = _fresh_database(request, request.param, tmp_path_factory.mktemp("desk-announcements"))
    desk = DeskServer(desk_settings(url, token_issuer), token_issuer).start()
    try:
        desk.run(build_world(desk.harness))
        yield desk
    finally:
        desk.stop()


@pytest.fixture(scope="module")
def facilitator(browser: Browser, server: DeskServer) -> Iterator[Visit]:
    visit = signed_in(browser, server, FACILITATOR)
    yield visit
    assert visit.problems == []
    visit.context.close()


def press(page: Page, name: str) -> None:
    """Tab to the button or link and press Enter, as a keyboard user does."""
    tab_to(page, name, TABS)
    page.keyboard.press("Enter")


def tick(server: DeskServer) -> None:
    """The announcements job's tick (the app runs no jobs in tests): it starts what is due."""
    server.run(server.harness.app[ANNOUNCEMENTS].tick())


def write_and_send(page: Page, server: DeskServer, title: str, *, check: bool = False) -> None:
    """The whole journey with the keyboard, from the Announcements page to the announcement's own page."""
    page.goto("/desk/home")
    press(page, "Announcements")
    page.wait_for_url("**/desk/announcements")
    if check:
        check_page(page)
    press(page, "New announcement")
    page.wait_for_url("**/desk/announcements/new")
    if check:
        check_page(page)
    tab_to(page, "Title (required)")
    page.keyboard.type(title)
    tab_to(page, "Message (required)")
    page.keyboard.type(BODY)
    # The live preview: the card people will get, drawn by the server as the author types (desk.js).
    preview = page.locator("#announcement-sample")
    preview.locator(f"h3:text('{title}')").wait_for()
    assert BODY in preview.inner_text() and "Stop announcements" in preview.inner_text()
    if check:
        check_page(page)
    press(page, "Next")
    page.wait_for_selector("h1:text('Who should get it?')")
    for space in ("Minoritised colleagues", "Active allies"):
        tab_to(page, space, TABS)
        page.keyboard.press("Space")
    expected = server.run(server.harness.app[ANNOUNCEMENTS].preview(
        AudienceChoice(spaces=(VolunteerSpace.MINORITISED, VolunteerSpace.ALLY))))
    # Who gets it, counted as the boxes are ticked (rounded, design §5), before the check page.
    page.locator("#audience-size").get_by_text(f"{expected.people} people").wait_for()
    if check:
        check_page(page)
    press(page, "Preview")
    page.wait_for_selector("h1:text('Check your announcement')")
    body = text(page)
    assert f"People {expected.people} people" in body and title in body
    assert expected.people is not None and re.fullmatch(r"\d*[05]", expected.people)
    if check:
        check_page(page)
    press(page, "Next")  # "Send now" is already chosen
    page.wait_for_selector("h1:text('Ready to send?')")
    if check:
        check_page(page)
    press(page, "Send now")
    page.wait_for_url(re.compile(r".*/desk/announcements/\d+\?sent=now$"))
    assert "Thank you. Your announcement is on its way." in text(page)


def test_a_facilitator_drafts_sends_and_stops_an_announcement(facilitator: Visit, server: DeskServer) -> None:
    page = facilitator.page
    write_and_send(page, server, STOPPED_TITLE, check=True)
    page.wait_for_selector("h1:text('Getting ready to send')")
    check_page(page)
    # The tick queues a message to every volunteer; the page shows it by itself (no reload).
    tick(server)
    page.wait_for_selector("text=0% done. This card updates as it goes.")
    assert "?sent=now" in page.url  # still the same page
    press(page, "Stop sending")
    page.wait_for_url(re.compile(r".*\?done=stopped$"))
    body = text(page)
    assert STOPPED_TEXT in body and "You stopped this announcement" in body
    assert "Not sent, because you stopped it 100%" in body and "Stop sending" not in body
    check_page(page)
    deliver(server)
    for member in (VOLUNTEERS[0], VOLUNTEERS[5]):
        assert STOPPED_TITLE not in chat_texts(server, member)


def test_a_sent_announcement_shows_its_progress_and_its_final_report(facilitator: Visit,
                                                                    server: DeskServer) -> None:
    page = facilitator.page
    write_and_send(page, server, SENT_TITLE)
    tick(server)
    page.wait_for_selector("text=0% done. This card updates as it goes.")
    deliver(server)
    tick(server)
    page.wait_for_selector("h1:text('Your announcement has gone')")
    body = text(page)
    assert "Delivered 100%" in body and "Could not be delivered 0" in body
    check_page(page)
    for member in (VOLUNTEERS[0], VOLUNTEERS[5]):
        assert SENT_TITLE in chat_texts(server, member)
    press(page, "See all announcements")
    page.wait_for_url("**/desk/announcements")
    body = text(page)
    assert body.index(SENT_TITLE) < body.index(STOPPED_TITLE)  # the latest first
    assert "Your announcement has gone" in body and "You stopped this announcement" in body
    check_page(page)
    # Each title opens its own page.
    press(page, STOPPED_TITLE)
    page.wait_for_selector("h1:text('You stopped this announcement')")

"""The desk's Sessions pages in a real browser (Debian's Chromium through Playwright), against the real app on a
real database, with the keyboard alone: a facilitator creates and publishes a session and its invitations reach
the volunteers' chats in the Teams double; they read who is coming and download it as CSV; once the session is
over they mark who came and the people who came are thanked. Every new page has 0 axe violations in Teams'
default, dark and high-contrast themes and in forced colours, fits a 360 px screen and meets no CSP violation.
The helpers (Teams' stand-in, axe, themes, Tab) are tests/browser/test_desk_browser.py's."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page

from bot.features.delivery import DELIVERY
from bot.features.sessions import SESSIONS
from bot.services.sessions import RosterFile
from tests.app_fixtures import card_text, deliver_due
from tests.browser.server import DeskServer
from tests.browser.test_desk_browser import TEAMS_JS, TEAMS_STAND_IN, Visit, check_page, tab_to, text
from tests.browser.world import COLLEAGUE, FACILITATOR, SESSION_TITLE, VOLUNTEERS, build_world, desk_settings, sso_token
from tests.db_fixtures import BACKENDS
from tests.doubles.issuer import TokenIssuer
from tests.doubles.teams import Member
from tests.live_bot import _fresh_database
from vocabulary.uk_time import uk_date_iso

NEW_TITLE = "Listening circle"
FEEDBACK = "https://forms.office.com/r/hny-circle"


@dataclass(frozen=True)
class World:
    server: DeskServer
    session_id: int  # the world's published session (the facilitator's, in 5 days, 12 places)


@pytest.fixture(scope="module", params=BACKENDS)
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
          token_issuer: TokenIssuer) -> Iterator[World]:
    url = _fresh_database(request, request.param, tmp_path_factory.mktemp("desk-sessions"))
    server = DeskServer(desk_settings(url, token_issuer), token_issuer).start()
    try:
        yield World(server, server.run(build_world(server.harness)))
    finally:
        server.stop()


@pytest.fixture(scope="module")
def server(world: World) -> DeskServer:
    return world.server


@pytest.fixture(scope="module")
def facilitator(browser: Browser, server: DeskServer) -> Iterator[Visit]:
    """The facilitator in Teams (the page's language and clock are the UK's; a date input's own order of day,
    month and year follows the browser's language, see `as_the_browser_reads`)."""
    context = browser.new_context(viewport={"width": 1024, "height": 800}, base_url=server.base_url,
                                  accept_downloads=True, locale="en-GB", timezone_id="Europe/London")
    context.add_init_script(f"window.__teamsToken = {json.dumps(sso_token(server.issuer, FACILITATOR))};")
    context.route(TEAMS_JS, lambda route: route.fulfill(status=200, content_type="text/javascript",
                                                        body=TEAMS_STAND_IN))
    page = context.new_page()
    visit = Visit(context, page)
    page.on("console", lambda message: visit.problems.append(message.text)
            if "Content Security Policy" in message.text or "Refused to" in message.text else None)
    page.on("pageerror", lambda error: visit.problems.append(f"page error: {error}"))
    page.goto("/desk/")
    page.wait_for_url("**/desk/home")
    yield visit
    assert visit.problems == []
    context.close()


def press(page: Page, name: str) -> None:
    """Tab to the button or link and press Enter, as a keyboard user does."""
    tab_to(page, name)
    page.keyboard.press("Enter")


def type_into(page: Page, label: str, typed: str) -> None:
    tab_to(page, label)
    page.keyboard.type(typed)


def as_the_browser_reads(page: Page, kind: str, value: str) -> str:
    """What a person types into this browser's date or time input for `value` (YYYY-MM-DD or HH:MM): a date
    input's day, month and year come in the order of the browser's own language (not the page's), so it is asked
    once, on a blank page of its own, which order gives the value back."""
    year, month, day = value.split("-") if kind == "date" else ("", "", "")
    hour, minute = value.split(":") if kind == "time" else ("", "")
    candidates = ([year + month + day, month + day + year, day + month + year] if kind == "date"
                  else [hour + minute, f"{int(hour) % 12 or 12:02d}{minute}{'P' if int(hour) >= 12 else 'A'}"])
    probe = page.context.new_page()
    try:
        for typed in candidates:
            probe.set_content(f'<input type="{kind}" id="probe" aria-label="probe">')
            probe.focus("#probe")
            probe.keyboard.type(typed)
            if probe.input_value("#probe") == value:
                return typed
    finally:
        probe.close()
    raise AssertionError(f"this browser's {kind} input takes none of {candidates}")


def chat_texts(server: DeskServer, member: Member) -> str:
    """Every card that reached the person's chat with the bot, in the Teams double."""
    teams = server.harness.teams
    chat = teams.conversation_for(member.aad_object_id)
    return "\n".join(card_text(attachment["content"])
                     for sent in (teams.sent(chat) if chat else [])
                     for attachment in sent.get("attachments") or [])


def deliver(server: DeskServer) -> None:
    harness = server.harness
    server.run(deliver_due(harness.core.database, harness.clock, harness.app[DELIVERY].config))


def test_a_facilitator_creates_and_publishes_a_session_and_the_invitations_go_out(facilitator: Visit,
                                                                                 server: DeskServer) -> None:
    page = facilitator.page
    page.goto("/desk/home")
    press(page, "Sessions")
    page.wait_for_url("**/desk/sessions")
    check_page(page)
    press(page, "New session")
    page.wait_for_url("**/desk/sessions/new")
    check_page(page)

    # Preview with nothing filled in: the chat's messages, each under its field, and the count at the top.
    press(page, "Preview")
    page.wait_for_selector("text=Please fix: Give the session a title.")
    assert re.search(r"Please fix \d+ answers below\.", text(page))
    check_page(page)

    day = uk_date_iso(server.clock.now() + timedelta(days=10))
    type_into(page, "Title (required)", NEW_TITLE)
    tab_to(page, "Co-design")
    page.keyboard.press("Space")
    tab_to(page, "Minoritised colleagues")
    page.keyboard.press("ArrowDown")  # Active allies
    page.keyboard.press("ArrowDown")  # Open to both spaces
    type_into(page, "Date (required)", as_the_browser_reads(page, "date", day))
    type_into(page, "Start time, UK time (required)", as_the_browser_reads(page, "time", "14:00"))
    type_into(page, "End time, UK time (required)", as_the_browser_reads(page, "time", "15:30"))
    type_into(page, "Number of places (required)", "20")
    assert page.input_value("#f-date") == day and page.input_value("#f-start") == "14:00"
    assert page.is_checked("#f-space-3")
    press(page, "Preview")
    page.wait_for_selector("h1:text('Check your session')")
    body = text(page)
    assert NEW_TITLE in body and "Open to both spaces" in body and re.search(r"I will invite \d+ people\.", body)
    check_page(page)

    press(page, "Publish")
    page.wait_for_selector("text=Your session is published.")
    assert re.search(r"I'm sending invitations to \d+ people now\.", text(page))
    check_page(page)
    # The delivery worker sends them: each volunteer's chat in Teams gets the invitation card.
    deliver(server)
    for member in (COLLEAGUE, VOLUNTEERS[0], VOLUNTEERS[5]):
        assert NEW_TITLE in chat_texts(server, member), member.name
    press(page, "See my sessions")
    page.wait_for_url("**/desk/sessions")
    assert NEW_TITLE in text(page)


def test_the_change_and_cancel_pages_pass_axe_and_change_nothing_until_sent(facilitator: Visit,
                                                                           server: DeskServer) -> None:
    page = facilitator.page
    page.goto("/desk/sessions")
    press(page, "Change")
    page.wait_for_url("**/change")
    assert page.get_by_role("heading", level=1).inner_text() == f"Change: {SESSION_TITLE}"
    check_page(page)
    press(page, "Back")
    page.wait_for_url("**/desk/sessions")
    press(page, "Cancel the session")
    page.wait_for_url("**/cancel")
    assert page.get_by_role("heading", level=1).inner_text() == f"Cancel {SESSION_TITLE}?"
    check_page(page)
    press(page, "Keep the session")
    page.wait_for_url("**/desk/sessions")
    assert "Cancelled" not in text(page)


def test_who_is_coming_and_its_csv_download(facilitator: Visit, world: World) -> None:
    server, session_id = world.server, world.session_id
    service = server.harness.app[SESSIONS]
    for member in VOLUNTEERS[:2]:
        assert server.run(service.reply(member.aad_object_id, session_id, "accept")).outcome == "done"
    page = facilitator.page
    page.goto("/desk/sessions")
    press(page, "Who is coming")  # the world's session is the soonest, so the first
    page.wait_for_url(f"**/desk/sessions/{session_id}/roster")
    body = text(page)
    assert f"{VOLUNTEERS[0].name} ({VOLUNTEERS[0].email})" in body and "Accepted (2 of 12 places)" in body
    check_page(page)
    tab_to(page, "Download the list (CSV)")
    with page.expect_download() as download:
        page.keyboard.press("Enter")
    path = download.value.path()
    assert path is not None
    expected = server.run(service.roster_file(FACILITATOR.aad_object_id, session_id, "test"))
    assert isinstance(expected, RosterFile)
    assert Path(path).read_bytes() == expected.content
    assert download.value.suggested_filename == expected.name


def test_after_the_session_the_facilitator_marks_who_came_and_they_are_thanked(facilitator: Visit,
                                                                              server: DeskServer) -> None:
    """Last in the module: the clock moves past the world's session."""
    server.clock.advance(timedelta(days=5, hours=3))
    came, absent = VOLUNTEERS[0], VOLUNTEERS[1]  # both accepted above
    page = facilitator.page
    page.goto("/desk/sessions")
    press(page, "Mark who came")
    page.wait_for_url("**/attendance")
    assert page.get_by_role("heading", level=1).inner_text() == f"Who came: {SESSION_TITLE}"
    check_page(page)
    tab_to(page, "Came")  # the first person's choices
    page.keyboard.press("Space")
    page.keyboard.press("Tab")  # the second person's choices
    page.keyboard.press("ArrowDown")  # Did not come
    type_into(page, "Feedback form link (optional)", FEEDBACK)
    press(page, "Save")
    page.wait_for_selector(f"text=Saved: {SESSION_TITLE}")
    body = text(page)
    assert "Came: 1. Did not come: 1. Not marked yet: 0." in body
    assert "I'm sending a thank-you message to 1 person who came." in body
    check_page(page)
    deliver(server)
    assert f"Thank you for coming: {SESSION_TITLE}" in chat_texts(server, came)
    assert "Thank you for coming" not in chat_texts(server, absent)

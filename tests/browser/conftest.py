"""The browser for the desk's browser tests: the system's Chromium (Debian's `chromium` package), driven by
Playwright for Python. Playwright never downloads a browser here; a missing /usr/bin/chromium fails the tests
(.ci/run installs it), it never skips them. One browser per test module, stopped with the module: Playwright's
sync driver runs an event loop in this thread while it is open, which every later asyncio test would trip over."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Playwright, sync_playwright

from bot.cli.desk import CHROMIUM_ARGS  # the flags `python -m bot desk screenshots` launches Chromium with

CHROMIUM = os.environ.get("DESK_TEST_CHROMIUM", "/usr/bin/chromium")


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    if not (os.path.exists(CHROMIUM) or shutil.which(CHROMIUM)):
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package (apt-get install chromium); "
                    "bash .ci/run does it")
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
    yield browser
    browser.close()

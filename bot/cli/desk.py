"""`python -m bot desk screenshots [--out DIR] [--pages NAME …]`: pictures of every desk page, for the README.

It starts the app in local mode on a temporary SQLite database with a small demo world (made-up people at
example.org, no real person's data), signs in through the local sign-in page as a colleague, a facilitator and
an admin, and writes a PNG of each page that role opens (the pages of the desk's one navigation) in the light
theme, the dark theme and on a 360 px wide screen: `docs/desk/<role>-<page>-<light|dark|360>.png`. The browser
is the system's Chromium (/usr/bin/chromium, or DESK_CHROMIUM / --chromium), driven by Playwright with the
flags of the browser tests; nothing is downloaded. Each picture is the first screen of its page, so the files
stay small.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import tempfile
import threading
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal, TypeVar

from aiohttp import web

from bot.app import CORE, create_app
from bot.cli.errors import CliError
from bot.desk.pages import HOME
from bot.desk.site import NAV
from bot.features.announcements import ANNOUNCEMENTS
from bot.features.programme import PROGRAMME
from bot.features.sessions import SESSIONS
from bot.services.announcements import AudienceChoice, When
from bot.services.sessions import SessionDraft
from bot.settings import Settings
from cards.announcements import AnnouncementView
from storage.migrate import upgrade_sync
from storage.models import Person, Volunteer
from vocabulary.uk_time import uk_date_iso
from vocabulary.words import Community, Phase, Role, SessionAudience, VolunteerSpace

T = TypeVar("T")

OUT = Path("docs/desk")
CHROMIUM = "/usr/bin/chromium"
# The machine's closed network: without the background-networking flags Chromium keeps trying Google's hosts.
# tests/browser/conftest.py launches the browser with the same flags.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
# (name, width, height, colour scheme): desk.css follows the colour scheme when Teams has not set a theme.
VARIANTS: tuple[tuple[str, int, int, Literal["light", "dark"]], ...] = (
    ("light", 1024, 800, "light"), ("dark", 1024, 800, "dark"), ("360", 360, 740, "light"))


def _demo_id(number: int) -> str:
    return f"00000000-0000-4000-8000-{number:012d}"


@dataclass(frozen=True)
class DemoPerson:
    person_id: str
    name: str
    email: str


ADMIN = DemoPerson(_demo_id(9001), "Alex Admin (demo)", "alex.admin@example.org")
FACILITATOR = DemoPerson(_demo_id(9002), "Sam Facilitator (demo)", "sam.facilitator@example.org")
COLLEAGUE = DemoPerson(_demo_id(9003), "Chris Colleague (demo)", "chris.colleague@example.org")
VOLUNTEERS = tuple(DemoPerson(_demo_id(9100 + index), f"Demo volunteer {index}", f"volunteer{index}@example.org")
                   for index in range(1, 25))
WHO = {"colleague": COLLEAGUE, "facilitator": FACILITATOR, "admin": ADMIN}


@dataclass(frozen=True)
class Shot:
    """One page as one role sees it: `name` is "<role>-<page>"."""

    name: str
    person: DemoPerson
    path: str


def shots() -> list[Shot]:
    """A colleague's page, and each page of the navigation as the first role that opens it."""
    found = [Shot("colleague-home", COLLEAGUE, HOME)]
    for _, href, role in NAV:
        if role is None:
            continue
        who = "admin" if role == Role.ADMIN else "facilitator"
        found.append(Shot(f"{who}-{href.rstrip('/').rsplit('/', 1)[-1]}", WHO[who], href))
    return found


def add_parser(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser("desk", help="the desk (the Teams personal tab)")
    actions = parser.add_subparsers(dest="desk_command", required=True)
    screenshots = actions.add_parser("screenshots", help="write PNG screenshots of every desk page")
    screenshots.add_argument("--out", type=Path, default=OUT, metavar="DIR",
                             help=f"where to write the PNG files (default: {OUT})")
    screenshots.add_argument("--pages", nargs="+", metavar="NAME", choices=[shot.name for shot in shots()],
                             help="only these pages (default: every one)")
    screenshots.add_argument("--chromium", default=os.environ.get("DESK_CHROMIUM", CHROMIUM), metavar="PATH",
                             help=f"the Chromium to drive (default: {CHROMIUM})")
    screenshots.set_defaults(handler=run_screenshots)


# -- the app, on a demo world, in a thread of its own ---------------------------------------------------------


def demo_settings(directory: Path) -> Settings:
    """Local mode (no Microsoft app id, loopback only), a fresh SQLite file, no worker, no Graph."""
    return Settings(
        _env_file=None, database_url=f"sqlite+aiosqlite:///{directory / 'desk-demo.db'}", host="127.0.0.1",
        microsoft_app_id="", microsoft_app_password=None, microsoft_app_tenant_id="", allowed_tenants=[],
        bootstrap_admins=[ADMIN.person_id], run_worker=False, graph_enabled=False, log_format="text",
        erasure_log_path=str(directory / "erasures.log"))


async def build_demo_world(app: web.Application) -> None:
    """Two dozen made-up volunteers (enough for figures above "fewer than 8"), a colleague, a facilitator with a
    published and a draft session and three announcements, and the admin (BOOTSTRAP_ADMINS)."""
    core = app[CORE]
    now = core.clock.now()
    version = (await core.notices.current()).version
    organisations = [row.id for row in await app[PROGRAMME].organisations() if not row.retired][:3]
    async with core.database.transaction() as session:
        for person in (ADMIN, FACILITATOR, COLLEAGUE, *VOLUNTEERS):
            session.add(Person(id=person.person_id, tenant_id="demo", display_name=person.name, email=person.email,
                               created_at=now, last_seen_at=now, announcements_stopped=False))
        await session.flush()
        for index, person in enumerate((COLLEAGUE, *VOLUNTEERS)):
            chosen = {Community.LGBTQ} if index % 2 else {Community.ETHNICITY, Community.DISABILITY}
            session.add(Volunteer(
                person_id=person.person_id, space_minoritised=index % 3 != 2, space_ally=index % 2 == 0,
                **{community.column: community in chosen for community in Community},
                organisation_id=organisations[index % len(organisations)] if organisations else None,
                phase_codesign=True, phase_train_the_trainer=index % 4 == 0, adjustments_contact=index == 5,
                consent_version=version, signed_up_at=now - timedelta(days=index), updated_at=now))
    await core.roles.grant(ADMIN.person_id, FACILITATOR.person_id, Role.FACILITATOR)
    sessions = app[SESSIONS]
    for title, days, publish in (("Allyship basics (demo)", 6, True), ("Active bystander practice (demo)", 20, False)):
        starts = now + timedelta(days=days)
        draft = SessionDraft(title=title, phase=Phase.CODESIGN, space=SessionAudience.OPEN, communities=frozenset(),
                             starts_at=starts, ends_at=starts + timedelta(hours=2), join_url=None, capacity=12)
        result = await sessions.create(FACILITATOR.person_id, draft, publish=publish)
        if result.outcome != "done":
            raise CliError(f"the demo world's session could not be created ({result.outcome})")
    await _demo_announcements(app)


async def _demo_announcements(app: web.Application) -> None:
    """The facilitator's announcements, through the chat's service: one stopped, one on its way (no worker runs,
    so it stays at 0%) and one scheduled for tomorrow, so the Announcements page shows each kind of report."""
    service = app[ANNOUNCEMENTS]
    everyone = AudienceChoice(spaces=(VolunteerSpace.MINORITISED, VolunteerSpace.ALLY))
    tomorrow = uk_date_iso(app[CORE].clock.now() + timedelta(days=1))
    made = []
    for title, when in (("Session room changed (demo)", When()), ("Thank you for a great month (demo)", When()),
                        ("New dates for the spring (demo)", When("later", tomorrow, "10:00"))):
        view = AnnouncementView(title, "A made-up announcement for the desk's pictures.")
        # "confirm": a picture taken in quiet hours still shows an announcement that started.
        created = await service.create(FACILITATOR.person_id, view, everyone, when, "confirm")
        if created.announcement_id is None:
            raise CliError(f"the demo world's announcement could not be created ({created.outcome})")
        made.append(created.announcement_id)
        await service.tick()  # starts what is due now
    await service.stop(FACILITATOR.person_id, made[0])


class DemoServer:
    """The app on 127.0.0.1 (a free port), run by an event loop in its own thread: Playwright's sync API
    drives the browser from this one."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="desk-demo", daemon=True)
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 120.0) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    def start(self) -> DemoServer:
        self._thread.start()
        self.run(self._start())
        return self

    def stop(self) -> None:
        try:
            if self._runner is not None:
                self.run(self._runner.cleanup())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop.close()

    async def _start(self) -> None:
        app = create_app(self.settings)
        self._runner = web.AppRunner(app)
        await self._runner.setup()  # the app's start-up: organisations, the privacy notice, the bootstrap admin
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.base_url = f"http://{host}:{port}"
        await build_demo_world(app)


@contextmanager
def demo_server() -> Iterator[DemoServer]:
    directory = Path(tempfile.mkdtemp(prefix="hny-desk-demo-"))
    try:
        settings = demo_settings(directory)
        upgrade_sync(settings.database_url)
        server = DemoServer(settings).start()
        try:
            yield server
        finally:
            server.stop()
    finally:
        shutil.rmtree(directory, ignore_errors=True)


# -- the pictures -----------------------------------------------------------------------------------------------


def take_screenshots(out: Path, chosen: list[Shot], chromium: str) -> list[Path]:
    from playwright.sync_api import sync_playwright  # a development dependency: only this command needs it

    if not (os.path.exists(chromium) or shutil.which(chromium)):
        raise CliError(f"{chromium} is missing: install Debian's chromium package (apt-get install chromium), or "
                       "give another with --chromium PATH.")
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    with demo_server() as server, sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, headless=True)
        try:
            for person in dict.fromkeys(shot.person for shot in chosen):
                for variant, width, height, scheme in VARIANTS:
                    context = browser.new_context(viewport={"width": width, "height": height},
                                                  base_url=server.base_url, color_scheme=scheme)
                    try:
                        page = context.new_page()
                        page.goto("/desk/local-sign-in")
                        page.check(f'input[name="person"][value="{person.person_id}"]')
                        page.get_by_role("button", name="Sign in").click()
                        page.wait_for_url(f"**{HOME}")
                        for shot in (shot for shot in chosen if shot.person == person):
                            page.goto(shot.path)
                            path = out / f"{shot.name}-{variant}.png"
                            page.screenshot(path=str(path))
                            written.append(path)
                    finally:
                        context.close()
        finally:
            browser.close()
    return written


def run_screenshots(args: argparse.Namespace, settings: Settings) -> int:
    """`settings` (the operator's) are not used: the pictures come from the demo world, never a real database."""
    chosen = [shot for shot in shots() if not args.pages or shot.name in args.pages]
    for path in take_screenshots(args.out, chosen, args.chromium):
        print(f"wrote {path}")
    return 0

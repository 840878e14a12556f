"""The real app on a real database, served from a thread of its own (Playwright's sync API drives the browser in
the test's thread, so the app cannot share its event loop), with the Teams double and a small world."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

import aiohttp
from aiohttp.test_utils import TestServer

from bot.app import create_app
from bot.clock import FixedClock
from bot.delivery.tokens import StaticTokenProvider
from bot.settings import Settings
from tests.app_fixtures import START, BotHarness
from tests.doubles.issuer import TokenIssuer
from tests.doubles.teams import TeamsDouble

T = TypeVar("T")


class DeskServer:
    def __init__(self, settings: Settings, issuer: TokenIssuer) -> None:
        self.settings = settings
        self.issuer = issuer
        self.clock = FixedClock(START)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="desk-server", daemon=True)
        self._harness: BotHarness | None = None

    def start(self) -> DeskServer:
        self._thread.start()
        self.run(self._start())
        return self

    def stop(self) -> None:
        try:
            self.run(self._stop())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop.close()

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    @property
    def harness(self) -> BotHarness:
        assert self._harness is not None
        return self._harness

    @property
    def base_url(self) -> str:
        return str(self.harness.server.make_url("/")).rstrip("/")

    async def _start(self) -> None:
        teams = TeamsDouble(global_limit=None, per_conversation_limits=False)
        await teams.start()
        app = create_app(self.settings, clock=self.clock,
                         outbound=StaticTokenProvider())
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        self._harness = BotHarness(server=server, http=aiohttp.ClientSession(), issuer=self.issuer, teams=teams,
                                   clock=self.clock, app=app)

    async def _stop(self) -> None:
        harness = self.harness
        await harness.http.close()
        await harness.server.close()
        await harness.teams.stop()

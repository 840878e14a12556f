"""The HNY Inc. desk: a Teams personal tab served by the bot's own app under /desk/ (design §10, issue 22).

A second face of the same services: every page reads through the services the chat uses, with the chat's role
checks, labels, audit and suppression. How sign-in works and why: docs/architecture.md "The desk".
"""

from __future__ import annotations

import logging

from aiohttp import web

from bot.core import Core
from bot.desk.announcements_pages import add_announcement_routes
from bot.desk.pages import add_routes
from bot.desk.programme import add_programme_routes
from bot.desk.sessions_pages import add_session_routes
from bot.desk.site import PREFIX, build_desk, desk_application, finish_routes, redirect_to_desk

log = logging.getLogger(__name__)


def mount_desk(app: web.Application, core: Core) -> None:
    """Serve the desk under /desk/, as a sub-application whose middleware covers only its own pages."""
    desk = build_desk(core)
    sub = desk_application(desk)
    add_routes(sub, local=desk.local)
    add_programme_routes(sub)
    add_session_routes(sub)
    add_announcement_routes(sub)
    finish_routes(sub)
    app.add_subapp(PREFIX + "/", sub)
    app.router.add_get(PREFIX, redirect_to_desk)
    if desk.local:
        settings = core.settings
        log.info("desk (local mode): open http://%s:%d%s/ and choose who to sign in as", settings.host,
                 settings.port, PREFIX)

"""The desk's pages. Each one: who is signed in (the session cookie), then the same role check as the chat
(`RoleService.require`, which audits a refusal), then the same service call as the chat, then a template.

| page | who | what |
|---|---|---|
| `/desk/` | anyone | sign-in: the page asks Teams for a token and posts it to `/desk/session` |
| `/desk/home` | everyone signed in | their own details and sessions, and the chat commands |
| `/desk/sessions` | facilitators (admins: every session) | their sessions with the chat's figures and buttons |
| `/desk/sessions/new`, `/desk/sessions/{id}/…` | facilitators | the chat's session journeys: sessions_pages.py |
| `/desk/counts`, `/desk/counts.csv` | admins | every table of the counts report, with charts; the CSV export |
| `/desk/local-sign-in` | local mode only | pick a person from the database |
"""

from __future__ import annotations

import logging
import re
from urllib.parse import quote

from aiohttp import web
from sqlalchemy import select

from bot.cli.report import HEADER, report_rows  # the command line's CSV export, row for row
from bot.desk.card_html import NEW_SESSION_PAGE
from bot.desk.session import clear_cookie_header, cookie_header
from bot.desk.site import DESK, PREFIX, Desk, Viewer, same_origin
from bot.desk.tokens import DeskTokenRefused
from bot.desk.views import counts_page, session_entries
from bot.features.counts import COUNTS, counts_view
from bot.features.sessions import SESSIONS
from bot.services.csv_export import csv_bytes
from cards.basics import ADMIN_COMMANDS, COLLEAGUE_COMMANDS, FACILITATOR_COMMANDS  # the help card's lists
from cards.invitation import status_text
from cards.sessions import EXACT_NOTE, NEW_SESSION, ROUNDING_NOTE
from cards.signup import summary_rows
from storage.models import Person
from vocabulary.uk_time import uk_when
from vocabulary.words import Role

log = logging.getLogger(__name__)

HOME = f"{PREFIX}/home"
FORM_NOT_RECOGNISED = "The desk did not recognise that form. Reload the page and try again."
_NEXT = re.compile(r"^/desk/[a-z0-9][a-z0-9._/-]{0,60}$")
REFUSED_TEXT = {
    Role.ADMIN: "This page is for the admins of HNY Inc.",
    Role.FACILITATOR: "This page is for the facilitators of HNY Inc.",
}


def safe_next(value: str | None) -> str:
    """Where to go after signing in: a desk page, never another site (and never anything personal)."""
    if value and _NEXT.match(value) and ".." not in value and "//" not in value:
        return value
    return HOME


def _desk(request: web.Request) -> Desk:
    return request.app[DESK]


def _sign_in_again(request: web.Request) -> web.StreamResponse:
    if request.method == "GET":
        return web.HTTPSeeOther(f"{PREFIX}/?next={quote(request.path)}")
    return _desk(request).render(request, "error.html", status=401, heading="Please sign in again",
                                 message="Your sign-in to the desk has ended. Open the desk again from Teams.")


async def signed_in(request: web.Request) -> Viewer | web.StreamResponse:
    viewer = await _desk(request).viewer(request)
    return viewer if viewer is not None else _sign_in_again(request)


async def with_role(request: web.Request, role: Role, action: str) -> Viewer | web.StreamResponse:
    """The chat's check: RoleService.require (roles from the database and Entra groups); a refusal is audited
    under `action` and gets a clear page, never an error."""
    viewer = await signed_in(request)
    if not isinstance(viewer, Viewer):
        return viewer
    if not await _desk(request).core.roles.require(viewer.person_id, role, action):
        return _desk(request).render(request, "refused.html", status=403, viewer=viewer,
                                     message=REFUSED_TEXT[role])
    return viewer


# -- signing in -----------------------------------------------------------------------------------------------


async def sign_in_page(request: web.Request) -> web.StreamResponse:
    """The tab's address. It always asks Teams who is there, even with a cookie: whoever opens the tab now (another
    account on a shared computer) gets their own session, never the last person's."""
    desk = _desk(request)
    return desk.render(request, "sign_in.html", next=safe_next(request.query.get("next")), local=desk.local)


def _json_error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


async def create_session(request: web.Request) -> web.StreamResponse:
    """POST /desk/session with `Authorization: Bearer <Teams SSO token>`: the session cookie, or 401."""
    desk = _desk(request)
    if not same_origin(request):
        return _json_error(403, "This request did not come from the desk.")
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return _json_error(401, "Teams did not give the desk a sign-in token.")
    try:
        identity = await desk.validator.validate(token.strip())
    except DeskTokenRefused as refused:
        log.info("desk: sign-in refused (%s)", refused.reason)
        return _json_error(401, "The desk could not check who you are. Open it again from Teams.")
    return _session_response(desk, identity.person_id, identity.tenant_id, identity.expires_at,
                             web.json_response({"next": HOME}))


def _session_response(desk: Desk, person_id: str, tenant_id: str, expires_at: float,
                      response: web.StreamResponse) -> web.StreamResponse:
    session, value = desk.signer.issue(person_id, tenant_id, expires_at)
    response.headers.add("Set-Cookie", cookie_header(value, desk.signer.seconds_left(session)))
    log.info("desk: signed in")
    return response


async def sign_out(request: web.Request) -> web.StreamResponse:
    desk = _desk(request)
    viewer = await desk.viewer(request)
    if viewer is not None:
        form = await request.post()
        if not same_origin(request) or not desk.signer.csrf_ok(viewer.session, form.get("csrf")):
            return desk.render(request, "error.html", status=403, viewer=viewer, heading="That did not work",
                               message=FORM_NOT_RECOGNISED)
    response = desk.render(request, "signed_out.html", local=desk.local)
    response.headers.add("Set-Cookie", clear_cookie_header())
    return response


# -- local mode: pick a person ----------------------------------------------------------------------------------


async def _people(desk: Desk) -> list[tuple[str, str, str]]:
    """(id, name, roles) of everyone the database knows, role holders first."""
    holders = await desk.core.roles.holders()
    roles: dict[str, list[str]] = {}
    for holder in holders:
        roles.setdefault(holder.person_id, []).append(Role(holder.role).label)
    async with desk.core.database.read() as session:
        people = dict((await session.execute(select(Person.id, Person.display_name))).tuples().all())
    for person_id in roles:
        people.setdefault(person_id, None)
    found = [(person_id, name or "(no name known)", ", ".join(roles.get(person_id, [])) or "Colleague")
             for person_id, name in people.items()]
    return sorted(found, key=lambda row: (row[2] == "Colleague", row[1].lower(), row[0]))


async def local_sign_in_page(request: web.Request) -> web.StreamResponse:
    desk = _desk(request)
    if desk.local_issuer is None:  # not even routed outside local mode; checked again here
        raise web.HTTPNotFound()
    return desk.render(request, "local_sign_in.html", people=await _people(desk), error=None)


async def local_sign_in(request: web.Request) -> web.StreamResponse:
    desk = _desk(request)
    if desk.local_issuer is None:
        raise web.HTTPNotFound()
    form = await request.post()
    chosen = form.get("person")
    people = await _people(desk)
    if not same_origin(request) or not isinstance(chosen, str) or chosen not in {row[0] for row in people}:
        return desk.render(request, "local_sign_in.html", status=400, people=people,
                           error="Choose one of the people on the list.")
    # The same path as Teams' token: a token from the local issuer, checked by the local validator.
    identity = await desk.validator.validate(desk.local_issuer.token(chosen))
    return _session_response(desk, identity.person_id, identity.tenant_id, identity.expires_at,
                             web.HTTPSeeOther(HOME))


# -- pages --------------------------------------------------------------------------------------------------------


async def home(request: web.Request) -> web.StreamResponse:
    viewer = await signed_in(request)
    if not isinstance(viewer, Viewer):
        return viewer
    desk = _desk(request)
    commands = list(COLLEAGUE_COMMANDS)
    if viewer.holds(Role.FACILITATOR):
        commands += FACILITATOR_COMMANDS
    if viewer.holds(Role.ADMIN):
        commands += ADMIN_COMMANDS
    details = await desk.core.volunteers.details(viewer.person_id)
    invitations = await request.config_dict[SESSIONS].my_sessions(viewer.person_id)
    return desk.render(request, "home.html", viewer=viewer, commands=commands,
                       details=details, answers=summary_rows(details.answers, details.organisation_name)
                       if details else [],
                       sessions=[(view, uk_when(view.starts_at, view.ends_at), status_text(view))
                                 for view in invitations])


async def counts(request: web.Request) -> web.StreamResponse:
    viewer = await with_role(request, Role.ADMIN, "desk.counts.view")
    if not isinstance(viewer, Viewer):
        return viewer
    desk = _desk(request)
    report = await request.config_dict[COUNTS].report(viewer.person_id, "desk.counts.view")
    page = counts_page(counts_view(report, desk.core.settings.counts_refresh_hours), report)
    return desk.render(request, "counts.html", viewer=viewer, page=page)


async def counts_csv(request: web.Request) -> web.StreamResponse:
    viewer = await with_role(request, Role.ADMIN, "desk.counts.csv")
    if not isinstance(viewer, Viewer):
        return viewer
    report = await request.config_dict[COUNTS].report(viewer.person_id, "desk.counts.csv")
    day = report.taken_at.strftime("%Y-%m-%d")
    return web.Response(body=csv_bytes(HEADER, report_rows(report)), content_type="text/csv", charset="utf-8",
                        headers={"Content-Disposition": f'attachment; filename="hny-inc-counts-{day}.csv"'})


# The sessions list after a second press of a new session's Publish or Save (a double click, a reload).
SAVED_ALREADY = "saved"
SAVED_ALREADY_TEXT = ("Your new session was saved when you first pressed the button, so nothing more was done. It is "
                      "in the list below.")


async def sessions(request: web.Request) -> web.StreamResponse:
    """A facilitator's own and co-facilitated sessions (admins: all), through the chat's `sessions` list."""
    viewer = await with_role(request, Role.FACILITATOR, "desk.sessions.view")
    if not isinstance(viewer, Viewer):
        return viewer
    views = await request.config_dict[SESSIONS].list_for(viewer.person_id)
    lead = SAVED_ALREADY_TEXT if SAVED_ALREADY in request.query else None
    return _desk(request).render(request, "sessions.html", viewer=viewer, entries=session_entries(views),
                                 notes=(ROUNDING_NOTE, EXACT_NOTE), new_session=(NEW_SESSION, NEW_SESSION_PAGE),
                                 lead=lead)


def add_routes(sub: web.Application, *, local: bool) -> None:
    sub.router.add_get("/", sign_in_page, name="sign_in")
    sub.router.add_post("/session", create_session, name="session")
    sub.router.add_post("/sign-out", sign_out, name="sign_out")
    sub.router.add_get("/home", home, name="home")
    sub.router.add_get("/sessions", sessions, name="sessions")
    sub.router.add_get("/counts", counts, name="counts")
    sub.router.add_get("/counts.csv", counts_csv, name="counts_csv")
    if local:
        sub.router.add_get("/local-sign-in", local_sign_in_page, name="local_sign_in")
        sub.router.add_post("/local-sign-in", local_sign_in, name="local_sign_in_post")

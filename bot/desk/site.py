"""The desk's web application: a sub-application mounted at /desk/ (bot.app calls `mount_desk`), its security
headers, error pages, templates and static files. The pages are in bot/desk/pages.py."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import jinja2
from aiohttp import web

from bot.core import Core
from bot.desk.sent_forms import SentForms
from bot.desk.session import COOKIE_NAME, DeskSession, SessionSigner
from bot.desk.tokens import (
    ENTRA_METADATA_URL,
    DeskTokenValidator,
    KeySet,
    LocalIssuer,
    allowed_tenants,
    audiences,
    http_fetcher,
)
from bot.services.roles import satisfies
from vocabulary.uk_time import uk_day_and_clock
from vocabulary.words import Role

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
PREFIX = "/desk"

# Only Teams and Microsoft 365 may frame the desk (msteams-docs, tabs/how-to/tab-requirements: the hosts of
# Teams, the Microsoft 365 app and Outlook, and *.cloud.microsoft, where they are moving).
FRAME_ANCESTORS = (
    "https://teams.microsoft.com", "https://*.teams.microsoft.com", "https://*.cloud.microsoft",
    "https://*.microsoft365.com", "https://*.office.com", "https://outlook.office365.com",
)
CSP = "; ".join([
    "default-src 'none'",
    "script-src 'self'",  # no inline script, no eval: every script is a file under /desk/static/
    "style-src 'self'",  # no inline style either
    "img-src 'self'",
    "connect-src 'self'",
    "form-action 'self'",
    "base-uri 'none'",
    "object-src 'none'",
    "frame-ancestors " + " ".join(FRAME_ANCESTORS),
])
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    # Never to another site; same-origin keeps the Origin header on our own form posts (no-referrer sends "null").
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
}


NAV: tuple[tuple[str, str, Role | None], ...] = (
    ("Your page", f"{PREFIX}/home", None),
    ("Sessions", f"{PREFIX}/sessions", Role.FACILITATOR),
    ("Announcements", f"{PREFIX}/announcements", Role.FACILITATOR),
    ("Counts", f"{PREFIX}/counts", Role.ADMIN),
    ("Programme", f"{PREFIX}/programme", Role.ADMIN),
)


@dataclass(frozen=True)
class Viewer:
    """Who is signed in on this request, and their roles as the chat would read them now."""

    session: DeskSession
    roles: frozenset[str]
    csrf: str

    @property
    def person_id(self) -> str:
        return self.session.person_id

    def holds(self, role: Role) -> bool:
        return satisfies(set(self.roles), role)


@dataclass
class Desk:
    """Everything the desk's pages use, built once by `mount_desk` (no globals)."""

    core: Core
    templates: jinja2.Environment
    signer: SessionSigner
    validator: DeskTokenValidator
    local_issuer: LocalIssuer | None  # local mode only
    static_version: str
    sent_forms: SentForms
    http: list[aiohttp.ClientSession] = field(default_factory=list)  # the key fetcher's, made on first use

    @property
    def nav(self) -> tuple[tuple[str, str, Role | None], ...]:
        """One navigation for everyone: each person sees the pages their roles open."""
        return NAV

    @property
    def local(self) -> bool:
        return self.local_issuer is not None

    def static_url(self, path: str) -> str:
        return f"{PREFIX}/static/{path}?v={self.static_version}"

    async def viewer(self, request: web.Request) -> Viewer | None:
        session = self.signer.read(request.cookies.get(COOKIE_NAME))
        if session is None:
            return None
        roles = frozenset(await self.core.roles.roles_of(session.person_id))
        return Viewer(session, roles, self.signer.csrf(session))

    def render(self, request: web.Request, template: str, *, status: int = 200, viewer: Viewer | None = None,
               **context: Any) -> web.Response:
        page = self.templates.get_template(template)
        text = page.render(viewer=viewer, desk=self, path=request.path, Role=Role, **context)
        return web.Response(text=text, status=status, content_type="text/html", charset="utf-8")


DESK = web.AppKey("desk", Desk)


def same_origin(request: web.Request) -> bool:
    """A POST from the desk's own pages: browsers send Origin on every POST; its host must be ours."""
    origin = request.headers.get("Origin")
    if not origin:
        return False
    return urlsplit(origin).netloc.lower() == request.host.lower()


def _static_version() -> str:
    digest = hashlib.sha256()
    for path in sorted(STATIC.rglob("*")):
        if path.is_file():
            digest.update(path.relative_to(STATIC).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def _validator(core: Core, desk_http: list[aiohttp.ClientSession]) -> tuple[DeskTokenValidator, LocalIssuer | None]:
    settings = core.settings
    if settings.local:
        issuer = LocalIssuer()
        return issuer.validator(), issuer

    def client() -> aiohttp.ClientSession:
        if not desk_http:
            desk_http.append(aiohttp.ClientSession())
        return desk_http[0]

    keys = KeySet(settings.desk_openid_metadata_url or ENTRA_METADATA_URL, fetch=http_fetcher(client))
    return DeskTokenValidator(keys, audiences=audiences(settings), tenants=allowed_tenants(settings),
                              issuer=settings.desk_token_issuer), None


def build_desk(core: Core) -> Desk:
    settings = core.settings
    secret = settings.desk_session_secret.get_secret_value().encode() if settings.desk_session_secret else None
    http: list[aiohttp.ClientSession] = []
    validator, local_issuer = _validator(core, http)
    templates = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    templates.globals["uk_day_and_clock"] = uk_day_and_clock
    return Desk(core=core, templates=templates, signer=SessionSigner(secret, minutes=settings.desk_session_minutes),
                validator=validator, local_issuer=local_issuer, static_version=_static_version(),
                sent_forms=SentForms(core.database, core.clock), http=http)


def desk_application(desk: Desk) -> web.Application:
    """The sub-application, without its pages (bot.desk.pages adds them)."""
    sub = web.Application(middlewares=[desk_middleware])
    sub[DESK] = desk
    sub.cleanup_ctx.append(_close_http)
    return sub


def finish_routes(sub: web.Application) -> None:
    """After the pages: the static files, and a kind 404 page (with the headers) for any other /desk/ address."""
    sub.router.add_static("/static/", STATIC, append_version=False)
    sub.router.add_route("*", "/{tail:.*}", not_found)


async def redirect_to_desk(request: web.Request) -> web.StreamResponse:
    """"/desk" without the slash leads to the desk."""
    return web.HTTPFound(PREFIX + "/")


async def _close_http(app: web.Application) -> AsyncIterator[None]:
    yield
    for client in app[DESK].http:
        await client.close()


async def not_found(request: web.Request) -> web.StreamResponse:
    desk = request.app[DESK]
    return desk.render(request, "error.html", status=404, viewer=await desk.viewer(request),
                       heading="Page not found",
                       message="There is no page at this address. Use the links above to find your way.")


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def desk_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Security headers on every /desk/ response, a kind page for every error, and never a stack trace."""
    desk = request.app[DESK]
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            response = exc
        else:
            response = desk.render(request, "error.html", status=exc.status, viewer=None,
                                   heading="Sorry, that did not work",
                                   message="The desk could not do that. Go back and try again.")
    except Exception as exc:  # every failure gets the same kind page; the log names only its type
        log.error("desk: %s while answering %s", type(exc).__name__, request.match_info.route.name or "a page")
        response = desk.render(request, "error.html", status=500, viewer=None,
                               heading="Sorry, something went wrong",
                               message="Something went wrong on our side. Your saved answers are safe. Please try "
                                       "again in a minute, or email HNY.Inc@nhs.net.")
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if request.path.startswith(PREFIX + "/static/") and response.status == 200:
        response.headers["Cache-Control"] = "public, max-age=86400"
    else:
        # Pages hold personal data: never kept by a browser or a proxy.
        response.headers["Cache-Control"] = "no-store"
    return response

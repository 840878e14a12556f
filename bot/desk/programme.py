"""The admins' Programme page (issue 22): roles, organisations, the current phase and end date, privacy notice
versions and the audit log.

A second face of the chat's programme, roles and audit cards: every form posts the fields of one declared card
action (vocabulary/actions/programme.py), is checked against that action's own payload model, with the role
check the action registry runs (RoleService.require under the action's name, so a refusal is audited as in chat)
and the desk's CSRF token, and is done by the chat's own feature method, which says what happened in the chat's
words: RolesFeature.change / grant_by_email (never the last admin), ProgrammeFeature.save_settings,
change_organisation and publish. The services audit every change as in chat. The audit download is the command
line's export (bot.cli.audit.audit_rows), recorded as `audit.export` like it.

After a form, the browser is sent back to the page (Post/Redirect/Get: a reload asks nothing again), and what
happened travels in a short cookie signed for this session (bot.desk.session SAID_COOKIE), never in the address
(the chat's words may name a person). A form that needs an answer or keeps what was typed (the deletion-date
question, a notice that was not published, a form the desk did not recognise) is answered directly instead.

| address | what |
|---|---|
| `GET /desk/programme` | the page |
| `POST /desk/programme/<action name>` | one card action's form, then (303) the page with what happened on top |
| `GET /desk/programme/audit.csv` | every audit entry, oldest first, as `python -m bot audit export` writes it |
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, TypeVar

from aiohttp import web
from pydantic import ValidationError

from bot.cli.audit import HEADER as AUDIT_HEADER
from bot.cli.audit import audit_rows
from bot.desk.pages import with_role
from bot.desk.session import SAID_COOKIE, clear_said_cookie_header, said_cookie_header
from bot.desk.site import DESK, PREFIX, Desk, Viewer, same_origin
from bot.features.programme import PROGRAMME_FEATURE, DeletionSoon
from bot.features.roles import AUDIT_CARD_ENTRIES, ROLES
from bot.services.csv_export import csv_bytes
from cards import audit as audit_words
from cards import programme as programme_words
from cards import roles as roles_words
from vocabulary.actions.programme import (
    ADD_ORGANISATION,
    GRANT_ROLE,
    GRANT_ROLE_BY_EMAIL,
    NOTICE_MAX_CHARS,
    ORGANISATION_NAME_MAX,
    PUBLISH_NOTICE,
    RENAME_ORGANISATION,
    RESTORE_ORGANISATION,
    RETIRE_ORGANISATION,
    REVOKE_ROLE,
    SAVE_PROGRAMME,
    AddOrganisationPayload,
    RenameOrganisationPayload,
    RestoreOrganisationPayload,
    RetireOrganisationPayload,
    RoleChangePayload,
)
from vocabulary.catalogue import ActionPayload, CardAction
from vocabulary.uk_time import uk_audit_time
from vocabulary.words import Phase, Role

log = logging.getLogger(__name__)

PAGE = f"{PREFIX}/programme"
AUDIT_CSV = f"{PAGE}/audit.csv"
VIEW_ACTION = "desk.programme.view"
AUDIT_CSV_ACTION = "desk.programme.audit_csv"
NOT_RECOGNISED = "The desk did not recognise that form, so nothing was changed. Reload the page and try again."
P = TypeVar("P", bound=ActionPayload)
# One change of the organisations list: one of the four forms' payloads (ProgrammeFeature.change_organisation).
Org = TypeVar("Org", AddOrganisationPayload, RenameOrganisationPayload, RetireOrganisationPayload,
            RestoreOrganisationPayload)


def form_address(action: CardAction[Any]) -> str:
    """Where the form of a card action posts: one address per declared action."""
    return f"{PAGE}/{action.name}"


@dataclass(frozen=True)
class Forms:
    """The form addresses the template posts to, by what they do."""

    save: str = form_address(SAVE_PROGRAMME)
    grant: str = form_address(GRANT_ROLE)
    revoke: str = form_address(REVOKE_ROLE)
    grant_by_email: str = form_address(GRANT_ROLE_BY_EMAIL)
    add: str = form_address(ADD_ORGANISATION)
    rename: str = form_address(RENAME_ORGANISATION)
    retire: str = form_address(RETIRE_ORGANISATION)
    restore: str = form_address(RESTORE_ORGANISATION)
    publish: str = form_address(PUBLISH_NOTICE)


def _desk(request: web.Request) -> Desk:
    return request.app[DESK]


async def render_page(request: web.Request, viewer: Viewer, *, status: str | None = None, http_status: int = 200,
                      draft: str | None = None, confirm: DeletionSoon | None = None,
                      email: str = "") -> web.StreamResponse:
    """The whole page, read fresh, with what the last form did on top (`status`)."""
    desk = _desk(request)
    programme = request.config_dict[PROGRAMME_FEATURE]
    roles = request.config_dict[ROLES]
    service = programme.service
    settings = await service.view()
    roles_view = await roles.roles_view(viewer.person_id)
    organisations = await service.organisations()
    notices = await service.notices()
    if draft is None:
        draft = await programme.current_notice_text()
    entries = await desk.core.roles.audit_entries(AUDIT_CARD_ENTRIES)
    return desk.render(
        request, "programme.html", status=http_status, viewer=viewer, message=status, forms=Forms(),
        audit_csv=AUDIT_CSV, settings=settings, settings_facts=programme_words.programme_facts(settings),
        phases=list(Phase), confirm=confirm, confirm_text=programme_words.deletion_soon_text(
            end_date=confirm.end_date, deletion_date=confirm.deletion_date, days_left=confirm.days_left)
        if confirm else None,
        admins=[row for row in roles_view.rows if row.role == Role.ADMIN],
        facilitators=[row for row in roles_view.rows if row.role == Role.FACILITATOR],
        roles_view=roles_view, roles_notes=roles_words.roles_notes(roles_view), all_roles=list(Role),
        email=email, active=[row for row in organisations if not row.retired],
        retired=[row for row in organisations if row.retired], organisations=organisations,
        notice_facts=programme_words.notice_facts(notices), draft=draft[:NOTICE_MAX_CHARS],
        entries=[(uk_audit_time(line.at), audit_words.audit_facts(line)) for line in entries],
        audit_intro=audit_words.audit_intro(len(entries)),
        words={"programme": programme_words, "roles": roles_words},
        name_max=ORGANISATION_NAME_MAX, notice_max=NOTICE_MAX_CHARS)


async def page(request: web.Request) -> web.StreamResponse:
    viewer = await with_role(request, Role.ADMIN, VIEW_ACTION)
    if not isinstance(viewer, Viewer):
        return viewer
    sealed = request.cookies.get(SAID_COOKIE)
    response = await render_page(request, viewer, status=_desk(request).signer.unseal(viewer.session, sealed))
    if sealed is not None:
        response.headers.add("Set-Cookie", clear_said_cookie_header())  # said once
    return response


def _done(request: web.Request, viewer: Viewer, said: str | None) -> web.StreamResponse:
    """Back to the page, which says `said` once (Post/Redirect/Get)."""
    response = web.HTTPSeeOther(f"{PAGE}#status" if said else PAGE)
    if said:
        response.headers.add("Set-Cookie", said_cookie_header(_desk(request).signer.seal(viewer.session, said)))
    return response


async def _pressed(request: web.Request, action: CardAction[P]) -> tuple[Viewer, P] | web.StreamResponse:
    """The chat's checks for a press of `action`, in the chat's order: the role (audited under the action's
    name when refused), then the form (the desk's CSRF token and our own origin), then the action's own model."""
    viewer = await with_role(request, action.role or Role.ADMIN, action.name)
    if not isinstance(viewer, Viewer):
        return viewer
    desk = _desk(request)
    form = await request.post()
    if not same_origin(request) or not desk.signer.csrf_ok(viewer.session, form.get("csrf")):
        return desk.render(request, "error.html", status=403, viewer=viewer, heading="That did not work",
                           message="The desk did not recognise that form. Reload the page and try again.")
    fields = {name: value for name, value in form.items() if name != "csrf" and isinstance(value, str)}
    try:
        payload = action.model.model_validate({**fields, "action": action.name})
    except ValidationError:
        return await render_page(request, viewer, status=NOT_RECOGNISED, http_status=400)
    return viewer, payload


async def save_settings(request: web.Request) -> web.StreamResponse:
    pressed = await _pressed(request, SAVE_PROGRAMME)
    if not isinstance(pressed, tuple):
        return pressed
    viewer, payload = pressed
    saved = await request.config_dict[PROGRAMME_FEATURE].save_settings(viewer.person_id, payload)
    if saved.confirm is not None:  # a question first: answered on this page
        return await render_page(request, viewer, status=saved.status, confirm=saved.confirm)
    return _done(request, viewer, saved.status)


async def _change_role(request: web.Request, action: CardAction[RoleChangePayload], verb: str) -> web.StreamResponse:
    pressed = await _pressed(request, action)
    if not isinstance(pressed, tuple):
        return pressed
    viewer, payload = pressed
    roles = request.config_dict[ROLES]
    said = await roles.change(viewer.person_id, verb, payload.role, await roles.target(payload.person_id))
    return _done(request, viewer, said)


async def grant_role(request: web.Request) -> web.StreamResponse:
    return await _change_role(request, GRANT_ROLE, "grant")


async def revoke_role(request: web.Request) -> web.StreamResponse:
    return await _change_role(request, REVOKE_ROLE, "revoke")


async def grant_role_by_email(request: web.Request) -> web.StreamResponse:
    pressed = await _pressed(request, GRANT_ROLE_BY_EMAIL)
    if not isinstance(pressed, tuple):
        return pressed
    viewer, payload = pressed
    said = await request.config_dict[ROLES].grant_by_email(viewer.person_id, payload.email, payload.role)
    return _done(request, viewer, said)


async def _change_organisation(request: web.Request, action: CardAction[Org]) -> web.StreamResponse:
    pressed = await _pressed(request, action)
    if not isinstance(pressed, tuple):
        return pressed
    viewer, payload = pressed
    _, said = await request.config_dict[PROGRAMME_FEATURE].change_organisation(viewer.person_id, payload)
    return _done(request, viewer, said)


async def add_organisation(request: web.Request) -> web.StreamResponse:
    return await _change_organisation(request, ADD_ORGANISATION)


async def rename_organisation(request: web.Request) -> web.StreamResponse:
    return await _change_organisation(request, RENAME_ORGANISATION)


async def retire_organisation(request: web.Request) -> web.StreamResponse:
    return await _change_organisation(request, RETIRE_ORGANISATION)


async def restore_organisation(request: web.Request) -> web.StreamResponse:
    return await _change_organisation(request, RESTORE_ORGANISATION)


async def publish_notice(request: web.Request) -> web.StreamResponse:
    pressed = await _pressed(request, PUBLISH_NOTICE)
    if not isinstance(pressed, tuple):
        return pressed
    viewer, payload = pressed
    said, draft = await request.config_dict[PROGRAMME_FEATURE].publish(viewer.person_id, payload)
    if draft is not None:  # not published: the typed text stays in the form
        return await render_page(request, viewer, status=said, draft=draft)
    return _done(request, viewer, said)


async def audit_csv(request: web.Request) -> web.StreamResponse:
    """The whole audit log as the command line exports it; taking the copy is recorded as it is there."""
    viewer = await with_role(request, Role.ADMIN, AUDIT_CSV_ACTION)
    if not isinstance(viewer, Viewer):
        return viewer
    roles = _desk(request).core.roles
    entries = await roles.audit_entries()
    body = csv_bytes(AUDIT_HEADER, audit_rows(entries))
    await roles.record_export(viewer.person_id)
    day = _desk(request).core.clock.now().strftime("%Y-%m-%d")
    return web.Response(body=body, content_type="text/csv", charset="utf-8",
                        headers={"Content-Disposition": f'attachment; filename="hny-inc-audit-{day}.csv"'})


def add_programme_routes(sub: web.Application) -> None:
    """Before `finish_routes`, whose catch-all answers every other address."""
    sub.router.add_get("/programme", page, name="programme")
    sub.router.add_get("/programme/audit.csv", audit_csv, name="programme_audit_csv")
    for action, handler in ((SAVE_PROGRAMME, save_settings), (GRANT_ROLE, grant_role), (REVOKE_ROLE, revoke_role),
                            (GRANT_ROLE_BY_EMAIL, grant_role_by_email), (ADD_ORGANISATION, add_organisation),
                            (RENAME_ORGANISATION, rename_organisation), (RETIRE_ORGANISATION, retire_organisation),
                            (RESTORE_ORGANISATION, restore_organisation), (PUBLISH_NOTICE, publish_notice)):
        sub.router.add_post(form_address(action)[len(PREFIX):], handler, name=f"programme_{action.name}")

"""The facilitators' Sessions pages (issue 22): create and publish a session, change it, cancel it, see who is
coming (and download it as CSV), mark who came. Each page is one of the chat's journeys through the same
services, with the chat's cards shown as pages (bot/desk/card_html.py):

| page | the chat's | service |
|---|---|---|
| `GET/POST /desk/sessions/new` | "new session": form, Preview, Publish, Save as draft | `check`, `preview`, `create` |
| `POST /desk/sessions/{id}/publish` | Publish on the sessions card | `publish` |
| `GET/POST /desk/sessions/{id}/change` | Change, then Save changes | `info`, `change` |
| `GET/POST /desk/sessions/{id}/cancel` | Cancel the session, then confirm | `info`, `cancel` |
| `GET /desk/sessions/{id}/roster`, `…/roster.csv` | Who is coming; Download the list (CSV) | `roster`, `roster_file` |
| `GET/POST /desk/sessions/{id}/attendance` | Mark who came, then Save | `AttendanceService.sheet`, `save` |

Every page checks the facilitator role as the chat's action registry does (`RoleService.require` under the
card action's own name, so a refusal is audited as in chat) and the service checks "manages this session"
(audited too); a refusal is a 403 page, a session that is not there a 404 page, never a 500. Every write is a
form POST from the desk's own origin with the session's CSRF token, and its fields are read by the card
action's own payload model, as a press in Teams is.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Mapping
from typing import Any, TypeVar

from aiohttp import web
from multidict import MultiDictProxy
from pydantic import ValidationError

from bot.desk.card_html import NEW_SESSION_PAGE, ROUTES, SESSIONS_PAGE, Journey, desk_card, route_path
from bot.desk.pages import FORM_NOT_RECOGNISED, SAVED_ALREADY, signed_in, with_role
from bot.desk.sent_forms import EarlierPress
from bot.desk.site import DESK, Handler, Viewer, same_origin
from bot.features.attendance import problem_card, saved_reply, with_form
from bot.features.session_cards import (
    cancel_reply,
    change_form,
    change_reply,
    closed_card,
    publish_reply,
    refusal_card,
)
from bot.features.sessions import ATTENDANCE, SESSIONS, change_form_of
from bot.services.sessions import ActionResult, SessionForm, SessionService
from cards.attendance import PAGE_SAVED, attendance_card
from cards.common import Card
from cards.sessions import ROSTER_FILE_NOTE, cancel_confirm, change_card, preview_card, roster_card, session_form
from dialogs.new_session import FIX_FIRST, NOTHING_SAVED, ONLY_FACILITATORS, saved_card
from vocabulary.actions.sessions import (
    SESSION_ATTENDANCE,
    SESSION_ATTENDANCE_SAVE,
    SESSION_CANCEL,
    SESSION_CANCEL_START,
    SESSION_CHANGE,
    SESSION_CHANGE_START,
    SESSION_PUBLISH,
    SESSION_ROSTER,
    SESSION_ROSTER_CSV,
)
from vocabulary.catalogue import RECORD_ID_MAX, ActionPayload, CardAction
from vocabulary.words import Role

log = logging.getLogger(__name__)

P = TypeVar("P", bound=ActionPayload)
JOURNEY = "desk"  # the journey id the form and preview cards carry; the desk's pages do not read it
NEW_SESSION_ACTION = "session.create"  # the service's own check of the role, audited under this name
_WHOLE = re.compile(r"[0-9]{1,10}")
FORM_FIELD = "form"  # the new-session form's own id, so that it is saved once (bot/desk/sent_forms.py)
_FORM_ID = re.compile(r"[A-Za-z0-9_-]{16,64}")
# Sentences of the chat's cards that are true in Teams only.
CHAT_ONLY = (ROSTER_FILE_NOTE,)


def _service(request: web.Request) -> SessionService:
    return request.config_dict[SESSIONS]


def card_page(request: web.Request, viewer: Viewer, card: Card, *, status: int = 200, journey: Journey | None = None,
              lead: str | None = None) -> web.Response:
    """One of the chat's cards as a page."""
    return request.app[DESK].render(request, "card.html", status=status, viewer=viewer, lead=lead,
                                    card=desk_card(card, journey=journey, leave_out=CHAT_ONLY),
                                    page_name="session")


def not_recognised(request: web.Request, viewer: Viewer | None, status: int) -> web.Response:
    return request.app[DESK].render(request, "error.html", status=status, viewer=viewer,
                                    heading="That did not work", message=FORM_NOT_RECOGNISED)


def _refused(request: web.Request, viewer: Viewer, outcome: str, card: Card) -> web.Response:
    """The chat's answer to a refusal (403) or a session that is not there (404)."""
    return card_page(request, viewer, card, status=403 if outcome == "refused" else 404)


async def posted_form(request: web.Request, role: Role,
                      action: str) -> tuple[Viewer, dict[str, str]] | web.StreamResponse:
    """A write: signed in, from the desk's own origin with the session's CSRF token, then the role checked as the
    chat checks it (a refusal audited under `action`). Returns the form's fields (the token left out)."""
    viewer = await signed_in(request)
    if not isinstance(viewer, Viewer):
        return viewer
    form = await request.post()
    if not same_origin(request) or not request.app[DESK].signer.csrf_ok(viewer.session, form.get("csrf")):
        return not_recognised(request, viewer, 403)
    checked = await with_role(request, role, action)
    if not isinstance(checked, Viewer):
        return checked
    return checked, form_fields(form)


def form_fields(form: MultiDictProxy[Any]) -> dict[str, str]:
    """Text fields by name; a name given more than once (communities' checkboxes) is joined by commas, as the
    card's multi-select sends it."""
    fields: dict[str, list[str]] = {}
    for name, value in form.items():
        if name != "csrf" and isinstance(value, str):
            fields.setdefault(name, []).append(value)
    return {name: ",".join(values) for name, values in fields.items()}


def _payload(action: CardAction[P], session_id: int, fields: Mapping[str, str]) -> P | None:
    """The fields as the card action's own payload model reads a press (unknown fields refused). The button's
    own data (a change number, a page) was written into the card as whole numbers and comes back from a hidden
    field as text: it is read back as a number, and anything else is refused by the model."""
    values: dict[str, Any] = dict(fields)
    for name, spec in action.model.model_fields.items():
        value = values.get(name)
        if spec.annotation is int and isinstance(value, str) and _WHOLE.fullmatch(value):
            values[name] = int(value)
    try:
        return action.model.model_validate({**values, "action": action.name, "session_id": session_id})
    except ValidationError as exc:
        log.info("desk: refused a form for %s: %d problems", action.name, exc.error_count())
        return None


def _session_id(request: web.Request) -> int:
    """The session in the address; one no record can have (0, or past the 32-bit ids) is no page at all."""
    session_id = int(request.match_info["session_id"])
    if not 1 <= session_id <= RECORD_ID_MAX:
        raise web.HTTPNotFound()
    return session_id


async def _facilitator(request: web.Request, action: CardAction[Any]) -> Viewer | web.StreamResponse:
    assert action.role is not None
    return await with_role(request, action.role, action.name)


async def _write(request: web.Request, action: CardAction[P]) -> tuple[Viewer, P] | web.StreamResponse:
    assert action.role is not None
    posted = await posted_form(request, action.role, action.name)
    if not isinstance(posted, tuple):
        return posted
    viewer, fields = posted
    payload = _payload(action, _session_id(request), fields)
    if payload is None:
        return not_recognised(request, viewer, 400)
    return viewer, payload


# -- a new session: the chat's form, preview and publish ----------------------------------------------------------


def _form_page(request: web.Request, viewer: Viewer, answers: Mapping[str, str], errors: dict[str, str], *,
               form: str, lead: str | None = None) -> web.Response:
    return card_page(request, viewer, session_form(JOURNEY, dict(answers), errors),
                     journey=Journey(NEW_SESSION_PAGE, {FORM_FIELD: form}), lead=lead)


def _form_id(fields: Mapping[str, str]) -> str:
    """The id this new-session form was drawn with (a page from before forms had one gets a new id)."""
    form = fields.get(FORM_FIELD, "")
    return form if _FORM_ID.fullmatch(form) else secrets.token_urlsafe(16)


async def new_session_page(request: web.Request) -> web.StreamResponse:
    viewer = await with_role(request, Role.FACILITATOR, "desk.session.new")
    if not isinstance(viewer, Viewer):
        return viewer
    return _form_page(request, viewer, {}, {}, form=secrets.token_urlsafe(16))


async def new_session_post(request: web.Request) -> web.StreamResponse:
    """The journey's buttons: Preview (nav "next"), Back, Publish and Save as draft, as dialogs/new_session.py
    takes them; every step checks the answers again with the service's own form check."""
    posted = await posted_form(request, Role.FACILITATOR, NEW_SESSION_ACTION)
    if not isinstance(posted, tuple):
        return posted
    viewer, fields = posted
    answers, form = SessionForm.from_dict(fields), _form_id(fields)
    nav = fields.get("nav")
    if nav == "back":
        return _form_page(request, viewer, answers.to_dict(), {}, form=form)
    if nav not in ("next", "publish", "draft"):
        return not_recognised(request, viewer, 400)
    service = _service(request)
    checked = await service.check(viewer.person_id, answers)
    if checked.draft is None or not checked.ok:
        # Field names only in the log: the answers themselves may be personal (e-mails).
        log.info("desk: new session form needs fixing: %s", ",".join(sorted(checked.errors)))
        return _form_page(request, viewer, answers.to_dict(), checked.errors, form=form,
                          lead=None if nav == "next" else FIX_FIRST)
    checked_draft = checked.draft
    if nav == "next":
        preview = await service.preview(checked_draft)
        return card_page(request, viewer, preview_card(JOURNEY, preview),
                         journey=Journey(NEW_SESSION_PAGE, {**answers.to_dict(), FORM_FIELD: form}))
    # Publish or Save: once per form, whichever instance a double click reaches.
    outcome = await request.app[DESK].sent_forms.once(
        f"{form}:{viewer.person_id}", lambda: service.create(viewer.person_id, checked_draft, publish=nav == "publish"),
        lambda made: made.session.session_id if made.session is not None else None)
    if isinstance(outcome, EarlierPress):  # the browser shows this answer, not the first press's
        return web.HTTPSeeOther(f"{SESSIONS_PAGE}?{SAVED_ALREADY}")
    if outcome.outcome == "refused":
        return request.app[DESK].render(request, "error.html", status=403, viewer=viewer, heading=NOTHING_SAVED,
                                        message=ONLY_FACILITATORS)
    if outcome.session is None:
        return _form_page(request, viewer, answers.to_dict(), {}, form=form, lead=outcome.detail or NOTHING_SAVED)
    return card_page(request, viewer, saved_card(outcome.session.title, published=nav == "publish",
                                                 invited=outcome.invited))


# -- one session: publish, change, cancel -------------------------------------------------------------------------


async def publish(request: web.Request) -> web.StreamResponse:
    written = await _write(request, SESSION_PUBLISH)
    if not isinstance(written, tuple):
        return written
    viewer, payload = written
    result = await _service(request).publish(viewer.person_id, payload.session_id)
    answered = _answer(request, viewer, result)
    return answered if answered is not None else card_page(request, viewer, publish_reply(result))


def _answer(request: web.Request, viewer: Viewer, result: ActionResult) -> web.Response | None:
    """The chat's answer when the service refused or found no session; None otherwise. (A response is never
    tested for truth: aiohttp's responses are mappings, empty ones false.)"""
    refusal = refusal_card(result)
    return None if refusal is None else _refused(request, viewer, result.outcome, refusal)


def _refusal_of(request: web.Request, viewer: Viewer, result: ActionResult) -> web.Response:
    """A read the service answered with a refusal or no session (a result that carries no roster)."""
    answered = _answer(request, viewer, result)
    return answered if answered is not None else not_recognised(request, viewer, 400)


async def _open_for_change(request: web.Request, action: CardAction[Any],
                           audited_as: str) -> tuple[Viewer, ActionResult] | web.StreamResponse:
    """The session for its change or cancel page, as the chat opens its card (refused, gone, cancelled or
    started: the chat's answer instead)."""
    viewer = await _facilitator(request, action)
    if not isinstance(viewer, Viewer):
        return viewer
    result = await _service(request).info(viewer.person_id, _session_id(request), audited_as)
    answered = _answer(request, viewer, result)
    if answered is not None:
        return answered
    assert result.session is not None
    closed = closed_card(result.session)
    if closed is not None:
        return card_page(request, viewer, closed)
    return viewer, result


async def change_page(request: web.Request) -> web.StreamResponse:
    opened = await _open_for_change(request, SESSION_CHANGE_START, "session.change.open")
    if not isinstance(opened, tuple):
        return opened
    viewer, result = opened
    assert result.session is not None
    return card_page(request, viewer, change_card(result.session, {}, change_form(result.session)))


async def change(request: web.Request) -> web.StreamResponse:
    written = await _write(request, SESSION_CHANGE)
    if not isinstance(written, tuple):
        return written
    viewer, payload = written
    form = change_form_of(payload)
    result = await _service(request).change(viewer.person_id, payload.session_id, payload.change_no, form)
    answered = _answer(request, viewer, result)
    return answered if answered is not None else card_page(request, viewer, change_reply(result, form))


async def cancel_page(request: web.Request) -> web.StreamResponse:
    opened = await _open_for_change(request, SESSION_CANCEL_START, "session.cancel.open")
    if not isinstance(opened, tuple):
        return opened
    viewer, result = opened
    assert result.session is not None
    return card_page(request, viewer, cancel_confirm(result.session))


async def cancel(request: web.Request) -> web.StreamResponse:
    written = await _write(request, SESSION_CANCEL)
    if not isinstance(written, tuple):
        return written
    viewer, payload = written
    result = await _service(request).cancel(viewer.person_id, payload.session_id, payload.change_no)
    answered = _answer(request, viewer, result)
    return answered if answered is not None else card_page(request, viewer, cancel_reply(result))


# -- who is coming ------------------------------------------------------------------------------------------------


async def roster(request: web.Request) -> web.StreamResponse:
    viewer = await _facilitator(request, SESSION_ROSTER)
    if not isinstance(viewer, Viewer):
        return viewer
    result = await _service(request).roster(viewer.person_id, _session_id(request))
    if isinstance(result, ActionResult):
        return _refusal_of(request, viewer, result)
    return card_page(request, viewer, roster_card(result.session, list(result.lines)))


async def roster_csv(request: web.Request) -> web.StreamResponse:
    """The chat's roster file (the service's CSV, byte for byte), audited as the chat's export."""
    viewer = await _facilitator(request, SESSION_ROSTER_CSV)
    if not isinstance(viewer, Viewer):
        return viewer
    result = await _service(request).roster_file(viewer.person_id, _session_id(request), "session.roster.export")
    if isinstance(result, ActionResult):
        return _refusal_of(request, viewer, result)
    return web.Response(body=result.content, content_type="text/csv", charset="utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{result.name}"'})


# -- who came -----------------------------------------------------------------------------------------------------


async def attendance_page(request: web.Request) -> web.StreamResponse:
    viewer = await _facilitator(request, SESSION_ATTENDANCE)
    if not isinstance(viewer, Viewer):
        return viewer
    result = await request.config_dict[ATTENDANCE].sheet(viewer.person_id, _session_id(request))
    problem = problem_card(result)
    if problem is not None:
        return _refused(request, viewer, result.outcome, problem) if result.outcome in ("refused", "not_found") \
            else card_page(request, viewer, problem)
    assert result.sheet is not None
    return card_page(request, viewer, attendance_card(with_form(result.sheet)))


async def attendance_save(request: web.Request) -> web.StreamResponse:
    written = await _write(request, SESSION_ATTENDANCE_SAVE)
    if not isinstance(written, tuple):
        return written
    viewer, payload = written
    result = await request.config_dict[ATTENDANCE].save(viewer.person_id, payload.session_id, payload.page,
                                                        payload.marks(), payload.feedback_url)
    problem = problem_card(result)
    if problem is not None:
        return _refused(request, viewer, result.outcome, problem) if result.outcome in ("refused", "not_found") \
            else card_page(request, viewer, problem)
    assert result.sheet is not None
    if result.outcome == "next_page":
        return card_page(request, viewer, attendance_card(with_form(result.sheet, note=PAGE_SAVED)))
    return card_page(request, viewer, saved_reply(result, payload))


def add_session_routes(sub: web.Application) -> None:
    """Before `finish_routes` (its catch-all 404 comes last)."""
    router = sub.router
    router.add_get(route_path(NEW_SESSION_PAGE), new_session_page, name="session_new")
    router.add_post(route_path(NEW_SESSION_PAGE), new_session_post, name="session_new_post")
    pages: list[tuple[str, Handler | None, Handler | None]] = [
        (SESSION_PUBLISH.name, None, publish),
        (SESSION_CHANGE_START.name, change_page, None), (SESSION_CHANGE.name, None, change),
        (SESSION_CANCEL_START.name, cancel_page, None), (SESSION_CANCEL.name, None, cancel),
        (SESSION_ROSTER.name, roster, None), (SESSION_ROSTER_CSV.name, roster_csv, None),
        (SESSION_ATTENDANCE.name, attendance_page, None), (SESSION_ATTENDANCE_SAVE.name, None, attendance_save),
    ]
    for name, get, post in pages:
        _, address = ROUTES[name]
        if get is not None:
            router.add_get(route_path(address), get, name=name)
        if post is not None:
            router.add_post(route_path(address), post, name=f"{name}_post")

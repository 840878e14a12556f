"""The facilitators' Announcements pages (issue 22): the chat's `announce` journey on pages (write it with a live
preview of the card people will get, choose who gets it, check it with the audience's size rounded, choose when
with quiet hours, send), then the author's progress card, kept up to date by polling, with Stop sending, and the
history of their announcements with each one's final report (admins: everyone's).

| page | the chat's | service |
|---|---|---|
| `GET /desk/announcements` | the progress cards in the author's chat | `history` |
| `GET/POST /desk/announcements/new` | `announce`: write, who, check and when, send | `check_draft`, `options`, |
|  |  | `check_audience`, `preview`, `timing`, `create` |
| `POST /desk/announcements/sample` | (the desk's live preview while writing) | `check_draft` |
| `POST /desk/announcements/audience` | (the desk's live audience size while choosing) | `check_audience`, `preview` |
| `GET /desk/announcements/{id}`, `…/progress` | the author's progress card | `report_for` |
| `POST /desk/announcements/{id}/stop` | Stop sending | `stop` |

Every step checks the facilitator role as the chat's journey does at every press (`RoleService.require` under
"announce", audited when refused); the service checks everything again when it stores the announcement. Each
page is the chat's own card read into HTML (bot/desk/card_html.py), so the fields, labels, messages, figures
(rounded by the one suppression function, design §5) and buttons are the chat's. The journey keeps nothing on
the server: its answers so far travel in the form's hidden fields and are checked again at every step, read by
the chat journey's own input models (dialogs/announce.py). Every write is a POST from the desk's own origin with
the session's CSRF token. Progress is polled by desk.js (no inline script); without script the page has a link
to look again.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from pydantic import ValidationError

from bot.desk.card_html import (
    ANNOUNCEMENTS_PAGE,
    NEW_ANNOUNCEMENT_PAGE,
    ONE_ANNOUNCEMENT,
    ROUTES,
    DeskCard,
    DeskFacts,
    DeskInput,
    DeskSample,
    DeskText,
    Journey,
    desk_card,
    route_path,
    sample_card,
)
from bot.desk.pages import with_role
from bot.desk.sent_forms import EarlierPress
from bot.desk.sessions_pages import not_recognised, posted_form
from bot.desk.site import DESK, PREFIX, Viewer
from bot.features.announcements import ALREADY_TEXT, ANNOUNCEMENTS, GONE, NOT_YOURS, STOPPED_TEXT
from bot.services.announcements import AnnouncementService, AudienceChoice, When, check_draft, progress_signature
from bot.services.announcements.audiences import split_list
from cards.announcements import (
    ROUNDING_NOTE,
    AnnouncementView,
    ConfirmView,
    ProgressView,
    announcement_card,
    audience_card,
    compose_card,
    confirm_card,
    created_text,
    preview_card,
    progress_card,
)
from dialogs.announce import (
    AUDIENCE_AGAIN,
    QUIET_STARTED,
    REFUSED,
    STEPS,
    TIME_AGAIN,
    AnnounceFlow,
    AudienceInputs,
    ComposeInputs,
    WhenInputs,
)
from vocabulary.actions.announcements import START_ANNOUNCEMENT, STOP_SENDING_ANNOUNCEMENT, AnnouncementRef
from vocabulary.catalogue import RECORD_ID_MAX
from vocabulary.words import Role

log = logging.getLogger(__name__)

JOURNEY_ROLE_ACTION = START_ANNOUNCEMENT.name  # "announce": the chat journey checks the role under this name
VIEW_ACTION = "desk.announcements.view"
SAMPLE_PAGE = f"{PREFIX}/announcements/sample"
AUDIENCE_PAGE = f"{PREFIX}/announcements/audience"
AUDIENCE_WAITS = "When you choose who should get it, how many people that is shows here."
POLL_MS = 3000  # the announcements tick's own period (bot.features.announcements.TICK_SECONDS)
NOT_YOURS_TO_SEE = ("Only the facilitator who sent this announcement, or an admin, can see how it is going. "
                    "Nothing was changed.")
SAMPLE_WAITS = ("When the announcement has a title and a message, its preview shows here. You will see it again "
                "before you send it.")
_JOURNEY_ID = re.compile(r"[0-9a-f]{32}")
_ENVELOPE = ("journey", "step", "nav", "quiet")
_NAMES = frozenset((*ComposeInputs.model_fields, *AudienceInputs.model_fields, *WhenInputs.model_fields, *_ENVELOPE))
_DONE: dict[str, str] = {"stopped": STOPPED_TEXT, "already": ALREADY_TEXT}


def _service(request: web.Request) -> AnnouncementService:
    return request.config_dict[ANNOUNCEMENTS]


@dataclass(frozen=True)
class AnnouncementAnswers:
    """The journey's answers so far, as the chat journey's own input models read them."""

    journey: str
    compose: ComposeInputs
    audience: AudienceInputs
    when: WhenInputs

    @classmethod
    def read(cls, fields: Mapping[str, str]) -> AnnouncementAnswers | None:
        """None for a form no page of the journey sends (an unknown field, a wrong type, a huge text)."""
        if not set(fields) <= _NAMES:
            return None
        journey = fields.get("journey", "")
        if not _JOURNEY_ID.fullmatch(journey):
            return None
        try:
            return cls(journey, ComposeInputs.model_validate(_only(fields, ComposeInputs.model_fields)),
                       AudienceInputs.model_validate(_only(fields, AudienceInputs.model_fields)),
                       WhenInputs.model_validate(_only(fields, WhenInputs.model_fields)))
        except ValidationError as exc:
            log.info("desk: refused an announcement form: %d problems", exc.error_count())
            return None

    @classmethod
    def new(cls) -> AnnouncementAnswers:
        return cls(uuid.uuid4().hex, ComposeInputs(), AudienceInputs(), WhenInputs())

    def hidden(self, step: str) -> dict[str, str]:
        """Everything so far, for the hidden fields of the page of `step` (its own inputs left out by the page)."""
        return {**self.compose.model_dump(), **self.audience.model_dump(), **self.when.model_dump(),
                "journey": self.journey, "step": step}

    def draft(self) -> tuple[AnnouncementView | None, dict[str, str]]:
        c = self.compose
        return check_draft(c.title, c.body, c.link_url, c.link_title)

    def chosen(self) -> dict[str, list[str]]:
        """The audience as the audience card shows it chosen (as dialogs/announce.py keeps it)."""
        return {name: split_list(getattr(self.audience, name)) for name in AudienceInputs.model_fields}

    def when_choice(self) -> When:
        return When(self.when.when, self.when.date, self.when.time)

    async def choice(self, service: AnnouncementService) -> tuple[AudienceChoice | None, dict[str, str]]:
        a = self.audience
        return await service.check_audience(a.channels, a.spaces, a.phases, a.sessions, a.organisations,
                                            a.session_people)


def _only(fields: Mapping[str, str], names: Mapping[str, Any]) -> dict[str, str]:
    return {name: value for name, value in fields.items() if name in names}


def _announcement_id(request: web.Request) -> int:
    """The announcement in the address; one no record can have is no page at all."""
    announcement_id = int(request.match_info["announcement_id"])
    if not 1 <= announcement_id <= RECORD_ID_MAX:
        raise web.HTTPNotFound()
    return announcement_id


def _problem(request: web.Request, viewer: Viewer, status: int, message: str) -> web.Response:
    return request.app[DESK].render(request, "error.html", status=status, viewer=viewer,
                                    heading="Sorry, that did not work", message=message)


# -- the journey ---------------------------------------------------------------------------------------------------


def _sample(draft: AnnouncementView | None) -> DeskCard | None:
    """The card volunteers will get (with its "Stop announcements" button), as a page shows it."""
    return None if draft is None else sample_card(announcement_card(draft, to_people=True), top=3)


async def _step_page(request: web.Request, viewer: Viewer, answers: AnnouncementAnswers, at: str,
                     errors: dict[str, str], *, lead: str | None = None) -> web.Response:
    """The chat's card of step `at`, drawn from the answers so far (as AnnounceFlow._show draws it)."""
    service = _service(request)
    journey = answers.journey
    quiet_hours = AnnounceFlow(service).quiet_hours  # the chat's own wording of the hours
    sample: DeskCard | None = None
    who: tuple[DeskText | DeskFacts | DeskInput | DeskSample, ...] | None = None
    card: dict[str, Any]
    if at == "compose":
        card = compose_card(journey, answers.compose.model_dump(), errors)
        sample = _sample(answers.draft()[0])
    elif at == "audience":
        card = audience_card(journey, await service.options(), answers.chosen(), errors)
        draft, choice = answers.draft()[0], (await answers.choice(service))[0]
        if draft is not None and choice is not None:  # back from the check page: who it was
            who = await _who(service, answers, draft, choice)
    else:
        draft = answers.draft()[0]
        choice = (await answers.choice(service))[0]
        if draft is None or choice is None:
            return await _step_page(request, viewer, answers, "compose" if draft is None else "audience",
                                    answers.draft()[1] if draft is None else (await answers.choice(service))[1])
        summary = await service.preview(choice)
        timing = service.timing(answers.when_choice())[0] if at == "confirm" else None
        if at == "confirm" and timing is not None:
            card = confirm_card(journey, ConfirmView(
                announcement=draft, audience=summary, send_now=timing.now, at=timing.at, quiet=timing.quiet,
                quiet_end=timing.quiet_end, quiet_hours=quiet_hours))
        else:
            if at == "confirm":  # the chosen time passed while the page waited: choose again
                at, errors = "preview", service.timing(answers.when_choice())[1]
            when = {"mode": answers.when.when, "date": answers.when.date, "time": answers.when.time}
            card = preview_card(journey, draft, summary, when, errors, quiet_hours=quiet_hours)
    page = desk_card(card, journey=Journey(NEW_ANNOUNCEMENT_PAGE, answers.hidden(at), ANNOUNCEMENTS_PAGE))
    return request.app[DESK].render(request, "announce.html", viewer=viewer, card=page, lead=lead, step=at,
                                    sample=sample, sample_waits=SAMPLE_WAITS, sample_address=SAMPLE_PAGE,
                                    audience_address=AUDIENCE_PAGE, who=who, problems=(),
                                    audience_waits=AUDIENCE_WAITS)


async def new_announcement_page(request: web.Request) -> web.StreamResponse:
    viewer = await with_role(request, Role.FACILITATOR, JOURNEY_ROLE_ACTION)
    if not isinstance(viewer, Viewer):
        return viewer
    return await _step_page(request, viewer, AnnouncementAnswers.new(), "compose", {})


async def new_announcement_post(request: web.Request) -> web.StreamResponse:
    """The journey's buttons (Next, Preview, Back, Send…), as dialogs/announce.py takes them: each step checks its
    answers and those before it again with the service's own checks."""
    posted = await posted_form(request, Role.FACILITATOR, JOURNEY_ROLE_ACTION)
    if not isinstance(posted, tuple):
        return posted
    viewer, fields = posted
    answers = AnnouncementAnswers.read(fields)
    at, nav = fields.get("step"), fields.get("nav")
    if answers is None or at not in STEPS:
        return not_recognised(request, viewer, 400)
    service = _service(request)
    if nav == "back":
        return await _step_page(request, viewer, answers, STEPS[max(0, STEPS.index(at) - 1)], {})
    if (at, nav) not in (("compose", "next"), ("audience", "next"), ("preview", "next"), ("confirm", "send")):
        return not_recognised(request, viewer, 400)
    draft, errors = answers.draft()
    if draft is None or at == "compose":
        if errors:  # input names only in the log: the text itself is the author's
            log.info("desk: announcement draft needs fixing: %s", ",".join(sorted(errors)))
        return await _step_page(request, viewer, answers, "compose" if errors else "audience", errors)
    choice, errors = await answers.choice(service)
    if choice is None or at == "audience":
        return await _step_page(request, viewer, answers, "audience" if errors else "preview", errors)
    timing, errors = service.timing(answers.when_choice())
    if timing is None or at == "preview":
        return await _step_page(request, viewer, answers, "preview" if errors else "confirm", errors)
    quiet = fields.get("quiet")
    return await _send(request, viewer, answers, draft, choice, quiet if quiet in ("wait", "confirm") else None)


async def _send(request: web.Request, viewer: Viewer, answers: AnnouncementAnswers, draft: AnnouncementView,
                choice: AudienceChoice, quiet: str | None) -> web.StreamResponse:
    """Store it as the chat's Send does; then the announcement's own page (Post/Redirect/Get, so a reload sends
    nothing). A journey sent already (a second press, a reload of the last step) goes to what it sent."""
    created = await request.app[DESK].sent_forms.once(
        f"{answers.journey}:{viewer.person_id}",
        lambda: _service(request).create(viewer.person_id, draft, choice, answers.when_choice(), quiet),
        lambda created: created.announcement_id if created.outcome == "done" else None)
    if isinstance(created, EarlierPress):  # sent already, from this instance or another
        return web.HTTPSeeOther(ANNOUNCEMENTS_PAGE if created.made_id is None else _address(created.made_id))
    if created.outcome == "done" and created.announcement_id is not None and created.timing is not None:
        return web.HTTPSeeOther(_address(created.announcement_id,
                                         sent="now" if created.timing.now else "later"))
    if created.outcome == "refused":
        return _problem(request, viewer, 403, REFUSED)
    if created.outcome == "quiet":
        return await _step_page(request, viewer, answers, "preview", {}, lead=QUIET_STARTED)
    if created.outcome == "time":
        return await _step_page(request, viewer, answers, "preview", created.errors, lead=TIME_AGAIN)
    return await _step_page(request, viewer, answers, "audience", created.errors, lead=AUDIENCE_AGAIN)


async def sample(request: web.Request) -> web.StreamResponse:
    """The live preview while writing (desk.js posts the form here as the author types): the card people will
    get, or a sentence while the draft is not complete. A piece of a page, not a page."""
    posted = await posted_form(request, Role.FACILITATOR, JOURNEY_ROLE_ACTION)
    if not isinstance(posted, tuple):
        return posted
    viewer, fields = posted
    answers = AnnouncementAnswers.read(fields)
    if answers is None:
        return not_recognised(request, viewer, 400)
    desk = request.app[DESK]
    text = desk.templates.get_template("_sample.html").render(sample=_sample(answers.draft()[0]),
                                                              sample_waits=SAMPLE_WAITS)
    return web.Response(text=text, content_type="text/html", charset="utf-8")


async def _who(service: AnnouncementService, answers: AnnouncementAnswers, draft: AnnouncementView,
               choice: AudienceChoice) -> tuple[DeskText | DeskFacts | DeskInput | DeskSample, ...]:
    """The check card's "Who gets it" rows (people rounded, design §5) and its rounding note, read from the
    chat's own check card, so the desk says it in the same words."""
    summary = await service.preview(choice)
    read = desk_card(preview_card(answers.journey, draft, summary, {}, {}, quiet_hours=""))
    rows = next(block for block in read.blocks if isinstance(block, DeskFacts))
    return (rows, DeskText("note", ROUNDING_NOTE)) if summary.people is not None else (rows,)


async def audience_size(request: web.Request) -> web.StreamResponse:
    """While choosing who should get it (desk.js posts the audience form here as boxes are ticked): who that is
    and how many people, rounded as on the check card, or the chat's message about the choice. A piece of a
    page, not a page."""
    posted = await posted_form(request, Role.FACILITATOR, JOURNEY_ROLE_ACTION)
    if not isinstance(posted, tuple):
        return posted
    viewer, fields = posted
    answers = AnnouncementAnswers.read(fields)
    if answers is None:
        return not_recognised(request, viewer, 400)
    service = _service(request)
    draft = answers.draft()[0]
    choice, errors = await answers.choice(service)
    who = await _who(service, answers, draft, choice) if draft is not None and choice is not None else None
    text = request.app[DESK].templates.get_template("_audience_size.html").render(
        who=who, problems=tuple(errors.values()), audience_waits=AUDIENCE_WAITS)
    return web.Response(text=text, content_type="text/html", charset="utf-8")


# -- one announcement: its progress card, Stop sending -------------------------------------------------------------


def _address(announcement_id: int, **query: str) -> str:
    address = ONE_ANNOUNCEMENT.format(announcement_id=announcement_id)
    return f"{address}?{urlencode(query)}" if query else address


def _progress(view: ProgressView, *, top: int = 1, leave_out: tuple[str, ...] = ()) -> DeskCard:
    return desk_card(progress_card(view), top=top, leave_out=leave_out)


async def _report(request: web.Request) -> tuple[Viewer, ProgressView] | web.StreamResponse:
    viewer = await with_role(request, Role.FACILITATOR, VIEW_ACTION)
    if not isinstance(viewer, Viewer):
        return viewer
    report = await _service(request).report_for(viewer.person_id, _announcement_id(request), VIEW_ACTION)
    if report == "missing":
        return _problem(request, viewer, 404, GONE)
    if report == "not_yours":
        return _problem(request, viewer, 403, NOT_YOURS_TO_SEE)
    return viewer, report


def _lead(request: web.Request, view: ProgressView) -> str | None:
    """What the page says first after Send or Stop sending (the chat's replies), from the address of the
    redirect to it: words, never anything personal."""
    sent = request.query.get("sent")
    if sent in ("now", "later"):
        return created_text(sent == "now", view.send_at, view.waits_for_quiet_hours)
    return _DONE.get(request.query.get("done", ""))


async def announcement_page(request: web.Request) -> web.StreamResponse:
    reported = await _report(request)
    if not isinstance(reported, tuple):
        return reported
    viewer, view = reported
    return request.app[DESK].render(request, "announcement.html", viewer=viewer, card=_progress(view), view=view,
                                    signature=progress_signature(view), lead=_lead(request, view),
                                    poll=f"{_address(view.announcement_id)}/progress",
                                    poll_ms=POLL_MS, again=_address(view.announcement_id))


async def progress_piece(request: web.Request) -> web.StreamResponse:
    """The progress card alone, for desk.js to poll (the page's own card, drawn again)."""
    reported = await _report(request)
    if not isinstance(reported, tuple):
        return reported
    viewer, view = reported
    text = request.app[DESK].templates.get_template("_progress.html").render(
        card=_progress(view), view=view, viewer=viewer, signature=progress_signature(view))
    return web.Response(text=text, content_type="text/html", charset="utf-8")


async def stop(request: web.Request) -> web.StreamResponse:
    """Stop sending, as the progress card's button: the role under the card action's name, its payload model,
    then the service, which lets only the author or an admin stop it (audited)."""
    assert STOP_SENDING_ANNOUNCEMENT.role is not None
    posted = await posted_form(request, STOP_SENDING_ANNOUNCEMENT.role, STOP_SENDING_ANNOUNCEMENT.name)
    if not isinstance(posted, tuple):
        return posted
    viewer, fields = posted
    if {"action", "announcement_id"} & set(fields):  # the address names the announcement, nothing else does
        return not_recognised(request, viewer, 400)
    try:
        payload = AnnouncementRef.model_validate({**fields, "action": STOP_SENDING_ANNOUNCEMENT.name,
                                                  "announcement_id": _announcement_id(request)})
    except ValidationError as exc:
        log.info("desk: refused a form for %s: %d problems", STOP_SENDING_ANNOUNCEMENT.name, exc.error_count())
        return not_recognised(request, viewer, 400)
    result = await _service(request).stop(viewer.person_id, payload.announcement_id)
    if result.outcome == "not_yours":
        return _problem(request, viewer, 403, NOT_YOURS)
    if result.outcome == "missing":
        return _problem(request, viewer, 404, GONE)
    return web.HTTPSeeOther(_address(payload.announcement_id, done=result.outcome))


# -- the history ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HistoryEntry:
    view: ProgressView
    card: DeskCard
    address: str


async def announcements(request: web.Request) -> web.StreamResponse:
    """The latest announcements the facilitator sent (admins: everyone's), each with its progress card or final
    report, suppressed as the chat's (design §5)."""
    viewer = await with_role(request, Role.FACILITATOR, VIEW_ACTION)
    if not isinstance(viewer, Viewer):
        return viewer
    views = await _service(request).history(viewer.person_id)
    entries = []
    for view in views:
        card = _progress(view, top=3, leave_out=(view.title,))
        # "Send another announcement" once, at the top of the page, not under every report.
        buttons = tuple(button for button in card.buttons if button.href != NEW_ANNOUNCEMENT_PAGE)
        entries.append(HistoryEntry(view, DeskCard(card.title, card.blocks, card.form, buttons),
                                    _address(view.announcement_id)))
    new = desk_card(compose_card("", {}, {})).title  # "New announcement", as the journey's first card says
    return request.app[DESK].render(request, "announcements.html", viewer=viewer, entries=entries,
                                    new_announcement=(new, NEW_ANNOUNCEMENT_PAGE))


def add_announcement_routes(sub: web.Application) -> None:
    """Before `finish_routes` (its catch-all 404 comes last)."""
    router = sub.router
    router.add_get(route_path(ANNOUNCEMENTS_PAGE), announcements, name="announcements")
    router.add_get(route_path(NEW_ANNOUNCEMENT_PAGE), new_announcement_page, name="announcement_new")
    router.add_post(route_path(NEW_ANNOUNCEMENT_PAGE), new_announcement_post, name="announcement_new_post")
    router.add_post(route_path(SAMPLE_PAGE), sample, name="announcement_sample")
    router.add_post(route_path(AUDIENCE_PAGE), audience_size, name="announcement_audience")
    router.add_get(route_path(ONE_ANNOUNCEMENT), announcement_page, name="announcement")
    router.add_get(route_path(f"{ONE_ANNOUNCEMENT}/progress"), progress_piece, name="announcement_progress")
    _, stop_address = ROUTES[STOP_SENDING_ANNOUNCEMENT.name]
    router.add_post(route_path(stop_address), stop, name=f"{STOP_SENDING_ANNOUNCEMENT.name}_post")

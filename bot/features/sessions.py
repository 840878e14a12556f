"""Sessions and invitations (design §4; issues 6 and 7): the facilitator's `new session` journey and `sessions`
list (change, cancel, roster and its CSV file, publish a draft, mark who came), the invitation card's replies,
"my sessions", reminders before the start and thank-yous after it.

Every facilitator action is checked twice: the facilitator role by the command router and the action
registry (a refusal is audited there), then "manages this session" by the service (also audited). The
invitation's Accept and Decline act for the person who pressed, whoever the card was sent to: the person is
always the sender Teams authenticated, never a payload field (the payload models forbid extra fields).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import asdict
from typing import Any, Literal
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web
from botbuilder.core import InvokeResponse
from botbuilder.schema import Activity, ActivityTypes, Attachment
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from bot.actions import ActionPayload
from bot.features import Wiring
from bot.loopback import is_loopback_http
from bot.services.attendance import PAGE_SIZE, AttendanceResult, AttendanceService, Sheet, ThanksState
from bot.services.reminders import ReminderService, ReminderState
from bot.services.roles import Role
from bot.services.sessions import (
    ActionResult,
    InvitationState,
    ReplyResult,
    SessionForm,
    SessionInfo,
    SessionService,
)
from bot.turns import Turn
from cards.attendance import (
    ACTION_OPEN,
    ACTION_SAVE,
    CAME,
    DID_NOT_COME,
    MARK_PREFIX,
    PAGE_SAVED,
    AttendanceLine,
    AttendanceView,
    ThanksView,
    attendance_card,
    attendance_closed,
    attendance_saved,
    attendance_too_early,
    thanks_card,
)
from cards.basics import notice
from cards.invitation import (
    UK,
    VERB_ACCEPT,
    VERB_DECLINE,
    VERB_RESEND,
    VERB_SHOW,
    InvitationView,
    ReminderView,
    cancelled_card,
    changed_card,
    invitation_card,
    my_sessions_card,
    no_longer_matching_card,
    promoted_card,
    reminder_card,
    reply_confirmation,
)
from cards.sessions import (
    Figures,
    RosterLine,
    SessionView,
    cancel_confirm,
    cancelled_done,
    change_card,
    changed_done,
    closed_for_changes,
    created_card,
    not_yours,
    roster_card,
    session_gone,
    sessions_list,
    stale_change,
)
from dialogs.new_session import DIALOG_ID, NEW_SESSION_PHRASES, SESSIONS_PHRASES, NewSessionDialog

log = logging.getLogger(__name__)

# The services, for the CLI, benchmarks and tests.
SESSIONS = web.AppKey("sessions", SessionService)
REMINDERS = web.AppKey("reminders", ReminderService)
ATTENDANCE = web.AppKey("attendance", AttendanceService)
# How often reminders are looked for. A reminder goes at most this late; restarts lose none (they are in the
# database, see bot/services/reminders.py).
REMINDER_TICK_SECONDS = 60.0

NOT_FOR_YOU = ("This invitation is not for you, so nothing was changed. Type \"help\" to see what you can do. "
               "If you think you should be invited, contact HNY.Inc@nhs.net.")
ALREADY = "You had already replied this way, so nothing changed."
SENT_AGAIN = "I've sent your invitation again. It's the newest message in this chat."
RESEND_LIMIT = ("You've asked for this a few times in the last hour, so I didn't send it again. Please try later, "
                "or contact HNY.Inc@nhs.net.")
RESEND_CLOSED = "That session has started or was cancelled, so there is no invitation to send."
CHANNEL_ONLY_PRIVATE = "Let's do this in our private chat, so only you see it. Message me there and type it again."
FILE_DECLINED = "OK, I didn't save the file. You can still see the list on the card."
FILE_FAILED = ("Sorry, I couldn't save the file to your OneDrive. Nothing was shared. Please try again in a minute, "
               "or contact HNY.Inc@nhs.net.")
FILE_SAVED = "Here is the list as a CSV file. Please keep it private: it has names and e-mails."
NOT_FOR_YOU_FILE = "That file card is out of date, so nothing was saved. Open the list again to get a new one."
FILE_CONSENT_TYPE = "application/vnd.microsoft.teams.card.file.consent"
FILE_INFO_TYPE = "application/vnd.microsoft.teams.card.file.info"
UPLOAD_TIMEOUT_SECONDS = 30.0
_MARK_KEY = re.compile(rf"^{MARK_PREFIX}(\d{{1,10}})$")


class InvitationPayload(ActionPayload):
    """Accept, Decline or a card refresh. Only the session: who is replying comes from Teams."""

    session_id: int = Field(ge=1)


class SessionRef(ActionPayload):
    session_id: int = Field(ge=1)


class AttendancePayload(ActionPayload):
    """The attendance card: its choice sets arrive as `mark_<invitation id>` fields, so the model takes extra
    fields, but only those, with only the card's values."""

    model_config = ConfigDict(extra="allow", str_max_length=2000, frozen=True)
    session_id: int = Field(ge=1)
    page: int = Field(default=0, ge=0, le=1000)
    feedback_url: str = ""

    @model_validator(mode="after")
    def _only_marks(self) -> AttendancePayload:
        extra = self.model_extra or {}
        if len(extra) > PAGE_SIZE:
            raise ValueError("more marks than one card holds")
        for key, value in extra.items():
            if not _MARK_KEY.match(key) or value not in ("", CAME, DID_NOT_COME):
                raise ValueError("a field the attendance card does not have")
        return self

    def marks(self) -> dict[int, bool | None]:
        """Invitation id -> came, did not come, or not marked (an empty choice)."""
        found: dict[int, bool | None] = {}
        for key, value in (self.model_extra or {}).items():
            match = _MARK_KEY.match(key)
            if match:
                found[int(match.group(1))] = None if value == "" else value == CAME
        return found


class FileContext(BaseModel):
    """What our file consent card asked to save: the roster of one session."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["roster_csv"]
    session_id: int = Field(ge=1)


class UploadInfo(BaseModel):
    model_config = ConfigDict(extra="ignore", str_max_length=4000, populate_by_name=True)
    name: str = Field(min_length=1, max_length=255)
    upload_url: str = Field(alias="uploadUrl")
    content_url: str = Field(alias="contentUrl")
    unique_id: str = Field(alias="uniqueId", max_length=255)
    file_type: str = Field(default="csv", alias="fileType", max_length=32)


class FileConsentValue(BaseModel):
    """The value of a `fileConsent/invoke`: the person's answer to our file consent card."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)
    type: Literal["fileUpload"]
    action: Literal["accept", "decline"]
    context: FileContext
    upload_info: UploadInfo | None = Field(default=None, alias="uploadInfo")


class NoFields(ActionPayload):
    pass


class CancelPayload(ActionPayload):
    session_id: int = Field(ge=1)
    change_no: int = Field(ge=0)


class ChangePayload(ActionPayload):
    """The change card: its inputs arrive as strings (Input.Number may arrive as a number)."""

    session_id: int = Field(ge=1)
    change_no: int = Field(ge=0)
    date: str = ""
    start: str = ""
    end: str = ""
    join_url: str = ""
    capacity: str | int | float = ""
    co_facilitators: str = ""

    def form(self) -> SessionForm:
        capacity = self.capacity
        if isinstance(capacity, float) and capacity.is_integer():
            capacity = int(capacity)
        return SessionForm(date=self.date.strip(), start=self.start.strip(), end=self.end.strip(),
                           join_url=self.join_url.strip(), capacity=str(capacity).strip(),
                           co_facilitators=self.co_facilitators.strip())


# -- service results to card views ---------------------------------------------------------------------------

def invitation_view(state: InvitationState) -> InvitationView:
    return InvitationView(**asdict(state))


def upload_url_allowed(url: str) -> bool:
    """Teams' upload URLs are https (OneDrive). Plain http only on this machine, for local doubles."""
    parts = urlsplit(url)
    return (parts.scheme == "https" and bool(parts.hostname)) or is_loopback_http(url)


async def put_file(url: str, content: bytes) -> bool:
    """Upload the whole file in one PUT, as the upload session Teams gives expects; True when it was stored.
    Redirects are not followed: the names and e-mails go to the address Teams gave, or nowhere."""
    headers = {"Content-Length": str(len(content)), "Content-Range": f"bytes 0-{len(content) - 1}/{len(content)}"}
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=UPLOAD_TIMEOUT_SECONDS)) as http, \
                http.put(url, data=content, headers=headers, allow_redirects=False) as response:
            await response.read()
            return response.status in (200, 201)
    except (aiohttp.ClientError, TimeoutError) as exc:
        log.warning("roster file upload failed: %s", type(exc).__name__)
        return False


def session_view(info: SessionInfo) -> SessionView:
    figures = None
    if info.counts is not None:
        figures = Figures(invited=info.counts.invited.text, accepted=info.counts.accepted.value or 0,
                          waiting=info.counts.waiting.value or 0, declined=info.counts.declined.text,
                          no_reply=info.counts.no_reply.text)
    return SessionView(
        session_id=info.session_id, title=info.title, phase=info.phase, space=info.space,
        communities=info.communities, starts_at=info.starts_at, ends_at=info.ends_at, join_url=info.join_url,
        capacity=info.capacity, status=info.status, change_no=info.change_no, seats_left=info.seats_left,
        figures=figures, started=info.started, ended=info.ended, attended=info.attended, absent=info.absent)


def attendance_view(sheet: Sheet, *, errors: dict[str, str] | None = None, form_feedback_url: str | None = None,
                    note: str | None = None) -> AttendanceView:
    return AttendanceView(
        session_id=sheet.session_id, title=sheet.title, starts_at=sheet.starts_at, ends_at=sheet.ends_at,
        lines=tuple(AttendanceLine(entry.invitation_id, entry.display_name, entry.email, entry.attended)
                    for entry in sheet.entries),
        page=sheet.page, pages=sheet.pages, total=sheet.total, feedback_url=sheet.feedback_url,
        errors=errors or {}, form_feedback_url=form_feedback_url, note=note)


def change_form(info: SessionInfo) -> dict[str, str]:
    starts, ends = info.starts_at.astimezone(UK), info.ends_at.astimezone(UK)
    return {"date": starts.strftime("%Y-%m-%d"), "start": starts.strftime("%H:%M"), "end": ends.strftime("%H:%M"),
            "join_url": info.join_url or "", "capacity": str(info.capacity), "co_facilitators": ""}


class CardMessages:
    """What the outbox sends, drawn by cards/invitation.py (the service never builds cards itself)."""

    def invitation(self, state: InvitationState) -> dict[str, Any]:
        return invitation_card(invitation_view(state))

    def promoted(self, state: InvitationState) -> dict[str, Any]:
        return promoted_card(invitation_view(state))

    def changed(self, state: InvitationState, *, time_changed: bool, link_changed: bool) -> dict[str, Any]:
        return changed_card(invitation_view(state), time_changed=time_changed, link_changed=link_changed)

    def cancelled(self, state: InvitationState) -> dict[str, Any]:
        return cancelled_card(invitation_view(state))

    def reminder(self, state: ReminderState) -> dict[str, Any]:
        return reminder_card(ReminderView(**asdict(state)))

    def thanks(self, state: ThanksState) -> dict[str, Any]:
        return thanks_card(ThanksView(title=state.title, starts_at=state.starts_at, feedback_url=state.feedback_url))

    def no_longer_matching(self, state: InvitationState) -> dict[str, Any]:
        return no_longer_matching_card(invitation_view(state))


def mentioned_teams_ids(turn: Turn) -> list[str]:
    """Teams user ids of people @mentioned in the message, leaving out the bot itself."""
    activity = turn.activity
    bot_id = activity.recipient.id if activity.recipient else None
    found: list[str] = []
    for entity in activity.entities or []:
        if str(getattr(entity, "type", "")).lower() != "mention":
            continue
        extra = getattr(entity, "additional_properties", None) or {}
        mentioned = extra.get("mentioned") if isinstance(extra, dict) else None
        user_id = mentioned.get("id") if isinstance(mentioned, dict) else None
        if isinstance(user_id, str) and user_id and user_id != bot_id and len(user_id) <= 256 \
                and user_id not in found:
            found.append(user_id)
    return found[:20]


class SessionsFeature:
    def __init__(self, service: SessionService, attendance: AttendanceService) -> None:
        self.service = service
        self.attendance = attendance

    # .. facilitators ..........................................................................................

    async def new_session(self, turn: Turn) -> None:
        if not turn.is_personal:
            await turn.reply_text(CHANNEL_ONLY_PRIVATE)
            return
        mentions = await self.service.people_by_teams_ids(mentioned_teams_ids(turn))
        await turn.dialogs.cancel_all_dialogs()
        await turn.dialogs.begin_dialog(DIALOG_ID, {"mentions": mentions})

    async def list_sessions(self, turn: Turn) -> None:
        if not turn.is_personal:
            # The list shows figures and, from it, rosters: only in the private chat.
            await turn.reply_text(CHANNEL_ONLY_PRIVATE)
            return
        infos = await self.service.list_for(turn.person_id)
        await turn.reply_card(sessions_list([session_view(info) for info in infos]))

    async def list_action(self, turn: Turn, _: NoFields) -> None:
        await self.list_sessions(turn)

    async def _problem(self, turn: Turn, result: ActionResult) -> bool:
        """Answers a refusal or a missing session; True when it did."""
        if result.outcome == "refused":
            await turn.reply_card(not_yours())
            return True
        if result.outcome == "not_found" or result.session is None:
            await turn.reply_card(session_gone())
            return True
        return False

    async def publish_action(self, turn: Turn, payload: SessionRef) -> None:
        result = await self.service.publish(turn.person_id, payload.session_id)
        if await self._problem(turn, result):
            return
        assert result.session is not None
        if result.outcome == "closed":
            await turn.reply_card(closed_for_changes(session_view(result.session)))
            return
        if result.outcome == "unchanged":
            await turn.reply_card(notice(result.session.title, "This session is already published."))
            return
        invited = result.invited
        await turn.reply_card(created_card(result.session.title, published=True,
                                           invited=invited.text if invited else None,
                                           invited_is_zero=invited is not None and invited.value == 0))

    async def change_start_action(self, turn: Turn, payload: SessionRef) -> None:
        result = await self.service.info(turn.person_id, payload.session_id, "session.change.open")
        if await self._problem(turn, result):
            return
        assert result.session is not None
        if result.session.status == "cancelled" or result.session.started:
            await turn.reply_card(closed_for_changes(session_view(result.session)))
            return
        await turn.reply_card(change_card(session_view(result.session), {}, change_form(result.session)))

    async def change_action(self, turn: Turn, payload: ChangePayload) -> None:
        form = payload.form()
        result = await self.service.change(turn.person_id, payload.session_id, payload.change_no, form)
        if await self._problem(turn, result):
            return
        assert result.session is not None
        view = session_view(result.session)
        if result.outcome in ("errors", "too_small"):
            await turn.reply_card(change_card(view, result.errors, {
                key: value for key, value in form.to_dict().items()}))
        elif result.outcome == "stale":
            await turn.reply_card(stale_change(view))
        elif result.outcome == "closed":
            await turn.reply_card(closed_for_changes(view))
        else:
            await turn.reply_card(changed_done(view, unchanged=result.outcome == "unchanged"))

    async def cancel_start_action(self, turn: Turn, payload: SessionRef) -> None:
        result = await self.service.info(turn.person_id, payload.session_id, "session.cancel.open")
        if await self._problem(turn, result):
            return
        assert result.session is not None
        if result.session.status == "cancelled" or result.session.started:
            await turn.reply_card(closed_for_changes(session_view(result.session)))
            return
        await turn.reply_card(cancel_confirm(session_view(result.session)))

    async def cancel_action(self, turn: Turn, payload: CancelPayload) -> None:
        result = await self.service.cancel(turn.person_id, payload.session_id, payload.change_no)
        if await self._problem(turn, result):
            return
        assert result.session is not None
        view = session_view(result.session)
        if result.outcome == "stale":
            await turn.reply_card(stale_change(view))
        elif result.outcome in ("closed", "unchanged"):
            await turn.reply_card(closed_for_changes(view))
        else:
            await turn.reply_card(cancelled_done(view))

    async def roster_action(self, turn: Turn, payload: SessionRef) -> None:
        if not turn.is_personal:
            await turn.reply_text(CHANNEL_ONLY_PRIVATE)
            return
        result = await self.service.roster(turn.person_id, payload.session_id)
        if isinstance(result, ActionResult):
            await self._problem(turn, result)
            return
        lines = [RosterLine(entry.status, entry.position, entry.display_name, entry.email)
                 for entry in result.entries]
        await turn.reply_card(roster_card(session_view(result.session), lines))

    # .. the roster as a file: Teams' file consent flow (a bot can attach a file in a personal chat only so) ....

    async def roster_csv_action(self, turn: Turn, payload: SessionRef) -> None:
        """Ask where to save the file: Teams shows a file consent card, and the answer comes back as an invoke.
        The card carries only the session id; the file is made when the person accepts, after a new check."""
        if not turn.is_personal:
            await turn.reply_text(CHANNEL_ONLY_PRIVATE)
            return
        result = await self.service.roster_file(turn.person_id, payload.session_id, "session.roster.export.offer")
        if isinstance(result, ActionResult):
            await self._problem(turn, result)
            return
        context = {"kind": "roster_csv", "session_id": result.session_id}
        await turn.context.send_activity(Activity(type=ActivityTypes.message, attachments=[Attachment(
            content_type=FILE_CONSENT_TYPE, name=result.name, content={
                "description": "The names and e-mails of the people who accepted or are waiting. Keep it private.",
                "sizeInBytes": len(result.content), "acceptContext": context, "declineContext": context})]))

    async def file_consent_invoke(self, turn: Turn) -> InvokeResponse:
        try:
            answer = FileConsentValue.model_validate(turn.activity.value)
        except ValidationError:
            await turn.reply_card(notice("That button is out of date", NOT_FOR_YOU_FILE))
            return InvokeResponse(status=200)
        if answer.action == "decline":
            await turn.reply_text(FILE_DECLINED)
            return InvokeResponse(status=200)
        info = answer.upload_info
        result = await self.service.roster_file(turn.person_id, answer.context.session_id, "session.roster.export")
        if isinstance(result, ActionResult):
            await self._problem(turn, result)
            return InvokeResponse(status=200)
        if info is None or not upload_url_allowed(info.upload_url) or not await put_file(info.upload_url,
                                                                                       result.content):
            await turn.reply_text(FILE_FAILED)
            return InvokeResponse(status=200)
        await turn.context.send_activity(Activity(type=ActivityTypes.message, text=FILE_SAVED, attachments=[Attachment(
            content_type=FILE_INFO_TYPE, name=info.name, content_url=info.content_url,
            content={"uniqueId": info.unique_id, "fileType": info.file_type})]))
        log.info("roster file saved: session=%d", result.session_id)
        return InvokeResponse(status=200)

    # .. attendance ...........................................................................................

    async def _attendance_problem(self, turn: Turn, result: AttendanceResult) -> bool:
        if result.outcome == "refused":
            await turn.reply_card(not_yours())
        elif result.sheet is None:
            await turn.reply_card(session_gone())
        elif result.outcome == "too_early":
            await turn.reply_card(attendance_too_early(result.sheet.title, result.sheet.starts_at,
                                                       result.sheet.ends_at))
        elif result.outcome == "closed":
            await turn.reply_card(attendance_closed(result.sheet.title))
        else:
            return False
        return True

    async def attendance_action(self, turn: Turn, payload: SessionRef) -> None:
        if not turn.is_personal:
            await turn.reply_text(CHANNEL_ONLY_PRIVATE)
            return
        result = await self.attendance.sheet(turn.person_id, payload.session_id)
        if await self._attendance_problem(turn, result):
            return
        assert result.sheet is not None
        await turn.reply_card(attendance_card(attendance_view(result.sheet)))

    async def attendance_save_action(self, turn: Turn, payload: AttendancePayload) -> None:
        result = await self.attendance.save(turn.person_id, payload.session_id, payload.page, payload.marks(),
                                            payload.feedback_url)
        if await self._attendance_problem(turn, result):
            return
        assert result.sheet is not None
        if result.outcome == "errors":
            await turn.reply_card(attendance_card(attendance_view(result.sheet, errors=result.errors,
                                                                  form_feedback_url=payload.feedback_url)))
        elif result.outcome == "next_page":
            await turn.reply_card(attendance_card(attendance_view(result.sheet, note=PAGE_SAVED)))
        else:
            await turn.reply_card(attendance_saved(result.sheet.title, attended=result.attended,
                                                   absent=result.absent, not_marked=result.not_marked,
                                                   thanked=result.thanked))

    # .. invitations ..........................................................................................

    @staticmethod
    def _answer_card(result: ReplyResult) -> dict[str, Any] | str:
        if result.state is None:
            return NOT_FOR_YOU
        view = invitation_view(result.state)
        if result.outcome == "unchanged":
            view = InvitationView(**{**asdict(view), "note": ALREADY})
        return invitation_card(view)

    async def accept_execute(self, turn: Turn, payload: InvitationPayload) -> dict[str, Any] | str:
        return self._answer_card(await self.service.reply(turn.person_id, payload.session_id, "accept"))

    async def decline_execute(self, turn: Turn, payload: InvitationPayload) -> dict[str, Any] | str:
        return self._answer_card(await self.service.reply(turn.person_id, payload.session_id, "decline"))

    async def show_execute(self, turn: Turn, payload: InvitationPayload) -> dict[str, Any] | str:
        state = await self.service.invitation(turn.person_id, payload.session_id)
        return NOT_FOR_YOU if state is None else invitation_card(invitation_view(state))

    async def _submit_reply(self, turn: Turn, session_id: int, answer: str) -> None:
        # Clients without Universal Actions: the card is updated in place through the outbox, and this
        # turn says straight away what happened.
        result = await self.service.reply(turn.person_id, session_id, answer, update_card=True)
        if result.state is None:
            await turn.reply_card(notice("Sorry, nothing was changed", NOT_FOR_YOU))
            return
        view = invitation_view(result.state)
        if result.outcome == "unchanged":
            view = InvitationView(**{**asdict(view), "note": ALREADY})
        await turn.reply_card(reply_confirmation(view))

    async def my_sessions(self, turn: Turn) -> None:
        if not turn.is_personal:
            await turn.reply_text(CHANNEL_ONLY_PRIVATE)
            return
        states = await self.service.my_sessions(turn.person_id)
        await turn.reply_card(my_sessions_card([invitation_view(state) for state in states]))

    async def resend_action(self, turn: Turn, payload: InvitationPayload) -> None:
        # Each press is its own request, named by the id Teams gave the press (a press delivered twice is one).
        request_id = turn.activity.id or uuid.uuid4().hex
        outcome = await self.service.resend(turn.person_id, payload.session_id,
                                            turn.core.settings.resend_limit_per_hour, request_id)
        texts = {"done": SENT_AGAIN, "limit": RESEND_LIMIT, "closed": RESEND_CLOSED}
        await turn.reply_text(texts.get(outcome, NOT_FOR_YOU))

    async def accept_submit(self, turn: Turn, payload: InvitationPayload) -> None:
        await self._submit_reply(turn, payload.session_id, "accept")

    async def decline_submit(self, turn: Turn, payload: InvitationPayload) -> None:
        await self._submit_reply(turn, payload.session_id, "decline")


def register(wiring: Wiring) -> None:
    core = wiring.core
    service = SessionService(core.database, core.clock, core.audit, CardMessages(),
                             calendar=core.settings.graph_enabled)
    attendance = AttendanceService(core.database, core.clock, core.audit, CardMessages())
    reminders = ReminderService(core.database, core.clock, CardMessages(), core.settings.reminder_offsets_minutes)
    feature = SessionsFeature(service, attendance)
    wiring.app[SESSIONS] = service
    wiring.app[REMINDERS] = reminders
    wiring.app[ATTENDANCE] = attendance
    wiring.dialogs.add(NewSessionDialog(service))

    wiring.commands.add("new session", NEW_SESSION_PHRASES, feature.new_session, Role.FACILITATOR)
    wiring.commands.add("sessions", SESSIONS_PHRASES, feature.list_sessions, Role.FACILITATOR)

    actions = wiring.actions
    actions.register("sessions_list", NoFields, feature.list_action, Role.FACILITATOR)
    actions.register("session_publish", SessionRef, feature.publish_action, Role.FACILITATOR)
    actions.register("session_change_start", SessionRef, feature.change_start_action, Role.FACILITATOR)
    actions.register("session_change", ChangePayload, feature.change_action, Role.FACILITATOR)
    actions.register("session_cancel_start", SessionRef, feature.cancel_start_action, Role.FACILITATOR)
    actions.register("session_cancel", CancelPayload, feature.cancel_action, Role.FACILITATOR)
    actions.register("session_roster", SessionRef, feature.roster_action, Role.FACILITATOR)
    actions.register("session_roster_csv", SessionRef, feature.roster_csv_action, Role.FACILITATOR)
    actions.register(ACTION_OPEN, SessionRef, feature.attendance_action, Role.FACILITATOR)
    actions.register(ACTION_SAVE, AttendancePayload, feature.attendance_save_action, Role.FACILITATOR)
    wiring.bot.invoke_handlers["fileConsent/invoke"] = feature.file_consent_invoke

    # The invitation card: Action.Execute, with Action.Submit fallbacks under the same names.
    actions.register_execute(VERB_ACCEPT, InvitationPayload, feature.accept_execute)
    actions.register_execute(VERB_DECLINE, InvitationPayload, feature.decline_execute)
    actions.register_execute(VERB_SHOW, InvitationPayload, feature.show_execute)
    actions.register(VERB_ACCEPT, InvitationPayload, feature.accept_submit)
    actions.register(VERB_DECLINE, InvitationPayload, feature.decline_submit)
    # "my sessions" for everyone; its two words win over the facilitators' "sessions".
    wiring.commands.add("my sessions", ["my sessions", "my invitations", "my invitation",
                                        "not received my invitation"], feature.my_sessions)
    actions.register(VERB_RESEND, InvitationPayload, feature.resend_action)

    # Other features' changes, inside their transactions.
    core.hooks.person_erased.append(service.on_person_erased)
    core.hooks.volunteer_changed.append(service.withdraw_unmatched)
    core.hooks.volunteer_changed.append(service.on_volunteer_changed)
    core.hooks.calendar_ready.append(service.on_calendar_ready)
    wiring.bot.rearm_hooks.append(service.on_rearmed)

    async def reminder_ticker(_app: web.Application) -> AsyncIterator[None]:
        stop = asyncio.Event()

        async def loop() -> None:
            while not stop.is_set():
                try:
                    await reminders.tick()
                except Exception as exc:  # keep ticking; the type only, as database errors can quote data
                    log.warning("reminders tick failed: %s", type(exc).__name__)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), REMINDER_TICK_SECONDS)

        task = asyncio.create_task(loop(), name="reminders-tick")
        yield
        stop.set()
        await task

    # Where the other background jobs run (announcements, calendar): the instance with RUN_WORKER on.
    if core.settings.run_worker:
        wiring.background.append(reminder_ticker)

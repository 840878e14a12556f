"""Sessions and invitations (design §4; issues 6 and 7). This module has the facilitator's `new session` journey
and `sessions` list (publish a draft, change, cancel, who is coming) and wires the whole feature: the invitation
card's replies, "my sessions" and "send again" (bot/features/invitations.py), marking who came
(bot/features/attendance.py), the roster as a file (bot/features/roster_file.py), reminders before the start,
and the other features' hooks.

Every facilitator action is checked twice: the facilitator role by the command router and the action
registry (a refusal is audited there), then "manages this session" by the service (also audited).
"""

from __future__ import annotations

from aiohttp import web

from bot.features import Wiring, attendance, invitations, roster_file
from bot.features.session_cards import (
    CHANNEL_ONLY_PRIVATE,
    FeedTexts,
    SessionCardMessages,
    answered_refusal,
    cancel_reply,
    change_form,
    change_reply,
    closed_card,
    publish_reply,
)
from bot.jobs import Leader, TickJob
from bot.services.attendance import AttendanceService
from bot.services.reminders import ReminderService
from bot.services.sessions import ActionResult, SessionForm, SessionService
from bot.turns import Turn
from cards.sessions import FacilitatorSessionView, cancel_confirm, change_card, roster_card, sessions_list
from dialogs.new_session import DIALOG_ID, NEW_SESSION_PHRASES, SESSIONS_PHRASES, NewSessionDialog
from vocabulary.actions.sessions import (
    SESSION_CANCEL,
    SESSION_CANCEL_START,
    SESSION_CHANGE,
    SESSION_CHANGE_START,
    SESSION_PUBLISH,
    SESSION_ROSTER,
    SESSIONS_LIST,
    SessionCancelPayload,
    SessionChangePayload,
    SessionRef,
)
from vocabulary.catalogue import NoPayload
from vocabulary.words import Role

# The services, for the CLI, benchmarks and tests.
SESSIONS = web.AppKey("sessions", SessionService)
REMINDERS = web.AppKey("reminders", ReminderService)
ATTENDANCE = web.AppKey("attendance", AttendanceService)
# How often reminders are looked for. A reminder goes at most this late; restarts lose none (they are in the
# database, see bot/services/reminders.py).
REMINDER_TICK_SECONDS = 60.0


def change_form_of(payload: SessionChangePayload) -> SessionForm:
    """What the change card sent, as the sessions service checks it."""
    return SessionForm(date=payload.date.strip(), start=payload.start.strip(), end=payload.end.strip(),
                       join_url=payload.join_url.strip(), capacity=payload.capacity_text,
                       co_facilitators=payload.co_facilitators.strip())


def mentioned_teams_ids(turn: Turn) -> list[str]:
    """Teams user ids of people @mentioned in the message, leaving out the bot itself."""
    return [mention.id for mention in turn.activity.mentions]


class SessionsFeature:
    def __init__(self, service: SessionService) -> None:
        self.service = service

    async def new_session(self, turn: Turn) -> None:
        if not await turn.in_private_chat(CHANNEL_ONLY_PRIVATE):
            return
        mentions = await self.service.people_by_teams_ids(mentioned_teams_ids(turn))
        await turn.dialogs.cancel_all_dialogs()
        await turn.dialogs.begin_dialog(DIALOG_ID, {"mentions": mentions})

    async def list_sessions(self, turn: Turn) -> None:
        # The list shows figures and, from it, rosters: only in the private chat.
        if not await turn.in_private_chat(CHANNEL_ONLY_PRIVATE):
            return
        await turn.reply_card(sessions_list(await self.service.list_for(turn.person_id)))

    async def list_action(self, turn: Turn, _: NoPayload) -> None:
        await self.list_sessions(turn)

    async def publish_action(self, turn: Turn, payload: SessionRef) -> None:
        result = await self.service.publish(turn.person_id, payload.session_id)
        if await answered_refusal(turn, result):
            return
        await turn.reply_card(publish_reply(result))

    async def _open_for_change(self, turn: Turn, session_id: int, action: str) -> FacilitatorSessionView | None:
        """The session for a change or cancel card; None when the answer was already given (refused, gone,
        cancelled or started)."""
        result = await self.service.info(turn.person_id, session_id, action)
        if await answered_refusal(turn, result):
            return None
        assert result.session is not None
        closed = closed_card(result.session)
        if closed is not None:
            await turn.reply_card(closed)
            return None
        return result.session

    async def change_start_action(self, turn: Turn, payload: SessionRef) -> None:
        view = await self._open_for_change(turn, payload.session_id, "session.change.open")
        if view is not None:
            await turn.reply_card(change_card(view, {}, change_form(view)))

    async def change_action(self, turn: Turn, payload: SessionChangePayload) -> None:
        form = change_form_of(payload)
        result = await self.service.change(turn.person_id, payload.session_id, payload.change_no, form)
        if await answered_refusal(turn, result):
            return
        await turn.reply_card(change_reply(result, form))

    async def cancel_start_action(self, turn: Turn, payload: SessionRef) -> None:
        view = await self._open_for_change(turn, payload.session_id, "session.cancel.open")
        if view is not None:
            await turn.reply_card(cancel_confirm(view))

    async def cancel_action(self, turn: Turn, payload: SessionCancelPayload) -> None:
        result = await self.service.cancel(turn.person_id, payload.session_id, payload.change_no)
        if await answered_refusal(turn, result):
            return
        await turn.reply_card(cancel_reply(result))

    async def roster_action(self, turn: Turn, payload: SessionRef) -> None:
        if not await turn.in_private_chat(CHANNEL_ONLY_PRIVATE):
            return
        result = await self.service.roster(turn.person_id, payload.session_id)
        if isinstance(result, ActionResult):
            await answered_refusal(turn, result)
            return
        await turn.reply_card(roster_card(result.session, list(result.lines)))


def register(wiring: Wiring) -> None:
    core = wiring.core
    messages = SessionCardMessages()
    # Graph on: invitations and reminders also go to the activity feed of people who chose it (issue 24).
    feed = FeedTexts() if core.settings.graph_enabled else None
    service = SessionService(core.database, core.clock, core.audit, core.roles, messages,
                             calendar=core.settings.graph_enabled,
                             reminder_offsets=core.settings.reminder_offsets_minutes, feed=feed)
    attendance_service = AttendanceService(core.database, core.clock, core.audit, core.roles, messages)
    reminders = ReminderService(core.database, core.clock, messages, core.settings.reminder_offsets_minutes,
                                feed=feed)
    feature = SessionsFeature(service)
    wiring.app[SESSIONS] = service
    wiring.app[REMINDERS] = reminders
    wiring.app[ATTENDANCE] = attendance_service
    wiring.dialogs.add(NewSessionDialog(service))

    wiring.commands.add("new session", NEW_SESSION_PHRASES, feature.new_session, Role.FACILITATOR)
    wiring.commands.add("sessions", SESSIONS_PHRASES, feature.list_sessions, Role.FACILITATOR)

    actions = wiring.actions
    actions.on_submit(SESSIONS_LIST, feature.list_action)
    actions.on_submit(SESSION_PUBLISH, feature.publish_action)
    actions.on_submit(SESSION_CHANGE_START, feature.change_start_action)
    actions.on_submit(SESSION_CHANGE, feature.change_action)
    actions.on_submit(SESSION_CANCEL_START, feature.cancel_start_action)
    actions.on_submit(SESSION_CANCEL, feature.cancel_action)
    actions.on_submit(SESSION_ROSTER, feature.roster_action)
    roster_file.register_actions(wiring, service)
    attendance.register_actions(wiring, attendance_service)
    invitations.register_actions(wiring, service)

    # Other features' changes, inside their transactions.
    core.hooks.person_erased.append(service.on_person_erased)
    core.hooks.volunteer_changed.append(service.withdraw_unmatched)
    core.hooks.volunteer_changed.append(service.on_volunteer_changed)
    core.hooks.calendar_ready.append(service.on_calendar_ready)
    wiring.bot.rearm_hooks.append(service.on_rearmed)

    # Every process may tick: each reminder is one outbox message with its own key, enqueued once.
    wiring.jobs.append(TickJob("reminders", reminders.tick, REMINDER_TICK_SECONDS, Leader.DATABASE))

"""Sessions and invitations (design §4; issue 6): the facilitator's `new session` journey and `sessions` list
(change, cancel, roster, publish a draft), and the invitation card's replies.

Every facilitator action is checked twice: the facilitator role by the command router and the action
registry (a refusal is audited there), then "manages this session" by the service (also audited). The
invitation's Accept and Decline act for the person who pressed, whoever the card was sent to: the person is
always the sender Teams authenticated, never a payload field (the payload models forbid extra fields).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from aiohttp import web
from pydantic import Field

from bot.actions import ActionPayload
from bot.features import Wiring
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
from cards.basics import notice
from cards.invitation import (
    UK,
    VERB_ACCEPT,
    VERB_DECLINE,
    VERB_RESEND,
    VERB_SHOW,
    InvitationView,
    cancelled_card,
    changed_card,
    invitation_card,
    my_sessions_card,
    no_longer_matching_card,
    promoted_card,
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

# The service, for the CLI, benchmarks and tests.
SESSIONS = web.AppKey("sessions", SessionService)

NOT_FOR_YOU = ("This invitation is not for you, so nothing was changed. Type \"help\" to see what you can do. "
               "If you think you should be invited, contact HNY.Inc@nhs.net.")
ALREADY = "You had already replied this way, so nothing changed."
SENT_AGAIN = "I've sent your invitation again. It's the newest message in this chat."
RESEND_LIMIT = ("You've asked for this a few times in the last hour, so I didn't send it again. Please try later, "
                "or contact HNY.Inc@nhs.net.")
RESEND_CLOSED = "That session has started or was cancelled, so there is no invitation to send."
CHANNEL_ONLY_PRIVATE = "Let's do this in our private chat, so only you see it. Message me there and type it again."


class InvitationPayload(ActionPayload):
    """Accept, Decline or a card refresh. Only the session: who is replying comes from Teams."""

    session_id: int = Field(ge=1)


class SessionRef(ActionPayload):
    session_id: int = Field(ge=1)


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
        figures=figures, started=info.started)


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
    def __init__(self, service: SessionService) -> None:
        self.service = service

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
        outcome = await self.service.resend(turn.person_id, payload.session_id,
                                            turn.core.settings.resend_limit_per_hour)
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
    feature = SessionsFeature(service)
    wiring.app[SESSIONS] = service
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

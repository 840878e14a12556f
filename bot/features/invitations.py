"""The invitation card's buttons (design §4 Invitation card), "my sessions" and "send my invitation again".

Accept and Decline act for the person who pressed, whoever the card was sent to: the person is always the
sender Teams authenticated, never a payload field (the payload models forbid extra fields). The buttons are
Action.Execute, answered with the new card; clients without Universal Actions send the Action.Submit fallback
under the same name, and get the card updated in place through the outbox and a confirmation now.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any

from bot.features import Wiring
from bot.features.session_cards import CHANNEL_ONLY_PRIVATE
from bot.services.sessions import ReplyResult, SessionService
from bot.turns import Turn
from cards.basics import notice
from cards.invitation import InvitationView, invitation_card, my_sessions_card, reply_confirmation
from vocabulary.actions.sessions import (
    INVITATION_ACCEPT,
    INVITATION_DECLINE,
    INVITATION_RESEND,
    INVITATION_SHOW,
    InvitationPayload,
)

NOT_FOR_YOU = ("This invitation is not for you, so nothing was changed. Type \"help\" to see what you can do. "
               "If you think you should be invited, contact HNY.Inc@nhs.net.")
ALREADY = "You had already replied this way, so nothing changed."
SENT_AGAIN = "I've sent your invitation again. It's the newest message in this chat."
RESEND_LIMIT = ("You've asked for this a few times in the last hour, so I didn't send it again. Please try later, "
                "or contact HNY.Inc@nhs.net.")
RESEND_CLOSED = "That session has started or was cancelled, so there is no invitation to send."
MY_SESSIONS_PHRASES = ["my sessions", "my invitations", "my invitation", "not received my invitation"]


def answer_view(result: ReplyResult) -> InvitationView | None:
    """The invitation after a reply, saying so when nothing changed; None when the presser was not invited."""
    if result.view is None:
        return None
    return replace(result.view, note=ALREADY) if result.outcome == "unchanged" else result.view


class InvitationsFeature:
    def __init__(self, service: SessionService) -> None:
        self.service = service

    async def _execute_reply(self, turn: Turn, session_id: int, answer: str) -> dict[str, Any] | str:
        view = answer_view(await self.service.reply(turn.person_id, session_id, answer))
        return NOT_FOR_YOU if view is None else invitation_card(view)

    async def accept_execute(self, turn: Turn, payload: InvitationPayload) -> dict[str, Any] | str:
        return await self._execute_reply(turn, payload.session_id, "accept")

    async def decline_execute(self, turn: Turn, payload: InvitationPayload) -> dict[str, Any] | str:
        return await self._execute_reply(turn, payload.session_id, "decline")

    async def show_execute(self, turn: Turn, payload: InvitationPayload) -> dict[str, Any] | str:
        view = await self.service.invitation(turn.person_id, payload.session_id)
        return NOT_FOR_YOU if view is None else invitation_card(view)

    async def _submit_reply(self, turn: Turn, session_id: int, answer: str) -> None:
        # Clients without Universal Actions: the card is updated in place through the outbox, and this
        # turn says straight away what happened.
        view = answer_view(await self.service.reply(turn.person_id, session_id, answer, update_card=True))
        if view is None:
            await turn.reply_card(notice("Sorry, nothing was changed", NOT_FOR_YOU))
            return
        await turn.reply_card(reply_confirmation(view))

    async def accept_submit(self, turn: Turn, payload: InvitationPayload) -> None:
        await self._submit_reply(turn, payload.session_id, "accept")

    async def decline_submit(self, turn: Turn, payload: InvitationPayload) -> None:
        await self._submit_reply(turn, payload.session_id, "decline")

    async def my_sessions(self, turn: Turn) -> None:
        if not await turn.in_private_chat(CHANNEL_ONLY_PRIVATE):
            return
        await turn.reply_card(my_sessions_card(await self.service.my_sessions(turn.person_id)))

    async def resend_action(self, turn: Turn, payload: InvitationPayload) -> None:
        # Each press is its own request, named by the id Teams gave the press (a press delivered twice is one).
        request_id = turn.activity.id or uuid.uuid4().hex
        outcome = await self.service.resend(turn.person_id, payload.session_id,
                                            turn.core.settings.resend_limit_per_hour, request_id)
        texts = {"done": SENT_AGAIN, "limit": RESEND_LIMIT, "closed": RESEND_CLOSED}
        await turn.reply_text(texts.get(outcome, NOT_FOR_YOU))


def register_actions(wiring: Wiring, service: SessionService) -> None:
    feature = InvitationsFeature(service)
    actions = wiring.actions
    # The invitation card: Action.Execute, with Action.Submit fallbacks under the same names.
    actions.on_execute(INVITATION_ACCEPT, feature.accept_execute)
    actions.on_execute(INVITATION_DECLINE, feature.decline_execute)
    actions.on_execute(INVITATION_SHOW, feature.show_execute)
    actions.on_submit(INVITATION_ACCEPT, feature.accept_submit)
    actions.on_submit(INVITATION_DECLINE, feature.decline_submit)
    # "my sessions" for everyone; its two words win over the facilitators' "sessions".
    wiring.commands.add("my sessions", MY_SESSIONS_PHRASES, feature.my_sessions)
    actions.on_submit(INVITATION_RESEND, feature.resend_action)

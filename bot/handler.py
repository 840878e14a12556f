"""The Teams activity handler: records where people can be reached, then routes each activity to a
dialog, a card action or a command. Business rules live in services, not here."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from botbuilder.core import ConversationState, InvokeResponse, TurnContext
from botbuilder.core.teams import TeamsActivityHandler
from botbuilder.dialogs import DialogContext, DialogSet, DialogTurnStatus
from botbuilder.schema import AdaptiveCardInvokeResponse, ChannelAccount

from bot.actions import ActionRegistry, refuse, stale
from bot.commands import CommandRouter
from bot.core import Core
from bot.turns import Turn, card_activity, contact_from, person_id_of, plain_text
from cards.basics import HelpView, channel_intro, help_card, welcome
from vocabulary.words import Role

log = logging.getLogger(__name__)

# A hook that may take over a turn before normal routing (e.g. asking for consent again); True = handled.
TurnGate = Callable[[Turn], Awaitable[bool]]
# Called when a person's delivery is re-armed (they came back after being unreachable).
RearmHook = Callable[[str], Awaitable[None]]
# Answers one kind of invoke activity by its name (e.g. "fileConsent/invoke"), instead of botbuilder's default.
InvokeHandler = Callable[[Turn], Awaitable[InvokeResponse]]


class MessageInvokeResponse(AdaptiveCardInvokeResponse):
    """A Universal Actions answer whose value is a text (msrest's model types it as a dict)."""

    _attribute_map = {**AdaptiveCardInvokeResponse._attribute_map, "value": {"key": "value", "type": "str"}}  # noqa: RUF012 (msrest reads it)


# The fields that route a card's submit (to a journey, a question, a button, an action). Any JSON can arrive in
# a submit; these must be text or absent before anything compares or looks them up.
ROUTING_FIELDS = ("action", "journey", "step", "nav", "field")


def _routing_is_text(value: dict[str, Any]) -> bool:
    return all(isinstance(value.get(name), str) for name in ROUTING_FIELDS if name in value)


class VolunteersBot(TeamsActivityHandler):
    def __init__(self, core: Core, conversation_state: ConversationState, dialogs: DialogSet,
                 commands: CommandRouter, actions: ActionRegistry) -> None:
        self.core = core
        self.conversation_state = conversation_state
        self.dialogs = dialogs
        self.commands = commands
        self.actions = actions
        self.gates: list[TurnGate] = []
        self.rearm_hooks: list[RearmHook] = []
        self.invoke_handlers: dict[str, InvokeHandler] = {}
        # Whether a person has signed up (set by the colleague journey), so help offers "My details" to them.
        self.is_signed_up: Callable[[str], Awaitable[bool]] | None = None

    async def on_turn(self, turn_context: TurnContext) -> None:
        contact = contact_from(turn_context.activity)
        if contact is not None and turn_context.activity.type in ("message", "invoke", "conversationUpdate",
                                                                  "installationUpdate"):
            rearmed = await self.core.contacts.record(contact)
            if rearmed and contact.person_id:
                for hook in self.rearm_hooks:
                    await hook(contact.person_id)
        await super().on_turn(turn_context)
        await self.conversation_state.save_changes(turn_context)

    async def _turn(self, turn_context: TurnContext) -> Turn:
        dialogs: DialogContext = await self.dialogs.create_context(turn_context)
        person_id = person_id_of(turn_context.activity)
        return Turn(context=turn_context, core=self.core, dialogs=dialogs, person_id=person_id)

    async def on_message_activity(self, turn_context: TurnContext) -> None:
        turn = await self._turn(turn_context)
        value = turn_context.activity.value
        for gate in self.gates:
            if await gate(turn):
                return
        if isinstance(value, dict):
            await self._on_card_submit(turn, value)
            return
        text = plain_text(turn_context.activity)
        command = self.commands.match(text)
        if turn.dialogs.active_dialog is not None:
            if command is not None and command.name == "help":
                await self.send_help(turn)
                await turn.dialogs.reprompt_dialog()
                return
            result = await turn.dialogs.continue_dialog()
            if result.status != DialogTurnStatus.Empty:
                return
        if command is None:
            await self.send_help(turn, not_understood=bool(text))
            return
        if command.role is not None and not await self.core.roles.require(turn.person_id, command.role,
                                                                           f"command.{command.name}"):
            await refuse(turn, command.role)
            return
        await command.handler(turn)

    async def _on_card_submit(self, turn: Turn, value: dict[str, Any]) -> None:
        if not _routing_is_text(value):
            # A forged or broken submit: it changes nothing, and an open question is asked again.
            await stale(turn)
            if turn.dialogs.active_dialog is not None:
                await turn.dialogs.reprompt_dialog()
            return
        if "journey" in value or (turn.dialogs.active_dialog is not None and not self.actions.knows(
                value.get("action"))):
            # An answer to a dialog's card: only the journey that sent it may take it.
            if turn.dialogs.active_dialog is None:
                await stale(turn)
                return
            result = await turn.dialogs.continue_dialog()
            if result.status == DialogTurnStatus.Empty:
                await stale(turn)
            return
        await self.actions.dispatch(turn, value)

    async def on_invoke_activity(self, turn_context: TurnContext) -> InvokeResponse:
        """Action.Execute arrives as invoke `adaptiveCard/action`. botbuilder's own path answers 500
        (teams-facts), so it is handled here and answered with an msrest model body."""
        handler = self.invoke_handlers.get(turn_context.activity.name or "")
        if handler is not None:
            return await handler(await self._turn(turn_context))
        if turn_context.activity.name != "adaptiveCard/action":
            return await super().on_invoke_activity(turn_context)
        turn = await self._turn(turn_context)
        value = turn_context.activity.value
        action = value.get("action") if isinstance(value, dict) else None
        data = action.get("data") if isinstance(action, dict) else None
        verb = action.get("verb") if isinstance(action, dict) else None
        result = await self.actions.execute(turn, verb if isinstance(verb, str) else "",
                                            data if isinstance(data, dict) else {})
        body: AdaptiveCardInvokeResponse
        if isinstance(result, str):
            body = MessageInvokeResponse(
                status_code=200, type="application/vnd.microsoft.activity.message", value=result)
        else:
            body = AdaptiveCardInvokeResponse(
                status_code=200, type="application/vnd.microsoft.card.adaptive", value=result)
        return InvokeResponse(status=200, body=body)

    async def send_help(self, turn: Turn, *, not_understood: bool = False) -> None:
        roles = await turn.roles()
        signed_up = bool(turn.person_id) and self.is_signed_up is not None and await self.is_signed_up(
            turn.person_id)
        await turn.reply_card(help_card(HelpView(
            is_facilitator=Role.FACILITATOR in roles, is_admin=Role.ADMIN in roles, not_understood=not_understood,
            signed_up=signed_up)))

    async def on_installation_update_add(self, turn_context: TurnContext) -> None:
        await self._welcome(turn_context)

    async def on_members_added_activity(self, members_added: list[ChannelAccount],
                                        turn_context: TurnContext) -> None:
        # Teams' team events reach here too: TeamsActivityHandler.on_teams_members_added delegates to it.
        bot_id = turn_context.activity.recipient.id if turn_context.activity.recipient else None
        if any(member.id == bot_id for member in members_added):
            await self._welcome(turn_context)

    async def _welcome(self, turn_context: TurnContext) -> None:
        """One welcome per install: Teams sends installationUpdate and conversationUpdate for one install."""
        conversation = turn_context.activity.conversation
        kind = (conversation.conversation_type if conversation else None) or "personal"
        if kind == "channel":
            if await self.core.contacts.first_welcome_of_conversation(conversation.id):
                await turn_context.send_activity(card_activity(channel_intro()))
            return
        if kind != "personal":
            return
        person_id = person_id_of(turn_context.activity)
        if person_id and await self.core.contacts.first_welcome(person_id):
            await turn_context.send_activity(card_activity(welcome()))

    async def on_installation_update_remove(self, turn_context: TurnContext) -> None:
        if turn_context.activity.conversation:
            await self.core.contacts.uninstalled(turn_context.activity.conversation.id)

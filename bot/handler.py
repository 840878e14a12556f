"""What the bot does with each kind of activity, whichever Teams SDK received it: record where people can be
reached, then route to a dialog, a card action or a command. Each SDK's edge (bot/edge/) calls these entry points
from its own routing; business rules live in services, not here."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from bot.actions import ActionRegistry, refuse, stale
from bot.activity import Account, InvokeAnswer, plain_text
from bot.commands import CommandRouter
from bot.conversation_state import ConversationMemory, JourneyStore
from bot.core import Core
from bot.turns import Turn, TurnIO, card_activity, contact_from, person_id_of
from cards.basics import HelpView, channel_intro, help_card, welcome
from dialogs.engine import DialogSet, DialogTurnStatus
from vocabulary.words import Role

log = logging.getLogger(__name__)

# A hook that may take over a turn before normal routing (e.g. asking for consent again); True = handled.
TurnGate = Callable[[Turn], Awaitable[bool]]
# Called when a person's delivery is re-armed (they came back after being unreachable).
RearmHook = Callable[[str], Awaitable[None]]
# Answers one kind of invoke activity by its name (e.g. "fileConsent/invoke").
InvokeHandler = Callable[[Turn], Awaitable[InvokeAnswer]]

# The fields that route a card's submit (to a journey, a question, a button, an action). Any JSON can arrive in
# a submit; these must be text or absent before anything compares or looks them up.
ROUTING_FIELDS = ("action", "journey", "step", "nav", "field")
# The activity types after which the bot knows where a person can be reached.
CONTACT_TYPES = frozenset({"message", "invoke", "conversationUpdate", "installationUpdate"})
ADAPTIVE_CARD_ACTION = "adaptiveCard/action"
# Said once when a chat's unfinished journey was stored by the version before this one and cannot carry on.
JOURNEY_RESTARTED = ("The bot was updated since your last message, so the question you were answering has closed. "
                     "Nothing you had saved was changed.")


def _routing_is_text(value: dict[str, Any]) -> bool:
    return all(isinstance(value.get(name), str) for name in ROUTING_FIELDS if name in value)


def execute_answer(result: dict[str, Any] | str) -> InvokeAnswer:
    """The Universal Actions answer: the card that replaces the pressed one, or a short message."""
    if isinstance(result, str):
        return InvokeAnswer(200, {"statusCode": 200, "type": "application/vnd.microsoft.activity.message",
                                  "value": result})
    return InvokeAnswer(200, {"statusCode": 200, "type": "application/vnd.microsoft.card.adaptive", "value": result})


class VolunteersBot:
    def __init__(self, core: Core, journeys: JourneyStore, dialogs: DialogSet,
                 commands: CommandRouter, actions: ActionRegistry) -> None:
        self.core = core
        self.journeys = journeys
        self.dialogs = dialogs
        self.commands = commands
        self.actions = actions
        self.gates: list[TurnGate] = []
        self.rearm_hooks: list[RearmHook] = []
        self.invoke_handlers: dict[str, InvokeHandler] = {}
        # Whether a person has signed up (set by the colleague journey), so help offers "My details" to them.
        self.is_signed_up: Callable[[str], Awaitable[bool]] | None = None

    # -- the turn -----------------------------------------------------------------------------------------------

    async def begin_turn(self, io: TurnIO) -> Turn:
        """Record where the person can be reached and load this chat's journey state (fresh for each turn)."""
        activity = io.activity
        contact = contact_from(activity)
        if contact is not None and activity.type in CONTACT_TYPES:
            rearmed = await self.core.contacts.record(contact)
            if rearmed and contact.person_id:
                for hook in self.rearm_hooks:
                    await hook(contact.person_id)
        memory = await self.journeys.load(activity)
        turn = Turn(context=io, core=self.core, dialogs=self.dialogs.create_context(io, memory.stack),
                    person_id=person_id_of(activity), memory=memory)
        if memory.dropped_old_journey and activity.type == "message":
            await turn.reply_text(JOURNEY_RESTARTED)
        return turn

    async def end_turn(self, turn: Turn) -> None:
        """Save the journey state, if it changed; a lost race raises StateConflict (answered by the edge)."""
        memory = turn.memory
        if isinstance(memory, ConversationMemory):
            await memory.save()

    # -- entry points, one per kind of activity ---------------------------------------------------------------

    async def on_message(self, turn: Turn) -> None:
        value = turn.activity.value
        for gate in self.gates:
            if await gate(turn):
                return
        if isinstance(value, dict):
            await self._on_card_submit(turn, value)
            return
        text = plain_text(turn.activity)
        command = self.commands.match(text)
        if turn.dialogs.active_dialog is not None:
            if command is not None and command.name == "help":
                await self.send_help(turn)
                await turn.dialogs.reprompt_dialog()
                return
            result = await turn.dialogs.continue_dialog()
            if result.status != DialogTurnStatus.EMPTY:
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
            if result.status == DialogTurnStatus.EMPTY:
                await stale(turn)
            return
        await self.actions.dispatch(turn, value)

    async def on_execute(self, turn: Turn, verb: object, data: object) -> InvokeAnswer:
        """Action.Execute (invoke `adaptiveCard/action`), with the verb and data the card sent."""
        result = await self.actions.execute(turn, verb if isinstance(verb, str) else "",
                                            data if isinstance(data, dict) else {})
        return execute_answer(result)

    async def on_invoke(self, turn: Turn) -> InvokeAnswer:
        """Any other invoke: its named handler, or 501 as Teams expects for one the bot does not take."""
        handler = self.invoke_handlers.get(turn.activity.name or "")
        if handler is not None:
            return await handler(turn)
        if turn.activity.name == ADAPTIVE_CARD_ACTION:
            value = turn.activity.value
            action = value.get("action") if isinstance(value, dict) else None
            return await self.on_execute(turn, action.get("verb") if isinstance(action, dict) else None,
                                         action.get("data") if isinstance(action, dict) else None)
        return InvokeAnswer(501)

    async def on_members_added(self, turn: Turn, members: tuple[Account, ...]) -> None:
        bot_id = turn.activity.recipient.id if turn.activity.recipient else None
        if any(member.id == bot_id for member in members):
            await self._welcome(turn)

    async def on_installed(self, turn: Turn) -> None:
        await self._welcome(turn)

    async def on_uninstalled(self, turn: Turn) -> None:
        if turn.activity.conversation:
            await self.core.contacts.uninstalled(turn.activity.conversation.id)

    async def on_activity(self, turn: Turn) -> InvokeAnswer | None:
        """Route by type: the botbuilder edge calls this; the Agents edge routes natively to the same methods."""
        activity = turn.activity
        if activity.type == "message":
            await self.on_message(turn)
        elif activity.type == "invoke":
            return await self.on_invoke(turn)
        elif activity.type == "conversationUpdate" and activity.members_added:
            await self.on_members_added(turn, activity.members_added)
        elif activity.type == "installationUpdate" and activity.action in ("add", "add-upgrade"):
            await self.on_installed(turn)
        elif activity.type == "installationUpdate" and activity.action in ("remove", "remove-upgrade"):
            await self.on_uninstalled(turn)
        return None

    # -- answers ----------------------------------------------------------------------------------------------

    async def send_help(self, turn: Turn, *, not_understood: bool = False) -> None:
        roles = await turn.roles()
        signed_up = bool(turn.person_id) and self.is_signed_up is not None and await self.is_signed_up(
            turn.person_id)
        await turn.reply_card(help_card(HelpView(
            is_facilitator=Role.FACILITATOR in roles, is_admin=Role.ADMIN in roles, not_understood=not_understood,
            signed_up=signed_up)))

    async def _welcome(self, turn: Turn) -> None:
        """One welcome per install: Teams sends installationUpdate and conversationUpdate for one install."""
        conversation = turn.activity.conversation
        kind = (conversation.conversation_type if conversation else None) or "personal"
        if kind == "channel":
            if conversation is not None and await self.core.contacts.first_welcome_of_conversation(
                    conversation.id):
                await turn.send(card_activity(channel_intro()))
            return
        if kind != "personal":
            return
        if turn.person_id and await self.core.contacts.first_welcome(turn.person_id):
            await turn.send(card_activity(welcome()))

"""A dialog that shows one card and reads each message sent to it while it is active: the base of the sign-up
questions' CardPrompt and the new-session steps.

Its options are kept in the dialog's state as they were given (JSON-like), so the card can be drawn again from
them after a restart, when the dialog is asked to reprompt, or when an answer needs fixing."""

from __future__ import annotations

from typing import Any, cast

from bot.turns import TurnIO
from dialogs.engine import Dialog, DialogContext, DialogInstance, DialogTurnResult


class CardDialog(Dialog):
    async def begin_dialog(self, dialog_context: DialogContext, options: object = None) -> DialogTurnResult:
        checked = self.checked_options(options)
        dialog_context.active_state["options"] = checked
        await self.show(dialog_context.context, checked)
        return Dialog.end_of_turn

    async def continue_dialog(self, dialog_context: DialogContext) -> DialogTurnResult:
        if dialog_context.context.activity.type != "message":
            return Dialog.end_of_turn
        return await self.on_message(dialog_context, dialog_context.active_state["options"])

    async def reprompt_dialog(self, context: TurnIO, instance: DialogInstance) -> None:
        await self.show(context, cast(dict[str, Any], instance.state["options"]))

    def checked_options(self, options: object) -> dict[str, Any]:
        """The options this dialog was begun with, or a TypeError saying what it needs."""
        if not isinstance(options, dict):
            raise TypeError(f"{type(self).__name__} needs a dict of options")
        return options

    async def show(self, context: TurnIO, options: dict[str, Any]) -> None:
        """Send the card."""
        raise NotImplementedError

    async def on_message(self, dialog_context: DialogContext, options: dict[str, Any]) -> DialogTurnResult:
        """A message (typed text, or a card's submit in its value) while the card is waiting."""
        raise NotImplementedError

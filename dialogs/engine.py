"""The small dialog engine the journeys run on, shared by both Teams SDKs (docs/architecture.md, "Journeys").

It keeps the names and the behaviour of the part of botbuilder-dialogs the journeys use (Dialog, ComponentDialog,
WaterfallDialog, DialogContext, DialogInstance, DialogTurnResult), so a journey reads as it did. What differs is
what matters here: the dialog stack is plain JSON (lists and dicts, no pickled objects), it is loaded for each
turn (bot/conversation_state.py), and nothing in it depends on which SDK carried the turn.

A stack is a list of {"id": dialog id, "state": {...}}, innermost last; a ComponentDialog keeps its own stack
under state["stack"]."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any, ClassVar

from bot.turns import TurnIO

JsonStack = list[dict[str, Any]]


class DialogTurnStatus(Enum):
    EMPTY = "empty"  # no dialog was active
    WAITING = "waiting"  # the active dialog waits for the next message
    COMPLETE = "complete"  # the last dialog ended this turn
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class DialogTurnResult:
    status: DialogTurnStatus
    result: Any = None


class DialogInstance:
    """One entry of a stack; `state` is the dict stored in it, so changes to it are saved."""

    def __init__(self, entry: dict[str, Any]) -> None:
        self._entry = entry

    @property
    def id(self) -> str:
        return str(self._entry["id"])

    @property
    def state(self) -> dict[str, Any]:
        state: dict[str, Any] = self._entry["state"]
        return state


class Dialog:
    end_of_turn: ClassVar[DialogTurnResult] = DialogTurnResult(DialogTurnStatus.WAITING)

    def __init__(self, dialog_id: str) -> None:
        self.id = dialog_id

    async def begin_dialog(self, dialog_context: DialogContext, options: object = None) -> DialogTurnResult:
        raise NotImplementedError

    async def continue_dialog(self, dialog_context: DialogContext) -> DialogTurnResult:
        return await dialog_context.end_dialog()

    async def resume_dialog(self, dialog_context: DialogContext, result: object) -> DialogTurnResult:
        """A dialog this one began has ended with `result`."""
        return await dialog_context.end_dialog(result)

    async def reprompt_dialog(self, context: TurnIO, instance: DialogInstance) -> None:
        """Ask the waiting question again."""


class DialogSet:
    def __init__(self) -> None:
        self._dialogs: dict[str, Dialog] = {}

    def add(self, dialog: Dialog) -> DialogSet:
        if dialog.id in self._dialogs:
            raise ValueError(f"dialog {dialog.id} is added twice")
        self._dialogs[dialog.id] = dialog
        return self

    def find(self, dialog_id: str) -> Dialog | None:
        return self._dialogs.get(dialog_id)

    def create_context(self, context: TurnIO, stack: JsonStack) -> DialogContext:
        return DialogContext(self, context, stack)


class DialogContext:
    def __init__(self, dialogs: DialogSet, context: TurnIO, stack: JsonStack,
                 parent: DialogContext | None = None) -> None:
        self.dialogs = dialogs
        self.context = context
        self.stack = stack
        self.parent = parent

    @property
    def active_dialog(self) -> DialogInstance | None:
        return DialogInstance(self.stack[-1]) if self.stack else None

    @property
    def active_state(self) -> dict[str, Any]:
        """The state of the dialog that is running (only a running dialog asks for it)."""
        return (self.active_dialog or _missing()).state

    def find_dialog(self, dialog_id: str) -> Dialog:
        dialog = self.dialogs.find(dialog_id)
        if dialog is None and self.parent is not None:
            return self.parent.find_dialog(dialog_id)
        if dialog is None:
            raise KeyError(f"no dialog {dialog_id}")
        return dialog

    def _active(self) -> tuple[Dialog, DialogInstance] | None:
        instance = self.active_dialog
        if instance is None:
            return None
        dialog = self.dialogs.find(instance.id)
        if dialog is None:
            # A stack stored by an older version names a dialog that no longer exists: start afresh.
            self.stack.clear()
            return None
        return dialog, instance

    async def begin_dialog(self, dialog_id: str, options: object = None) -> DialogTurnResult:
        dialog = self.find_dialog(dialog_id)
        self.stack.append({"id": dialog_id, "state": {}})
        return await dialog.begin_dialog(self, options)

    async def continue_dialog(self) -> DialogTurnResult:
        active = self._active()
        if active is None:
            return DialogTurnResult(DialogTurnStatus.EMPTY)
        return await active[0].continue_dialog(self)

    async def end_dialog(self, result: object = None) -> DialogTurnResult:
        if self.stack:
            self.stack.pop()
        active = self._active()
        if active is not None:
            return await active[0].resume_dialog(self, result)
        return DialogTurnResult(DialogTurnStatus.COMPLETE, result)

    async def replace_dialog(self, dialog_id: str, options: object = None) -> DialogTurnResult:
        if self.stack:
            self.stack.pop()
        return await self.begin_dialog(dialog_id, options)

    async def reprompt_dialog(self) -> None:
        active = self._active()
        if active is not None:
            await active[0].reprompt_dialog(self.context, active[1])

    async def cancel_all_dialogs(self) -> DialogTurnResult:
        had = bool(self.stack)
        self.stack.clear()
        return DialogTurnResult(DialogTurnStatus.CANCELLED if had else DialogTurnStatus.EMPTY)


class ComponentDialog(Dialog):
    """A journey made of inner dialogs, which run on their own stack kept in this dialog's state."""

    def __init__(self, dialog_id: str) -> None:
        super().__init__(dialog_id)
        self._inner = DialogSet()
        self.initial_dialog_id: str | None = None

    def add_dialog(self, dialog: Dialog) -> ComponentDialog:
        self._inner.add(dialog)
        if self.initial_dialog_id is None:
            self.initial_dialog_id = dialog.id
        return self

    def _inner_context(self, dialog_context: DialogContext, instance: DialogInstance | None = None) -> DialogContext:
        state = (instance or dialog_context.active_dialog or _missing()).state
        stack: JsonStack = state.setdefault("stack", [])
        return DialogContext(self._inner, dialog_context.context, stack, parent=dialog_context)

    async def begin_dialog(self, dialog_context: DialogContext, options: object = None) -> DialogTurnResult:
        if self.initial_dialog_id is None:
            raise ValueError(f"{self.id} has no dialogs")
        inner = self._inner_context(dialog_context)
        return await self._end_if_done(dialog_context, await inner.begin_dialog(self.initial_dialog_id, options))

    async def continue_dialog(self, dialog_context: DialogContext) -> DialogTurnResult:
        inner = self._inner_context(dialog_context)
        result = await inner.continue_dialog()
        if result.status == DialogTurnStatus.EMPTY:
            return await dialog_context.end_dialog()
        return await self._end_if_done(dialog_context, result)

    async def reprompt_dialog(self, context: TurnIO, instance: DialogInstance) -> None:
        stack: JsonStack = instance.state.setdefault("stack", [])
        await DialogContext(self._inner, context, stack).reprompt_dialog()

    async def _end_if_done(self, dialog_context: DialogContext, result: DialogTurnResult) -> DialogTurnResult:
        if result.status == DialogTurnStatus.COMPLETE:
            return await dialog_context.end_dialog(result.result)
        return result


def _missing() -> DialogInstance:
    raise RuntimeError("a component dialog ran without its instance on the stack")


WaterfallStep = Callable[["WaterfallStepContext"], Awaitable[DialogTurnResult]]


class WaterfallStepContext:
    """What a waterfall step sees: the options the waterfall began with, values kept between its steps, and the
    result of the dialog the previous step began."""

    def __init__(self, dialog_context: DialogContext, state: dict[str, Any], result: object) -> None:
        self._dialog_context = dialog_context
        self._state = state
        self.result = result

    @property
    def context(self) -> TurnIO:
        return self._dialog_context.context

    @property
    def options(self) -> Any:
        return self._state["options"]

    @property
    def values(self) -> dict[str, Any]:
        values: dict[str, Any] = self._state["values"]
        return values

    async def begin_dialog(self, dialog_id: str, options: object = None) -> DialogTurnResult:
        return await self._dialog_context.begin_dialog(dialog_id, options)

    async def end_dialog(self, result: object = None) -> DialogTurnResult:
        return await self._dialog_context.end_dialog(result)

    async def replace_dialog(self, dialog_id: str, options: object = None) -> DialogTurnResult:
        return await self._dialog_context.replace_dialog(dialog_id, options)


class WaterfallDialog(Dialog):
    def __init__(self, dialog_id: str, steps: list[WaterfallStep]) -> None:
        super().__init__(dialog_id)
        self._steps = steps

    async def begin_dialog(self, dialog_context: DialogContext, options: object = None) -> DialogTurnResult:
        state = (dialog_context.active_dialog or _missing()).state
        state.update(options=options if options is not None else {}, values={}, step=0)
        return await self._run(dialog_context, state, None)

    async def continue_dialog(self, dialog_context: DialogContext) -> DialogTurnResult:
        # A waterfall itself waits only while a dialog it began waits; a message reaching it moves it on.
        if dialog_context.context.activity.type != "message":
            return Dialog.end_of_turn
        return await self.resume_dialog(dialog_context, dialog_context.context.activity.text)

    async def resume_dialog(self, dialog_context: DialogContext, result: object) -> DialogTurnResult:
        state = (dialog_context.active_dialog or _missing()).state
        state["step"] = int(state.get("step", 0)) + 1
        return await self._run(dialog_context, state, result)

    async def _run(self, dialog_context: DialogContext, state: dict[str, Any], result: object) -> DialogTurnResult:
        index = int(state.get("step", 0))
        if index >= len(self._steps):
            return await dialog_context.end_dialog(result)
        return await self._steps[index](WaterfallStepContext(dialog_context, state, result))

"""A prompt that asks with an Adaptive Card and takes the answer from the card's submit or from typed text.

Every answer goes through a pydantic model before the dialog sees it. A submit must name the run of the
journey (`journey`) and the question (`step`) it was sent for: a card from an earlier or abandoned journey, or
from an earlier question, gets a clear reply and changes nothing (design §9).

The prompt's state holds only JSON-like values (the journey id and the card's view data), so a journey
survives a restart: the card is rebuilt from them when it has to be shown again."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot.turns import TurnIO, card_activity, plain_text, text_activity
from cards.common import Card
from dialogs.card_dialog import CardDialog
from dialogs.engine import Dialog, DialogContext, DialogTurnResult
from dialogs.typed_words import CANCEL_WORDS, words

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)
Nav = Literal["next", "back", "cancel", "change"]
# Called with typed text the question did not understand; True when it was a command that was answered
# (e.g. "privacy"), after which the question is asked again.
Interrupt = Callable[[DialogContext, str], Awaitable[bool]]

_BACK_WORDS = frozenset({"back", "go back", "previous"})
_CANCEL_WORDS = CANCEL_WORDS | {"stop sign up", "cancel sign up"}
_ENVELOPE = frozenset({"journey", "step", "nav", "field"})

STALE_JOURNEY = "That card is from an earlier sign-up, so nothing was changed. Please use the latest card below."
STALE_STEP = "That card is for an earlier question, so nothing was changed. Please answer the question below."


class Answer(BaseModel):
    """Base of every answer model: strict about unknown fields and long text."""

    model_config = ConfigDict(extra="forbid", str_max_length=500, frozen=True)


class Envelope(BaseModel):
    """The journey fields every journey card's buttons carry."""

    model_config = ConfigDict(extra="allow", str_max_length=64)
    journey: str = Field(min_length=1)
    step: str = Field(min_length=1, max_length=32)
    nav: Nav = "next"
    field: str | None = Field(default=None, max_length=32)


@dataclass(frozen=True)
class Question(Generic[M]):
    """One card question: how it looks, what a valid answer is, and how typed text maps to an answer."""

    step: str
    model: type[M]
    render: Callable[[str, dict[str, Any]], Card]  # (journey id, view data) → card
    from_text: Callable[[str, dict[str, Any]], dict[str, Any] | None]  # (text, view) → raw answer, None if unknown
    not_understood: str  # what to say when the answer cannot be used, and how to fix it
    check: Callable[[M, dict[str, Any]], str | None] | None = None  # rules needing the view, e.g. offered ids
    changeable: frozenset[str] = field(default_factory=frozenset)  # fields a "change" press may name


@dataclass(frozen=True)
class PromptResult:
    nav: Nav
    answer: dict[str, Any] = field(default_factory=dict)
    field: str | None = None


def words_of(text: str) -> str:
    """`words`, also reading a typographic apostrophe as ' and a hyphen as a space ("sign-up", "I’d")."""
    return words(text.replace("’", "'").replace("-", " "))


class CardPrompt(CardDialog, Generic[M]):
    """Options: {"journey": <id of this run>, "view": <JSON-like data for the card>}. Ends with a PromptResult."""

    def __init__(self, question: Question[M], interrupt: Interrupt | None = None) -> None:
        super().__init__(question.step)
        self.question = question
        self._interrupt = interrupt

    def checked_options(self, options: object) -> dict[str, Any]:
        if not isinstance(options, dict) or not isinstance(options.get("journey"), str):
            raise TypeError("CardPrompt needs {'journey': str, 'view': dict} options")
        return options

    async def on_message(self, dialog_context: DialogContext, options: dict[str, Any]) -> DialogTurnResult:
        context = dialog_context.context
        value = context.activity.value
        if isinstance(value, dict):
            outcome = self._read_submit(value, options)
        else:
            text = plain_text(context.activity)
            outcome = self._read_text(text, options)
            if isinstance(outcome, str) and self._interrupt is not None and await self._interrupt(
                    dialog_context, text):
                await self.show(context, options)
                return Dialog.end_of_turn
        if isinstance(outcome, str):
            await context.send_activity(text_activity(outcome))
            await self.show(context, options)
            return Dialog.end_of_turn
        return await dialog_context.end_dialog(outcome)

    async def show(self, context: TurnIO, options: dict[str, Any]) -> None:
        await context.send_activity(card_activity(self.question.render(options["journey"], options["view"])))

    def _read_submit(self, value: dict[str, Any], options: dict[str, Any]) -> PromptResult | str:
        try:
            envelope = Envelope.model_validate(value)
        except ValidationError:
            log.info("refused a journey submit with a malformed envelope at step %s", self.id)
            return STALE_JOURNEY
        if envelope.journey != options["journey"]:
            return STALE_JOURNEY
        if envelope.step != self.id:
            return STALE_STEP
        if envelope.nav in ("back", "cancel"):
            return PromptResult(envelope.nav)
        if envelope.nav == "change":
            if envelope.field not in self.question.changeable:
                return self.question.not_understood
            return PromptResult("change", field=envelope.field)
        inputs = {key: item for key, item in value.items() if key not in _ENVELOPE}
        return self._validate(inputs, options)

    def _read_text(self, text: str, options: dict[str, Any]) -> PromptResult | str:
        said = words_of(text)
        if said in _BACK_WORDS:
            return PromptResult("back")
        if said in _CANCEL_WORDS:
            return PromptResult("cancel")
        if not said or len(text) > 500:
            return self.question.not_understood
        raw = self.question.from_text(said, options["view"])
        if raw is None:
            return self.question.not_understood
        if raw.get("nav") == "change":
            field_name = raw.get("field")
            if field_name in self.question.changeable:
                return PromptResult("change", field=str(field_name))
            return self.question.not_understood
        return self._validate(raw, options)

    def _validate(self, raw: dict[str, Any], options: dict[str, Any]) -> PromptResult | str:
        try:
            answer = self.question.model.model_validate(raw)
        except ValidationError as exc:
            # Field names and error types only: never the values, which may be personal.
            log.info("refused an answer at step %s: %s", self.id,
                     ",".join(sorted({str(error["type"]) for error in exc.errors()})))
            # The models' own rules carry a kind message saying how to fix the answer.
            kind = [str(error["msg"]).removeprefix("Value error, ") for error in exc.errors()
                    if error["type"] == "value_error"]
            return kind[0] if kind else self.question.not_understood
        if self.question.check is not None:
            problem = self.question.check(answer, options["view"])
            if problem:
                return problem
        return PromptResult("next", answer=answer.model_dump(mode="json"))

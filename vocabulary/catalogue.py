"""How a card action is declared: once, with its name, the payload its button sends, the role it needs and the
tables a press may change. Card builders make a button's data with `CardAction.data(...)` (so a card can only
send a payload its handler accepts) and the action registry takes the same declaration with a handler (so a
handler can only be registered for a declared action). Like aiogram's CallbackData: one declaration to build and
to filter."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from vocabulary.words import Role

# Every id column is a 32-bit integer on PostgreSQL: an id outside it would fail the query, so it is refused as
# a stale card before any query runs.
RECORD_ID_MAX = 2**31 - 1


def _not_a_bool(value: object) -> object:
    if isinstance(value, bool):
        raise ValueError("an id is a number, not true or false")
    return value


# The id of a stored record (session, invitation, announcement) carried in a button's data, where the bot wrote
# it as a number: strict, so true or "7" is a stale or forged card, not record 1 or 7.
RecordId = Annotated[int, Field(strict=True, ge=1, le=RECORD_ID_MAX)]
# A counter stored beside a record (a session's change number, an announcement's revision), carried the same way.
RecordCount = Annotated[int, Field(strict=True, ge=0, le=RECORD_ID_MAX)]
# The id of a record a person picked in a choice input (an organisation): Teams sends the choice as text.
ChosenRecordId = Annotated[int, BeforeValidator(_not_a_bool), Field(ge=1, le=RECORD_ID_MAX)]


class ActionPayload(BaseModel):
    """Base of every card payload: unknown fields are refused, strings are bounded, every id is in range. Teams
    sends all of a card's inputs with any of its buttons, so a button that takes none of them says so
    (cards.common.no_inputs)."""

    model_config = ConfigDict(extra="forbid", str_max_length=2000, frozen=True)
    action: str


class NoPayload(ActionPayload):
    """A button that carries nothing but its action's name."""


class Press(Enum):
    """How Teams delivers a press: an Action.Submit arrives as a message, an Action.Execute as an invoke that
    answers with the card that replaces the pressed one. An Execute button's card carries a Submit fallback with
    the same data, so such an action is declared as BOTH."""

    SUBMIT = "submit"
    EXECUTE = "execute"
    BOTH = "both"


P = TypeVar("P", bound=ActionPayload)


@dataclass(frozen=True)
class CardAction(Generic[P]):
    name: str
    model: type[P]
    role: Role | None = None  # None: anyone who uses the bot may press it
    # The tables a press may change (besides the bookkeeping every turn does): the fuzz suite checks that an
    # invalid or refused press changes none, and a valid one nothing else.
    changes: frozenset[str] = field(default_factory=frozenset)
    press: Press = Press.SUBMIT

    def data(self, **fields: Any) -> dict[str, Any]:
        """The button's data: validated by the handler's own model, so a card cannot send what it refuses. A
        field the button leaves out may be missing: the card's inputs send it (a form's Submit)."""
        try:
            self.model.model_validate({"action": self.name, **fields})
        except ValidationError as exc:
            if any(error["type"] != "missing" for error in exc.errors()):
                raise
        return {"action": self.name, **fields}

    @property
    def submits(self) -> bool:
        return self.press is not Press.EXECUTE

    @property
    def executes(self) -> bool:
        return self.press is not Press.SUBMIT


def tables(*names: str) -> frozenset[str]:
    return frozenset(names)

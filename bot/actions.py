"""Card actions: a registry from action name to handler, with a pydantic model per payload.

Nothing in a payload grants anything: the role is checked on the server for every press, and a payload
that does not fit its model (stale, forged, wrong types, huge text) gets a clear reply and changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from bot.services.roles import Role
from bot.turns import Turn
from cards.basics import notice
from cards.common import CONTACT_EMAIL

log = logging.getLogger(__name__)


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
    (cards.common.submit(..., inputs=False))."""

    model_config = ConfigDict(extra="forbid", str_max_length=2000, frozen=True)
    action: str


P = TypeVar("P", bound=ActionPayload)
ActionHandler = Callable[[Turn, P], Awaitable[None]]
# An Action.Execute handler answers with the card that replaces the pressed one, or a short message.
ExecuteHandler = Callable[[Turn, P], Awaitable[dict[str, Any] | str]]

STALE_TEXT = "That card is out of date, so nothing was changed. Type \"help\" to see what you can do now."


@dataclass(frozen=True)
class ActionSpec(Generic[P]):
    name: str
    model: type[P]
    handler: ActionHandler[P]
    role: Role | None


REFUSALS = {
    Role.FACILITATOR: "Only facilitators can do that. If you think you should be one, contact "
    f"{CONTACT_EMAIL}.",
    Role.ADMIN: f"Only admins can do that. If you think you should be one, contact {CONTACT_EMAIL}.",
}


async def refuse(turn: Turn, role: Role) -> None:
    await turn.reply_card(notice("Sorry, you can't do that", REFUSALS[role]))


async def stale(turn: Turn) -> None:
    await turn.reply_card(notice("That button is out of date", STALE_TEXT))


@dataclass(frozen=True)
class ExecuteSpec(Generic[P]):
    name: str
    model: type[P]
    handler: ExecuteHandler[P]
    role: Role | None


class ActionRegistry:
    def __init__(self) -> None:
        self._specs: dict[str, ActionSpec[Any]] = {}
        self._execute: dict[str, ExecuteSpec[Any]] = {}

    def register_execute(self, verb: str, model: type[P], handler: ExecuteHandler[P],
                         role: Role | None = None) -> None:
        """An Action.Execute verb (cards updated in place: invitations, progress). The card should also
        carry a Submit fallback with the same data, which arrives through `dispatch` under the same name."""
        if verb in self._execute:
            raise ValueError(f"verb {verb} is registered twice")
        self._execute[verb] = ExecuteSpec(verb, model, handler, role)

    async def execute(self, turn: Turn, verb: str, data: dict[str, Any]) -> dict[str, Any] | str:
        spec = self._execute.get(verb)
        if spec is None:
            return STALE_TEXT
        if spec.role is not None and not await turn.core.roles.require(turn.person_id, spec.role, spec.name):
            return REFUSALS[spec.role]
        try:
            payload = spec.model.model_validate({**data, "action": verb})
        except ValidationError as exc:
            log.info("refused an Action.Execute payload for %s: %d problems", spec.name, exc.error_count())
            return STALE_TEXT
        return await spec.handler(turn, payload)

    def register(self, name: str, model: type[P], handler: ActionHandler[P], role: Role | None = None) -> None:
        if name in self._specs:
            raise ValueError(f"action {name} is registered twice")
        self._specs[name] = ActionSpec(name, model, handler, role)

    def submit_specs(self) -> list[ActionSpec[Any]]:
        """Every Action.Submit action, in registration order (the fuzz and button tests read them)."""
        return list(self._specs.values())

    def execute_specs(self) -> list[ExecuteSpec[Any]]:
        """Every Action.Execute verb, in registration order."""
        return list(self._execute.values())

    def knows(self, name: object) -> bool:
        return isinstance(name, str) and name in self._specs

    async def dispatch(self, turn: Turn, data: dict[str, Any]) -> None:
        spec = self._specs.get(str(data.get("action")))
        if spec is None:
            await stale(turn)
            return
        if spec.role is not None and not await turn.core.roles.require(turn.person_id, spec.role, spec.name):
            await refuse(turn, spec.role)
            return
        try:
            payload = spec.model.model_validate(data)
        except ValidationError as exc:
            log.info("refused a card payload for %s: %d problems", spec.name, exc.error_count())
            await stale(turn)
            return
        await spec.handler(turn, payload)

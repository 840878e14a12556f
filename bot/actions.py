"""Card actions: a registry from action name to handler, with a pydantic model per payload.

Nothing in a payload grants anything: the role is checked on the server for every press, and a payload
that does not fit its model (stale, forged, wrong types, huge text) gets a clear reply and changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import ValidationError

from bot.turns import Turn
from cards.basics import notice
from cards.common import CONTACT_EMAIL
from vocabulary.catalogue import (
    RECORD_ID_MAX,
    ActionPayload,
    CardAction,
    ChosenRecordId,
    RecordCount,
    RecordId,
)
from vocabulary.words import Role

log = logging.getLogger(__name__)

# Re-exported while payload models move into vocabulary/actions (issue 20); import them from vocabulary.catalogue.
__all__ = ["RECORD_ID_MAX", "ActionPayload", "ActionRegistry", "CardAction", "ChosenRecordId", "RecordCount",
           "RecordId", "refuse", "stale"]


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
    changes: frozenset[str] | None = None  # the declaration's tables; None while undeclared


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
    changes: frozenset[str] | None = None


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

    def on_submit(self, action: CardAction[P], handler: ActionHandler[P]) -> None:
        """The handler of a declared action's Action.Submit (vocabulary/actions)."""
        if not action.submits:
            raise ValueError(f"action {action.name} is declared as Action.Execute only")
        self.register(action.name, action.model, handler, action.role)
        self._specs[action.name] = ActionSpec(action.name, action.model, handler, action.role, action.changes)

    def on_execute(self, action: CardAction[P], handler: ExecuteHandler[P]) -> None:
        """The handler of a declared action's Action.Execute (vocabulary/actions)."""
        if not action.executes:
            raise ValueError(f"action {action.name} is declared as Action.Submit only")
        self.register_execute(action.name, action.model, handler, action.role)
        self._execute[action.name] = ExecuteSpec(action.name, action.model, handler, action.role, action.changes)

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

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
from vocabulary.catalogue import ActionPayload, CardAction
from vocabulary.words import Role

log = logging.getLogger(__name__)


P = TypeVar("P", bound=ActionPayload)
ActionHandler = Callable[[Turn, P], Awaitable[None]]
# An Action.Execute handler answers with the card that replaces the pressed one, or a short message.
ExecuteHandler = Callable[[Turn, P], Awaitable[dict[str, Any] | str]]

STALE_TEXT = "That card is out of date, so nothing was changed. Type \"help\" to see what you can do now."


@dataclass(frozen=True)
class ActionSpec(Generic[P]):
    """A declared action with the handler this app runs for it (one spec per way it is pressed)."""

    action: CardAction[P]
    handler: Callable[[Turn, P], Awaitable[Any]]

    @property
    def name(self) -> str:
        return self.action.name

    @property
    def model(self) -> type[P]:
        return self.action.model

    @property
    def role(self) -> Role | None:
        return self.action.role

    @property
    def changes(self) -> frozenset[str]:
        return self.action.changes


REFUSALS = {
    Role.FACILITATOR: "Only facilitators can do that. If you think you should be one, contact "
    f"{CONTACT_EMAIL}.",
    Role.ADMIN: f"Only admins can do that. If you think you should be one, contact {CONTACT_EMAIL}.",
}


async def refuse(turn: Turn, role: Role) -> None:
    await turn.reply_card(notice("Sorry, you can't do that", REFUSALS[role]))


async def stale(turn: Turn) -> None:
    await turn.reply_card(notice("That button is out of date", STALE_TEXT))


class ActionRegistry:
    """Declared actions (vocabulary/actions) and their handlers. Nothing else can be registered, so a handler
    receives only the payload its action declares, and a card can only build buttons for declared actions."""

    def __init__(self) -> None:
        self._specs: dict[str, ActionSpec[Any]] = {}
        self._execute: dict[str, ActionSpec[Any]] = {}

    def on_submit(self, action: CardAction[P], handler: ActionHandler[P]) -> None:
        """The handler of a declared action's Action.Submit."""
        if not action.submits:
            raise ValueError(f"action {action.name} is declared as Action.Execute only")
        if action.name in self._specs:
            raise ValueError(f"action {action.name} is registered twice")
        self._specs[action.name] = ActionSpec(action, handler)

    def on_execute(self, action: CardAction[P], handler: ExecuteHandler[P]) -> None:
        """The handler of a declared action's Action.Execute (cards updated in place: invitations, progress). The
        card should also carry a Submit fallback with the same data, which arrives through `dispatch`."""
        if not action.executes:
            raise ValueError(f"action {action.name} is declared as Action.Submit only")
        if action.name in self._execute:
            raise ValueError(f"verb {action.name} is registered twice")
        self._execute[action.name] = ActionSpec(action, handler)

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
        result: dict[str, Any] | str = await spec.handler(turn, payload)
        return result

    def submit_specs(self) -> list[ActionSpec[Any]]:
        """Every Action.Submit action, in registration order (the fuzz and button tests read them)."""
        return list(self._specs.values())

    def execute_specs(self) -> list[ActionSpec[Any]]:
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

"""Card actions: a registry from action name to handler, with a pydantic model per payload.

Nothing in a payload grants anything: the role is checked on the server for every press, and a payload
that does not fit its model (stale, forged, wrong types, huge text) gets a clear reply and changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from bot.services.roles import Role
from bot.turns import Turn
from cards.basics import notice
from cards.common import CONTACT_EMAIL

log = logging.getLogger(__name__)


class ActionPayload(BaseModel):
    """Base of every card payload: unknown fields are refused, strings are bounded."""

    model_config = ConfigDict(extra="forbid", str_max_length=2000, frozen=True)
    action: str


P = TypeVar("P", bound=ActionPayload)
ActionHandler = Callable[[Turn, P], Awaitable[None]]


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
    await turn.reply_card(notice(
        "That button is out of date",
        "That card is out of date, so nothing was changed. Type \"help\" to see what you can do now."))


class ActionRegistry:
    def __init__(self) -> None:
        self._specs: dict[str, ActionSpec[Any]] = {}

    def register(self, name: str, model: type[P], handler: ActionHandler[P], role: Role | None = None) -> None:
        if name in self._specs:
            raise ValueError(f"action {name} is registered twice")
        self._specs[name] = ActionSpec(name, model, handler, role)

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

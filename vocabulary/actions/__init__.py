"""The catalogue of card actions, one module per area. `ALL` lists every declared action; the registry, the
button crawler and the fuzz suite read it."""

from __future__ import annotations

from typing import Any

from vocabulary.actions.announcements import ANNOUNCEMENT_ACTIONS
from vocabulary.actions.people import PEOPLE_ACTIONS
from vocabulary.actions.programme import PROGRAMME_ACTIONS
from vocabulary.actions.sessions import SESSION_ACTIONS
from vocabulary.catalogue import CardAction

ALL: tuple[CardAction[Any], ...] = (
    *ANNOUNCEMENT_ACTIONS,
    *PEOPLE_ACTIONS,
    *PROGRAMME_ACTIONS,
    *SESSION_ACTIONS,
)

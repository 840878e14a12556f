"""Hooks that let one feature react inside another's transaction without importing it (e.g. a withdrawal in the
colleague journey frees session seats, and a new sign-up is invited to upcoming sessions). Services and the Graph
calendar sync take a `DomainHooks` as an argument; the app factory (bot/core.py) makes the one instance."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

PersonHook = Callable[[AsyncSession, str], Awaitable[None]]
# (transaction, session id, detail): see DomainHooks.calendar_ready / calendar_failed.
SessionHook = Callable[[AsyncSession, int, str], Awaitable[None]]


@dataclass
class DomainHooks:
    """The lists other features append to in their `register(wiring)`; whoever makes the change runs them."""

    person_erased: list[PersonHook] = field(default_factory=list)
    volunteer_changed: list[PersonHook] = field(default_factory=list)
    # The Graph calendar sync (bot/graph/calendar_sync.py) reports in its own transaction: the session's Teams
    # meeting exists (detail: its join URL), or a calendar job failed for good (detail: the job kind).
    calendar_ready: list[SessionHook] = field(default_factory=list)
    calendar_failed: list[SessionHook] = field(default_factory=list)

    async def erased(self, session: AsyncSession, person_id: str) -> None:
        for hook in self.person_erased:
            await hook(session, person_id)

    async def changed(self, session: AsyncSession, person_id: str) -> None:
        for hook in self.volunteer_changed:
            await hook(session, person_id)

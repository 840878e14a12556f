"""The objects every feature needs, built once by the app factory and passed in (no globals)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.services.contacts import ContactService
from bot.services.notices import NoticeService
from bot.services.roles import Audit, RoleService
from bot.settings import Settings
from storage.db import Database

PersonHook = Callable[[AsyncSession, str], Awaitable[None]]
# (transaction, session id, detail): see DomainHooks.calendar_ready / calendar_failed.
SessionHook = Callable[[AsyncSession, int, str], Awaitable[None]]


@dataclass
class DomainHooks:
    """Lets one feature react inside another's transaction without importing it, e.g. a withdrawal
    (colleague journey) frees session seats (sessions), and a new sign-up is invited to upcoming sessions."""

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


@dataclass
class Core:
    settings: Settings
    database: Database
    clock: Clock
    audit: Audit
    roles: RoleService
    notices: NoticeService
    contacts: ContactService
    hooks: DomainHooks

    @classmethod
    def build(cls, settings: Settings, database: Database, clock: Clock) -> Core:
        audit = Audit(clock)
        return cls(
            settings=settings,
            database=database,
            clock=clock,
            audit=audit,
            roles=RoleService(database, clock, audit),
            notices=NoticeService(database, clock),
            contacts=ContactService(database, clock),
            hooks=DomainHooks(),
        )

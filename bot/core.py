"""The objects every feature needs, built once by the app factory and passed in (no globals)."""

from __future__ import annotations

from dataclasses import dataclass

from bot.clock import Clock
from bot.hooks import DomainHooks
from bot.services.contacts import ContactService
from bot.services.notices import NoticeService
from bot.services.roles import Audit, RoleService
from bot.services.volunteers import VolunteerService
from bot.settings import Settings
from storage.db import Database


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
    volunteers: VolunteerService

    @classmethod
    def build(cls, settings: Settings, database: Database, clock: Clock) -> Core:
        audit = Audit(clock)
        notices = NoticeService(database, clock)
        hooks = DomainHooks()
        return cls(
            settings=settings,
            database=database,
            clock=clock,
            audit=audit,
            roles=RoleService(database, clock, audit),
            notices=notices,
            contacts=ContactService(database, clock),
            hooks=hooks,
            # The colleague journey's rules; retention erases through it too.
            volunteers=VolunteerService(database, clock, audit, notices, hooks,
                                        feed_offered=settings.graph_enabled),
        )

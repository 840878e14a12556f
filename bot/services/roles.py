"""Roles and the audit log (design §2): every privileged action is checked here, on the server."""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from storage.db import Database
from storage.repositories.roles import AuditRepository, RoleRepository


class Role(StrEnum):
    FACILITATOR = "facilitator"
    ADMIN = "admin"


SYSTEM_ACTOR = "system"


def satisfies(held: set[str], needed: Role) -> bool:
    """Admins can do everything a facilitator can."""
    return Role.ADMIN in held or needed in held


class Audit:
    """Appends audit rows: ids and actions only, never names, e-mails, free text or communities."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    async def record(self, session: AsyncSession, actor_id: str, action: str, record_id: str | None = None,
                     outcome: str = "done") -> None:
        await AuditRepository(session).add(
            at=self._clock.now(), actor_id=actor_id, action=action, record_id=record_id, outcome=outcome
        )


class RoleService:
    def __init__(self, database: Database, clock: Clock, audit: Audit) -> None:
        self._database = database
        self._clock = clock
        self._audit = audit

    async def roles_of(self, person_id: str) -> set[str]:
        async with self._database.transaction() as session:
            return await RoleRepository(session).roles_of(person_id)

    async def require(self, person_id: str, role: Role, action: str, record_id: str | None = None) -> bool:
        """True when the person holds the role; otherwise writes a `refused` audit row and returns False."""
        async with self._database.transaction() as session:
            held = await RoleRepository(session).roles_of(person_id)
            if satisfies(held, role):
                return True
            await self._audit.record(session, person_id, action, record_id, outcome="refused")
            return False

    async def seed_bootstrap_admins(self, admin_ids: list[str]) -> None:
        async with self._database.transaction() as session:
            repository = RoleRepository(session)
            for admin_id in admin_ids:
                if await repository.grant(admin_id, Role.ADMIN, "bootstrap", self._clock.now()):
                    await self._audit.record(session, SYSTEM_ACTOR, "role.grant.admin", admin_id)

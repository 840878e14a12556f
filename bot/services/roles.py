"""Roles and the audit log (design §2): every privileged action is checked here, on the server."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from cards.audit import AuditLine
from storage.db import Database
from storage.repositories.people import PeopleRepository
from storage.repositories.roles import AuditRepository, RoleRepository
from vocabulary.words import AuditOutcome, Role, RoleChangeOutcome

SYSTEM_ACTOR = "system"
CLI_ACTOR = "cli"


@dataclass(frozen=True)
class RoleHolder:
    """One role grant, with the name and e-mail we know for the person (None if they never used the bot)."""

    person_id: str
    role: Role
    granted_at: datetime
    display_name: str | None
    email: str | None


def satisfies(held: set[str], needed: Role) -> bool:
    """Admins can do everything a facilitator can."""
    return Role.ADMIN in held or needed in held


class Audit:
    """Appends audit rows: ids and actions only, never names, e-mails, free text or communities."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    async def record(self, session: AsyncSession, actor_id: str, action: str, record_id: str | None = None,
                     outcome: str = AuditOutcome.DONE.value) -> None:
        await AuditRepository(session).add(
            at=self._clock.now(), actor_id=actor_id, action=action, record_id=record_id, outcome=outcome
        )


class RoleSource(Protocol):
    """Roles held outside the database, e.g. through Entra groups (bot/graph/group_roles.py)."""

    async def roles_of(self, person_id: str) -> set[str]: ...

    async def members(self, role: str) -> frozenset[str]:
        """Everyone holding `role` through this source."""
        ...


class RoleService:
    def __init__(self, database: Database, clock: Clock, audit: Audit) -> None:
        self._database = database
        self._clock = clock
        self._audit = audit
        self._sources: list[RoleSource] = []

    def add_source(self, source: RoleSource) -> None:
        """Roles from `source` add to the stored ones in every check; they cannot be granted or revoked here."""
        self._sources.append(source)

    async def _outside_roles(self, person_id: str) -> set[str]:
        # Asked before opening a transaction: a slow Graph call must never hold a database lock.
        held: set[str] = set()
        for source in self._sources:
            held |= await source.roles_of(person_id)
        return held

    async def roles_of(self, person_id: str) -> set[str]:
        outside = await self._outside_roles(person_id)
        async with self._database.read() as session:
            return await RoleRepository(session).roles_of(person_id) | outside

    async def require(self, person_id: str, role: Role, action: str, record_id: str | None = None) -> bool:
        """True when the person holds the role; otherwise writes a `refused` audit row and returns False."""
        outside = await self._outside_roles(person_id)
        # Most checks pass: read without the write lock, and write only the refusal's audit row.
        async with self._database.read() as session:
            held = await RoleRepository(session).roles_of(person_id) | outside
        if satisfies(held, role):
            return True
        async with self._database.transaction() as session:
            await self._audit.record(session, person_id, action, record_id, outcome=RoleChangeOutcome.REFUSED.value)
        return False

    async def holder_ids(self, role: Role) -> list[str]:
        """Everyone who holds the role, stored or through a source (e.g. an Entra group), each once, in order."""
        outside: set[str] = set()
        for source in self._sources:
            outside |= await source.members(role.value)
        async with self._database.read() as session:
            stored = await RoleRepository(session).holder_ids(role.value)
        return sorted(set(stored) | outside)

    async def seed_bootstrap_admins(self, admin_ids: list[str]) -> None:
        async with self._database.transaction() as session:
            repository = RoleRepository(session)
            for admin_id in admin_ids:
                if await repository.grant(admin_id, Role.ADMIN.value, "bootstrap", self._clock.now()):
                    await self._audit.record(session, SYSTEM_ACTOR, "role.grant.admin", admin_id)

    async def grant(self, actor_id: str, person_id: str, role: Role) -> RoleChangeOutcome:
        """Give a role; audited as `role.grant.<role>` with the person's id (never their name or e-mail)."""
        try:
            return await self._grant_once(actor_id, person_id, role)
        except IntegrityError:
            # Two admins gave the same role at the same moment: the second try finds it there.
            return await self._grant_once(actor_id, person_id, role)

    async def _grant_once(self, actor_id: str, person_id: str, role: Role) -> RoleChangeOutcome:
        async with self._database.transaction() as session:
            added = await RoleRepository(session).grant(person_id, role.value, actor_id, self._clock.now())
            outcome = RoleChangeOutcome.DONE if added else RoleChangeOutcome.UNCHANGED
            await self._audit.record(session, actor_id, f"role.grant.{role.value}", person_id, outcome.value)
            return outcome

    async def revoke(self, actor_id: str, person_id: str, role: Role) -> RoleChangeOutcome:
        """Take a role away; never the last admin's. Audited as `role.revoke.<role>`."""
        async with self._database.transaction() as session:
            repository = RoleRepository(session)
            outcome = RoleChangeOutcome.DONE
            # The lock makes two concurrent revocations of the last two admins run one after the other,
            # so the second sees one admin left and is refused.
            if role == Role.ADMIN and await repository.count(Role.ADMIN.value, lock=True) <= 1:
                held = Role.ADMIN in await repository.roles_of(person_id)
                outcome = RoleChangeOutcome.LAST_ADMIN if held else RoleChangeOutcome.UNCHANGED
            elif not await repository.revoke(person_id, role.value):
                outcome = RoleChangeOutcome.UNCHANGED
            await self._audit.record(session, actor_id, f"role.revoke.{role.value}", person_id, outcome.value)
            return outcome

    async def holders(self) -> list[RoleHolder]:
        """Every grant, admins first, with what we know of each person for display."""
        async with self._database.read() as session:
            grants = await RoleRepository(session).all()
            people = {person.id: person for person in await PeopleRepository(session).by_ids(
                sorted({grant.person_id for grant in grants}))}
        result = []
        for grant in grants:
            person = people.get(grant.person_id)
            result.append(RoleHolder(grant.person_id, Role(grant.role), grant.granted_at,
                                     person.display_name if person else None, person.email if person else None))
        return sorted(result, key=lambda holder: (holder.role != Role.ADMIN, holder.granted_at))

    async def record_export(self, actor_id: str) -> None:
        """Taking a copy of the whole audit log is itself recorded (the command line's export, the desk's)."""
        async with self._database.transaction() as session:
            await self._audit.record(session, actor_id, "audit.export")

    async def audit_entries(self, limit: int | None = None) -> list[AuditLine]:
        """The latest `limit` audit rows, newest first; or every row, oldest first, when limit is None."""
        async with self._database.read() as session:
            repository = AuditRepository(session)
            rows = await repository.latest(limit) if limit is not None else await repository.all()
        return [AuditLine(row.at, row.actor_id, row.action, row.record_id, row.outcome) for row in rows]

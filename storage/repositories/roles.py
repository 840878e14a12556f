from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import dialect_insert
from storage.models import AuditEntry, RoleGrant


class RoleRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def roles_of(self, person_id: str) -> set[str]:
        result = await self.session.execute(select(RoleGrant.role).where(RoleGrant.person_id == person_id))
        return set(result.scalars())

    async def grant(self, person_id: str, role: str, by: str, now: datetime) -> bool:
        result = await self.session.execute(
            dialect_insert(self.session, RoleGrant)
            .values(person_id=person_id, role=role, granted_at=now, granted_by=by)
            .on_conflict_do_nothing(index_elements=["person_id", "role"]))
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def revoke(self, person_id: str, role: str) -> bool:
        result = await self.session.execute(
            delete(RoleGrant).where(RoleGrant.person_id == person_id, RoleGrant.role == role)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def count(self, role: str, *, lock: bool = False) -> int:
        query = select(RoleGrant.person_id).where(RoleGrant.role == role)
        if lock:
            # Serialises concurrent revocations so the last admin cannot be removed by a race.
            query = query.with_for_update()
        result = await self.session.execute(query)
        return len(result.all())

    async def holder_ids(self, role: str) -> list[str]:
        result = await self.session.execute(
            select(RoleGrant.person_id).where(RoleGrant.role == role).order_by(RoleGrant.person_id))
        return list(result.scalars())

    async def all(self) -> list[RoleGrant]:
        result = await self.session.execute(select(RoleGrant).order_by(RoleGrant.role, RoleGrant.granted_at))
        return list(result.scalars())


class AuditRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, *, at: datetime, actor_id: str, action: str, record_id: str | None, outcome: str) -> None:
        self.session.add(AuditEntry(at=at, actor_id=actor_id, action=action, record_id=record_id, outcome=outcome))
        await self.session.flush()

    async def latest(self, limit: int = 20) -> list[AuditEntry]:
        result = await self.session.execute(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit))
        return list(result.scalars())

    async def all(self) -> list[AuditEntry]:
        result = await self.session.execute(select(AuditEntry).order_by(AuditEntry.id))
        return list(result.scalars())

    async def count(self) -> int:
        result = await self.session.execute(select(func.count()).select_from(AuditEntry))
        return int(result.scalar_one())

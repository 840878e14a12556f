"""Who may act on a session: its facilitators (co-facilitators included) and admins. One check for every
facilitator action on a session, including marking who came (bot/services/attendance.py).

Roles come from RoleService, which adds roles from Entra groups (bot/graph/group_roles.py) to the stored ones,
as every other check does. They are asked before the transaction opens (`Actor.of`): a slow Graph call must
never hold a database lock."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from bot.services.roles import Audit, RoleService, satisfies
from storage.models import TrainingSession
from storage.repositories.sessions import SessionRepository
from vocabulary.words import AuditOutcome, Role

Refusal = Literal["not_found", "refused"]


@dataclass(frozen=True)
class Actor:
    """Who acts, and whether they are an admin (who may act on every session)."""

    id: str
    admin: bool

    @classmethod
    async def of(cls, roles: RoleService, actor_id: str) -> Actor:
        return cls(actor_id, satisfies(await roles.roles_of(actor_id), Role.ADMIN))


async def managed_session(session: AsyncSession, audit: Audit, actor: Actor, session_id: int, action: str, *,
                          lock: bool = False) -> TrainingSession | Refusal:
    """The session, if the actor manages it (a facilitator of it, or an admin); else why not, audited under
    `action`. `lock`: lock the session's row, for a change of its seats (see the package's docstring)."""
    repository = SessionRepository(session)
    row = await (repository.lock(session_id) if lock else repository.get(session_id))
    if row is None:
        await audit.record(session, actor.id, action, str(session_id), AuditOutcome.REFUSED)
        return "not_found"
    if not actor.admin and not await repository.is_manager(session_id, actor.id):
        await audit.record(session, actor.id, action, str(session_id), AuditOutcome.REFUSED)
        return "refused"
    return row

"""Who may act on a session: its facilitators (co-facilitators included) and admins. One check for every
facilitator action on a session, including marking who came (bot/services/attendance.py)."""

from __future__ import annotations

from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from bot.services.roles import Audit, Role
from storage.models import TrainingSession
from storage.repositories.roles import RoleRepository
from storage.repositories.sessions import SessionRepository

Refusal = Literal["not_found", "refused"]


async def managed_session(session: AsyncSession, audit: Audit, actor_id: str, session_id: int, action: str, *,
                          lock: bool = False) -> TrainingSession | Refusal:
    """The session, if the actor manages it (a facilitator of it, or an admin); else why not, audited under
    `action`. `lock`: lock the session's row, for a change of its seats (see the package's docstring)."""
    repository = SessionRepository(session)
    row = await (repository.lock(session_id) if lock else repository.get(session_id))
    if row is None:
        await audit.record(session, actor_id, action, str(session_id), "refused")
        return "not_found"
    if not await repository.is_manager(session_id, actor_id) and \
            Role.ADMIN not in await RoleRepository(session).roles_of(actor_id):
        await audit.record(session, actor_id, action, str(session_id), "refused")
        return "refused"
    return row

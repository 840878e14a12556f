"""Roles by Entra object id, and the append-only audit log (ids and actions only, never personal data)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base
from storage.models.people import ENTRA_ID


class RoleGrant(Base):
    __tablename__ = "roles"

    person_id: Mapped[str] = mapped_column(ENTRA_ID, primary_key=True)
    role: Mapped[str] = mapped_column(String(16), primary_key=True)  # facilitator | admin
    granted_at: Mapped[datetime]
    granted_by: Mapped[str] = mapped_column(String(64))


class AuditEntry(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(index=True)
    actor_id: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    record_id: Mapped[str | None] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(16))  # done | refused

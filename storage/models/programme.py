"""Programme settings that admins change in Teams (design §4 "Running the programme"): a few typed values
kept as key and text, so adding one needs no migration. No personal data: the actor is an opaque id."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base


class ProgrammeSetting(Base):
    __tablename__ = "programme_settings"

    # e.g. "phase", "end_date", "retention_last_run" (see bot/services/programme.py for the keys and their types)
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime]
    # Entra object id of the admin who changed it, or "system" for the bot's own jobs.
    updated_by: Mapped[str] = mapped_column(String(64))

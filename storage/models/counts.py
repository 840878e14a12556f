"""Counts snapshots (design §5): raw figures, taken at most once every COUNTS_REFRESH_HOURS.

The raw figures never leave the server: everything shown is made from them by bot.services.suppression.
Only the latest snapshot is kept, so no history of raw figures builds up.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Integer
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base


class CountsSnapshot(Base):
    __tablename__ = "counts_snapshots"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    taken_at: Mapped[datetime] = mapped_column(index=True)
    # Raw counts only (no ids, names or per-person rows): see bot.services.counts.RawFigures.
    figures: Mapped[dict[str, Any]] = mapped_column(JSON)

"""Dialog and conversation state documents, with an eTag for optimistic concurrency."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base


class StateDocument(Base):
    __tablename__ = "state_documents"

    key: Mapped[str] = mapped_column(String(512), primary_key=True)
    etag: Mapped[int] = mapped_column(Integer, default=1)
    data: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime]

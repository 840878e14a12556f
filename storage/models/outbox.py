"""The durable outbox (design §7): every proactive message, written in the transaction that causes it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base


class OutboxMessage(Base):
    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # Names the cause and the recipient, e.g. "invite:s42:p<entra id>"; the same key is one message, ever.
    key: Mapped[str] = mapped_column(String(255), unique=True)
    # Exactly one of person_id (their 1:1 chat) or conversation_id (a channel or chat).
    person_id: Mapped[str | None] = mapped_column(String(36), index=True)
    conversation_id: Mapped[str | None] = mapped_column(String(512))
    # Messages to one recipient leave in enqueue order: the worker sends the lowest id per order_key first.
    order_key: Mapped[str] = mapped_column(String(520))
    kind: Mapped[str] = mapped_column(String(16))  # send | update
    # For an update: the outbox message whose Teams activity it replaces.
    updates_id: Mapped[int | None] = mapped_column(ForeignKey("outbox.id", ondelete="CASCADE"))
    payload: Mapped[str] = mapped_column(Text)  # JSON: {"card": {...}} or {"text": "..."}
    # Who asked for it and as part of what (an announcement, a session), for progress and reports.
    batch: Mapped[str | None] = mapped_column(String(64), index=True)
    author_id: Mapped[str | None] = mapped_column(String(36))
    purpose: Mapped[str] = mapped_column(String(32))  # invitation | reminder | update | announcement | ...
    status: Mapped[str] = mapped_column(String(16), default="pending")
    # pending | sending | sent | failed | undeliverable | cancelled
    due_at: Mapped[datetime]
    lease_until: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(64))  # Teams' error code only, never a body
    activity_id: Mapped[str | None] = mapped_column(String(256))
    sent_conversation_id: Mapped[str | None] = mapped_column(String(512))
    created_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]

    __table_args__ = (
        Index("ix_outbox_status_due", "status", "due_at"),
        Index("ix_outbox_order", "order_key", "id"),
    )


class OutboxAttempt(Base):
    """Every attempt's HTTP status and time (design §7)."""

    __tablename__ = "outbox_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("outbox.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime]
    status: Mapped[int | None] = mapped_column(Integer)  # None for a timeout or connection error
    error: Mapped[str | None] = mapped_column(String(64))

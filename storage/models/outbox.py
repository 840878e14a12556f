"""The durable outbox (design §7): every proactive message, written in the transaction that causes it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base
from vocabulary.words import AttemptOperation, OutboxStatus


class OutboxMessage(Base):
    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # Names the cause and the recipient, e.g. "invite:s42:p<entra id>"; the same key is one message, ever.
    key: Mapped[str] = mapped_column(String(255), unique=True)
    # Exactly one of person_id (their 1:1 chat) or conversation_id (a channel or chat).
    person_id: Mapped[str | None] = mapped_column(String(64), index=True)
    conversation_id: Mapped[str | None] = mapped_column(String(512))
    # Messages to one recipient leave in enqueue order: an open message with a lower id and the same order_key
    # (whose due time has come) holds back every later one.
    order_key: Mapped[str] = mapped_column(String(520))
    kind: Mapped[str] = mapped_column(String(16))  # an OutboxKind
    # For an update: the outbox message whose Teams activity it replaces.
    # Indexed: deleting an outbox row (an erasure) looks here for the updates that go with it.
    updates_id: Mapped[int | None] = mapped_column(ForeignKey("outbox.id", ondelete="CASCADE"), index=True)
    payload: Mapped[str] = mapped_column(Text)  # JSON: {"card": {...}} or {"text": "..."}
    # Who asked for it and as part of what (an announcement, a session), for progress and reports.
    batch: Mapped[str | None] = mapped_column(String(64), index=True)
    author_id: Mapped[str | None] = mapped_column(String(64))
    purpose: Mapped[str] = mapped_column(String(32))  # an OutboxPurpose
    # An OutboxStatus; open ones (OPEN_OUTBOX_STATUSES) still hold their place in their recipient's queue.
    status: Mapped[str] = mapped_column(String(16), default=OutboxStatus.PENDING.value)
    # Not before this time, as the caller asked (a reminder may be enqueued days ahead).
    due_at: Mapped[datetime]
    # Not before this time either, after a retryable failure. Kept apart from due_at because a retrying
    # message keeps its place in the recipient's queue while one scheduled for later does not take one yet.
    retry_at: Mapped[datetime | None]
    lease_until: Mapped[datetime | None]
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(64))  # Teams' error code only, never a body
    activity_id: Mapped[str | None] = mapped_column(String(256))
    sent_conversation_id: Mapped[str | None] = mapped_column(String(512))
    created_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]

    __table_args__ = (
        # Claims read due messages in (due_at, id) order and stop at the batch size.
        Index("ix_outbox_status_due", "status", "due_at", "id"),
        # The "is an earlier message still open?" probe of every claim.
        Index("ix_outbox_order", "order_key", "status", "id"),
    )


class OutboxAttempt(Base):
    """Every attempt's HTTP status and time (design §7)."""

    __tablename__ = "outbox_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("outbox.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime]
    operation: Mapped[str] = mapped_column(String(8), default=AttemptOperation.SEND.value)  # an AttemptOperation
    # None for a timeout or connection error, and for an install Graph answered (its outcome is in `error`)
    status: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(String(64))
    duration_ms: Mapped[int | None] = mapped_column(Integer)


class WorkerHeartbeat(Base):
    """One row per running delivery worker process (the engine is bot.delivery.worker.DeliveryWorker): its
    heartbeat and whatever stops it sending, for /healthz."""

    __tablename__ = "delivery_workers"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # host:pid:random
    started_at: Mapped[datetime]
    heartbeat_at: Mapped[datetime]
    # On PostgreSQL only the leader (holder of an advisory lock) sends, so the rate budget is shared.
    leader: Mapped[bool] = mapped_column(Boolean, default=False)
    state: Mapped[str] = mapped_column(String(16))  # a WorkerState
    # e.g. "401 Unauthorized" or "TokenRefused": set while sending is stopped for the bot's credentials.
    problem: Mapped[str | None] = mapped_column(String(64))
    problem_since: Mapped[datetime | None]

"""Calendar work for Microsoft Graph (design §8), done by a worker so that a Graph failure never loses the
session change that caused it: jobs are written in the session's own transaction."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base
from storage.models.people import ENTRA_ID
from vocabulary.words import GraphJobStatus


class GraphJob(Base):
    """One change to a session's Teams meeting. Jobs of one session run one at a time, in id order."""

    __tablename__ = "graph_jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))  # a GraphJobKind
    session_id: Mapped[int] = mapped_column(Integer)
    person_id: Mapped[str | None] = mapped_column(ENTRA_ID, index=True)
    # Only for remove_attendee: copied at enqueue time because the person may be erased in that same transaction
    # (a withdrawal), and the event knows attendees only by address. Cleared when the job ends.
    attendee_email: Mapped[str | None] = mapped_column(String(320))
    mailbox: Mapped[str | None] = mapped_column(String(320))  # create only: overrides the organiser mailbox
    start_at: Mapped[datetime | None]  # create and update_time
    end_at: Mapped[datetime | None]
    author_id: Mapped[str | None] = mapped_column(ENTRA_ID)  # the facilitator told if the job fails for good
    status: Mapped[str] = mapped_column(String(16), default=GraphJobStatus.PENDING.value)  # a GraphJobStatus
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    due_at: Mapped[datetime]
    lease_until: Mapped[datetime | None]
    last_status: Mapped[int | None] = mapped_column(Integer)  # Graph's HTTP status, never a body
    last_error: Mapped[str | None] = mapped_column(String(64))  # Graph's error code or our reason
    created_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]

    __table_args__ = (
        Index("ix_graph_jobs_status_due", "status", "due_at"),
        Index("ix_graph_jobs_session", "session_id", "id"),
    )


class GraphEvent(Base):
    """The calendar event of a session, once created."""

    __tablename__ = "graph_events"

    session_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    mailbox: Mapped[str] = mapped_column(String(320))
    event_id: Mapped[str] = mapped_column(String(512))
    join_url: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    cancelled_at: Mapped[datetime | None]

"""Sessions facilitators run, who manages them, and each invited person's reply (design §4)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base
from storage.models.people import ENTRA_ID
from vocabulary.words import InvitationStatus, SessionStatus


class TrainingSession(Base):
    """One session. Times are UTC; UK time is only for display and input."""

    __tablename__ = "training_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    title: Mapped[str] = mapped_column(String(200))
    phase: Mapped[str] = mapped_column(String(32))  # a vocabulary.words.Phase
    space: Mapped[str] = mapped_column(String(16))  # a vocabulary.words.SessionAudience
    # The communities filter (one column a vocabulary.words.Community, storage.repositories.sessions
    # .session_communities): when any is set, only people who chose one of them are invited.
    filter_ethnicity: Mapped[bool] = mapped_column(Boolean, default=False)
    filter_disability: Mapped[bool] = mapped_column(Boolean, default=False)
    filter_neurodivergent: Mapped[bool] = mapped_column(Boolean, default=False)
    filter_lgbtq: Mapped[bool] = mapped_column(Boolean, default=False)
    starts_at: Mapped[datetime] = mapped_column(index=True)
    ends_at: Mapped[datetime]
    join_url: Mapped[str | None] = mapped_column(String(1000))
    # Where people who came can say what they thought (https only); given by a facilitator with attendance.
    feedback_url: Mapped[str | None] = mapped_column(String(1000))
    capacity: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default=SessionStatus.DRAFT.value)  # a SessionStatus
    # Counts changes of time or link, so each change has its own outbox key (design §7).
    change_no: Mapped[int] = mapped_column(Integer, default=0)
    # The next waiting-list ticket; only ever grows, so waiting order is the order people pressed Accept.
    next_waiting_seq: Mapped[int] = mapped_column(Integer, default=1)
    created_by: Mapped[str] = mapped_column(ENTRA_ID)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    published_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
    # When the start time was last set (created or changed). A reminder whose time had already passed then is
    # not owed: a session moved to tomorrow gets no "24 h" reminder late. None: since created_at.
    time_set_at: Mapped[datetime | None]


class SessionFacilitator(Base):
    """Who may manage a session: the person who created it and any co-facilitators."""

    __tablename__ = "session_facilitators"

    session_id: Mapped[int] = mapped_column(
        ForeignKey("training_sessions.id", ondelete="CASCADE"), primary_key=True)
    person_id: Mapped[str] = mapped_column(ENTRA_ID, primary_key=True, index=True)
    added_by: Mapped[str] = mapped_column(ENTRA_ID)
    added_at: Mapped[datetime]


class Invitation(Base):
    """One person invited to one session, and their reply. Deleted when the person is erased."""

    __tablename__ = "invitations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("training_sessions.id", ondelete="CASCADE"))
    person_id: Mapped[str] = mapped_column(ENTRA_ID, ForeignKey("people.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(16), default=InvitationStatus.INVITED.value)  # an InvitationStatus
    # Set while waiting: the position is the number of waiting people with a ticket up to this one.
    waiting_seq: Mapped[int | None] = mapped_column(Integer)
    # Grows with every change of status, so each change has its own outbox key.
    rev: Mapped[int] = mapped_column(Integer, default=0)
    invited_at: Mapped[datetime]
    replied_at: Mapped[datetime | None]
    # The outbox message that carries this person's invitation card, so later changes update it in place.
    card_outbox_id: Mapped[int | None] = mapped_column(Integer)
    # When they last got a seat (accepted, or promoted from the waiting list). Someone seated late is owed only
    # the reminders whose time had not passed yet.
    seated_at: Mapped[datetime | None]
    # Marked by a facilitator after the start: True came, False did not come, None not marked yet.
    attended: Mapped[bool | None] = mapped_column(Boolean)
    attendance_marked_at: Mapped[datetime | None]

    __table_args__ = (
        UniqueConstraint("session_id", "person_id"),
        Index("ix_invitations_session_status", "session_id", "status", "waiting_seq"),
    )

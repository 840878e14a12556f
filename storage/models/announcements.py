"""Announcements facilitators send to channels and to audiences of volunteers (design §4 Announcements).

Each message itself lives in the outbox (batch "announcement:<id>"); this row holds what was written, who it
is for, when it starts and the author's progress card."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base
from storage.models.people import ENTRA_ID
from vocabulary.words import AnnouncementStatus


class Announcement(Base):
    __tablename__ = "announcements"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # The facilitator who wrote it. Named *_person_id so "Get a copy of my data" includes it; set to None when
    # the author's data is erased (the programme keeps the announcement, not who wrote it).
    author_person_id: Mapped[str | None] = mapped_column(ENTRA_ID, index=True)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    link_url: Mapped[str | None] = mapped_column(String(1000))
    link_title: Mapped[str | None] = mapped_column(String(80))
    # Who it is for, as the author chose it (JSON): conversation reference ids of channels, spaces, phases and
    # session ids. People are chosen when sending starts, so a later sign-up or "Stop announcements" counts.
    audience: Mapped[str] = mapped_column(Text)
    # An AnnouncementStatus: scheduled (waiting for send_at) → sending → done; scheduled or sending → stopped.
    status: Mapped[str] = mapped_column(String(16), default=AnnouncementStatus.SCHEDULED.value)
    # When the author asked for it to go (UTC): the time they chose, or when they pressed Send.
    requested_at: Mapped[datetime]
    # When sending starts (UTC): requested_at, or the end of quiet hours when that fell inside them.
    send_at: Mapped[datetime]
    # The author confirmed sending during quiet hours (design §4).
    quiet_hours_confirmed: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    stopped_at: Mapped[datetime | None]
    # Set when nothing of it is still to go: the progress card then shows the final report.
    finished_at: Mapped[datetime | None]
    # Raw number of messages enqueued: the base of the percentage, never shown (design §5).
    recipients: Mapped[int] = mapped_column(Integer, default=0)
    # The author's progress card (an outbox message) and the updates made to it so far.
    progress_outbox_id: Mapped[int | None] = mapped_column(Integer)
    progress_updates: Mapped[int] = mapped_column(Integer, default=0)
    # What the progress card shows now, so an update is sent only when it would look different.
    progress_shown: Mapped[str | None] = mapped_column(String(200))
    # Edits after sending (issue 24): how many, and when the last one was made (its copies say "Updated").
    revision: Mapped[int] = mapped_column(Integer, default=0)
    edited_at: Mapped[datetime | None]
    # Withdrawn by its author or an admin: every delivered copy was replaced by a short note. Final.
    recalled_at: Mapped[datetime | None]
    # Its final figures, stored before its outbox messages lose their text (operational retention, issue 23):
    # from then on the final report reads these, not the outbox, so an erasure of a recipient later deletes
    # their message without changing the report. Raw counts per outcome, shown only as the report shows them
    # (design §5). None until stored.
    final_sent: Mapped[int | None] = mapped_column(Integer)
    final_undeliverable: Mapped[int | None] = mapped_column(Integer)
    final_failed: Mapped[int | None] = mapped_column(Integer)
    final_cancelled: Mapped[int | None] = mapped_column(Integer)
    figures_stored_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_announcements_status_send_at", "status", "send_at"),)


class AnnouncementChange(Base):
    """An edit or a recall of a delivered announcement: one in-place update per delivered copy, in the outbox
    (batch "announcement-change:<id>"), tracked on the author's progress card like the sending itself."""

    __tablename__ = "announcement_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    announcement_id: Mapped[int] = mapped_column(ForeignKey("announcements.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # an AnnouncementChangeKind: edit | recall
    # The announcement's revision this change shows (an edit's number; a recall keeps the last one).
    revision: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]
    # Raw number of copies being changed: the base of the percentage, never shown (design §5).
    recipients: Mapped[int] = mapped_column(Integer, default=0)
    # Set when every update has been dealt with: the progress card then shows this change's final report.
    finished_at: Mapped[datetime | None]

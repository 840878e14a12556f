"""People who use the bot, how to reach them, and what volunteers told us (special category data)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base

# Entra object ids are 36 characters; the Playground's local user id is 37. The edge refuses anything longer.
ENTRA_ID = String(64)


class Person(Base):
    """Anyone the bot has met, keyed by Entra object id. Name and e-mail are cached from Teams' member API."""

    __tablename__ = "people"

    id: Mapped[str] = mapped_column(ENTRA_ID, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(64), default="")
    display_name: Mapped[str | None] = mapped_column(String(256))
    email: Mapped[str | None] = mapped_column(String(320), index=True)
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    # Set when Teams says the person cannot be reached (design §7); cleared when they come back.
    undeliverable_code: Mapped[str | None] = mapped_column(String(64))
    undeliverable_since: Mapped[datetime | None]
    announcements_stopped: Mapped[bool] = mapped_column(Boolean, default=False)
    welcomed_at: Mapped[datetime | None]
    # Last known Teams user id and service URL: enough to open a 1:1 chat with them later.
    teams_user_id: Mapped[str | None] = mapped_column(String(256))
    service_url: Mapped[str | None] = mapped_column(String(512))


class ConversationRef(Base):
    """Where a proactive message can reach a person (their 1:1 chat) or a channel or group chat."""

    __tablename__ = "conversation_refs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str] = mapped_column(String(512), unique=True)
    kind: Mapped[str] = mapped_column(String(16))  # personal | channel | groupChat
    person_id: Mapped[str | None] = mapped_column(ENTRA_ID, ForeignKey("people.id", ondelete="CASCADE"))
    teams_user_id: Mapped[str | None] = mapped_column(String(256))
    service_url: Mapped[str] = mapped_column(String(512))
    tenant_id: Mapped[str] = mapped_column(String(64), default="")
    bot_id: Mapped[str] = mapped_column(String(256), default="")
    team_id: Mapped[str | None] = mapped_column(String(512))
    team_name: Mapped[str | None] = mapped_column(String(256))
    channel_name: Mapped[str | None] = mapped_column(String(256))
    installed: Mapped[bool] = mapped_column(Boolean, default=True)
    welcomed_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]

    __table_args__ = (Index("ix_conversation_refs_person_kind", "person_id", "kind"),)


class Organisation(Base):
    __tablename__ = "organisations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    retired: Mapped[bool] = mapped_column(Boolean, default=False)


class Volunteer(Base):
    """A sign-up. Every column but the ids and times is special category or personal data (design §6). The
    answers are one boolean column each: the space through `VolunteerSpace.of_flags`/`.flags`, communities and
    phases through `Community.column`/`Phase.column` (vocabulary/words.py)."""

    __tablename__ = "volunteers"

    person_id: Mapped[str] = mapped_column(ENTRA_ID, ForeignKey("people.id", ondelete="CASCADE"), primary_key=True)
    space_minoritised: Mapped[bool] = mapped_column(Boolean, default=False)
    space_ally: Mapped[bool] = mapped_column(Boolean, default=False)
    community_ethnicity: Mapped[bool] = mapped_column(Boolean, default=False)
    community_disability: Mapped[bool] = mapped_column(Boolean, default=False)
    community_neurodivergent: Mapped[bool] = mapped_column(Boolean, default=False)
    community_lgbtq: Mapped[bool] = mapped_column(Boolean, default=False)
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    phase_codesign: Mapped[bool] = mapped_column(Boolean, default=False)
    phase_train_the_trainer: Mapped[bool] = mapped_column(Boolean, default=False)
    adjustments_contact: Mapped[bool] = mapped_column(Boolean, default=False)
    adjustments_contacted_at: Mapped[datetime | None]
    adjustments_contacted_by: Mapped[str | None] = mapped_column(ENTRA_ID)
    # "Also tell me in my Teams activity feed" (issue 24): invitations and reminders also arrive as Teams
    # activity-feed notifications, when Graph is on. Off unless they turn it on in "Your details".
    feed_notifications: Mapped[bool] = mapped_column(Boolean, default=False)
    # Version of the privacy notice the person last agreed to; invitations wait while it is behind.
    consent_version: Mapped[int] = mapped_column(Integer)
    signed_up_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ConsentRecord(Base):
    """Append-only: every consent given or withdrawn. Kept after erasure, as the law requires."""

    __tablename__ = "consent_records"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    person_id: Mapped[str] = mapped_column(ENTRA_ID, index=True)
    recorded_at: Mapped[datetime]
    action: Mapped[str] = mapped_column(String(16))  # vocabulary.words.ConsentAction
    notice_version: Mapped[int] = mapped_column(Integer)
    notice_sha256: Mapped[str] = mapped_column(String(64))
    method: Mapped[str] = mapped_column(String(32))  # e.g. teams-card, teams-command, retention-job


class Erasure(Base):
    """Who was erased and when. A restore from backup loses the rows written after the backup, so the erasure
    log outside the database (bot/services/retention.py) brings erasures back; this table tells its replay at
    start-up which ones the database already has."""

    __tablename__ = "erasures"

    person_id: Mapped[str] = mapped_column(ENTRA_ID, primary_key=True)
    erased_at: Mapped[datetime]
    reason: Mapped[str] = mapped_column(String(16))  # vocabulary.words.ErasureReason


class PrivacyNotice(Base):
    __tablename__ = "privacy_notices"

    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
    published_at: Mapped[datetime]

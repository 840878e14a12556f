"""Every model module is imported here so that `Base.metadata` is complete for migrations."""

from storage.models.announcements import Announcement
from storage.models.base import Base
from storage.models.counts import CountsSnapshot
from storage.models.graph import GraphEvent, GraphJob
from storage.models.outbox import OutboxAttempt, OutboxMessage
from storage.models.people import (
    ConsentRecord,
    ConversationRef,
    Erasure,
    Organisation,
    Person,
    PrivacyNotice,
    Volunteer,
)
from storage.models.programme import ProgrammeSetting
from storage.models.roles import AuditEntry, RoleGrant
from storage.models.sessions import Invitation, SessionFacilitator, TrainingSession
from storage.models.state import StateDocument

__all__ = [
    "Announcement",
    "AuditEntry",
    "Base",
    "ConsentRecord",
    "ConversationRef",
    "CountsSnapshot",
    "Erasure",
    "GraphEvent",
    "GraphJob",
    "Invitation",
    "Organisation",
    "OutboxAttempt",
    "OutboxMessage",
    "Person",
    "PrivacyNotice",
    "ProgrammeSetting",
    "RoleGrant",
    "SessionFacilitator",
    "StateDocument",
    "TrainingSession",
    "Volunteer",
]

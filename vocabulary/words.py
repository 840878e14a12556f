"""Every closed set the programme uses, as a `StrEnum` whose value is what storage keeps and whose labels are
what people read (design §3). Add a word here, never as a literal elsewhere."""

from __future__ import annotations

from enum import StrEnum
from typing import Self


class Word(StrEnum):
    """A stored value with its label for people, its short chart label and, where a sign-up question offers it,
    the longer wording of that choice."""

    label: str
    chart_label: str
    choice_label: str

    def __new__(cls, value: str, label: str = "", chart_label: str = "", choice_label: str = "") -> Self:
        member = str.__new__(cls, value)
        member._value_ = value
        member.label = label or value
        member.chart_label = chart_label or member.label
        member.choice_label = choice_label or member.label
        return member

    @classmethod
    def parse(cls, value: object) -> Self | None:
        """The member whose value is `value`, or None (a stale or forged card, an unknown stored value)."""
        if isinstance(value, str):
            try:
                return cls(value)
            except ValueError:
                return None
        return None


# -- who a volunteer is and what they signed up for ------------------------------------------------------------

class VolunteerSpace(Word):
    """The space(s) a volunteer joined. Stored as two booleans (people.space_minoritised, people.space_ally):
    map with `of_flags` and `flags`."""

    MINORITISED = "minoritised", "Minoritised colleagues", "Minoritised", "Minoritised colleague"
    ALLY = "ally", "Active allies", "Allies", "Active ally"
    BOTH = "both", "In both spaces", "Both", "Both"

    @classmethod
    def of_flags(cls, minoritised: bool, ally: bool) -> VolunteerSpace | None:
        if minoritised and ally:
            return cls.BOTH
        if minoritised:
            return cls.MINORITISED
        if ally:
            return cls.ALLY
        return None

    @property
    def flags(self) -> tuple[bool, bool]:
        """(space_minoritised, space_ally) for this choice."""
        return self in (VolunteerSpace.MINORITISED, VolunteerSpace.BOTH), self in (VolunteerSpace.ALLY,
                                                                                    VolunteerSpace.BOTH)


class Community(Word):
    """A community in the minoritised space (design §3); stored as one boolean column each
    (people.community_<value>). Several may be chosen; none is "I'd rather not say"."""

    ETHNICITY = ("ethnicity", "Ethnically minoritised or from a culturally diverse background", "Ethnicity")
    DISABILITY = ("disability",
                  "Disabled or living with a long-term health condition (physical and/or mental health)",
                  "Disability")
    NEURODIVERGENT = "neurodivergent", "Neurodivergent", "Neurodivergent"
    LGBTQ = "lgbtq", "LGBT+", "LGBT+"

    @property
    def column(self) -> str:
        return f"community_{self.value}"


RATHER_NOT_SAY = "rather_not_say"  # the sign-up choice that stores no community
RATHER_NOT_SAY_LABEL = "I'd rather not say"


class Phase(Word):
    """A phase of the programme; a volunteer's interest is one boolean column each (people.phase_<value>)."""

    CODESIGN = ("codesign", "Co-design", "Co-design",
                "Co-design: shaping the training and its materials together")
    TRAIN_THE_TRAINER = ("train_the_trainer", "Train the trainer", "Train the trainer",
                         "Train the trainer: learning to deliver the training to colleagues")

    @property
    def column(self) -> str:
        return f"phase_{self.value}"


class ConsentAction(Word):
    """What a consent record says (consent_records.action): append-only, kept after erasure (design §6)."""

    GIVEN = "given", "Agreed"
    WITHDRAWN = "withdrawn", "Withdrew"  # they withdrew: their answers were deleted
    ERASED = "erased", "Erased at the retention date"


CONSENT_ENDED = (ConsentAction.WITHDRAWN, ConsentAction.ERASED)


class ErasureReason(Word):
    """Why a person's data was erased (erasures.reason, the erasure log): they withdrew, or the retention date
    passed (design §6)."""

    WITHDRAWN = "withdrawn", "They withdrew"
    RETENTION = "retention", "The retention date passed"

    @property
    def consent_action(self) -> ConsentAction:
        """The consent record that says their consent ended this way."""
        return ConsentAction.WITHDRAWN if self is ErasureReason.WITHDRAWN else ConsentAction.ERASED


# -- sessions and invitations ----------------------------------------------------------------------------------

class SessionAudience(Word):
    """Who a session is for: one space, or open to both (training_sessions.space)."""

    MINORITISED = "minoritised", "Minoritised colleagues", "Minoritised"
    ALLY = "ally", "Active allies", "Allies"
    OPEN = "open", "Open to both spaces", "Open"


class SessionStatus(Word):
    DRAFT = "draft", "Draft (not sent)"
    PUBLISHED = "published", "Published"
    CANCELLED = "cancelled", "Cancelled"


class InvitationStatus(Word):
    """An invitation's reply; the chart label names it in a session's figures and the roster file."""

    INVITED = "invited", "No reply yet", "No reply"
    ACCEPTED = "accepted", "Coming", "Accepted"
    WAITING = "waiting", "On the waiting list", "Waiting"
    DECLINED = "declined", "Not coming", "Declined"


class AttendanceMark(Word):
    """What a facilitator marks for someone who had a place (invitations.attended: True, False; None unmarked)."""

    ATTENDED = "attended", "Came"
    ABSENT = "absent", "Did not come"

    @classmethod
    def of_flag(cls, attended: bool | None) -> AttendanceMark | None:
        return None if attended is None else cls.ATTENDED if attended else cls.ABSENT

    @property
    def flag(self) -> bool:
        return self is AttendanceMark.ATTENDED


# -- announcements ----------------------------------------------------------------------------------------------

class AnnouncementStatus(Word):
    """scheduled (waiting for its start) → sending → done; scheduled or sending → stopped by the author."""

    SCHEDULED = "scheduled", "Scheduled"
    SENDING = "sending", "Sending"
    DONE = "done", "Sent"
    STOPPED = "stopped", "Stopped"


class AnnouncementChangeKind(Word):
    EDIT = "edit", "Edited"
    RECALL = "recall", "Recalled"


# The spaces an announcement's audience may choose: each on its own (people.space_<value>); a volunteer in both
# is in either.
ANNOUNCEMENT_SPACES = (VolunteerSpace.MINORITISED, VolunteerSpace.ALLY)


class AudienceSessionPeople(Word):
    """Who of the chosen sessions' people an announcement reaches (its stored audience's "session_people"): the
    label heads the check card's row, the choice label is the audience card's choice. Booked is the default."""

    BOOKED = "booked", "Booked on", "Booked on", "People booked on them"
    INVITED = "invited", "Invited to", "Invited to", "Everyone invited to them"  # whatever they replied
    ATTENDED = "attended", "Came to", "Came to", "People who came to them"


# -- delivery (design §7) --------------------------------------------------------------------------------------

class OutboxStatus(Word):
    """An outbox message's status. Open messages still hold their place in their recipient's queue."""

    PENDING = "pending", "Waiting to go"
    SENDING = "sending", "Sending"  # claimed by a worker until lease_until
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"
    UNDELIVERABLE = "undeliverable", "Could not be delivered"
    CANCELLED = "cancelled", "Cancelled"


OPEN_OUTBOX_STATUSES = (OutboxStatus.PENDING, OutboxStatus.SENDING)


class OutboxKind(Word):
    SEND = "send", "New message"
    UPDATE = "update", "Update of a sent card"


class DeliveryVerdict(Word):
    """What a Bot Connector answer means for the message, the recipient and the sender."""

    SENT = "sent", "Sent"
    RETRY = "retry", "Try again later"  # Teams or the network hiccupped
    UNDELIVERABLE = "undeliverable", "Recipient unreachable"  # until they come back
    FAILED = "failed", "Failed"  # the message is at fault (or Teams said no for good): never the person
    UNAUTHORIZED = "unauthorized", "Bot credentials refused"  # stop sending, keep everything pending


class WorkerState(Word):
    RUNNING = "running", "Running"
    STANDBY = "standby", "Standing by"
    PAUSED = "paused", "Paused"
    STOPPED = "stopped", "Stopped"


class SendOutcome(Word):
    """What the worker did with a message, as counted in /metrics (delivery_sends{outcome})."""

    SENT = "sent", "Sent"
    RETRY = "retry", "Will be tried again"
    FAILED = "failed", "Failed"
    UNDELIVERABLE = "undeliverable", "Recipient unreachable"
    SKIPPED = "skipped", "Recipient already unreachable"
    UNAUTHORIZED = "unauthorized", "Bot credentials refused (401)"


class AttemptOperation(Word):
    """One request the worker made for a message (outbox_attempts.operation)."""

    CREATE = "create", "Open the 1:1 chat"
    SEND = "send", "Send"
    UPDATE = "update", "Update the sent card"
    CLAIM = "claim", "Lease ran out"  # a worker claimed it and died
    INSTALL = "install", "Install the app (Graph)"  # for someone the bot has never met
    FEED = "feed", "Activity-feed notification (Graph)"


class FeedVerdict(Word):
    """What became of a Teams activity-feed notification sent through Graph."""

    SENT = "sent", "Sent"
    RETRY = "retry", "Try again later"
    UNREACHABLE = "unreachable", "Cannot reach them this way"  # e.g. the app is not installed for them
    FAILED = "failed", "Failed"  # the notification is at fault


class OutboxPurpose(Word):
    """Why a message was sent (outbox.purpose), for progress, reports and erasure."""

    INVITATION = "invitation", "Invitation"
    INVITATION_UPDATE = "invitation-update", "Invitation card updated"
    PLACE_KEPT = "place-kept", "Place kept"
    PROMOTION = "promotion", "Place from the waiting list"
    SESSION_CHANGE = "session-change", "Session changed"
    SESSION_CANCEL = "session-cancel", "Session cancelled"
    REMINDER = "reminder", "Reminder"
    THANKS = "thanks", "Thanks for coming"
    ANNOUNCEMENT = "announcement", "Announcement"
    ANNOUNCEMENT_PROGRESS = "announcement-progress", "Announcement progress card"
    ANNOUNCEMENT_EDIT = "announcement-edit", "Announcement edited"
    ANNOUNCEMENT_RECALL = "announcement-recall", "Announcement recalled"
    SIGNUP_START = "signup-start", "Sign-up started"
    CONSENT_AGAIN = "consent-again", "New privacy notice"
    RETENTION_WARNING = "retention-warning", "Details about to be deleted"
    CALENDAR = "calendar", "Teams meeting could not be made"  # to the facilitator
    INVITATION_FEED = "invitation-feed", "Invitation (activity feed)"
    REMINDER_FEED = "reminder-feed", "Reminder (activity feed)"

    @property
    def feed(self) -> OutboxPurpose:
        """The purpose of the activity-feed notification that goes with a chat message of this purpose."""
        return OutboxPurpose(f"{self.value}-feed")


# -- the calendar sync (Microsoft Graph, design §8) ------------------------------------------------------------

class GraphJobKind(Word):
    """One change to a session's Teams meeting (graph_jobs.kind)."""

    CREATE = "create", "Create the meeting"
    ADD_ATTENDEE = "add_attendee", "Add an attendee"
    REMOVE_ATTENDEE = "remove_attendee", "Remove an attendee"
    UPDATE_TIME = "update_time", "Change the time"
    CANCEL = "cancel", "Cancel the meeting"


class GraphJobStatus(Word):
    PENDING = "pending", "Waiting"
    RUNNING = "running", "Running"  # claimed by a worker until lease_until
    DONE = "done", "Done"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Nothing to do"


UNFINISHED_GRAPH_JOB_STATUSES = (GraphJobStatus.PENDING, GraphJobStatus.RUNNING)


# -- people's roles and what a change did ------------------------------------------------------------------------

class Role(Word):
    FACILITATOR = "facilitator", "Facilitator"
    ADMIN = "admin", "Admin"


class RoleChangeOutcome(Word):
    """What happened to a grant or revoke; also the audit row's outcome."""

    DONE = "done", "Done"
    UNCHANGED = "unchanged", "Unchanged"  # they already had the role, or did not have it
    LAST_ADMIN = "last_admin", "Refused: the last admin"  # there must always be one admin
    REFUSED = "refused", "Refused"  # the actor may not do this


class ProgrammeChange(Word):
    """What a change to the programme's settings did; also the audit row's outcome."""

    DONE = "done", "Done"
    UNCHANGED = "unchanged", "Unchanged"
    DUPLICATE = "duplicate", "Duplicate"  # another organisation has that name
    MISSING = "missing", "Not there"  # the organisation or person is not there (any more)
    LAST_ONE = "last_one", "Refused: the last one"  # sign-up needs at least one organisation
    INVALID = "invalid", "Invalid"  # e.g. a name too short, a notice too short or too long


class AuditOutcome(Word):
    """Every outcome an audit row may hold (audit_log.outcome), with the words the audit card shows for it:
    RoleChangeOutcome's and ProgrammeChange's values, and those of the other audited actions."""

    DONE = "done", "Done"
    UNCHANGED = "unchanged", "Nothing changed: it was already like that"
    # Refusals: the role was missing, or they do not run that session, or it had already started.
    REFUSED = "refused", "Refused: they were not allowed to do this"
    LAST_ADMIN = "last_admin", "Refused: there must always be at least one admin"
    DUPLICATE = "duplicate", "Nothing changed: that name is already on the list"
    MISSING = "missing", "Nothing changed: the record was no longer there"
    LAST_ONE = "last_one", "Refused: people must always have at least one organisation to choose"
    INVALID = "invalid", "Nothing changed: what was typed was too short or too long"
    # Reading a meeting's attendance report (bot/services/meeting_attendance.py).
    NO_REPORT = "no_report", "Nothing read: the meeting has no attendance report"
    NOT_ALLOWED = "not_allowed", "Nothing read: the bot is not allowed to read the meeting's report"
    UNAVAILABLE = "unavailable", "Nothing read: Microsoft Graph did not answer in time"

"""Card actions of announcements (bot/features/announcements.py and announcement_changes.py): starting the
`announce` journey, the author's progress card ("Stop sending", then "Edit announcement" and "Withdraw
announcement" with their cards), and everyone's "Stop announcements" and "Turn announcements back on".

The journey's own buttons ("announce_journey", cards/announcements.py) are no action: they carry the journey's
run and step and only its dialog reads them.

`changes` names the tables a press may change besides the bookkeeping every turn does (people, conversation
refs, dialog state, the audit log, where refusals and changes are recorded)."""

from __future__ import annotations

from typing import Any

from vocabulary.catalogue import ActionPayload, CardAction, NoPayload, Press, RecordCount, RecordId, tables
from vocabulary.words import Role


class AnnouncementRef(ActionPayload):
    """A button about one announcement: "Stop sending", "Withdraw announcement" and its confirmation, Cancel."""

    announcement_id: RecordId


class AnnouncementEditOpen(ActionPayload):
    """"Edit announcement" on the final report; "Back" on the check card carries what was typed."""

    announcement_id: RecordId
    revision: RecordCount | None = None
    title: str | None = None
    body: str | None = None


class AnnouncementEditDraft(ActionPayload):
    """The edit card's Next and the check card's "Update the announcement": the revision the edit started from
    and the typed text (the edit card's inputs)."""

    announcement_id: RecordId
    revision: RecordCount
    title: str = ""
    body: str = ""


# Starts the journey: only the dialog state changes.
START_ANNOUNCEMENT = CardAction("announce", NoPayload, role=Role.FACILITATOR)
# The author's (or an admin's) "Stop sending": what has not gone is cancelled, the progress card is updated.
STOP_SENDING_ANNOUNCEMENT = CardAction("announcement_stop", AnnouncementRef, role=Role.FACILITATOR,
                                       changes=tables("announcements", "outbox"), press=Press.BOTH)
# Anyone: no more announcements (people.announcements_stopped; what has not gone to them is cancelled), or back.
TURN_OFF_ANNOUNCEMENTS = CardAction("announcements_stop", NoPayload, changes=tables("outbox"))
TURN_ON_ANNOUNCEMENTS = CardAction("announcements_resume", NoPayload)

# Edit or withdraw after sending (issue 24). Opening and checking change nothing (a refusal is audited).
OPEN_ANNOUNCEMENT_EDIT = CardAction("announcement_edit", AnnouncementEditOpen, role=Role.FACILITATOR)
CHECK_ANNOUNCEMENT_EDIT = CardAction("announcement_edit_check", AnnouncementEditDraft, role=Role.FACILITATOR)
SEND_ANNOUNCEMENT_EDIT = CardAction("announcement_edit_send", AnnouncementEditDraft, role=Role.FACILITATOR,
                                    changes=tables("announcements", "announcement_changes", "outbox"))
ASK_ANNOUNCEMENT_RECALL = CardAction("announcement_recall", AnnouncementRef, role=Role.FACILITATOR)
SEND_ANNOUNCEMENT_RECALL = CardAction("announcement_recall_send", AnnouncementRef, role=Role.FACILITATOR,
                                      changes=tables("announcements", "announcement_changes", "outbox"))
CANCEL_ANNOUNCEMENT_CHANGE = CardAction("announcement_change_cancel", AnnouncementRef, role=Role.FACILITATOR)

ANNOUNCEMENT_ACTIONS: tuple[CardAction[Any], ...] = (
    START_ANNOUNCEMENT, STOP_SENDING_ANNOUNCEMENT, TURN_OFF_ANNOUNCEMENTS, TURN_ON_ANNOUNCEMENTS,
    OPEN_ANNOUNCEMENT_EDIT, CHECK_ANNOUNCEMENT_EDIT, SEND_ANNOUNCEMENT_EDIT, ASK_ANNOUNCEMENT_RECALL,
    SEND_ANNOUNCEMENT_RECALL, CANCEL_ANNOUNCEMENT_CHANGE,
)

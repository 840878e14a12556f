"""Sessions and invitations (design §4): create, preview, publish, change, cancel; invite the right people;
take replies with exact seats and a waiting list. No botbuilder here.

Seats: every change of a session's seats (a reply, a withdrawal, a change of capacity) happens while the
session's row is locked, so 200 people pressing Accept at once queue up and exactly `capacity` of them get a
seat. PostgreSQL: SELECT … FOR NO KEY UPDATE (it still lets other transactions insert invitations that point
at the session). SQLite: every transaction holds the write lock from BEGIN (storage/db.py).

Messages: every proactive message goes through the outbox in the transaction of the change, with a key that
names its cause and recipient, so each cause reaches a person once. The cards themselves are drawn by a
`SessionMessages` the feature passes in: services return the cards' view data (InvitationView,
FacilitatorSessionView, PreviewView, RosterLine) and never build cards.

One module a job:
- forms: the new-session and change forms checked, and the preview; co_facilitators: finding them
- publishing: create and publish; changes: change, cancel, and the Teams meeting link from Graph
- seats: Accept, Decline, the waiting list and promotion
- invitations: invite eligible people (at publishing and as people become eligible), withdraw invitations
  from people who stop matching or withdraw
- my_invitations: a person's own invitations (card refresh, "my sessions", send again)
- roster: the facilitators' list, roster and CSV file; the admins' per-session figures
- views: what the service returns and how rows become the cards' views; access: who may act on a session;
  deps: what every part is built with
- service: SessionService, the one object the rest of the bot uses

UK dates and times as people type them are read by bot.services.uk_time, and written by vocabulary.uk_time.
"""

from bot.services.sessions.forms import Checked, SessionDraft, SessionForm
from bot.services.sessions.service import SessionService
from bot.services.sessions.views import (
    ActionResult,
    ReplyResult,
    Roster,
    RosterFile,
    SessionMessages,
)

__all__ = [
    "ActionResult",
    "Checked",
    "ReplyResult",
    "Roster",
    "RosterFile",
    "SessionDraft",
    "SessionForm",
    "SessionMessages",
    "SessionService",
]

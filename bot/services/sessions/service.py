"""SessionService: the one object the sessions feature, the new-session dialog, the hooks and the tests use. It
builds the parts (each module of this package does one thing) and offers their methods under one roof."""

from __future__ import annotations

from collections.abc import Sequence

from bot.clock import Clock
from bot.services.feed import FeedMessages
from bot.services.reminders import clean_offsets
from bot.services.roles import Audit, RoleService
from bot.services.sessions.changes import Changes
from bot.services.sessions.co_facilitators import CoFacilitators
from bot.services.sessions.deps import Deps
from bot.services.sessions.forms import SessionForms
from bot.services.sessions.invitations import Invitations
from bot.services.sessions.my_invitations import MyInvitations
from bot.services.sessions.publishing import Publishing
from bot.services.sessions.roster import FacilitatorViews
from bot.services.sessions.seats import Seats
from bot.services.sessions.views import SessionMessages
from storage.db import Database


class SessionService:
    def __init__(self, database: Database, clock: Clock, audit: Audit, roles: RoleService,
                 messages: SessionMessages, *, calendar: bool = False, reminder_offsets: Sequence[int] = (),
                 feed: FeedMessages | None = None) -> None:
        """`roles`: every role check, with roles from Entra groups. `calendar`: Microsoft Graph is configured
        (design §8); see `Deps.calendar`. `reminder_offsets`: the reminders the reminder service sends (minutes
        before the start), so invitation cards promise only those. `feed`: Graph is on, so invitations also go
        to the activity feed of people who chose it (bot/services/feed.py)."""
        deps = Deps(database, clock, audit, roles, messages, calendar, clean_offsets(reminder_offsets), feed)
        co_facilitators = CoFacilitators(database, roles)
        forms = SessionForms(deps, co_facilitators)
        seats = Seats(deps)
        invitations = Invitations(deps, seats)
        publishing = Publishing(deps, invitations)
        changes = Changes(deps, co_facilitators, seats)
        mine = MyInvitations(deps)
        views = FacilitatorViews(deps)

        # The new-session journey (dialogs/new_session.py).
        self.check = forms.check
        self.preview = forms.preview
        self.people_by_teams_ids = co_facilitators.people_by_teams_ids
        self.names_of = co_facilitators.names_of
        self.create = publishing.create
        # A facilitator's sessions.
        self.publish = publishing.publish
        self.change = changes.change
        self.cancel = changes.cancel
        self.list_for = views.list_for
        self.info = views.info
        self.roster = views.roster
        self.roster_file = views.roster_file
        # A person's invitation.
        self.reply = seats.reply
        self.invitation = mine.invitation
        self.my_sessions = mine.my_sessions
        self.resend = mine.resend
        # Hooks: other features' changes, in their transactions (bot.core hooks), and chats Teams reaches again.
        self.on_volunteer_changed = invitations.on_volunteer_changed
        self.withdraw_unmatched = invitations.withdraw_unmatched
        self.on_person_erased = invitations.on_person_erased
        self.on_rearmed = invitations.on_rearmed
        self.on_calendar_ready = changes.on_calendar_ready

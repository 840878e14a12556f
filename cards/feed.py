"""What a Teams activity-feed notification says (issue 24, part 4): the short line under the feed's template
text, and the template's parameters. Pure: view data in, the outbox's feed payload out.

The template texts themselves are declared in the app's manifest (`activities.activityTypes`), for these two
types; bot/graph/activity_feed.py keeps the same names and the tests check they agree. Only what the feed needs
goes in: the session's title and time, never anything about the person.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from vocabulary.uk_time import uk_clock, uk_day, uk_when

SESSION_INVITATION = "sessionInvitation"  # "You're invited: {sessionTitle}"
SESSION_REMINDER = "sessionReminder"  # "Reminder: {sessionTitle} starts {startsAt}"


def invitation_feed(title: str, starts_at: datetime, ends_at: datetime) -> dict[str, Any]:
    return {"activity_type": SESSION_INVITATION,
            "preview": f"{uk_when(starts_at, ends_at)}. Open our chat to accept or decline.",
            "template": {"sessionTitle": title}}


def reminder_feed(title: str, starts_at: datetime, ends_at: datetime, *, has_link: bool) -> dict[str, Any]:
    next_step = "The join link is in our chat." if has_link else "Open our chat to see the details."
    return {"activity_type": SESSION_REMINDER,
            "preview": f"{uk_when(starts_at, ends_at)}. {next_step}",
            "template": {"sessionTitle": title, "startsAt": f"at {uk_clock(starts_at)} on {uk_day(starts_at)}"}}

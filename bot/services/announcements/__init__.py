"""Announcements (design §4): facilitators write one, choose channels and/or volunteers, preview it with the
audience size rounded (§5), and send it now or at a UK time, never starting in quiet hours unless they confirm.
No botbuilder here.

How it goes out: confirming stores the announcement and queues the author's progress card. A background tick
starts each announcement when its time comes (choosing the people then, so later sign-ups and "Stop
announcements" count), queues one outbox message per recipient in one transaction (batch
"announcement:<id>", key naming announcement and recipient, so a restart never sends twice; the people's
messages in one INSERT … SELECT, however many they are), and then updates the progress card in place whenever
what it shows changes, until the final report. A tick that finds nothing new to show writes nothing.

The service returns the cards' own view data (cards/announcements.py, cards/announcement_changes.py); the cards
themselves are drawn by an `AnnouncementMessages` the feature passes in.

- `drafts`: what the author writes (checked) and when it should go (`When`, `Timing`);
- `audiences`: who it is for (`AudienceChoice`, as the card sends it and as it is stored);
- `progress`: what the author's progress card shows, and its signature;
- `service`: `AnnouncementService`, which stores, starts, stops, edits and withdraws them.
"""

from bot.services.announcements.audiences import AudienceChoice, channel_label
from bot.services.announcements.drafts import Timing, When, check_draft, timing_of, written
from bot.services.announcements.progress import (
    about_percent,
    batch_of,
    change_batch_of,
    change_progress_of,
    few_people,
    progress_of,
    progress_signature,
    still_to_go,
)
from bot.services.announcements.service import (
    AnnouncementMessages,
    AnnouncementService,
    Changed,
    ChangeRefusal,
    Created,
    Stopped,
)

__all__ = [
    "AnnouncementMessages",
    "AnnouncementService",
    "AudienceChoice",
    "ChangeRefusal",
    "Changed",
    "Created",
    "Stopped",
    "Timing",
    "When",
    "about_percent",
    "batch_of",
    "change_batch_of",
    "change_progress_of",
    "channel_label",
    "check_draft",
    "few_people",
    "progress_of",
    "progress_signature",
    "still_to_go",
    "timing_of",
    "written",
]

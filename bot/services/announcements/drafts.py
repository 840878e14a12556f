"""What an announcement's author writes and when it should go (design §4): the draft checked with kind words for
each answer, and the time checked against now, the next 90 days and quiet hours."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta

from bot.services.links import is_https_link
from bot.services.uk_time import (
    TimeProblem,
    in_quiet_hours,
    parse_date,
    parse_time,
    quiet_hours_end,
    time_problem_text,
    uk_instant,
)
from cards.announcements import AnnouncementView
from storage.models import Announcement

MAX_TITLE = 100
MAX_BODY = 2000
MAX_LINK_TITLE = 40
DEFAULT_LINK_TITLE = "Find out more"
MAX_AHEAD = timedelta(days=90)
# A chosen time this far in the past is taken as "now" (the card took a moment to fill in).
GRACE = timedelta(minutes=2)


def check_draft(title: str, body: str, link_url: str,
                link_title: str) -> tuple[AnnouncementView | None, dict[str, str]]:
    """Check what the author typed. Errors say how to fix each answer, by input name."""
    title, body, link_url, link_title = title.strip(), body.strip(), link_url.strip(), link_title.strip()
    errors: dict[str, str] = {}
    if not title:
        errors["title"] = "Give the announcement a title."
    elif len(title) > MAX_TITLE:
        errors["title"] = f"Make the title shorter: at most {MAX_TITLE} characters."
    if not body:
        errors["body"] = "Write the message."
    elif len(body) > MAX_BODY:
        errors["body"] = f"Make the message shorter: at most {MAX_BODY} characters. It has {len(body)}."
    if link_url and not is_https_link(link_url):
        errors["link_url"] = "Give a web address that starts with https://, like https://www.nhs.uk."
    if link_title and not link_url:
        errors["link_url"] = "Give the web address for the button, or leave the button text empty."
    if len(link_title) > MAX_LINK_TITLE:
        errors["link_title"] = f"Make the button text shorter: at most {MAX_LINK_TITLE} characters."
    if errors:
        return None, errors
    return AnnouncementView(title, body, link_url or None,
                            (link_title or DEFAULT_LINK_TITLE) if link_url else None), {}


def written(row: Announcement) -> AnnouncementView:
    """What a stored announcement says now."""
    return AnnouncementView(row.title, row.body, row.link_url, row.link_title)


# -- when ----------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class When:
    """The author's choice as the card sends it: "now", or "later" with a UK date and time."""

    mode: str = "now"
    date: str = ""
    time: str = ""

    def to_json(self) -> dict[str, str]:
        return {"mode": self.mode, "date": self.date, "time": self.time}


@dataclass(frozen=True)
class Timing:
    at: datetime  # when the author wants it to start (UTC)
    now: bool  # "send now"
    quiet: bool  # `at` is in quiet hours
    quiet_end: datetime | None  # when quiet hours end, if `at` is in them


def timing_of(when: When, now: datetime, quiet_start: time,
              quiet_end: time) -> tuple[Timing | None, dict[str, str]]:
    """When the author's choice starts it, or what to fix: "later" names a UK time that exists, has not passed
    and is within 90 days. A time in quiet hours comes with when they end."""
    if when.mode == "now":
        at = now
    elif when.mode == "later":
        day, at_time = parse_date(when.date), parse_time(when.time)
        errors = {}
        if day is None:
            errors["date"] = "Choose the date to send it."
        if at_time is None:
            errors["time"] = "Give the time to send it, like 09:30."
        if day is None or at_time is None:
            return None, errors
        instant = uk_instant(day, at_time)
        if instant is None:
            return None, {"time": time_problem_text(TimeProblem("gap", day, at_time), name_the_day=False)}
        if instant < now - GRACE:
            return None, {"time": "That time has passed. Choose a time from now on, or send it now."}
        if instant > now + MAX_AHEAD:
            return None, {"date": "Choose a date in the next 90 days."}
        at = max(instant, now)
    else:
        return None, {"when": "Choose when to send it: now, or at a time you choose."}
    quiet = in_quiet_hours(at, quiet_start, quiet_end)
    return Timing(at, when.mode == "now", quiet, quiet_hours_end(at, quiet_end) if quiet else None), {}

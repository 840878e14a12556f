"""UK dates and times as people type them (Input.Date and Input.Time send "YYYY-MM-DD" and "HH:MM"), the UTC
instant of a UK wall-clock time across the clock changes, and quiet hours. One place for every journey that asks
for a date or a time, and for everything that waits for the morning. Showing a day or a time to people is
vocabulary.uk_time's.

Once a year the clocks go forward at 01:00 (01:00-01:59 does not exist) and once a year back at 02:00 (01:00-01:59
happens twice). Sessions refuse both, so a session never starts at a time people could read two ways; an
announcement takes the first of two readings, as it only says when to start sending.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta

from bot.clock import UK
from vocabulary.uk_time import uk_day

_TIME = re.compile(r"^(\d{1,2}):(\d{2})(?::\d{2})?$")
_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")


class TimeProblem(ValueError):
    """A UK wall-clock time that does not exist (clocks go forward) or happens twice (clocks go back)."""

    def __init__(self, kind: str, day: date, at: time) -> None:
        super().__init__(kind)
        self.kind = kind  # gap | fold
        self.day = day
        self.at = at


def parse_date(text: str) -> date | None:
    """YYYY-MM-DD, a real day; None otherwise."""
    match = _DATE.match(text.strip())
    if not match:
        return None
    try:
        return date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    except ValueError:
        return None


def parse_uk_date(text: str) -> date | None:
    """A date picker sends 2026-03-31; a client that shows a text box may get 31/03/2026."""
    found = parse_date(text)
    if found is not None:
        return found
    try:
        return datetime.strptime(text.strip(), "%d/%m/%Y").date()
    except ValueError:
        return None


def parse_time(text: str) -> time | None:
    """H:MM or HH:MM (seconds, if sent, are dropped), from 00:00 to 23:59; None otherwise."""
    match = _TIME.match(text.strip())
    if not match:
        return None
    hour, minute = int(match.group(1)), int(match.group(2))
    if hour > 23 or minute > 59:
        return None
    return time(hour, minute)


def uk_to_utc(day: date, at: time) -> datetime:
    """The UTC instant of a UK date and time, refusing times the clock change skips or repeats."""
    first = datetime.combine(day, at, tzinfo=UK)
    second = first.replace(fold=1)
    if first.utcoffset() == second.utcoffset():
        return first.astimezone(UTC)
    # Two readings of one wall time: in a gap neither reading comes back as the same wall time.
    if first.astimezone(UTC).astimezone(UK).replace(tzinfo=None) != first.replace(tzinfo=None):
        raise TimeProblem("gap", day, at)
    raise TimeProblem("fold", day, at)


def uk_instant(day: date, at: time) -> datetime | None:
    """The UTC instant of a UK wall-clock time; None for a time the clocks skip in spring. A time that happens
    twice in autumn means its first reading."""
    try:
        return uk_to_utc(day, at)
    except TimeProblem as problem:
        if problem.kind == "gap":
            return None
        return datetime.combine(day, at, tzinfo=UK).astimezone(UTC)  # fold=0: the first reading


def time_problem_text(problem: TimeProblem, *, name_the_day: bool = True) -> str:
    """What to tell someone who chose a time the clock change skips or repeats, and what to choose instead."""
    when = f"{problem.at:%H:%M} on {uk_day(problem.day)}" if name_the_day else f"{problem.at:%H:%M}"
    if problem.kind == "gap":
        return (f"The clocks go forward that night, so {when} does not exist in the UK. "
                "Choose a time before 01:00 or from 02:00.")
    return (f"The clocks go back that night, so {when} happens twice in the UK. "
            "Choose a time before 01:00 or from 02:00.")


# -- quiet hours ---------------------------------------------------------------------------------------------

def in_quiet_hours(moment: datetime, start: time, end: time) -> bool:
    """True when `moment` falls in quiet hours (UK time). Start 20:00 and end 08:00 wrap past midnight."""
    if start == end:
        return False
    local = moment.astimezone(UK).time()
    if start < end:
        return start <= local < end
    return local >= start or local < end


def quiet_hours_end(moment: datetime, end: time) -> datetime:
    """The next end of quiet hours after `moment` (UTC)."""
    local = moment.astimezone(UK)
    candidate = datetime.combine(local.date(), end, tzinfo=UK)
    if candidate <= moment:
        candidate = datetime.combine(local.date() + timedelta(days=1), end, tzinfo=UK)
    return candidate.astimezone(UTC)


def after_quiet_hours(moment: datetime, start: time, end: time) -> datetime:
    """`moment`, or the end of quiet hours (UK time) when it falls inside them."""
    return quiet_hours_end(moment, end) if in_quiet_hours(moment, start, end) else moment

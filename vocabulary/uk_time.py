"""How the programme writes a day or a time for people: always UK time (Europe/London), always one of these.
Storage and services keep aware UTC datetimes; only this module turns them into words."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

UK = ZoneInfo("Europe/London")


def _local(moment: datetime) -> datetime:
    return moment.astimezone(UK)


def uk_day(value: date) -> str:
    """e.g. "Sunday 29 March 2026". A moment (a datetime) is shown on its day in the UK."""
    day = _local(value) if isinstance(value, datetime) else value
    return f"{day:%A} {day.day} {day:%B %Y}"


def uk_clock(moment: datetime) -> str:
    """e.g. "10:00"."""
    return f"{_local(moment):%H:%M}"


def uk_when(starts_at: datetime, ends_at: datetime) -> str:
    """A session's time: e.g. "Sunday 29 March 2026, 10:00–12:00 (UK time)"."""
    return f"{uk_day(starts_at)}, {uk_clock(starts_at)}–{uk_clock(ends_at)} (UK time)"


def uk_date(moment: datetime) -> str:
    """A day in running text, without the weekday: e.g. "05 March 2026" ("Your details": when they agreed)."""
    return f"{_local(moment):%d %B %Y}"


def uk_day_and_clock(moment: datetime) -> str:
    """e.g. "Thursday 26 November 2026, 10:00"."""
    return f"{uk_day(moment)}, {uk_clock(moment)}"


def uk_day_at(moment: datetime, *, year: bool = True, zone_note: bool = True) -> str:
    """e.g. "Sunday 29 March 2026 at 10:00 (UK time)"; without the year and note, "Sunday 29 March at 10:00"."""
    local = _local(moment)
    day = uk_day(local) if year else f"{local:%A} {local.day} {local:%B}"
    return f"{day} at {uk_clock(local)}" + (" (UK time)" if zone_note else "")


def uk_short(moment: datetime, *, year: bool = True, zone_note: bool = True) -> str:
    """For lists: e.g. "Sun 29 Mar 2026, 10:00 (UK time)"; without the year and note, "Sun 29 Mar, 10:00"."""
    local = _local(moment)
    day = f"{local:%a} {local.day} {local:%b}" + (f" {local:%Y}" if year else "")
    return f"{day}, {uk_clock(local)}" + (" (UK time)" if zone_note else "")


def uk_audit_time(moment: datetime) -> str:
    """For the audit log, to the second with the zone's name: e.g. "Sun 29 Mar 2026, 10:00:00 (BST)"."""
    local = _local(moment)
    return f"{local:%a %d %b %Y}, {local:%H:%M:%S} ({local.tzname()})"


def uk_date_iso(moment: datetime) -> str:
    """The UK calendar day as YYYY-MM-DD (CSV files, form defaults)."""
    return f"{_local(moment):%Y-%m-%d}"


def utc_iso(moment: datetime) -> str:
    """For machines (calendar links, Graph): e.g. "2026-03-29T09:00:00Z"."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

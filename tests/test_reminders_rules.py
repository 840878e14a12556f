"""The reminder rules on their own (bot/services/reminders.py): which reminder is due, and who is owed it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.services.reminders import clean_offsets, is_owed, offset_due, reminder_key
from cards.invitation import time_left_text

START = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
OFFSETS = (1440, 60)


@pytest.mark.parametrize(("before_start", "due"), [
    (timedelta(days=2), None),
    (timedelta(hours=24, minutes=1), None),
    (timedelta(hours=24), 1440),
    (timedelta(hours=2), 1440),
    (timedelta(hours=1), 60),
    (timedelta(minutes=30), 60),  # both due at once: only the 1 hour one
    (timedelta(0), None),  # started
    (-timedelta(minutes=5), None),
])
def test_the_smallest_offset_whose_time_has_come_is_due(before_start: timedelta, due: int | None) -> None:
    assert offset_due(OFFSETS, START, START - before_start) == due


def test_a_place_or_a_start_time_given_after_a_reminders_time_is_not_owed_it_except_the_last() -> None:
    long_ago = START - timedelta(days=5)
    assert is_owed(1440, OFFSETS, START, long_ago)
    assert is_owed(1440, OFFSETS, START, START - timedelta(hours=24))
    assert not is_owed(1440, OFFSETS, START, START - timedelta(hours=23))
    assert is_owed(60, OFFSETS, START, START - timedelta(minutes=10))  # the last reminder carries the link


def test_offsets_and_keys() -> None:
    assert clean_offsets([60, 1440, 60, 0, -5]) == (1440, 60)
    assert reminder_key(1440, START, 7, "p") == "reminder:1440:2026-12-03T10:00:00Z:7:p"


@pytest.mark.parametrize(("minutes", "text"), [
    (0, "in 1 minute"), (45, "in 45 minutes"), (60, "in about 1 hour"), (89, "in about 1 hour"),
    (1380, "in about 23 hours"), (1440, "in about 24 hours"),
])
def test_time_left_reads_plainly(minutes: int, text: str) -> None:
    assert time_left_text(minutes) == text

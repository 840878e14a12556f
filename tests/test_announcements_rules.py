"""The pure rules of announcements: quiet hours in UK time, UK times across clock changes, the progress card's
tens of per cent (design §5), draft checks, and the cards' size and accessibility rules (design §9)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.services.announcements import about_percent, check_draft
from bot.services.uk_time import in_quiet_hours, quiet_hours_end, uk_instant
from cards.announcements import (
    AnnouncementView,
    AudienceSummary,
    ConfirmView,
    ProgressView,
    announcement_card,
    compose_card,
    confirm_card,
    preview_card,
    progress_bar,
    progress_card,
)
from tests.app_fixtures import nodes
from vocabulary.words import Phase, VolunteerSpace

EIGHT_PM, EIGHT_AM = time(20, 0), time(8, 0)


@pytest.mark.parametrize(("utc", "quiet"), [
    (datetime(2026, 11, 26, 19, 59, tzinfo=UTC), False),
    (datetime(2026, 11, 26, 20, 0, tzinfo=UTC), True),
    (datetime(2026, 11, 27, 3, 0, tzinfo=UTC), True),
    (datetime(2026, 11, 27, 7, 59, tzinfo=UTC), True),
    (datetime(2026, 11, 27, 8, 0, tzinfo=UTC), False),
    # Summer: 19:30 UTC is 20:30 in the UK, and 07:30 UTC is 08:30.
    (datetime(2026, 7, 1, 19, 30, tzinfo=UTC), True),
    (datetime(2026, 7, 1, 7, 30, tzinfo=UTC), False),
])
def test_quiet_hours_are_uk_time_and_wrap_past_midnight(utc: datetime, quiet: bool) -> None:
    assert in_quiet_hours(utc, EIGHT_PM, EIGHT_AM) is quiet


def test_quiet_hours_within_one_day_and_none_at_all() -> None:
    lunch = datetime(2026, 11, 26, 12, 30, tzinfo=UTC)
    assert in_quiet_hours(lunch, time(12, 0), time(13, 0))
    assert not in_quiet_hours(lunch, time(13, 0), time(14, 0))
    assert not in_quiet_hours(lunch, time(9, 0), time(9, 0))
    assert quiet_hours_end(lunch, time(13, 0)) == datetime(2026, 11, 26, 13, 0, tzinfo=UTC)


def test_quiet_hours_end_in_the_morning_in_uk_time() -> None:
    evening = datetime(2026, 11, 26, 21, 0, tzinfo=UTC)
    assert quiet_hours_end(evening, EIGHT_AM) == datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
    assert quiet_hours_end(datetime(2026, 11, 27, 3, 0, tzinfo=UTC), EIGHT_AM) == datetime(2026, 11, 27, 8, 0,
                                                                                           tzinfo=UTC)
    # The night the clocks go forward: 08:00 BST is 07:00 UTC.
    assert quiet_hours_end(datetime(2027, 3, 27, 21, 0, tzinfo=UTC), EIGHT_AM) == datetime(2027, 3, 28, 7, 0,
                                                                                           tzinfo=UTC)


def test_uk_times_across_the_clock_changes() -> None:
    assert uk_instant(date(2027, 3, 28), time(1, 30)) is None  # skipped in spring
    assert uk_instant(date(2027, 3, 28), time(2, 30)) == datetime(2027, 3, 28, 1, 30, tzinfo=UTC)
    assert uk_instant(date(2026, 10, 25), time(1, 30)) == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # first one
    assert uk_instant(date(2026, 11, 26), time(9, 0)) == datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


@given(st.integers(min_value=1, max_value=5000), st.data())
def test_about_percent_is_a_ten_never_0_or_100_unless_exact(total: int, data: st.DataObject) -> None:
    part = data.draw(st.integers(min_value=0, max_value=total))
    shown = about_percent(part, total)
    assert shown % 10 == 0
    assert (shown == 0) == (part == 0)
    assert (shown == 100) == (part == total)
    assert abs(shown - 100 * part / total) <= 10


def test_progress_bar_is_text_and_a_percentage() -> None:
    assert progress_bar(0) == "░░░░░░░░░░ 0%"
    assert progress_bar(40) == "▓▓▓▓░░░░░░ 40%"
    assert progress_bar(100) == "▓▓▓▓▓▓▓▓▓▓ 100%"


def test_drafts() -> None:
    draft, errors = check_draft(" Title ", " Body ", "https://www.nhs.uk/a?b=c", "")
    assert errors == {} and draft is not None
    assert (draft.title, draft.body, draft.link_url, draft.link_title) == ("Title", "Body", "https://www.nhs.uk/a?b=c",
                                                                           "Find out more")
    assert check_draft("T", "B", "", "")[0] is not None
    for bad in ("http://nhs.uk", "https://", "https://localhost", "https://nhs.uk:8443/x", "ftp://nhs.uk",
                "https://nhs .uk", "https://a@nhs.uk", "https://" + "a" * 1000 + ".uk"):
        assert "link_url" in check_draft("T", "B", bad, "")[1], bad
    assert "title" in check_draft("x" * 101, "B", "", "")[1]
    assert "link_title" in check_draft("T", "B", "https://nhs.uk", "x" * 41)[1]


def _progress(**changes: object) -> ProgressView:
    values: dict[str, object] = dict(
        announcement_id=7, title="Hello", state="sending", send_at=datetime(2026, 11, 26, 10, tzinfo=UTC),
        waits_for_quiet_hours=False, percent=40, delivered_percent=40, stopped_percent=0, unreachable=2, failed=1,
        finished=False, nobody=False, due=True, can_stop=True)
    values.update(changes)
    return ProgressView(**values)  # type: ignore[arg-type]


def test_progress_card_shows_tens_and_only_undelivered_exactly() -> None:
    card = progress_card(_progress())
    text = json.dumps(card)
    assert "40%" in text and "3 could not be delivered." in text
    [stop] = card["actions"]
    assert stop["type"] == "Action.Execute" and stop["verb"] == "announcement_stop"
    assert stop["data"] == {"action": "announcement_stop", "announcement_id": 7}
    assert stop["fallback"]["type"] == "Action.Submit" and stop["fallback"]["data"] == stop["data"]

    final = progress_card(_progress(finished=True, state="done", percent=100, delivered_percent=90, can_stop=False))
    final_text = json.dumps(final)
    assert "Final report" in final_text and "about 90%" in final_text
    assert "2 could not be delivered, because the person or channel can't be reached" in final_text
    assert "1 could not be delivered, because Teams refused the message" in final_text
    assert all(action["type"] != "Action.Execute" for action in final["actions"])


def test_cards_wrap_text_label_inputs_and_stay_small() -> None:
    announcement = AnnouncementView("T" * 100, "B" * 2000, "https://www.nhs.uk/" + "x" * 900, "L" * 40)
    summary = AudienceSummary(channels=tuple(f"Team {n} › Channel" for n in range(50)), people="1,250",
                              people_is_zero=False, spaces=(VolunteerSpace.ALLY,), phases=(Phase.CODESIGN,),
                              sessions=tuple(f"Session {n}" for n in range(20)))
    at = datetime(2026, 11, 26, 21, 0, tzinfo=UTC)
    cards = [
        compose_card("j", {}, {"title": "Give the announcement a title."}),
        preview_card("j", announcement, summary, {"mode": "later"}, {"date": "Choose."}, quiet_hours="20:00 to 08:00"),
        confirm_card("j", ConfirmView(announcement, summary, True, at, True, datetime(2026, 11, 27, 8, tzinfo=UTC),
                                      "20:00 to 08:00")),
        announcement_card(announcement, to_people=True),
        progress_card(_progress()),
    ]
    for card in cards:
        assert card["version"] == "1.5"
        assert len(json.dumps(card).encode()) < 80 * 1024
        assert all(node.get("wrap") is True for node in nodes(card) if node.get("type") == "TextBlock")
        for element in (node for node in nodes(card) if str(node.get("type", "")).startswith("Input.")):
            label = str(element["label"])
            assert label.endswith(("(required)", "(optional)")), label
            if element.get("isRequired"):
                assert element.get("errorMessage")

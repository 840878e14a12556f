"""Links people paste: every form reads them the same way, and a broken one is refused with a message, never a
crash (a port that is not a number or a stray "[" makes Python's URL parser raise)."""

from __future__ import annotations

import pytest

from bot.services.announcements import check_draft
from bot.services.attendance import check_feedback_link
from bot.services.links import is_https_link

BROKEN = ["https://forms.office.com:abc/x", "https://[forms.office.com/x", "https://forms.office.com:99999/x"]


@pytest.mark.parametrize(("url", "ok"), [
    ("https://forms.office.com/r/abc", True),
    ("https://forms.office.com:443/r/abc", True),
    ("http://forms.office.com/r/abc", False),
    ("https://localhost/r/abc", False),
    ("https://user:pw@forms.office.com/r/abc", False),
    ("https://forms.office.com:8443/r/abc", False),
    ("https://forms.office.com/r/a b", False),
    ("https://forms.office.com/r/a\x00b", False),
    ("https://forms.office.com/" + "x" * 1000, False),
    *[(url, False) for url in BROKEN],
])
def test_https_links(url: str, ok: bool) -> None:
    assert is_https_link(url) is ok


@pytest.mark.parametrize("url", BROKEN)
def test_a_broken_feedback_link_is_answered_with_what_to_fix(url: str) -> None:
    assert check_feedback_link(url) == (None, "Paste a link that starts with https://, or leave it empty.")


@pytest.mark.parametrize("url", BROKEN)
def test_a_broken_announcement_link_is_answered_with_what_to_fix(url: str) -> None:
    draft, errors = check_draft("Title", "Body", url, "Find out more")
    assert draft is None and "link_url" in errors

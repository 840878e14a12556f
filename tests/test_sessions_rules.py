"""Session rules below the HTTP edge: UK time across the clock changes, Teams links, eligibility (the pure rules
and their SQL twin must agree on every combination), card rules of design §9, and the counts provider."""

from __future__ import annotations

import itertools
import json
from dataclasses import fields
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest

from bot.features.counts import COUNTS
from bot.services.counts import report_from
from bot.services.eligibility import Criteria, EligibilityAnswers, is_eligible
from bot.services.sessions.co_facilitators import CoFacilitators
from bot.services.sessions.forms import SessionForm, check_times, is_teams_meeting_link
from bot.services.sessions.views import InvitationView as InvitationState  # the service returns the card's view
from bot.services.sessions.views import invitation_view, invitation_views
from bot.services.uk_time import TimeProblem, uk_to_utc
from cards.invitation import InvitationView, calendar_link, invitation_card
from cards.sessions import FacilitatorSessionView, Figures, change_card, session_form, sessions_list
from storage.db import Database
from storage.models import Person, PrivacyNotice, TrainingSession, Volunteer
from storage.repositories.sessions import InvitationRepository, SessionRepository, StatusCounts
from tests.app_fixtures import BotHarness
from tests.doubles.teams import make_member
from tests.test_sessions_helpers import FACILITATOR, add_person, add_volunteer, make_facilitator, press_execute, publish
from vocabulary.words import Community, InvitationStatus, Phase, SessionAudience, SessionStatus

# -- UK time -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("day", "at", "expected"), [
    (date(2026, 3, 29), time(0, 59), datetime(2026, 3, 29, 0, 59, tzinfo=UTC)),
    (date(2026, 3, 29), time(2, 0), datetime(2026, 3, 29, 1, 0, tzinfo=UTC)),
    (date(2026, 10, 25), time(0, 59), datetime(2026, 10, 24, 23, 59, tzinfo=UTC)),
    (date(2026, 10, 25), time(2, 0), datetime(2026, 10, 25, 2, 0, tzinfo=UTC)),
    (date(2026, 7, 1), time(12, 0), datetime(2026, 7, 1, 11, 0, tzinfo=UTC)),
    (date(2026, 12, 1), time(12, 0), datetime(2026, 12, 1, 12, 0, tzinfo=UTC)),
])
def test_uk_wall_times_map_to_the_right_instant(day: date, at: time, expected: datetime) -> None:
    assert uk_to_utc(day, at) == expected


def test_every_minute_of_the_clock_change_nights_is_either_exact_or_refused() -> None:
    for day, kind in ((date(2026, 3, 29), "gap"), (date(2026, 10, 25), "fold")):
        refused = []
        for minute in range(0, 4 * 60):
            at = time(minute // 60, minute % 60)
            try:
                uk_to_utc(day, at)
            except TimeProblem as problem:
                assert problem.kind == kind
                refused.append(at)
        # Exactly the hour from 01:00 to 01:59 is skipped (March) or happens twice (October).
        assert refused == [time(1, minute) for minute in range(60)]


@pytest.mark.parametrize(("url", "ok"), [
    ("https://teams.microsoft.com/l/meetup-join/19%3ameeting_x%40thread.v2/0?context=%7b%7d", True),
    ("https://teams.microsoft.com/meet/1234567890?p=abc", True),
    ("http://teams.microsoft.com/l/meetup-join/19%3ameeting", False),
    ("https://teams.microsoft.com.evil.example/l/meetup-join/x", False),
    ("https://evil.example/l/meetup-join/x", False),
    ("https://user@teams.microsoft.com/l/meetup-join/x", False),
    ("https://teams.microsoft.com:8443/l/meetup-join/x", False),
    ("https://teams.microsoft.com:abc/l/meetup-join/x", False),  # a broken link is refused, never a crash
    ("https://teams.microsoft.com:99999/l/meetup-join/x", False),
    ("https://[teams.microsoft.com/l/meetup-join/x", False),
    ("https://teams.microsoft.com/l/meetup-join/", False),
    ("https://teams.microsoft.com/l/chat/0/0", False),
    ("https://teams.microsoft.com/l/meetup-join/x y", False),
    ("javascript:alert(1)", False),
    ("https://teams.microsoft.com/l/meetup-join/" + "x" * 1000, False),
])
def test_only_https_teams_meeting_links_are_taken(url: str, ok: bool) -> None:
    assert is_teams_meeting_link(url) is ok


def test_a_date_typed_the_uk_way_is_the_same_day_as_the_date_pickers() -> None:
    """Input.Date sends 2026-12-10; a client that shows a text box instead may get 10/12/2026."""
    now = datetime(2026, 5, 1, tzinfo=UTC)
    expected = (datetime(2026, 12, 10, 14, tzinfo=UTC), datetime(2026, 12, 10, 15, 30, tzinfo=UTC))
    for typed in ("2026-12-10", "10/12/2026"):
        errors: dict[str, str] = {}
        assert check_times(SessionForm(date=typed, start="14:00", end="15:30"), now, errors) == expected
        assert errors == {}


# -- eligibility: pure rules and SQL agree -------------------------------------------------------------------

async def test_the_sql_eligibility_agrees_with_the_rules_on_every_combination(db: Database) -> None:
    now = datetime(2026, 5, 1, tzinfo=UTC)
    answers: dict[str, EligibilityAnswers] = {}
    async with db.transaction() as session:
        session.add(PrivacyNotice(version=1, sha256="a" * 64, text="v1", published_at=now))
        session.add(PrivacyNotice(version=2, sha256="b" * 64, text="v2", published_at=now))
        combos = itertools.product([False, True], [False, True], [False, True], [False, True],
                                   itertools.chain.from_iterable(
                                       itertools.combinations(Community, n) for n in range(3)), [1, 2])
        for index, (minoritised, ally, codesign, train, chosen, version) in enumerate(combos):
            person_id = f"00000000-0000-4000-9000-{index:012d}"
            session.add(Person(id=person_id, created_at=now, last_seen_at=now, announcements_stopped=False))
            answers[person_id] = EligibilityAnswers(version, minoritised, ally, codesign, train, frozenset(chosen))
        await session.flush()
        for person_id, answer in answers.items():
            session.add(Volunteer(
                person_id=person_id, space_minoritised=answer.space_minoritised, space_ally=answer.space_ally,
                community_ethnicity="ethnicity" in answer.communities,
                community_disability="disability" in answer.communities,
                community_neurodivergent="neurodivergent" in answer.communities,
                community_lgbtq="lgbtq" in answer.communities, phase_codesign=answer.phase_codesign,
                phase_train_the_trainer=answer.phase_train_the_trainer, adjustments_contact=False,
                consent_version=answer.consent_version, signed_up_at=now, updated_at=now))
    filters = [frozenset(), frozenset({"lgbtq"}), frozenset({"ethnicity", "disability"}), frozenset(Community)]
    checked = 0
    async with db.transaction() as session:
        repository = SessionRepository(session)
        for space, phase, communities in itertools.product(SessionAudience, Phase, filters):
            row = TrainingSession(space=space, phase=phase, filter_ethnicity="ethnicity" in communities,
                                  filter_disability="disability" in communities,
                                  filter_neurodivergent="neurodivergent" in communities,
                                  filter_lgbtq="lgbtq" in communities)
            criteria = Criteria(space, phase, communities)
            expected = sorted(person_id for person_id, answer in answers.items()
                              if is_eligible(criteria, answer, 2))
            eligible = [person_id for person_id, _ in await repository.eligible_recipients(row, 2)]
            assert eligible == expected, (space, phase, communities)
            assert await repository.count_eligible(space=space, phase=phase, communities=sorted(communities),
                                                   notice_version=2) == len(expected)
            checked += len(expected)
    assert checked > 0


def test_eligibility_rules_read_as_the_design_says() -> None:
    both = EligibilityAnswers(1, space_minoritised=True, space_ally=True, phase_codesign=True)
    assert is_eligible(Criteria("open", "codesign"), both, 1)
    assert not is_eligible(Criteria("open", "codesign"), both, 2)  # consented to an older notice
    assert not is_eligible(Criteria("open", "codesign"), None, 1)  # withdrawn or never signed up
    assert not is_eligible(Criteria("open", "train_the_trainer"), both, 1)
    assert not is_eligible(Criteria("minoritised", "codesign", frozenset({"lgbtq"})), both, 1)
    lgbtq = EligibilityAnswers(1, space_minoritised=True, phase_codesign=True, communities=frozenset({"lgbtq"}))
    assert is_eligible(Criteria("minoritised", "codesign", frozenset({"lgbtq", "disability"})), lgbtq, 1)
    with pytest.raises(ValueError, match="space"):
        Criteria("everyone", "codesign")


# -- cards (design §9) ---------------------------------------------------------------------------------------

def _walk(node: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        found.append(node)
        for value in node.values():
            found += _walk(value)
    elif isinstance(node, list):
        for item in node:
            found += _walk(item)
    return found


def _check_card(card: dict[str, Any]) -> None:
    assert card["version"] == "1.5"
    for element in _walk(card):
        if element.get("type") == "TextBlock":
            assert element.get("wrap") is True, element
        if str(element.get("type", "")).startswith("Input."):
            label = element["label"]
            assert label.endswith("(required)") == bool(element.get("isRequired")), label
            assert label.endswith(("(required)", "(optional)")), label
            if element.get("isRequired"):
                assert element["errorMessage"]
    assert len(json.dumps(card).encode()) < 80 * 1024


def _session_view(index: int) -> FacilitatorSessionView:
    start = datetime(2026, 12, 1, 10, tzinfo=UTC) + timedelta(days=index)
    return FacilitatorSessionView(session_id=index + 1, title="A long title for a session " * 4,
                                  phase=Phase.CODESIGN, space=SessionAudience.OPEN, communities=(Community.LGBTQ,),
                                  starts_at=start, ends_at=start + timedelta(hours=2), join_url=None, capacity=20,
                                  status=SessionStatus.PUBLISHED, change_no=0, seats_left=3,
                                  figures=Figures("25", 17, 4, "fewer than 8", "10"), started=False)


def test_facilitator_cards_keep_the_card_rules() -> None:
    form = {"title": "x", "date": "2026-12-01", "start": "10:00", "end": "11:00", "capacity": "5"}
    _check_card(session_form("j", form, {"title": "Give the session a title."}))
    _check_card(change_card(_session_view(0), {"capacity": "Too small"}, form))
    _check_card(sessions_list([_session_view(index) for index in range(40)]))


def test_invitation_card_view_matches_the_service_state_field_for_field() -> None:
    assert [field.name for field in fields(InvitationView)] == [field.name for field in fields(InvitationState)]
    start = datetime(2026, 12, 1, 10, tzinfo=UTC)
    view = InvitationView(1, "Title", Phase.CODESIGN, start, start + timedelta(minutes=90), 0,
                          InvitationStatus.WAITING, 3, None, False, False, "29:abc")
    card = invitation_card(view)
    _check_card(card)
    assert "no places left" in json.dumps(card)


def test_the_calendar_link_is_neutral_and_in_utc() -> None:
    start = datetime(2026, 7, 1, 9, tzinfo=UTC)
    link = calendar_link(start, start + timedelta(hours=1), None)
    assert "subject=HNY%20Inc.%20allyship%20session" in link
    assert "startdt=2026-07-01T09%3A00%3A00Z" in link and "enddt=2026-07-01T10%3A00%3A00Z" in link


# -- co-facilitators -----------------------------------------------------------------------------------------

async def test_every_co_facilitator_to_fix_is_named_once_in_one_message(harness: BotHarness) -> None:
    await make_facilitator(harness)
    first, second = make_member(2060), make_member(2061)
    for member in (first, second):
        await add_person(harness, member)
    typed = f"stranger@nhs.net, {first.email}; STRANGER@nhs.net {second.email}"
    errors: dict[str, str] = {}
    await CoFacilitators(harness.core.database, harness.core.roles).check(
        FACILITATOR.aad_object_id, typed, (), errors)
    assert errors["co_facilitators"] == (
        "I don't know stranger@nhs.net yet. Check the e-mail, or ask them to send me a message first. "
        f"{first.email.lower()} and {second.email.lower()} are not facilitators yet. An admin can make them "
        "facilitators.")


# -- counts --------------------------------------------------------------------------------------------------

async def test_the_counts_snapshot_has_each_upcoming_sessions_figures(harness: BotHarness) -> None:
    members = [make_member(2000 + index) for index in range(9)]
    for member in members:
        await add_volunteer(harness, member, ally=True)
    session_id = await publish(harness, capacity=2)
    for member in members[:3]:
        await press_execute(harness, "invitation_accept", {"session_id": session_id}, member)
    await press_execute(harness, "invitation_decline", {"session_id": session_id}, members[3])
    snapshot = await harness.app[COUNTS].rebuild()
    rows = [row for row in report_from(snapshot).sessions if row.title == "Allyship basics"]
    assert len(rows) == 1
    counts = rows[0].counts
    assert (counts.invited.text, counts.accepted.value, counts.waiting.value) == ("10", 2, 1)
    assert (counts.declined.text, counts.no_reply.text) == ("fewer than 8", "fewer than 8")


async def test_a_sessions_raw_figures_count_each_reply_and_each_attendance_mark(harness: BotHarness) -> None:
    members = [make_member(2050 + index) for index in range(6)]
    for member in members:
        await add_volunteer(harness, member, ally=True)
    session_id = await publish(harness, capacity=3)
    for member in members[:4]:  # three places, then one waiting
        await press_execute(harness, "invitation_accept", {"session_id": session_id}, member)
    await press_execute(harness, "invitation_decline", {"session_id": session_id}, members[4])
    marks = {members[0]: True, members[1]: False, members[3]: True}  # the last is waiting: not counted
    async with harness.core.database.transaction() as session:
        for member, attended in marks.items():
            invitation = await InvitationRepository(session).get(session_id, member.aad_object_id)
            assert invitation is not None
            invitation.attended = attended
    async with harness.core.database.read() as session:
        figures = (await InvitationRepository(session).counts([session_id, session_id + 1000]))
    assert figures[session_id] == StatusCounts(invited=6, accepted=3, waiting=1, declined=1, no_reply=1,
                                               attended=1, absent=1)
    assert figures[session_id + 1000] == StatusCounts(0, 0, 0, 0, 0)


# -- many invitations at once --------------------------------------------------------------------------------

async def test_the_states_of_many_invitations_match_each_ones_own(harness: BotHarness) -> None:
    """Cancelling or changing a session draws every invitee's card from one batch of queries: it must say what
    each person's own card says (seats left, waiting position, refresh id)."""
    members = [make_member(2100 + index) for index in range(5)]
    for member in members:
        await add_volunteer(harness, member, ally=True)
    session_id = await publish(harness, capacity=1)
    for member in members[:4]:  # one place, then three waiting; the fifth does not reply
        await press_execute(harness, "invitation_accept", {"session_id": session_id}, member)
    now = harness.clock.now()
    async with harness.core.database.read() as session:
        row = await session.get(TrainingSession, session_id)
        assert row is not None
        invitations = await InvitationRepository(session).with_status(row.id, ("invited", "accepted", "waiting"))
        each = [await invitation_view(session, row, invitation, now, offsets=(1440, 60))
                for invitation in invitations]
        assert await invitation_views(session, row, invitations, now, offsets=(1440, 60)) == each
    assert [state.reminders for state in each if state.status == "accepted"] == [(1440, 60)]
    assert sorted(state.position for state in each if state.position) == [1, 2, 3]
    assert all(state.refresh_user_id for state in each)

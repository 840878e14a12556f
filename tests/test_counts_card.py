"""The counts card (design §4 "Counts", §5, §9): text first, charts only from rounded figures and only where
nothing is suppressed, under 80 KB; the `counts` command through /api/messages, for admins only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.features.counts import counts_view
from bot.services.counts import RawFigures, SessionFigures, Snapshot, report_from
from bot.services.suppression import FOOTER
from cards.counts import MAX_CARD_BYTES, counts_card, size_of
from storage.models import AuditEntry
from storage.repositories.roles import RoleRepository
from tests.app_fixtures import BotHarness, card_text, cards_in
from tests.doubles.fixtures import DEFAULT_MEMBER
from tests.doubles.teams import make_member
from tests.test_counts import Seeder, many
from vocabulary.uk_time import uk_day_and_clock as uk_time
from vocabulary.words import Role

TAKEN = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


def raw(**changes: object) -> RawFigures:
    values: dict[str, object] = dict(
        notice_version=1,
        active=120,
        new_last_7_days=12,
        space={"minoritised": 70, "ally": 62, "both": 12},
        communities={"ethnicity": 31, "disability": 22, "neurodivergent": 18, "lgbtq": 14},
        two_or_more=16,
        organisations=[("Hull University Teaching Hospitals NHS Trust", 60), ("Navigo", 40), ("Tiny", 20)],
        phases={"codesign": 80, "train_the_trainer": 55},
        sessions=[],
    )
    values.update(changes)
    return RawFigures(**values)  # type: ignore[arg-type]


def card_for(figures: RawFigures) -> dict[str, object]:
    return counts_card(counts_view(report_from(Snapshot(1, TAKEN, figures)), 24))


def charts(card: dict[str, object]) -> list[dict[str, object]]:
    return [element for element in card["body"] if str(element.get("type")).startswith("Chart.")]  # type: ignore[union-attr, attr-defined]


def test_card_shows_each_table_as_text_with_the_time_and_footer() -> None:
    card = card_for(raw())
    text = card_text(card)
    assert card["version"] == "1.5"
    assert "Figures from Thursday 26 November 2026, 10:00 (UK time)" in text
    assert "once every 24 hours" in text
    for title in ("By space", "By community", "By organisation", "By phase", "Upcoming sessions"):
        assert title in text
    assert "Active volunteers" in text and "New in the last 7 days" in text
    assert "Minoritised colleagues" in text and "70 (58%)" in text
    assert "There are no upcoming sessions." in text
    # Every table ends with the rounding note (design §5): the element after each table's figures (or chart).
    body = card["body"]
    titles = [i for i, element in enumerate(body) if str(element.get("text", "")).startswith("By ")]
    assert len(titles) == 4
    for start, end in zip(titles, [*titles[1:], len(body)], strict=True):
        notes = [element for element in body[start:end] if element.get("text") == FOOTER]
        assert len(notes) == 1


def test_charts_of_space_and_community_use_only_rounded_figures() -> None:
    card = card_for(raw())
    space, community = charts(card)
    assert space["type"] == "Chart.VerticalBar"
    assert space["data"] == [{"x": "Minoritised", "y": 70}, {"x": "Allies", "y": 60}, {"x": "Both", "y": 10}]
    assert community["data"] == [
        {"x": "Ethnicity", "y": 30}, {"x": "Disability", "y": 20}, {"x": "Neurodivergent", "y": 20},
        {"x": "LGBT+", "y": 15}, {"x": "Two or more", "y": 15}]
    # Other clients get the same rounded figures as text (design §9).
    fallback = community["fallback"]
    assert isinstance(fallback, dict) and fallback["type"] == "TextBlock"
    assert fallback["text"] == ("Chart of the figures above: Ethnicity 30, Disability 20, Neurodivergent 20, "
                                "LGBT+ 15, Two or more 15.")
    # The text stays: every charted figure is in a FactSet too.
    assert "Ethnically minoritised or from a culturally diverse background" in card_text(card)


def test_no_chart_where_a_figure_is_suppressed() -> None:
    card = card_for(raw(communities={"ethnicity": 31, "disability": 5, "neurodivergent": 18, "lgbtq": 14}))
    remaining = charts(card)
    assert [chart["title"] for chart in remaining] == ["By space"]
    assert "fewer than 8" in card_text(card)


def test_no_chart_when_everything_is_zero() -> None:
    empty = raw(active=0, new_last_7_days=0, space={"minoritised": 0, "ally": 0, "both": 0},
                communities={"ethnicity": 0, "disability": 0, "neurodivergent": 0, "lgbtq": 0}, two_or_more=0,
                organisations=[], phases={"codesign": 0, "train_the_trainer": 0})
    assert charts(card_for(empty)) == []


def test_sessions_show_rounded_invitations_and_exact_seats() -> None:
    card = card_for(raw(sessions=[SessionFigures("Allyship basics", TAKEN + timedelta(days=7), invited=23,
                                                 accepted=5, declined=3, waiting=2, no_reply=13)]))
    text = card_text(card)
    assert f"Allyship basics: {uk_time(TAKEN + timedelta(days=7))}" in text
    facts = next(element for element in card["body"]  # type: ignore[attr-defined]
                 if element.get("type") == "FactSet" and element["facts"][0]["title"] == "Invited")
    assert [(fact["title"], fact["value"]) for fact in facts["facts"]] == [
        ("Invited", "25"), ("Accepted", "5"), ("Declined", "fewer than 8"), ("Waiting list", "2"),
        ("No reply yet", "15")]


def test_card_stays_under_80_kb_and_says_what_it_left_out() -> None:
    sessions = [SessionFigures(f"Session {i} " + "x" * 150, TAKEN + timedelta(hours=i + 1), invited=2000,
                               accepted=40, declined=300, waiting=10, no_reply=1650) for i in range(600)]
    card = card_for(raw(sessions=sessions))
    assert size_of(card) <= MAX_CARD_BYTES
    assert "more sessions did not fit on this card" in card_text(card)
    # 50 sessions (the benchmark's) fit whole.
    assert "did not fit" not in card_text(card_for(raw(sessions=sessions[:50])))


def test_uk_time_follows_british_summer_time() -> None:
    assert uk_time(datetime(2026, 7, 1, 9, 30, tzinfo=UTC)) == "Wednesday 1 July 2026, 10:30"
    assert uk_time(datetime(2026, 12, 1, 9, 30, tzinfo=UTC)) == "Tuesday 1 December 2026, 09:30"


# --- through /api/messages -------------------------------------------------------------------------

COLLEAGUE = make_member(2)
FACILITATOR = make_member(3)


async def audit_rows(harness: BotHarness) -> list[tuple[str, str, str]]:
    async with harness.core.database.transaction() as session:
        rows = (await session.execute(select(AuditEntry).order_by(AuditEntry.id))).scalars().all()
    return [(row.actor_id, row.action, row.outcome) for row in rows]


async def test_an_admin_gets_the_counts_card(admin_harness: BotHarness) -> None:
    harness = admin_harness
    seeder = Seeder()
    async with harness.core.database.transaction() as session:
        # The bot published notice version 1 at start-up; these people agreed to it.
        await seeder.volunteers(session, many(23, minoritised=True, communities=("ethnicity",), consent_version=1))
        await seeder.volunteers(session, many(14, ally=True, consent_version=1))

    replies = await harness.say("Show me the counts please")
    cards = cards_in(replies)
    assert len(cards) == 1
    text = card_text(cards[0])
    assert "Sign-up counts" in text
    assert f"Figures from {uk_time(harness.clock.now())} (UK time)" in text
    assert FOOTER in text
    summary = next(element for element in cards[0]["body"] if element.get("type") == "FactSet")
    assert summary["facts"][0] == {"title": "Active volunteers", "value": "35"}  # 37 people, rounded
    assert size_of(cards[0]) <= MAX_CARD_BYTES
    assert (DEFAULT_MEMBER.aad_object_id, "counts.view", "done") in await audit_rows(harness)

    # Within the window a new sign-up does not move the figures.
    async with harness.core.database.transaction() as session:
        await seeder.volunteers(session, many(1, ally=True, consent_version=1))
    harness.clock.advance(timedelta(hours=1))
    again = card_text(cards_in(await harness.say("counts"))[0])
    assert f"Figures from {uk_time(harness.clock.now() - timedelta(hours=1))} (UK time)" in again


@pytest.mark.parametrize("who", ["colleague", "facilitator"])
async def test_others_get_a_kind_refusal_and_an_audit_row(admin_harness: BotHarness, who: str) -> None:
    harness = admin_harness
    member = COLLEAGUE if who == "colleague" else FACILITATOR
    if who == "facilitator":
        async with harness.core.database.transaction() as session:
            await RoleRepository(session).grant(FACILITATOR.aad_object_id, Role.FACILITATOR, "test",
                                                harness.clock.now())

    replies = await harness.say("counts", member=member)
    text = card_text(cards_in(replies)[0])
    assert "Only admins can do that" in text and "HNY.Inc@nhs.net" in text
    assert "Sign-up counts" not in text
    assert (member.aad_object_id, "command.counts", "refused") in await audit_rows(harness)
    assert not [row for row in await audit_rows(harness) if row[1] == "counts.view"]

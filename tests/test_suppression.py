"""Design §5: counts never identify a person."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.services.suppression import (
    FOOTER,
    OTHER_ORGANISATIONS,
    TWO_OR_MORE,
    Shown,
    Table,
    build_table,
    community_table,
    exact,
    session_counts,
    shown,
)

# Small counts often (where the rules bite), large ones sometimes.
counts = st.one_of(st.integers(0, 40), st.integers(0, 100_000))


def assert_safe(figure: Shown, raw: int) -> None:
    """A figure of people as §5 allows it to be shown, for the raw count it came from."""
    if raw == 0:
        assert figure.value == 0 and figure.text == "0"
    elif raw < 8:
        assert figure.suppressed and figure.value is None and figure.text == "fewer than 8"
    else:
        assert figure.value is not None
        assert figure.value % 5 == 0 and figure.value >= 10
        assert abs(figure.value - raw) <= 2
    assert figure.value is None or not 1 <= figure.value <= 7
    assert figure.text not in {str(n) for n in range(1, 8)}


def percent_of(part: int, whole: int) -> str:
    """Whole per cent, half-up, worked out independently of the module."""
    exact_percent = Fraction(100 * part, whole)
    return f"{int(exact_percent + Fraction(1, 2))}%"


# --- shown() ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "value", "text"),
    [
        (0, 0, "0"),
        (1, None, "fewer than 8"),
        (2, None, "fewer than 8"),
        (7, None, "fewer than 8"),
        (8, 10, "10"),
        (9, 10, "10"),
        (10, 10, "10"),
        (11, 10, "10"),
        (12, 10, "10"),
        (13, 15, "15"),
        (14, 15, "15"),
        (15, 15, "15"),
        (17, 15, "15"),
        (18, 20, "20"),
        (998, 1_000, "1,000"),
        (1_232, 1_230, "1,230"),
        (1_233, 1_235, "1,235"),
        (1_234, 1_235, "1,235"),
        (1_234_567, 1_234_565, "1,234,565"),
    ],
)
def test_shown_boundaries(raw: int, value: int | None, text: str) -> None:
    figure = shown(raw)
    assert figure.value == value
    assert figure.suppressed is (value is None)
    assert figure.text == text
    assert str(figure) == text


@given(st.integers(0, 10_000_000))
def test_shown_is_always_safe(raw: int) -> None:
    assert_safe(shown(raw), raw)


@given(st.integers(8, 10_000_000))
def test_shown_is_monotone(raw: int) -> None:
    assert (shown(raw).value or 0) <= (shown(raw + 1).value or 0)


def test_negative_counts_are_refused() -> None:
    with pytest.raises(ValueError):
        shown(-1)
    with pytest.raises(ValueError):
        exact(-1)
    with pytest.raises(ValueError):
        build_table("t", [("a", -1)], total=None)
    with pytest.raises(ValueError):
        build_table("t", [("a", 1)], total=-1)


def test_exact_bypasses_suppression() -> None:
    assert exact(3).value == 3 and exact(3).text == "3" and not exact(3).suppressed
    assert exact(0).text == "0"
    assert exact(1234).text == "1,234"


def test_footer_text() -> None:
    assert FOOTER == (
        "Numbers are rounded to the nearest 5. Numbers from 1 to 7 show as 'fewer than 8'. "
        "This protects people's privacy."
    )
    assert build_table("t", [], total=0).footer == FOOTER


# --- tables: examples ------------------------------------------------------------------------------


def texts(table: Table) -> list[tuple[str, str, str | None]]:
    return [(cell.label, cell.shown.text, cell.percent) for cell in table.rows]


def test_total_is_rounded_from_raw_not_summed_from_cells() -> None:
    table = build_table("By phase", [("a", 12), ("b", 12), ("c", 12)], total=None)
    assert [cell.shown.value for cell in table.rows] == [10, 10, 10]
    assert table.total.value == 35  # 36 rounded; the cells would add up to 30


def test_explicit_total_for_overlapping_rows() -> None:
    # 40 people; 30 in the minoritised space, 25 allies: 15 are in both.
    table = build_table("By space", [("Minoritised", 30), ("Ally", 25)], total=40, percentages=True)
    assert table.total.text == "40"
    assert texts(table) == [("Minoritised", "30", "75%"), ("Ally", "25", "63%")]


def test_row_larger_than_total_is_refused() -> None:
    with pytest.raises(ValueError):
        build_table("By space", [("Ally", 41)], total=40)


def test_percentages_come_from_rounded_figures() -> None:
    table = build_table("t", [("a", 12), ("b", 23)], total=None, percentages=True)
    # Rounded: 10 and 25 of 35 -> 29% and 71% (raw 12/35 and 23/35 would give 34% and 66%).
    assert texts(table) == [("a", "10", "29%"), ("b", "25", "71%")]


def test_no_percentages_when_a_part_is_suppressed() -> None:
    table = build_table("t", [("a", 3), ("b", 40)], total=None, percentages=True)
    assert texts(table) == [("a", "fewer than 8", None), ("b", "40", None)]
    assert table.has_suppressed


def test_no_percentages_when_the_total_is_suppressed_or_zero() -> None:
    assert texts(build_table("t", [("a", 0), ("b", 0)], total=None, percentages=True)) == [
        ("a", "0", None),
        ("b", "0", None),
    ]
    assert build_table("t", [("a", 0)], total=5, percentages=True).rows[0].percent is None


def test_no_percentages_unless_asked() -> None:
    assert build_table("t", [("a", 20)], total=40).rows[0].percent is None


def test_small_organisations_are_merged() -> None:
    rows = [("A", 50), ("B", 3), ("C", 20), ("D", 6), ("E", 0)]
    table = build_table("By organisation", rows, total=None, merge_small_into=OTHER_ORGANISATIONS)
    assert texts(table) == [("A", "50", None), ("C", "20", None), (OTHER_ORGANISATIONS, "10", None)]
    assert table.total.text == "80"  # 79


def test_one_small_organisation_takes_the_next_smallest_with_it() -> None:
    # Shown as 10, 10 and "fewer than 8" with a total of 15, it could only be 8 + 8 + 1.
    rows = [("A", 8), ("B", 8), ("C", 1)]
    table = build_table("By organisation", rows, total=None, merge_small_into=OTHER_ORGANISATIONS)
    assert texts(table) == [("B", "10", None), (OTHER_ORGANISATIONS, "10", None)]
    assert table.total.text == "15"


def test_no_merged_row_when_nothing_is_small() -> None:
    table = build_table("t", [("A", 8), ("B", 30)], total=None, merge_small_into=OTHER_ORGANISATIONS)
    assert [cell.label for cell in table.rows] == ["A", "B"]


def test_everything_small_is_one_suppressed_row() -> None:
    table = build_table("t", [("A", 2), ("B", 3)], total=None, merge_small_into=OTHER_ORGANISATIONS)
    assert texts(table) == [(OTHER_ORGANISATIONS, "fewer than 8", None)]
    assert table.total.suppressed


def test_community_table() -> None:
    table = community_table(
        "By community",
        [("Ethnicity", 40), ("Disability", 22), ("Neurodivergent", 5), ("LGBT+", 12)],
        9,
        total=70,
    )
    assert texts(table) == [
        ("Ethnicity", "40", None),
        ("Disability", "20", None),
        ("Neurodivergent", "fewer than 8", None),
        ("LGBT+", "10", None),
        (TWO_OR_MORE, "10", None),
    ]
    assert table.total.text == "70"


def test_session_counts() -> None:
    counts_ = session_counts(invited=23, accepted=5, waiting=2, declined=3, no_reply=13)
    assert counts_.invited.text == "25"
    assert counts_.accepted.text == "5"  # a session's seats: exact (§5)
    assert counts_.waiting.text == "2"
    assert counts_.declined.text == "fewer than 8"  # not seats: rounded, or they would add up to invited
    assert counts_.no_reply.text == "15"
    with pytest.raises(ValueError):
        session_counts(invited=3, accepted=2, waiting=2, declined=0, no_reply=0)
    small = session_counts(invited=5, accepted=3, waiting=2, declined=0, no_reply=0)
    assert (small.invited.text, small.accepted.text, small.waiting.text) == ("fewer than 8", "3", "2")
    assert (small.declined.text, small.no_reply.text) == ("fewer than 8", "fewer than 8")


# --- tables: properties ----------------------------------------------------------------------------


Drawn = tuple[list[tuple[str, int]], int | None, bool, bool]  # rows, total, merge, percentages


@st.composite
def raw_tables(draw: st.DrawFn) -> Drawn:
    raws = draw(st.lists(counts, max_size=12))
    rows = [(f"row {i}", raw) for i, raw in enumerate(raws)]
    explicit = draw(st.booleans())
    total = (max(raws, default=0) + draw(counts)) if explicit else None
    return rows, total, draw(st.booleans()), draw(st.booleans())


def raw_of_cells(table: Table, rows: list[tuple[str, int]]) -> list[int]:
    """The raw figure behind each cell: its row's, or for the merged row the sum of the rows merged."""
    by_label = dict(rows)
    merged = sum(raw for label, raw in rows if label not in {cell.label for cell in table.rows})
    return [by_label.get(cell.label, merged) for cell in table.rows]


@given(raw_tables())
def test_every_figure_of_every_table_is_safe(drawn: Drawn) -> None:
    rows, total, merge, percentages = drawn
    table = build_table(
        "t",
        rows,
        total=total,
        merge_small_into=OTHER_ORGANISATIONS if merge else None,
        percentages=percentages,
    )
    for cell, raw in zip(table.rows, raw_of_cells(table, rows), strict=True):
        assert_safe(cell.shown, raw)
    raw_total = sum(raw for _, raw in rows) if total is None else total
    assert_safe(table.total, raw_total)
    assert table.total == shown(raw_total)


@given(raw_tables())
def test_percentages_only_from_rounded_figures_and_never_beside_a_suppressed_part(
    drawn: Drawn,
) -> None:
    rows, total, merge, _ = drawn
    table = build_table(
        "t", rows, total=total, merge_small_into=OTHER_ORGANISATIONS if merge else None, percentages=True
    )
    whole = table.total.value
    if table.has_suppressed or not whole:
        assert all(cell.percent is None for cell in table.rows)
        return
    for cell in table.rows:
        assert cell.shown.value is not None
        assert cell.percent == percent_of(cell.shown.value, whole)


@given(st.lists(counts, max_size=25))
def test_merged_organisations(raws: list[int]) -> None:
    rows = [(f"org {i}", raw) for i, raw in enumerate(raws)]
    table = build_table("By organisation", rows, total=None, merge_small_into=OTHER_ORGANISATIONS)
    kept = [cell for cell in table.rows if cell.label != OTHER_ORGANISATIONS]
    by_label = dict(rows)
    taken_out = [raw for label, raw in rows if label not in {cell.label for cell in kept}]

    # Rows keep their order; the merged row, if any, is last and is the raw sum of what it holds.
    assert [cell.label for cell in kept] == [label for label, _ in rows if label in {c.label for c in kept}]
    assert all(by_label[cell.label] >= 8 for cell in kept)  # no organisation under 8 by name
    if taken_out:
        assert table.rows[-1].label == OTHER_ORGANISATIONS
        assert table.rows[-1].shown == shown(sum(taken_out))
    else:
        assert OTHER_ORGANISATIONS not in [cell.label for cell in table.rows]
    assert any(raw < 8 for raw in raws) == bool(taken_out)
    # A big organisation is only taken in when the small ones alone would read "fewer than 8",
    # and then it is one of the smallest.
    small_sum = sum(raw for raw in raws if raw < 8)
    if 0 < small_sum < 8 and kept:
        assert not table.rows[-1].shown.suppressed
        big_taken = [raw for raw in taken_out if raw >= 8]
        assert big_taken
        assert max(big_taken) <= min(by_label[cell.label] for cell in kept)
    if not 0 < small_sum < 8:
        assert all(raw < 8 for raw in taken_out)
    # The merged row reads "fewer than 8" only when the whole table is under 8.
    if taken_out and table.rows[-1].shown.suppressed:
        assert not kept and table.total.suppressed


@given(st.lists(counts, min_size=4, max_size=4), counts, counts, st.booleans())
def test_community_tables_are_safe(raws: list[int], two_or_more: int, extra: int, percentages: bool) -> None:
    names = ["Ethnicity", "Disability", "Neurodivergent", "LGBT+"]
    total = max([*raws, two_or_more]) + extra
    table = community_table(
        "By community", list(zip(names, raws, strict=True)), two_or_more, total=total, percentages=percentages
    )
    assert [cell.label for cell in table.rows] == [*names, TWO_OR_MORE]
    for cell, raw in zip(table.rows, [*raws, two_or_more], strict=True):
        assert_safe(cell.shown, raw)
    assert table.total == shown(total)
    if table.has_suppressed:
        assert all(cell.percent is None for cell in table.rows)


@given(counts, counts, counts, counts, counts)
def test_session_counts_round_everything_but_seats(
    accepted: int, waiting: int, declined: int, no_reply: int, other: int
) -> None:
    invited = accepted + waiting + declined + no_reply + other
    figures = session_counts(
        invited=invited, accepted=accepted, waiting=waiting, declined=declined, no_reply=no_reply
    )
    assert_safe(figures.invited, invited)
    if figures.invited.suppressed:
        # Beside exact seats, even a 0 would let the parts add up to the number invited (§5).
        assert figures.declined.suppressed and figures.no_reply.suppressed
    else:
        assert_safe(figures.declined, declined)
        assert_safe(figures.no_reply, no_reply)
    assert figures.accepted == exact(accepted) and figures.waiting == exact(waiting)

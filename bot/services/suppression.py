"""The one place that makes counts safe to show (design §5).

Every number that says how many people are in a space, community, organisation or phase goes through
`shown()` before anyone sees it (counts card, CLI, CSV, the audience size in a preview, a session's
"invited" figure). Tables are built only by `build_table()` and `community_table()`, which apply the
rest of §5: totals from raw figures, small organisations merged, percentages only from rounded figures.

Rules (NHS Digital HES/ECDS rule):

- 0 shows as 0.
- 1 to 7 show as "fewer than 8".
- 8 and above are rounded to the nearest 5. An integer is never exactly half-way between two multiples
  of 5, so there is no tie to break: a remainder of 0, 1 or 2 rounds down and 3 or 4 rounds up
  (12 -> 10, 13 -> 15). So the shown figure is always within 2 of the raw one, and 8 and 9 round up to 10:
  apart from 0, no figure below 10 is ever shown.

Pure code: no database, no botbuilder.
"""

from __future__ import annotations

from dataclasses import dataclass

FOOTER = (
    "Numbers are rounded to the nearest 5. Numbers from 1 to 7 show as 'fewer than 8'. "
    "This protects people's privacy."
)
SUPPRESSED_TEXT = "fewer than 8"
SMALLEST_SHOWN = 8
OTHER_ORGANISATIONS = "Other organisations"
TWO_OR_MORE = "Two or more communities"
TWO_OR_MORE_CHART = "Two or more"  # its short label under a chart's bar


@dataclass(frozen=True)
class Shown:
    """A figure that may be shown. Make it with `shown()` (or `exact()` for a session's seats only).

    `value` is None when the figure is suppressed ("fewer than 8").
    """

    value: int | None

    @property
    def suppressed(self) -> bool:
        return self.value is None

    @property
    def text(self) -> str:
        return SUPPRESSED_TEXT if self.value is None else f"{self.value:,}"

    def __str__(self) -> str:
        return self.text


def _check(raw: int) -> None:
    if raw < 0:
        raise ValueError(f"a count cannot be negative: {raw}")


def shown(raw: int) -> Shown:
    """What may be shown for a raw count of people: 0, "fewer than 8", or a multiple of 5 of at least 10."""
    _check(raw)
    if raw == 0:
        return Shown(0)
    if raw < SMALLEST_SHOWN:
        return Shown(None)
    return Shown(5 * ((raw + 2) // 5))


def exact(n: int) -> Shown:
    """An exact figure, bypassing suppression on purpose.

    Only for figures about one session's seats, which §5 allows to be exact because the people they
    concern need them: accepted, waiting, seats left, a person's waiting position. Never for a count of
    people in a space, community, organisation or phase.
    """
    _check(n)
    return Shown(n)


@dataclass(frozen=True)
class Cell:
    label: str
    shown: Shown
    percent: str | None  # e.g. "25%"; None when the table has no percentages


@dataclass(frozen=True)
class Table:
    title: str
    rows: tuple[Cell, ...]
    total: Shown

    @property
    def has_suppressed(self) -> bool:
        return self.total.suppressed or any(cell.shown.suppressed for cell in self.rows)

    @property
    def footer(self) -> str:
        return FOOTER


def _percents(figures: list[Shown], total: Shown) -> list[str | None]:
    """Whole per cents (half-up) of rounded figures over the rounded total.

    None for every figure when any of them or the total reads "fewer than 8", or the total is 0.
    """
    values = [figure.value for figure in figures if figure.value is not None]
    if not total.value or len(values) < len(figures):
        return [None] * len(figures)
    return [f"{(200 * value + total.value) // (2 * total.value)}%" for value in values]


def build_table(
    title: str,
    rows: list[tuple[str, int]],
    *,
    total: int | None,
    merge_small_into: str | None = None,
    percentages: bool = False,
) -> Table:
    """Build a table from raw counts. The only way tables of people are made.

    `total` is the raw number of people the table is about. Pass it explicitly when a person can be in
    more than one row (by space, by community, by phase): then the total is not the sum of the rows.
    Pass None only when every person is in exactly one row (by organisation): the total is then the sum
    of the raw rows. Either way the total is rounded from the raw figure, never summed from rounded cells.
    A row larger than the total is a bug in the caller and raises ValueError.

    `merge_small_into`: when given (e.g. OTHER_ORGANISATIONS), every row under 8 (0 included: §5 says
    "under 8") is taken out and one row with that label is added last, holding the raw sum of the rows
    taken out, rounded by `shown()` like any other figure. If that sum is 1 to 7 (for example when exactly
    one organisation is small), the smallest remaining row is taken out too, and so on, until the merged
    row is 8 or more or no row is left. The merged row appears only if some row was taken out.

    Why not simply show the merged row as "fewer than 8"? Because the total is known too. When exactly one
    organisation is small, "Other organisations" is that organisation, and the total minus the other rows
    sometimes pins its raw count exactly, despite the rounding: rows shown as 10, 10 and a total of 15 can
    only be 8 + 8 + 1. Merging the next smallest organisation in as well means no single small
    organisation's count is a figure of the table any more, and the merged row never reads "fewer than 8"
    (unless the whole table is under 8), so percentages can still be shown. The cost is one figure that
    would have been safe to show. Rounding cannot remove every such deduction: when every figure of a
    table sits at the edge of its rounding at once (four organisations of 7 make 28, shown as 30), the
    figures can still pin a small count. That needs all the roundings to line up, which gets rarer with
    every row, and with the real list of organisations it is very unlikely.

    `percentages`: each row gets rounded cell / rounded total as a whole per cent, but only when no part
    of the table (a row or the total) reads "fewer than 8" and the total is not 0. Otherwise no row has one.
    """
    for _, raw in rows:
        _check(raw)
    raw_total = sum(raw for _, raw in rows) if total is None else total
    _check(raw_total)
    if any(raw > raw_total for _, raw in rows):
        raise ValueError("a row cannot count more people than the table's total")

    kept = list(rows)
    if merge_small_into is not None:
        kept = [(label, raw) for label, raw in rows if raw >= SMALLEST_SHOWN]
        merged = [raw for _, raw in rows if raw < SMALLEST_SHOWN]
        while kept and 0 < sum(merged) < SMALLEST_SHOWN:
            smallest = min(kept, key=lambda row: row[1])
            kept.remove(smallest)
            merged.append(smallest[1])
        if merged:
            kept.append((merge_small_into, sum(merged)))

    figures = [shown(raw) for _, raw in kept]
    shown_total = shown(raw_total)
    percents = _percents(figures, shown_total) if percentages else [None] * len(figures)
    labels = [label for label, _ in kept]
    cells = zip(labels, figures, percents, strict=True)
    return Table(title, tuple(Cell(label, figure, percent) for label, figure, percent in cells), shown_total)


def community_table(
    title: str,
    by_community: list[tuple[str, int]],
    two_or_more: int,
    *,
    total: int,
    percentages: bool = False,
) -> Table:
    """The communities table: one row per community, then "Two or more communities".

    `by_community` holds, for each community, the raw number of people who chose it (whatever else they
    chose). `two_or_more` is the raw number of people who chose two or more. Combinations are never
    broken down further (§5): this function takes no other figure about them. `total` is the raw number
    of people the table is about (a person can be in several rows).
    """
    return build_table(
        title,
        [*by_community, (TWO_OR_MORE, two_or_more)],
        total=total,
        percentages=percentages,
    )


@dataclass(frozen=True)
class SessionCounts:
    """One session's figures for the counts view."""

    invited: Shown  # rounded: how many people were eligible
    accepted: Shown  # exact (§5: a session's seats)
    waiting: Shown  # exact (§5: a session's seats)
    declined: Shown  # rounded
    no_reply: Shown  # rounded


def session_counts(
    *, invited: int, accepted: int, waiting: int, declined: int, no_reply: int
) -> SessionCounts:
    """Figures for one session.

    §5 makes accepted and waiting exact (they are about the session's seats) and rounds "invited".
    Declined and no reply are not seat figures, and are rounded: if all four parts were exact, their sum
    would give the exact number invited, which for a session filtered by community is the exact number of
    eligible people in that community. When "invited" reads "fewer than 8", declined and no reply read so
    too, even at 0: beside exact seat figures, a 0 would still let the parts add up to the number invited.
    """
    if accepted + waiting + declined + no_reply > invited:
        raise ValueError("a session's replies cannot outnumber its invitations")
    invited_shown = shown(invited)
    hidden = invited_shown.suppressed
    return SessionCounts(
        invited=invited_shown,
        accepted=exact(accepted),
        waiting=exact(waiting),
        declined=Shown(None) if hidden else shown(declined),
        no_reply=Shown(None) if hidden else shown(no_reply),
    )

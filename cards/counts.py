"""The counts card for admins (design §4 "Counts", §5, §9).

Takes view data whose figures are already safe (made by bot.services.suppression): texts such as "30",
"fewer than 8", and, for charts, the rounded value. The text is the source of truth (screen readers read it);
a chart is added only where no figure of its table is suppressed, built from the rounded figures, with a
text fallback for clients that cannot draw Teams' `Chart.*` elements.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cards.common import HELP, Card, card, facts, heading, para, submit
from vocabulary.actions.people import SHOW_HELP
from vocabulary.uk_time import uk_day_and_clock

MAX_CARD_BYTES = 80 * 1024  # design §9: payloads stay under 80 KB


@dataclass(frozen=True)
class FigureRow:
    label: str
    text: str  # "30", "fewer than 8", "0"
    percent: str | None = None  # "75%", only when no part of the table is suppressed
    chart_label: str | None = None  # short label for a chart
    rounded: int | None = None  # the rounded figure (None when suppressed); charts use only this


@dataclass(frozen=True)
class TableView:
    title: str
    rows: tuple[FigureRow, ...]
    total_label: str
    total_text: str
    has_suppressed: bool
    chart: bool = False  # asked for a chart; drawn only when nothing is suppressed


@dataclass(frozen=True)
class SessionCountsLine:
    """One upcoming session's figures on the counts card, as texts that went through suppression."""

    title: str
    starts_at: datetime
    invited: str
    accepted: str
    declined: str
    waiting: str
    no_reply: str


@dataclass(frozen=True)
class CountsView:
    taken_at: datetime
    refresh_hours: int
    summary: tuple[FigureRow, ...]  # active volunteers, new in the last 7 days
    tables: tuple[TableView, ...]
    sessions: tuple[SessionCountsLine, ...]
    footer: str


def figure_text(row: FigureRow) -> str:
    return f"{row.text} ({row.percent})" if row.percent else row.text


def chart_of(table: TableView) -> dict[str, Any] | None:
    """A bar chart of a table's rounded figures, or None when any of them is suppressed (or all are 0)."""
    values = [row.rounded for row in table.rows]
    if not table.chart or table.has_suppressed or any(value is None for value in values) or not any(values):
        return None
    summary = ", ".join(f"{row.chart_label or row.label} {row.text}" for row in table.rows)
    return {
        "type": "Chart.VerticalBar",
        "title": table.title,
        "xAxisTitle": "Group",
        "yAxisTitle": "People (rounded)",
        "colorSet": "categorical",
        "showBarValues": True,
        "data": [{"x": row.chart_label or row.label, "y": row.rounded} for row in table.rows],
        # Other clients cannot draw Chart.* (design §9): they show the same rounded figures as text.
        "fallback": para(f"Chart of the figures above: {summary}.", subtle=True),
    }


def _table(table: TableView, footer: str) -> list[dict[str, Any]]:
    rows = [(row.label, figure_text(row)) for row in table.rows]
    body: list[dict[str, Any]] = [
        para(table.title, weight="Bolder"),
        facts([*rows, (table.total_label, table.total_text)]),
    ]
    chart = chart_of(table)
    if chart is not None:
        body.append(chart)
    # Design §5: every table ends with the rounding note, so a table read on its own still says it.
    body.append(para(footer, subtle=True))
    return body


# Each upcoming session's figures, in this order: (label, the field of SessionCountsLine and of the counts
# report's SessionCounts). The desk's Counts page shows the same.
SESSION_FIGURES = (("Invited", "invited"), ("Accepted", "accepted"), ("Declined", "declined"),
                   ("Waiting list", "waiting"), ("No reply yet", "no_reply"))


def _session(session: SessionCountsLine) -> list[dict[str, Any]]:
    return [
        para(f"{session.title}: {uk_day_and_clock(session.starts_at)}", weight="Bolder"),
        facts([(label, str(getattr(session, name))) for label, name in SESSION_FIGURES]),
    ]


def _build(view: CountsView, sessions: tuple[SessionCountsLine, ...], left_out: int) -> Card:
    every = "hour" if view.refresh_hours == 1 else f"{view.refresh_hours} hours"
    body: list[dict[str, Any]] = [
        heading("Sign-up counts"),
        para(f"Figures from {uk_day_and_clock(view.taken_at)} (UK time). They are updated at most once every {every}, "
             "so they never show one person signing up."),
        facts([(row.label, figure_text(row)) for row in view.summary]),
        para("Active volunteers are people who agreed to the current privacy notice.", subtle=True),
    ]
    for table in view.tables:
        body.extend(_table(table, view.footer))
    body.append(para("Upcoming sessions", weight="Bolder"))
    if sessions:
        body.append(para("Accepted and waiting list are exact, because they are about the session's places.",
                         subtle=True))
        for session in sessions:
            body.extend(_session(session))
    else:
        body.append(para("There are no upcoming sessions."))
    if left_out:
        body.append(para(f"{left_out} more sessions did not fit on this card. Run "
                         "\"python -m bot report counts\" to see them all."))
    if sessions:  # their invited and no-reply figures are rounded too
        body.append(para(view.footer, subtle=True))
    return card(body, [submit(HELP, SHOW_HELP)])


def size_of(content: Card) -> int:
    return len(json.dumps(content, ensure_ascii=False).encode("utf-8"))


def counts_card(view: CountsView) -> Card:
    """The card, under 80 KB: if the sessions do not all fit, the latest ones are left out and it says so."""
    sessions = view.sessions
    content = _build(view, sessions, 0)
    while size_of(content) > MAX_CARD_BYTES and sessions:
        sessions = sessions[: len(sessions) * 3 // 4]
        content = _build(view, sessions, len(view.sessions) - len(sessions))
    return content

"""What the desk's pages show, built from the services the chat uses and the words its cards use: nothing here
counts, rounds or checks a rule of its own (design §10: a second face, not a second system)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.desk.card_html import DeskButton, buttons_of
from bot.desk.charts import Chart, Figure, bar_chart
from bot.services.counts import CountsReport
from bot.services.suppression import Shown
from cards.counts import SESSION_FIGURES, CountsView, TableView  # the counts card's per-session labels
from cards.sessions import FacilitatorSessionView, session_block, session_rows  # the sessions card, word for word


@dataclass(frozen=True)
class TableRow:
    label: str
    text: str
    percent: str | None


@dataclass(frozen=True)
class CountsTable:
    """One table of the counts report with its chart: the same figures, in words and drawn."""

    id: str
    title: str
    rows: tuple[TableRow, ...]
    total_label: str | None
    total_text: str | None
    chart: Chart
    has_percent: bool


@dataclass(frozen=True)
class CountsPage:
    taken_at: datetime
    refresh_hours: int
    summary: tuple[TableRow, ...]
    tables: tuple[CountsTable, ...]
    sessions: tuple[CountsTable, ...]
    session_starts: tuple[datetime, ...]
    footer: str


def _table(index: int, table: TableView) -> CountsTable:
    rows = tuple(TableRow(row.label, row.text, row.percent) for row in table.rows)
    figures = [Figure(row.chart_label or row.label, row.text, row.rounded) for row in table.rows]
    chart_id = f"table-{index}"
    return CountsTable(chart_id, table.title, rows, table.total_label, table.total_text,
                       bar_chart(chart_id, table.title, figures), any(row.percent for row in rows))


def counts_page(view: CountsView, report: CountsReport) -> CountsPage:
    """`view` is the counts card's view data (bot.features.counts.counts_view) of `report`: the tables come from
    it; each upcoming session's figures come from the report's own SessionCounts, already suppressed (§5)."""
    tables = tuple(_table(index, table) for index, table in enumerate(view.tables, start=1))
    sessions = []
    for index, row in enumerate(report.sessions, start=1):
        shown: list[tuple[str, Shown]] = [(label, getattr(row.counts, name)) for label, name in SESSION_FIGURES]
        title = row.title
        chart_id = f"session-{index}"
        sessions.append(CountsTable(
            chart_id, title, tuple(TableRow(label, figure.text, None) for label, figure in shown), None, None,
            bar_chart(chart_id, title, [Figure(label, figure.text, figure.value) for label, figure in shown]),
            False))
    return CountsPage(
        taken_at=view.taken_at, refresh_hours=view.refresh_hours,
        summary=tuple(TableRow(row.label, row.text, None) for row in view.summary),
        tables=tables, sessions=tuple(sessions), session_starts=tuple(row.starts_at for row in report.sessions),
        footer=view.footer)


@dataclass(frozen=True)
class SessionEntry:
    """One managed session as the chat's sessions card shows it: its title, its (label, figure) rows and its
    buttons (the card decides which: Publish for a draft, Mark who came once it has started, …)."""

    session_id: int
    title: str
    rows: tuple[tuple[str, str], ...]
    buttons: tuple[DeskButton, ...] = ()


def session_entries(views: list[FacilitatorSessionView]) -> list[SessionEntry]:
    """The rows and buttons of the chat's "sessions" card, so the desk says exactly what the card says (seat
    figures exact, invited, declined and no reply rounded: design §5) and offers what it offers."""
    entries = []
    for view in views:
        actions = [action for item in session_block(view) if item.get("type") == "ActionSet"
                   for action in item["actions"]]
        entries.append(SessionEntry(view.session_id, view.title, tuple(session_rows(view)), buttons_of(actions)))
    return entries

"""Counts for admins (design §4 "Counts", §5): the `counts` command shows the latest snapshot as a card.

Only admins: the command router checks the role on the server and, for anyone else, replies kindly and writes
a "refused" audit row. Every reading of the counts writes an audit row too (ids only).

Session figures come from the providers in SESSION_FIGURES_PROVIDERS (the sessions feature's; the CLI,
bot/cli/report.py, passes the same). The CountsService is kept on the app under COUNTS, so another feature can
also add one at registration: `wiring.app[COUNTS].session_providers.append(provider)` (after this feature in
FEATURES).
"""

from __future__ import annotations

from collections.abc import Sequence

from aiohttp import web

from bot.features import Wiring
from bot.services.counts import CountsReport, CountsService, SessionFiguresProvider
from bot.services.sessions.roster import session_figures
from bot.services.suppression import TWO_OR_MORE, TWO_OR_MORE_CHART, Table
from bot.turns import Turn
from cards.counts import CountsView, FigureRow, SessionCountsLine, TableView, counts_card
from vocabulary.words import Community, Phase, Role, VolunteerSpace

COUNTS = web.AppKey("counts", CountsService)
SESSION_FIGURES_PROVIDERS: Sequence[SessionFiguresProvider] = (session_figures,)


def _chart_labels() -> dict[str, str]:
    """Short labels for charts, where long ones do not fit under a bar: each row's word's chart label."""
    words = (*VolunteerSpace, *Community, *Phase)
    return {word.label: word.chart_label for word in words} | {TWO_OR_MORE: TWO_OR_MORE_CHART}


def table_view(table: Table, total_label: str, *, chart: bool = False) -> TableView:
    chart_labels = _chart_labels()
    rows = tuple(
        FigureRow(cell.label, cell.shown.text, cell.percent, chart_labels.get(cell.label), cell.shown.value)
        for cell in table.rows
    )
    return TableView(table.title, rows, total_label, table.total.text, table.has_suppressed, chart)


def counts_view(report: CountsReport, refresh_hours: int) -> CountsView:
    """The card's view data: texts of figures that already went through suppression, and nothing else."""
    return CountsView(
        taken_at=report.taken_at,
        refresh_hours=refresh_hours,
        summary=(
            FigureRow("Active volunteers", report.active.text),
            FigureRow("New in the last 7 days", report.new_last_7_days.text),
        ),
        tables=(
            # Charts only for space and community (design §4); each drawn only if nothing is suppressed.
            table_view(report.space, "Active volunteers (people, not the sum)", chart=True),
            table_view(report.communities, "People in the minoritised space", chart=True),
            table_view(report.organisations, "Active volunteers"),
            table_view(report.phases, "Active volunteers (people, not the sum)"),
        ),
        sessions=tuple(
            SessionCountsLine(
                title=row.title,
                starts_at=row.starts_at,
                invited=row.counts.invited.text,
                accepted=row.counts.accepted.text,
                declined=row.counts.declined.text,
                waiting=row.counts.waiting.text,
                no_reply=row.counts.no_reply.text,
            )
            for row in report.sessions
        ),
        footer=report.footer,
    )


def register(wiring: Wiring) -> None:
    core = wiring.core
    service = CountsService(core.database, core.clock, core.audit, refresh_hours=core.settings.counts_refresh_hours,
                            providers=SESSION_FIGURES_PROVIDERS)
    wiring.app[COUNTS] = service

    async def counts(turn: Turn) -> None:
        report = await service.report(turn.person_id, "counts.view")
        await turn.reply_card(counts_card(counts_view(report, core.settings.counts_refresh_hours)))

    wiring.commands.add("counts", ["counts", "count", "sign up numbers", "figures"], counts, role=Role.ADMIN)

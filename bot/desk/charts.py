"""Server-rendered bar charts for the desk (design §5, §10): drawn only from figures that already went through
bot.services.suppression. A figure that reads "fewer than 8" is named, never drawn; the table beside the chart is
the source of truth, and the chart's title and description say the same in words.

Pure geometry: the template (templates/_chart.html) turns a `Chart` into SVG, escaping every text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

WIDTH = 320  # viewBox units; the SVG scales to its container (360 px screens included)
ROW_HEIGHT = 44
PLOT_WIDTH = 220  # the longest bar; the rest of the row holds its figure
NOT_DRAWN = "not drawn"


@dataclass(frozen=True)
class Bar:
    label: str
    text: str  # the figure as the table shows it: "30", "0", "fewer than 8"
    y: int  # top of the row
    width: float | None  # None: suppressed, so not drawn

    @property
    def label_y(self) -> int:
        return self.y + 14

    @property
    def bar_y(self) -> int:
        return self.y + 20

    @property
    def text_x(self) -> float:
        return (self.width or 0) + 6 if self.width is not None else 0

    @property
    def text_y(self) -> int:
        return self.y + 33

    @property
    def shown_text(self) -> str:
        return self.text if self.width is not None else f"{self.text} ({NOT_DRAWN})"


@dataclass(frozen=True)
class Chart:
    id: str  # unique on the page: the SVG's title and desc ids derive from it
    title: str
    desc: str
    bars: tuple[Bar, ...]
    width: int = WIDTH

    @property
    def height(self) -> int:
        return max(ROW_HEIGHT, ROW_HEIGHT * len(self.bars))


@dataclass(frozen=True)
class Figure:
    label: str
    text: str  # already suppressed and formatted
    value: int | None  # the rounded (or, for seats, exact) figure; None when it reads "fewer than 8"


def bar_chart(chart_id: str, title: str, figures: Sequence[Figure]) -> Chart:
    """One horizontal bar per figure, scaled to the largest figure shown. Suppressed figures get no bar."""
    largest = max((figure.value for figure in figures if figure.value), default=0)
    bars = []
    for index, figure in enumerate(figures):
        width: float | None
        if figure.value is None:
            width = None
        else:
            width = round(PLOT_WIDTH * figure.value / largest, 1) if largest else 0.0
        bars.append(Bar(figure.label, figure.text, index * ROW_HEIGHT, width))
    parts = [f"{figure.label} {figure.text}" + (f", {NOT_DRAWN}" if figure.value is None else "")
             for figure in figures]
    desc = (f"Bar chart of the figures in the table {title}: " + "; ".join(parts) + "." if parts
            else f"No figures in the table {title}.")
    return Chart(chart_id, title, desc, tuple(bars))

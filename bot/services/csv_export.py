"""The one CSV writer for every export (the roster, the audit log, the counts report): each cell that a
spreadsheet would run as a formula is written as text (CSV injection, OWASP)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from pathlib import Path

# A cell starting with one of these runs as a formula in Excel, LibreOffice or Google Sheets, including the
# full-width forms some spreadsheets also accept; a leading tab, CR or LF hides the formula sign behind blank space.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")

Row = Sequence[str | None]


def safe_cell(value: str | None) -> str:
    """The cell as a spreadsheet shows it as text: a leading apostrophe stops a formula from running."""
    text = value or ""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_text(header: Row, rows: Iterable[Row], *, line_end: str = "\r\n") -> str:
    """Header and rows as CSV text, every cell (the header's too) made safe."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator=line_end)
    for row in (header, *rows):
        writer.writerow([safe_cell(value) for value in row])
    return buffer.getvalue()


def csv_bytes(header: Row, rows: Iterable[Row]) -> bytes:
    """UTF-8 with a byte order mark, so spreadsheets read names with accents correctly (a download)."""
    return ("\ufeff" + csv_text(header, rows)).encode("utf-8")


def write_csv(path: Path, header: Row, rows: Iterable[Row]) -> None:
    """A CSV file in UTF-8 (the command line's exports)."""
    text = csv_text(header, rows)
    with path.open("w", newline="", encoding="utf-8") as handle:
        handle.write(text)

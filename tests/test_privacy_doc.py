"""docs/privacy.md lists every stored field exactly once, with why, its lawful basis, who sees it and how long it
is kept (issue 12): a new column without a row here fails, so the page cannot drift from the models."""

from __future__ import annotations

import re
from pathlib import Path

from storage.models import Base

DOC = Path(__file__).resolve().parent.parent / "docs" / "privacy.md"
ROW = re.compile(r"^\|\s*`([a-z_]+\.[a-z_0-9]+)`\s*\|(.*)\|\s*$")
BASES = {"Consent", "Task", "Legal", "None", "Consent / Task"}


def documented() -> dict[str, list[str]]:
    rows: dict[str, list[str]] = {}
    for line in DOC.read_text(encoding="utf-8").splitlines():
        match = ROW.match(line)
        if match:
            name = match.group(1)
            assert name not in rows, f"{name} is listed twice in docs/privacy.md"
            rows[name] = [cell.strip() for cell in match.group(2).split("|")]
    return rows


def test_every_column_is_documented_and_nothing_else() -> None:
    in_models = {f"{table.name}.{column.name}" for table in Base.metadata.sorted_tables for column in table.columns}
    in_doc = set(documented())
    missing, extra = sorted(in_models - in_doc), sorted(in_doc - in_models)
    template = "\n".join(f"| `{name}` | what and why | Basis | who can see it | how long |" for name in missing)
    assert not missing, f"add these rows to docs/privacy.md:\n{template}"
    assert not extra, f"docs/privacy.md lists fields the models no longer have: {extra}"


def test_every_row_says_why_basis_who_and_how_long() -> None:
    for name, cells in documented().items():
        assert len(cells) == 4 and all(cells), f"{name}: fill in all five columns"
        assert cells[1] in BASES, f"{name}: the basis must be one of {sorted(BASES)}"


def test_special_category_fields_rest_on_explicit_consent() -> None:
    rows = documented()
    special = [name for name in rows if name.startswith(("volunteers.space_", "volunteers.community_"))]
    special.append("volunteers.adjustments_contact")
    assert len(special) == 7
    for name in special:
        assert rows[name][1] == "Consent" and rows[name][3] == "Until erased", name

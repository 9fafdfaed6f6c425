"""The user's documentation: docs/kpis.md covers the whole KPI catalogue, so it cannot drift from
metrics/kpis.py, and README and docs/ point only at what a user of the project has (issue 15:
README sent readers to ../shared/DESIGN.md, which is not part of the project)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from metrics.kpis import CATALOG, STANDARD_CARD

ROOT = Path(__file__).resolve().parent.parent
KPIS = ROOT / "docs" / "kpis.md"
USER_DOCS = [ROOT / "README.md", ROOT / "config.example.toml", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def catalogue_rows() -> dict[str, list[str]]:
    """docs/kpis.md's catalogue table: KPI name -> its cells."""
    rows = {}
    for line in KPIS.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0].startswith("`"):
            rows[cells[0].strip("`")] = cells
    return rows


def test_every_kpi_of_the_catalogue_is_defined_with_its_chinese_name_and_aliases() -> None:
    rows = catalogue_rows()
    assert set(rows) == set(CATALOG)
    for name, kpi in CATALOG.items():
        _, zh, aliases, definition = rows[name]
        assert zh == kpi.zh, name
        listed = {a.strip() for a in aliases.split(",")}
        assert {a for a in kpi.aliases if a != name} == listed, name
        assert definition, name


def test_the_standard_card_is_described() -> None:
    text = KPIS.read_text(encoding="utf-8")
    assert "The standard card (`kpi` with no metric) shows " + ", ".join(STANDARD_CARD[:-1]) in text


@pytest.mark.parametrize("doc", USER_DOCS, ids=lambda p: p.name)
def test_user_docs_point_only_at_what_the_project_has(doc: Path) -> None:
    text = doc.read_text(encoding="utf-8")
    assert "../shared" not in text and "DESIGN.md" not in text
    for target in LINK.findall(text):
        if target.startswith(("http://", "https://", "mailto:", "#")):
            continue
        path = (doc.parent / target.split("#", 1)[0]).resolve()
        assert path.is_relative_to(ROOT) and path.exists(), f"{doc.name} links to {target}"


def test_readme_links_to_the_kpi_definitions() -> None:
    assert "[docs/kpis.md](docs/kpis.md)" in (ROOT / "README.md").read_text(encoding="utf-8")

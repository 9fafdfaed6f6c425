"""Build the Chinese chart font shipped with opsbot: a Noto Sans CJK SC subset (SIL OFL 1.1).

Charts need a CJK font; most servers and every fresh container have none, so opsbot ships
this subset and metrics/charts/style.py falls back to it when no system CJK font is installed.
The full font is 16+ MB per weight; the subset keeps what opsbot draws (< 2 MB):

- every wide (CJK) character in the repository's own text: bot/, handlers/, metrics/, docs/,
  README.md and the tests (messages, KPI and period aliases, the demo catalogue's zh names);
- GB2312 level 1, the 3,755 most common hanzi (so shop data — product, region, campaign
  names — renders too), and GB2312's rows of symbols and full-width forms;
- CJK punctuation (U+3000-U+303F), full-width forms (U+FF00-U+FFEF) and printable ASCII.

Characters outside it are boxed and logged once by metrics/charts/style.py.

Run from the repository root (Debian/Ubuntu: ``apt-get install fonts-noto-cjk``)::

    python metrics/charts/fonts/make_subset.py [--source /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc]

The output is deterministic for a given source file and repository text.
"""

from __future__ import annotations

import argparse
import unicodedata
from collections.abc import Iterable, Iterator
from pathlib import Path

from fontTools import subset
from fontTools.ttLib import TTCollection, TTFont

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
SOURCE = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
SOURCE_FAMILY = "Noto Sans CJK SC"  # the Simplified Chinese face of the collection
OUTPUT = HERE / "NotoSansCJKsc-opsbot-subset.otf"
# A modified version gets its own family name, so it is never mistaken for (or shadows) a
# system-wide full Noto Sans CJK SC; "Noto" is not a Reserved Font Name of this font.
FAMILY = "Noto Sans CJK SC opsbot"
POSTSCRIPT = "NotoSansCJKsc-opsbot-Regular"
TEXT_DIRS = ("bot", "handlers", "metrics", "docs", "tests")
TEXT_FILES = ("README.md", "config.example.toml")
TEXT_SUFFIXES = {".py", ".md", ".toml", ".txt", ".csv", ".json"}


def gb2312(rows: Iterable[int]) -> set[str]:
    """The characters of the given GB2312 rows (0xA1..0xF7), decoded from their byte pairs."""
    chars: set[str] = set()
    for row in rows:
        for cell in range(0xA1, 0xFF):
            try:
                chars.add(bytes((row, cell)).decode("gb2312"))
            except UnicodeDecodeError:
                continue  # unassigned cells (the end of some rows)
    return chars


def repository_text() -> Iterator[str]:
    for name in TEXT_FILES:
        path = ROOT / name
        if path.is_file():
            yield path.read_text(encoding="utf-8")
    for folder in TEXT_DIRS:
        for path in sorted((ROOT / folder).rglob("*")):
            if path.suffix in TEXT_SUFFIXES and path.is_file() and ".venv" not in path.parts:
                try:
                    yield path.read_text(encoding="utf-8")
                except UnicodeDecodeError:
                    continue


def wide_chars(texts: Iterable[str]) -> set[str]:
    """Characters drawn two columns wide: the ones DejaVu Sans lacks and the CJK font must have."""
    return {ch for text in texts for ch in text if unicodedata.east_asian_width(ch) in "WF"}


def wanted() -> set[str]:
    chars = wide_chars(repository_text())
    chars |= gb2312(range(0xB0, 0xD8))  # level 1 hanzi: rows 0xB0-0xD7 (0xB0A1-0xD7F9)
    chars |= gb2312((0xA1, 0xA3))  # symbols and full-width ASCII
    chars |= {chr(cp) for cp in range(0x3000, 0x3040)}  # CJK symbols and punctuation
    chars |= {chr(cp) for cp in range(0xFF00, 0xFFF0)}  # half- and full-width forms
    chars |= {chr(cp) for cp in range(0x20, 0x7F)}
    return chars


def source_face(path: Path) -> TTFont:
    if path.suffix.lower() == ".ttc":
        for font in TTCollection(str(path)).fonts:
            if font["name"].getDebugName(1) == SOURCE_FAMILY:
                return font
        raise SystemExit(f"{path} has no {SOURCE_FAMILY!r} face")
    return TTFont(str(path))


def rename(font: TTFont) -> None:
    names = font["name"]
    version = names.getDebugName(5) or ""
    for record in list(names.names):
        if record.nameID in (16, 17, 21, 22):  # typographic names would bring the old family back
            names.removeNames(nameID=record.nameID)
    for name_id, value in (
        (1, FAMILY),
        (2, "Regular"),
        (3, f"{POSTSCRIPT};{version}"),
        (4, FAMILY),
        (6, POSTSCRIPT),
    ):
        names.setName(value, name_id, 3, 1, 0x409)  # Windows, Unicode BMP, en-US
        names.setName(value, name_id, 1, 0, 0)  # Macintosh, Roman, English
    if "CFF " in font:
        cff = font["CFF "].cff
        cff.fontNames = [POSTSCRIPT]
        top = cff.topDictIndex[0]
        for key, value in (("FullName", FAMILY), ("FamilyName", FAMILY)):
            if hasattr(top, key):
                setattr(top, key, value)


def build(source: Path, output: Path) -> tuple[int, int]:
    font = source_face(source)
    cmap = font.getBestCmap()
    chars = sorted(ch for ch in wanted() if ord(ch) in cmap)
    options = subset.Options()
    options.hinting = False  # matplotlib draws with FreeType's autohinter, not the font's hints
    options.layout_features = ["kern", "liga", "locl", "ccmp", "halt", "palt"]
    options.name_IDs = [0, 1, 2, 3, 4, 5, 6, 7, 11, 13, 14]  # keep copyright, licence and version
    options.name_languages = [0x409, 0]
    options.notdef_outline = True
    options.drop_tables += ["vhea", "vmtx", "VORG"]  # horizontal text only
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=[ord(ch) for ch in chars])
    subsetter.subset(font)
    rename(font)
    font.flavor = None
    font.save(str(output))
    return len(chars), output.stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, default=SOURCE, help="Noto Sans CJK .ttc or SC .otf")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args()
    count, size = build(args.source, args.output)
    print(f"{args.output}: {count} characters, {size / 1e6:.2f} MB")


if __name__ == "__main__":
    main()

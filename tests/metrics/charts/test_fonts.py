"""Chinese renders on a fresh install: the CJK subset shipped in metrics/charts/fonts/ (issue 24).

Most servers and every fresh container have no CJK font, so charts fall back to the shipped
Noto Sans CJK SC subset. The main test runs matplotlib in a subprocess that sees no system
fonts at all, as such a machine would, whatever this machine has installed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import unicodedata
from pathlib import Path

import pytest
from matplotlib import font_manager

from metrics import charts
from metrics.charts.style import _Fonts, _register_shipped_font

ROOT = Path(__file__).resolve().parents[3]

# Runs in a fresh interpreter with an empty matplotlib config/cache dir and an empty fontconfig.
HIDDEN_FONTS = textwrap.dedent(
    """
    import json, logging, warnings
    import matplotlib.font_manager as fm

    # The font list a machine without system fonts gets: matplotlib's own fonts only.
    # findSystemFonts() without paths is the system scan (font dirs and fontconfig); with paths
    # it lists matplotlib's bundled fonts, which every install has. The manager is rebuilt in
    # place because matplotlib's modules hold references to this very object.
    scan = fm.findSystemFonts
    fm.findSystemFonts = lambda fontpaths=None, fontext="ttf": scan(fontpaths, fontext) if fontpaths else []
    fm.fontManager.__init__()
    system = [e.fname for e in fm.fontManager.ttflist if "mpl-data" not in e.fname]
    assert not system, system

    from metrics import charts
    from metrics.charts import style
    style.CJK_FILES = ()  # the Debian font paths charts registers directly are system fonts too

    records = []
    class Keep(logging.Handler):
        def emit(self, record):
            records.append(f"{record.levelname} {record.name}: {record.getMessage()}")
    logging.getLogger().addHandler(Keep())
    logging.getLogger().setLevel(logging.INFO)

    import pandas as pd
    title = "趋势 销售额 近30天"
    frame = pd.DataFrame(
        {"天猫": range(30), "京东": range(30, 60), "抖音": range(60, 90)},
        index=pd.date_range("2026-11-01", periods=30, freq="D"),
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pngs = [
            charts.line_chart(frame, title, y_format=lambda v: f"{v:.0f}万"),
            charts.bar_chart(["华东", "华南", "西北"], [3.0, 2.0, 1.0], "按地区销售额（本月）"),
            charts.funnel_chart([("访客", 100.0), ("加购", 20.0), ("下单", 5.0)], "转化漏斗"),
        ]
        logged_before_rare = list(records)
        # 龘 is in no GB2312 level-1 set: outside the subset, boxed and logged once.
        rare = [style._fonts().clean("龘记 旗舰店") for _ in range(3)]
        pngs.append(charts.bar_chart(["龘记", "龘记二号"], [2.0, 1.0], "龘记 销售额"))
    fonts = style._fonts()
    print(json.dumps({
        "family": charts.font_in_use(),
        "families": list(fonts.families),
        "cleaned": fonts.clean(title),
        "sizes": [len(p) for p in pngs],
        "warnings": [str(w.message) for w in caught],
        "logged_before_rare": logged_before_rare,
        "logged": records,
        "rare": rare,
    }, ensure_ascii=False))
    """
)


@pytest.fixture(scope="module")
def without_system_fonts(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """What charts did in a process that sees no system font (one run shared by the tests)."""
    tmp_path = tmp_path_factory.mktemp("no-fonts")
    fontconfig = tmp_path / "fonts.conf"
    fontconfig.write_text('<?xml version="1.0"?><fontconfig><cachedir>' f"{tmp_path}/fc</cachedir></fontconfig>")
    env = {
        **os.environ,
        "MPLCONFIGDIR": str(tmp_path / "mpl"),  # no font cache from this machine's fonts
        "FONTCONFIG_FILE": str(fontconfig),  # fontconfig with no <dir>: it lists no fonts
        "HOME": str(tmp_path),  # no ~/.fonts
        "MPLBACKEND": "Agg",
        "PYTHONPATH": str(ROOT),
    }
    done = subprocess.run(
        [sys.executable, "-c", HIDDEN_FONTS], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_chinese_chart_renders_with_no_system_font(without_system_fonts: dict) -> None:
    seen = without_system_fonts
    assert seen["family"] == charts.SHIPPED_FAMILY
    assert seen["families"] == [charts.LATIN_FAMILY, charts.SHIPPED_FAMILY]
    assert seen["cleaned"] == "趋势 销售额 近30天"  # nothing boxed
    assert all(size > 10_000 for size in seen["sizes"])
    glyph_warnings = [w for w in seen["warnings"] if "Glyph" in w and "missing" in w]
    assert glyph_warnings == []
    assert seen["warnings"] == []
    # The common charts log nothing about fonts at all: no box, no "install a font" hint.
    assert [line for line in seen["logged_before_rare"] if "font" in line.lower() or "box" in line] == []


def test_a_character_outside_the_subset_is_boxed_and_logged_once(without_system_fonts: dict) -> None:
    seen = without_system_fonts
    assert seen["rare"] == ["□记 旗舰店"] * 3
    boxed = [line for line in seen["logged"] if "drawn as boxes" in line]
    assert len(boxed) == 1
    assert "龘" in boxed[0] and charts.SHIPPED_FAMILY in boxed[0]
    assert seen["warnings"] == []  # boxed before matplotlib sees it: no glyph warning


def wide_text_chars(text: str) -> set[str]:
    """Chinese characters and full-width punctuation (emoji are in no CJK font: left out)."""
    return {
        ch for ch in text
        if unicodedata.east_asian_width(ch) in "WF" and unicodedata.category(ch) != "So"
    }


def test_the_subset_covers_every_chinese_character_opsbot_writes() -> None:
    # A new message with a character the subset lacks would be boxed on a fresh install:
    # re-run metrics/charts/fonts/make_subset.py (see metrics/charts/fonts/README.md).
    charmap = font_manager.get_font(str(charts.SHIPPED_FONT)).get_charmap()
    sources = sorted(ROOT.glob("bot/text/*.py")) + [ROOT / "metrics" / "kpis.py", ROOT / "metrics" / "periods.py"]
    missing = {
        path.name: "".join(sorted(ch for ch in wide_text_chars(path.read_text(encoding="utf-8")) if ord(ch) not in charmap))
        for path in sources
    }
    assert {name: chars for name, chars in missing.items() if chars} == {}


def test_the_shipped_font_is_package_data_with_its_licence() -> None:
    fonts = ROOT / "metrics" / "charts" / "fonts"
    assert charts.SHIPPED_FONT.is_file()
    assert charts.SHIPPED_FONT.stat().st_size < 2_000_000
    assert "SIL OPEN FONT LICENSE Version 1.1" in (fonts / "LICENSE-OFL.txt").read_text(encoding="utf-8")
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert '"fonts/*.otf"' in pyproject and '"fonts/LICENSE-OFL.txt"' in pyproject
    # The family matplotlib reads from the file is the one charts asks for.
    assert font_manager.ttfFontProperty(font_manager.get_font(str(charts.SHIPPED_FONT))).name == charts.SHIPPED_FAMILY


@pytest.mark.parametrize("system", ["WenQuanYi Zen Hei", None])
def test_the_shipped_font_backs_up_a_system_font(system: str | None) -> None:
    shipped = _register_shipped_font()
    assert shipped == charts.SHIPPED_FAMILY
    fonts = _Fonts.build(system, shipped)
    assert fonts.families[0] == charts.LATIN_FAMILY
    assert fonts.families[-1] == charts.SHIPPED_FAMILY
    assert fonts.cjk == (system or charts.SHIPPED_FAMILY)
    assert fonts.clean("销售额") == "销售额"

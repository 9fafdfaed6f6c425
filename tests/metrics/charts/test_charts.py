"""Charts: every chart is a 1200x675 PNG, Chinese labels render in a CJK font, odd data never crashes.

pyproject turns warnings into errors, so a "Glyph ... missing from font" warning (a box instead
of a character) fails any test that renders it; the CJK tests also say so explicitly.
"""

from __future__ import annotations

import functools
import io
import logging
import struct
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime

import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest
from matplotlib import font_manager
from matplotlib.font_manager import FontProperties

from metrics import charts
from metrics.charts.canvas import _no_data
from metrics.charts.dates import _buckets, _to_datetimes
from metrics.charts.funnel import _step_rates
from metrics.charts.heatmaps import _heat_range
from metrics.charts.labels import _compact, _shorten, _width, _wrap
from metrics.charts.style import _PROBE, _charmap, _detect_cjk_family, _Fonts, _fonts
from metrics.charts.waterfall import _waterfall_bars

WIDTH, HEIGHT = 1200, 675
TITLE = "GMV 销售额"
CHINESE = "销售额订单量客单价转化率渠道华东天猫京东抖音"
NO_CJK_REASON = "no CJK font installed on this machine (apt-get install fonts-wqy-zenhei)"


# -- helpers ------------------------------------------------------------------------------------


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from the PNG signature and IHDR chunk."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def assert_chart(data: bytes) -> np.ndarray:
    """A decodable 1200x675 PNG with something drawn on it; returns the pixels."""
    assert png_size(data) == (WIDTH, HEIGHT)
    pixels = mpimg.imread(io.BytesIO(data), format="png")
    assert pixels.shape[:2] == (HEIGHT, WIDTH)
    assert (pixels[..., :3] < 0.9).any(), "blank image"
    return pixels


@functools.cache
def no_data_png(title: str) -> bytes:
    # Rendering is deterministic, so "shows the no-data note" is "equals the no-data image".
    return _no_data(title)


@pytest.fixture
def no_warnings() -> Iterator[None]:
    """Any warning (a missing glyph above all) is an error, whatever the pytest config says."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


def daily(days: int, columns: list[str], *, start: date = date(2026, 8, 27)) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    index = pd.date_range(start, periods=days, freq="D")
    data = {name: 1e5 * (1 + i / 3) + rng.normal(0, 5e3, days).cumsum() for i, name in enumerate(columns)}
    return pd.DataFrame(data, index=index)


def money(value: float) -> str:
    return f"¥{value:,.0f}"


# -- line chart ---------------------------------------------------------------------------------


def test_line_chart_single_series(no_warnings: None) -> None:
    png = charts.line_chart(daily(90, ["gmv"]), "GMV last 90d", y_format=money, highlight=[date(2026, 11, 11)])
    assert_chart(png)


def test_line_chart_six_lines_and_other_with_legend_and_highlights(no_warnings: None) -> None:
    frame = daily(60, ["天猫", "京东", "抖音", "Direct", "Email", "Paid search", "other"])
    # Index of plain dates, as a handler building rows from SQL would have.
    frame.index = [d.date() for d in frame.index]
    highlight = [date(2026, 9, 10), date(2026, 10, 1), date(2030, 1, 1)]  # the last is off the chart
    png = charts.line_chart(frame, "GMV by channel 按渠道", y_format=money, highlight=highlight)
    assert_chart(png)


def test_line_chart_refuses_more_lines_than_a_reader_can_tell_apart() -> None:
    with pytest.raises(ValueError, match="at most 6"):
        charts.line_chart(daily(10, [f"c{i}" for i in range(7)]), TITLE)
    with pytest.raises(ValueError, match="at most 6"):
        charts.line_chart(daily(10, ["a", "other", "其他"]), TITLE)


@pytest.mark.parametrize(
    ("index", "first"),
    [
        (pd.date_range("2026-01-05", periods=3, freq="W-MON"), "2026-01-05"),
        (pd.period_range("2025-01", periods=3, freq="M"), "2025-01-01"),
        (pd.date_range("2026-11-01", periods=3, freq="D", tz="Asia/Shanghai"), "2026-11-01"),
        ([date(2026, 11, 3), date(2026, 11, 1), None], "2026-11-01"),
    ],
    ids=["weekly", "monthly periods", "tz-aware keeps the local day", "dates with a gap"],
)
def test_line_chart_index_kinds(index: object, first: str) -> None:
    days = _to_datetimes(pd.Index(index))
    assert days.tz is None
    assert days.min() == pd.Timestamp(first)


def test_highlights_mark_the_bucket_holding_the_day() -> None:
    weeks = pd.date_range("2026-11-02", periods=3, freq="W-MON")  # Nov 2, 9, 16
    days = [pd.Timestamp(d) for d in ("2026-11-11", "2026-11-22", "2026-11-23", "2026-11-01")]
    found = _buckets(weeks, pd.Timedelta(days=7), days)
    assert list(found) == [pd.Timestamp("2026-11-09"), pd.Timestamp("2026-11-16")]


def test_line_chart_weekly_unsorted_with_gaps(no_warnings: None) -> None:
    index = pd.date_range("2026-01-05", periods=12, freq="W-MON", tz="Asia/Shanghai")[::-1]
    frame = pd.DataFrame({"orders": np.arange(12.0), "other": np.arange(12.0).astype(object)}, index=index)
    frame.iloc[3:5, 0] = np.nan
    frame.iloc[6, 0] = np.inf
    frame.iloc[7, 1] = None
    highlight = [datetime(2026, 2, 2, tzinfo=UTC)]
    assert_chart(charts.line_chart(frame, TITLE, highlight=highlight))


# -- bar charts ---------------------------------------------------------------------------------


@pytest.mark.parametrize("horizontal", [True, False], ids=["horizontal", "vertical"])
def test_bar_chart(horizontal: bool, no_warnings: None) -> None:
    seen: list[float] = []

    def fmt(value: float) -> str:
        seen.append(value)
        return money(value)

    labels = ["服装", "Electronics", "Home & Garden", "美妆个护", "A very long category name indeed", "Toys"]
    values = [3.2e6, 2.1e6, 1.5e6, 9.8e5, float("nan"), -1.2e5]
    assert_chart(charts.bar_chart(labels, values, "Top category 品类", value_format=fmt, horizontal=horizontal))
    assert {3.2e6, 2.1e6, 1.5e6, 9.8e5, -1.2e5} <= set(seen)


def test_bar_chart_more_bars_than_fit(no_warnings: None) -> None:
    labels = [f"SKU-{i}" for i in range(40)]
    assert_chart(charts.bar_chart(labels, list(range(40, 0, -1)), "Top SKUs"))


def test_bar_chart_lengths_must_match() -> None:
    with pytest.raises(ValueError):
        charts.bar_chart(["a", "b"], [1.0], TITLE)


def test_dollar_signs_are_text_not_mathtext(no_warnings: None) -> None:
    # Two '$' would make matplotlib parse mathtext, and "\bad" is no mathtext command.
    labels = [r"$\bad$ promo", "$5 off", "x"]
    png = charts.bar_chart(labels, [1.0, 2.0, 3.0], "Promo $ vs $$", value_format=lambda v: f"${v:.1f}M")
    assert_chart(png)
    assert _fonts().clean("$1M-$2M") == r"\$1M-\$2M"


@pytest.mark.parametrize(
    "values",
    [
        [-52000.0, 31000.0, float("nan"), 12000.0, 0.0, -150000.0],
        [-5.0, -3.0, -1.0, -0.5, -0.25, -0.1],
    ],
    ids=["mixed with zero and NaN", "all negative"],
)
def test_diverging_bar_chart(values: list[float], no_warnings: None) -> None:
    labels = ["华东", "华南", "North", "West", "华北", "Online"][: len(values)]
    assert_chart(charts.diverging_bar_chart(labels, values, "Why is GMV down? 变化贡献", value_format=money))


def test_diverging_bar_chart_keeps_the_largest_moves(no_warnings: None) -> None:
    values = [(-1) ** i * i for i in range(30)]
    assert_chart(charts.diverging_bar_chart([f"v{i}" for i in range(30)], values, "movers"))


# -- waterfall ----------------------------------------------------------------------------------


def test_waterfall_driver_tree(no_warnings: None) -> None:
    steps = [("sessions effect 流量", 120_000.0), ("conversion effect 转化", -260_000.0), ("AOV effect 客单价", 45_000.0)]
    png = charts.waterfall_chart("previous GMV", 3_000_000, steps, "current GMV", "GMV driver tree", value_format=money)
    assert_chart(png)


def test_waterfall_crossing_zero_and_missing_step(no_warnings: None) -> None:
    steps = [("流量", -180.0), ("转化", float("nan")), ("客单价", -10.0)]
    assert_chart(charts.waterfall_chart("上期", 100.0, steps, "本期", "negative bridge"))
    assert_chart(charts.waterfall_chart("before", -50.0, [("a", -20.0)], "after", "all negative"))


def test_waterfall_ends_where_the_steps_lead() -> None:
    bars = _waterfall_bars("start", 100.0, [("a", 30.0), ("b", -50.0), ("c", float("nan"))], "end")
    assert [b.label for b in bars] == ["start", "a", "b", "c", "end"]
    assert bars[-1].height == pytest.approx(80.0)
    assert (bars[2].bottom, bars[2].height) == (130.0, -50.0)  # falls from the running level
    assert bars[3].height == 0.0 and np.isnan(bars[3].delta)  # a missing effect moves nothing


# -- heatmap ------------------------------------------------------------------------------------


def cohort_triangle(rows: int, cols: int) -> pd.DataFrame:
    values = [[1.0 if j == 0 else 0.3 / j if i + j < rows else np.nan for j in range(cols)] for i in range(rows)]
    return pd.DataFrame(values, index=[f"2025-{i + 1:02d}" for i in range(rows)], columns=range(cols))


def test_heatmap_cohort_triangle(no_warnings: None) -> None:
    png = charts.heatmap(cohort_triangle(12, 12), "月度留存 retention", x_label="months 月", y_label="cohort 批次")
    pixels = assert_chart(png)
    # The empty triangle is blank: the bottom-right corner of the plot stays white.
    assert (pixels[560:600, 1000:1100, :3] > 0.99).all()


def test_heatmap_too_wide_to_annotate_uses_a_colour_bar(no_warnings: None) -> None:
    wide = cohort_triangle(26, 26)
    wide.index = [f"W{i}" for i in range(26)]
    assert_chart(charts.heatmap(wide, "weekly cohorts", value_format=lambda v: f"{v:.1%}"))


def test_heatmap_values_beyond_one(no_warnings: None) -> None:
    ltv = cohort_triangle(6, 6) * 480  # cumulative GMV per customer, not a share
    assert_chart(charts.heatmap(ltv, "LTV", value_format=money))


def test_heatmap_colour_scale_ignores_the_constant_first_age() -> None:
    assert _heat_range(cohort_triangle(4, 4).to_numpy()) == (0.0, pytest.approx(0.3))
    assert _heat_range(np.array([[0.2, 0.5]])) == (0.0, 0.5)


# -- funnel -------------------------------------------------------------------------------------


def test_funnel_chart(no_warnings: None) -> None:
    steps = [("访客 sessions", 120_000.0), ("product views", 64_000.0), ("add to cart", 9_000.0),
             ("orders", 3_100.0), ("repeat buyers", 420.0)]
    assert_chart(charts.funnel_chart(steps, "Funnel 转化漏斗"))


def test_funnel_with_an_empty_step(no_warnings: None) -> None:
    steps = [("sessions", 0.0), ("views", 0.0), ("orders", 3.0), ("repeat", float("nan"))]
    assert_chart(charts.funnel_chart(steps, "funnel"))
    assert _step_rates(np.array([0.0, 0.0, 3.0, 1.5])) == [None, None, 0.5]


# -- empty, all-NaN, single point -----------------------------------------------------------------

NAN = float("nan")
EMPTY_FRAME_WITH_COLUMN = pd.DataFrame({"gmv": pd.Series([], dtype=float)}, index=pd.DatetimeIndex([]))

NO_DATA: dict[str, Callable[[], bytes]] = {
    "line, no columns": lambda: charts.line_chart(pd.DataFrame(), TITLE),
    "line, no rows": lambda: charts.line_chart(EMPTY_FRAME_WITH_COLUMN, TITLE),
    "line, all NaN": lambda: charts.line_chart(daily(5, ["a", "b"]) * NAN, TITLE),
    "bar, empty": lambda: charts.bar_chart([], [], TITLE),
    "bar, all NaN": lambda: charts.bar_chart(["a", "b"], [NAN, None], TITLE),  # type: ignore[list-item]
    "diverging, empty": lambda: charts.diverging_bar_chart([], [], TITLE),
    "diverging, all NaN": lambda: charts.diverging_bar_chart(["a"], [NAN], TITLE),
    "waterfall, no start": lambda: charts.waterfall_chart("a", NAN, [("b", 1.0)], "c", TITLE),
    "heatmap, empty": lambda: charts.heatmap(pd.DataFrame(), TITLE),
    "heatmap, all NaN": lambda: charts.heatmap(pd.DataFrame([[NAN, NAN], [NAN, NAN]]), TITLE),
    "funnel, empty": lambda: charts.funnel_chart([], TITLE),
    "funnel, all NaN": lambda: charts.funnel_chart([("a", NAN), ("b", NAN)], TITLE),
}


@pytest.mark.parametrize("render", NO_DATA.values(), ids=NO_DATA.keys())
def test_nothing_to_plot_gives_the_no_data_image(
    render: Callable[[], bytes], monkeypatch: pytest.MonkeyPatch, no_warnings: None
) -> None:
    # Each chart must take the no-data path (rendering that image once is enough, see below).
    for family in ("lines", "bars", "waterfall", "heatmaps", "funnel"):
        monkeypatch.setattr(f"metrics.charts.{family}._no_data_figure", lambda title, subtitle="": f"no data: {title}")
    monkeypatch.setattr("metrics.charts.canvas._png", lambda fig: fig)
    assert render() == "no data: " + TITLE  # type: ignore[comparison-overlap]


def test_the_no_data_image() -> None:
    png = charts.line_chart(pd.DataFrame(), TITLE)
    assert_chart(png)
    assert png == no_data_png(TITLE)


SINGLE: dict[str, Callable[[], bytes]] = {
    "line": lambda: charts.line_chart(pd.DataFrame({"gmv": [5.0]}, index=[date(2026, 11, 24)]), TITLE),
    "bar": lambda: charts.bar_chart(["华东"], [5.0], TITLE),
    "diverging": lambda: charts.diverging_bar_chart(["华东"], [-5.0], TITLE),
    "waterfall, no steps": lambda: charts.waterfall_chart("上期", 5.0, [], "本期", TITLE),
    "heatmap": lambda: charts.heatmap(pd.DataFrame({0: [1.0]}, index=["2026-11"]), TITLE),
    "funnel": lambda: charts.funnel_chart([("sessions", 5.0)], TITLE),
}


@pytest.mark.parametrize("render", SINGLE.values(), ids=SINGLE.keys())
def test_a_single_point_is_still_a_chart(render: Callable[[], bytes], no_warnings: None) -> None:
    png = render()
    assert_chart(png)
    assert png != no_data_png(TITLE)


# -- fonts --------------------------------------------------------------------------------------


def test_cjk_font_is_found_and_in_use(no_warnings: None) -> None:
    if not charts.has_cjk_font():
        pytest.skip(NO_CJK_REASON)
    family = charts.font_in_use()
    assert family != charts.LATIN_FAMILY
    assert family in _fonts().families
    # The family's actual font file has every glyph the tests draw.
    path = font_manager.findfont(FontProperties(family=family), fallback_to_default=False)
    charmap = font_manager.get_font(path).get_charmap()
    assert all(ord(ch) in charmap for ch in CHINESE)
    assert _fonts().clean(CHINESE) == CHINESE  # nothing boxed


def test_chinese_labels_render_without_missing_glyphs(no_warnings: None) -> None:
    if not charts.has_cjk_font():
        pytest.skip(NO_CJK_REASON)
    labels = ["华东", "华南", "天猫", "京东", "抖音"]
    frame = daily(20, labels + ["其他"])
    frame.index.name = "日期"
    for png in (
        charts.line_chart(frame, "按渠道销售额趋势", y_format=lambda v: f"{v / 1e4:.1f}万"),
        # The emoji is in no font: it becomes a box instead of a warning on every render.
        charts.bar_chart(labels, [5.0, 4.0, 3.0, 2.0, 1.0], "销售额排行 🔥", value_format=lambda v: f"{v:.0f}万"),
        charts.funnel_chart([("访客", 100.0), ("加购", 20.0), ("下单", 5.0)], "转化漏斗"),
    ):
        assert_chart(png)
    assert _fonts().clean("双11 🔥") == "双11 □"


def test_without_a_cjk_font_text_is_boxed_and_logged_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, no_warnings: None
) -> None:
    monkeypatch.setattr("metrics.charts.style._FONTS", _Fonts.build(None))
    assert charts.font_in_use() == charts.LATIN_FAMILY
    assert not charts.has_cjk_font()
    assert _fonts().clean("销售额 GMV") == "□□□ GMV"
    with caplog.at_level(logging.WARNING, logger="metrics.charts"):
        assert_chart(charts.bar_chart(["华东", "North"], [2.0, 1.0], "销售额排行"))
        assert_chart(charts.line_chart(pd.DataFrame(), "空"))
    logged = [r for r in caplog.records if r.name == "metrics.charts"]
    assert len(logged) == 1
    assert "fonts-wqy-zenhei" in logged[0].getMessage()


def test_detection_finds_nothing_when_no_cjk_font_is_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    # What a machine without the font package looks like to the detector.
    probe = {ord(ch) for ch in _PROBE}
    latin_only = [
        entry for entry in font_manager.fontManager.ttflist
        if not probe <= _charmap(entry.name)
    ]
    monkeypatch.setattr(font_manager.fontManager, "ttflist", latin_only)
    monkeypatch.setattr("metrics.charts.style.CJK_FILES", ())
    assert _detect_cjk_family() is None


# -- rendering properties -----------------------------------------------------------------------


def test_charts_render_in_worker_threads_deterministically() -> None:
    # Handlers render via asyncio.to_thread: concurrent renders must neither fail nor interfere,
    # and the same input must give the same bytes (so a chart can be cached or compared).
    frame = daily(30, ["天猫", "京东", "other"])
    jobs: list[Callable[[], bytes]] = [
        lambda: charts.line_chart(frame, "趋势", highlight=[date(2026, 9, 10)]),
        lambda: charts.funnel_chart([("访客", 10.0), ("加购", 4.0), ("下单", 1.0)], "漏斗"),
    ] * 2
    with ThreadPoolExecutor(max_workers=4) as pool:
        line, funnel, line_again, funnel_again = pool.map(lambda job: job(), jobs)
    assert_chart(line)
    assert_chart(funnel)
    assert line == line_again
    assert funnel == funnel_again


@pytest.mark.parametrize(
    ("value", "text"),
    [(0, "0"), (950, "950"), (12_345, "12.3K"), (999_999, "1M"), (1_234_567, "1.23M"), (-4.5e9, "-4.5B"),
     (0.1234, "0.123"), (NAN, "n/a")],
)
def test_default_number_format(value: float, text: str) -> None:
    assert _compact(value) == text


def test_labels_are_cut_and_wrapped_by_display_width() -> None:
    # A Chinese character takes the room of two Latin ones.
    assert _shorten("Electronics") == "Electronics"
    cut = _shorten("按渠道销售额趋势" * 3)
    assert cut.endswith("…") and _width(cut) <= charts.MAX_LABEL_CHARS
    assert _wrap("conversion effect", 12) == "conversion\neffect"
    assert all(_width(line) <= 12 for line in _wrap("访客数效应（流量变化）", 12).split("\n"))

"""Chart layout, measured with matplotlib's renderer: every text an ops lead sees is whole and readable.

For every chart kind the handlers draw (trend, digest, plan, pace, campaign, LTV, top, movers,
drivers, funnel, retention), in English and Chinese, with typical data and with the data that
breaks layouts (very long labels, huge, tiny and negative values, a single point, many slices),
the figure is drawn with a renderer that records every text it actually draws. Then:

- each text's drawn box lies inside the image;
- no two text boxes overlap (tick labels of one axis may touch, not overlap);
- the legend's box covers no text outside the legend (title, subtitle, data labels);
- value axes read in one number format, bars start at zero, dense lines are split into panels.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import RendererAgg
from matplotlib.figure import Figure
from matplotlib.legend import Legend
from matplotlib.lines import Line2D
from matplotlib.text import Text
from matplotlib.transforms import Bbox

from bot.text.i18n import fmt_value
from metrics import charts
from metrics.charts.canvas import _png
from metrics.charts.labels import _uniform_decimals
from metrics.charts.style import _fonts
from tests.fakes.chat import Chat

NO_CJK_REASON = "no CJK font installed on this machine (apt-get install fonts-wqy-zenhei)"
CURRENCY = "CNY"
START = date(2026, 9, 4)
TOLERANCE_PX = 0.5  # anti-aliasing slack: boxes closer than this are touching, not overlapping

# -- what the renderer draws ----------------------------------------------------------------------


@dataclass(frozen=True)
class Drawn:
    """The texts a figure draws, with their boxes in px, and its legends."""

    fig: Figure
    texts: list[tuple[Text, Bbox]]
    legends: list[Legend]


def draw(fig: Figure) -> Drawn:
    """Draw ``fig`` with its own renderer and record each Text that reaches draw_text.

    Recording at the renderer (rather than walking the artist tree) gives exactly what is on the
    image: hidden axes, clipped ticks and empty strings never get there.
    """
    renderer: RendererAgg = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    seen: dict[int, Text] = {}
    original = renderer.draw_text

    def record(gc: Any, x: float, y: float, s: str, prop: Any, angle: float, ismath: Any = False,
               mtext: Text | None = None) -> None:
        if mtext is not None and s.strip():
            seen[id(mtext)] = mtext
        original(gc, x, y, s, prop, angle, ismath=ismath, mtext=mtext)

    renderer.draw_text = record  # type: ignore[method-assign]
    try:
        fig.draw(renderer)
    finally:
        del renderer.draw_text
    texts = [(t, t.get_window_extent(renderer)) for t in seen.values()]
    legends = [leg for leg in fig.findobj(Legend) if leg.get_visible()]
    return Drawn(fig, texts, legends)


def overlap(a: Bbox, b: Bbox) -> bool:
    width = min(a.x1, b.x1) - max(a.x0, b.x0)
    height = min(a.y1, b.y1) - max(a.y0, b.y0)
    return width > TOLERANCE_PX and height > TOLERANCE_PX


def describe(text: Text, box: Bbox) -> str:
    return f"{text.get_text()!r} at x {box.x0:.0f}..{box.x1:.0f}, y {box.y0:.0f}..{box.y1:.0f}"


def layout_problems(drawn: Drawn) -> list[str]:
    """Everything wrong with the layout, as sentences (empty when it is right)."""
    problems = []
    figure = drawn.fig.bbox
    for text, box in drawn.texts:
        if (box.x0 < figure.x0 - TOLERANCE_PX or box.x1 > figure.x1 + TOLERANCE_PX
                or box.y0 < figure.y0 - TOLERANCE_PX or box.y1 > figure.y1 + TOLERANCE_PX):
            problems.append(f"outside the image: {describe(text, box)}")
    for (a, box_a), (b, box_b) in itertools.combinations(drawn.texts, 2):
        if overlap(box_a, box_b):
            problems.append(f"overlap: {describe(a, box_a)} and {describe(b, box_b)}")
    renderer = drawn.fig.canvas.get_renderer()  # type: ignore[attr-defined]
    for legend in drawn.legends:
        own = {id(t) for t in legend.get_texts()} | {id(legend.get_title())}
        frame = legend.get_window_extent(renderer)
        for text, box in drawn.texts:
            if id(text) not in own and overlap(frame, box):
                problems.append(f"the legend covers {describe(text, box)}")
    return problems


# -- the data that breaks layouts -------------------------------------------------------------------

NAMES = {
    "en": ["search", "direct", "social", "affiliate", "email", "live_stream", "marketplace", "wholesale"],
    "zh": ["搜索", "直接访问", "社交媒体", "联盟推广", "邮件营销", "直播带货", "平台店铺", "批发"],
}
LONG = {
    "en": "Home appliances & kitchen electronics, imported (cross-border)",
    "zh": "家用电器与厨房电子产品（跨境进口）旗舰店专区",
}
VARIANTS = ("typical", "long labels", "huge", "tiny", "negative", "one point", "many")


@dataclass(frozen=True)
class Case:
    """One language and one kind of awkward data."""

    lang: str
    variant: str

    def text(self, en: str, zh: str) -> str:
        base = zh if self.lang == "zh" else en
        return f"{base} · {LONG[self.lang]} · {LONG[self.lang]}" if self.variant == "long labels" else base

    def names(self, n: int) -> list[str]:
        if self.variant == "many":
            n = max(n, 40)
        base = [NAMES[self.lang][i % len(NAMES[self.lang])] + (f" {i // 8 + 1}" if i >= 8 else "") for i in range(n)]
        if self.variant == "long labels":
            return [f"{name} {LONG[self.lang]}" for name in base]
        return base

    @property
    def scale(self) -> float:
        return {"huge": 4.2e11, "tiny": 3.0e-3}.get(self.variant, 1.2e5)

    @property
    def sign(self) -> float:
        return -1.0 if self.variant == "negative" else 1.0

    def points(self, n: int) -> int:
        return 1 if self.variant == "one point" else n

    def money(self, value: float) -> str:
        return fmt_value(value, "money", self.lang, CURRENCY)

    def count(self, value: float) -> str:
        return fmt_value(value, "count", self.lang, CURRENCY)

    def percent(self, value: float) -> str:
        return fmt_value(value, "percent", self.lang, CURRENCY)

    def subtitle(self) -> str:
        return self.text("last 7d (2026-11-26 – 2026-12-02) · compared with 2026-11-19 – 2026-11-25",
                         "2026-11-26 至 2026-12-02 · 对比 2026-11-19 至 2026-11-25")


def wave(n: int, scale: float, seed: int) -> np.ndarray:
    """A positive, noisy daily series around ``scale``."""
    rng = np.random.default_rng(seed)
    days = np.arange(n)
    return scale * (1 + 0.25 * np.sin(days / 7 * 2 * np.pi) + 0.1 * rng.standard_normal(n)).clip(0.05)


def frame(case: Case, lines: int, n: int, freq: str = "D", cumulative: bool = False) -> pd.DataFrame:
    n = case.points(n)
    names = case.names(lines)[:lines]
    if lines > 1:  # a handler folds the tail into "other"
        names[-1] = "其他" if case.lang == "zh" else "other"
    data = {name: case.sign * wave(n, case.scale / (1 + i), i) for i, name in enumerate(names)}
    out = pd.DataFrame(data, index=pd.date_range(START, periods=n, freq=freq))
    return out.cumsum() if cumulative else out


# Each kind draws what its handler draws: the same chart function, shape of data and formatter.
Build = Callable[[Case], Figure]


def trend_by_channel(case: Case) -> Figure:
    lines = 7 if case.variant == "many" else 6
    return charts.line_chart.figure(frame(case, lines, 90), case.text("GMV trend · last 90d (2026-09-04 – 2026-12-02)",
                                    "销售额趋势 · 2026-09-04 至 2026-12-02"), y_format=case.money)


def trend_weekly_partial(case: Case) -> Figure:
    series = frame(case, 6, 13, freq="W-MON")
    partial = [series.index[0].date(), series.index[-1].date()]
    note = case.text(f"Incomplete buckets (cut by the period or still running): {partial[0]}, {partial[-1]}.",
                     f"不完整的时间段（被周期截断或仍在进行）：{partial[0]}、{partial[-1]}。")
    return charts.line_chart.figure(series, case.text("Orders trend · last 12w", "订单量趋势 · 近12周"),
                                    y_format=case.count, partial=partial, note=note)


def digest_trend(case: Case) -> Figure:
    return charts.line_chart.figure(frame(case, 1, 28), case.text("GMV trend · last 28d", "销售额趋势 · 近28天"),
                                    y_format=case.money)


def plan(case: Case) -> Figure:
    series = frame(case, 1, 90)
    return charts.line_chart.figure(series, case.text("GMV: daily targets", "销售额：每日目标"), y_format=case.money,
                                    highlight=[START + timedelta(days=40)], subtitle=case.text("2027Q1", "2027Q1"))


def pace(case: Case) -> Figure:
    series = frame(case, 2, 92, cumulative=True)
    series.columns = [case.text("Plan", "计划"), case.text("Actual", "实际")]
    series.iloc[len(series) * 2 // 3:, 1] = np.nan  # the actuals stop today
    return charts.line_chart.figure(series, case.text("Pace: GMV, 2026Q4 (2026-10-01 – 2026-12-31)",
                                                      "进度：销售额，2026-10-01 至 2026-12-31"), y_format=case.money)


def campaign(case: Case) -> Figure:
    series = frame(case, 3, 12)
    series.columns = [case.text("Actual", "实际"), case.text("Baseline", "基线"),
                      case.text("Last year (aligned by event day)", "去年（按活动日对齐）")]
    days = [START + timedelta(days=i) for i in range(5)]
    return charts.line_chart.figure(series, case.text("Double 11: GMV vs baseline", "双11：销售额对比基线"),
                                    y_format=case.money, highlight=days, subtitle=case.text("2026-11-13 – 2026-11-17",
                                                                                            "2026-11-13 至 2026-11-17"))


def ltv(case: Case) -> Figure:
    lines = 6
    series = frame(case, lines, 7, freq="MS", cumulative=True)
    series.columns = [f"2026-{m:02d}" for m in range(5, 5 + lines)]
    for i in range(lines):  # a later cohort has fewer months behind it
        series.iloc[: i, i] = np.nan
    return charts.line_chart.figure(series, case.text("Cumulative LTV per customer by cohort", "各同期群人均累计 LTV"),
                                    y_format=case.money)


def values(case: Case, n: int) -> list[float]:
    return list(case.sign * case.scale * np.linspace(1.0, 0.1, n))


def top(case: Case) -> Figure:
    names = case.names(10)
    return charts.bar_chart.figure(names, values(case, len(names)), case.text(
        "Top category by GMV · mtd (2026-12-01 – 2026-12-03)", "品类排行（按销售额）· 2026-12-01 至 2026-12-03"),
        value_format=case.money)


def top_vertical(case: Case) -> Figure:
    names = case.names(5)
    return charts.bar_chart.figure(names, values(case, len(names)), case.text("Top region by orders", "地区排行（按订单量）"),
                                   value_format=case.count, horizontal=False)


def movers(case: Case) -> Figure:
    names = case.names(5)
    moves = [107_913.0, 10_911.0, 9_571.0, 8_335.0, -7_623.0] * (len(names) // 5 + 1)
    scaled = [case.sign * m * case.scale / 1.2e5 for m in moves[: len(names)]]
    return charts.diverging_bar_chart.figure(names, scaled, case.text(
        "Contribution to the GMV change by category", "各品类对销售额变化的贡献"), value_format=case.money,
        subtitle=case.subtitle())


def drivers(case: Case) -> Figure:
    names = case.names(3) if case.variant == "long labels" else [case.text("Sessions", "流量"),
                                                                  case.text("Conversion", "转化率"),
                                                                  case.text("AOV", "客单价")]
    effects = [0.05, -0.02, 0.08] if case.variant != "negative" else [-0.3, -0.5, -0.4]
    steps = list(zip(names, [case.scale * e for e in effects], strict=True))
    return charts.waterfall_chart.figure(case.text("Before", "对比期"), case.scale * 7, steps, case.text("Now", "本期"),
                                         case.text("GMV drivers · last 7d", "销售额驱动拆解 · 近7天"),
                                         value_format=case.money, subtitle=case.subtitle())


def funnel(case: Case) -> Figure:
    names = case.names(5)[: charts.MAX_FUNNEL_STEPS] if case.variant in ("long labels", "many") else [
        case.text(en, zh) for en, zh in (("Sessions", "访客"), ("Product views", "浏览商品"), ("Add to cart", "加购"),
                                          ("Orders", "下单"), ("Repeat buyers", "复购客户"))]
    counts = [case.scale * 4 * f for f in (1.0, 0.58, 0.066, 0.023, 0.0015)][: len(names)]
    counts += [counts[-1] * 0.5 ** (i + 1) for i in range(len(names) - len(counts))]
    return charts.funnel_chart.figure(list(zip(names, counts, strict=True)), case.text(
        "Funnel · last 30d (2026-11-03 – 2026-12-02)", "转化漏斗 · 2026-11-03 至 2026-12-02"), value_format=case.count)


def retention(case: Case, size: int = 12) -> Figure:
    n = 1 if case.variant == "one point" else size
    cells = [[1.0 if j == 0 else 0.14 / j if i + j < n else np.nan for j in range(n)] for i in range(n)]
    matrix = pd.DataFrame(cells, index=[f"2025-{i % 12 + 1:02d}" for i in range(n)], columns=[f"M{j}" for j in range(n)])
    return charts.heatmap.figure(matrix, case.text("Retention by monthly cohort", "月度同期群留存率"),
                                 value_format=case.percent, x_label=case.text("Months since first order", "距首单月数"),
                                 y_label=case.text("Cohort", "同期群"))


def retention_weekly(case: Case) -> Figure:
    return retention(case, size=26)


def ltv_heatmap(case: Case) -> Figure:
    # Money in every cell: wider than a percentage, so the cells may not hold it.
    n = 1 if case.variant == "one point" else 12
    cells = [[case.scale * (1 + j) if i + j < n else np.nan for j in range(n)] for i in range(n)]
    return charts.heatmap.figure(pd.DataFrame(cells), case.text("LTV", "生命周期价值"), value_format=case.money)


def no_data(case: Case) -> Figure:
    return charts.line_chart.figure(pd.DataFrame(), case.text("GMV trend", "销售额趋势"))


KINDS: dict[str, Build] = {
    "trend by channel": trend_by_channel, "trend weekly, partial weeks": trend_weekly_partial,
    "digest": digest_trend, "plan": plan, "pace": pace, "campaign": campaign, "ltv": ltv, "top": top,
    "top, vertical": top_vertical, "movers": movers, "drivers": drivers, "funnel": funnel,
    "retention": retention, "retention, weekly": retention_weekly, "ltv heatmap": ltv_heatmap, "no data": no_data,
}


def cases() -> Iterator[Any]:
    for (kind, build), lang, variant in itertools.product(KINDS.items(), ("en", "zh"), VARIANTS):
        yield pytest.param(build, Case(lang, variant), id=f"{kind}-{lang}-{variant}")


@pytest.fixture
def cjk(request: pytest.FixtureRequest) -> None:
    case = request.node.callspec.params.get("case")
    if case is not None and case.lang == "zh" and not charts.has_cjk_font():
        pytest.skip(NO_CJK_REASON)


# -- the layout ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("build", "case"), list(cases()))
def test_every_text_is_inside_the_image_and_clear_of_the_others(build: Build, case: Case, cjk: None) -> None:
    drawn = draw(build(case))
    assert drawn.texts, "nothing drawn"
    problems = layout_problems(drawn)
    assert not problems, "\n".join(problems)


def test_the_checker_sees_a_clipped_label_and_an_overlap() -> None:
    # The check itself: a label running off the image and two texts on each other are found.
    fig = charts.line_chart.figure(frame(Case("en", "typical"), 1, 10), "checker")
    fig.text(0.99, 0.5, "runs off the right edge")
    fig.text(0.30, 0.30, "one text")
    fig.text(0.31, 0.30, "another text")
    problems = layout_problems(draw(fig))
    assert any(p.startswith("outside the image: 'runs off") for p in problems)
    assert any(p.startswith("overlap: 'one text'") for p in problems)


def test_the_legend_does_not_cover_the_title() -> None:
    # The chart: six lines with a legend beside the plot and a title long enough to reach it.
    series = frame(Case("en", "typical"), 6, 12)
    title = "Orders trend · last 12w (2026-09-10 – 2026-12-02) by channel"
    drawn = draw(charts.line_chart.figure(series, title))
    renderer = drawn.fig.canvas.get_renderer()  # type: ignore[attr-defined]
    (legend,) = drawn.legends
    (title_box,) = [box for text, box in drawn.texts if text.get_text().startswith("Orders trend")]
    assert not overlap(legend.get_window_extent(renderer), title_box)


def test_the_largest_movers_label_is_not_cut_at_the_edge() -> None:
    # movers gmv last 7d by category: "+CN¥107,913" came out as "+CN¥107,91".
    drawn = draw(movers(Case("en", "typical")))
    (label, box), = [(t, b) for t, b in drawn.texts if t.get_text() == "+CN¥107,913"]
    assert box.x1 <= drawn.fig.bbox.x1 - charts.EDGE_PX / 2, describe(label, box)


# -- numbers on the axes -----------------------------------------------------------------------------

DECIMALS = re.compile(r"\d(?:\.(\d+))?(?!.*\d)")  # the digits after the point of the last number


def value_tick_labels(fig: Figure) -> list[list[str]]:
    """The drawn tick labels of each visible value (y) axis."""
    out = []
    drawn = {id(t) for t, _ in draw(fig).texts}
    for ax in fig.axes:
        labels = [t.get_text() for t in ax.yaxis.get_ticklabels() if id(t) in drawn]
        if labels and any(ch.isdigit() for ch in "".join(labels)):
            out.append(labels)
    return out


@pytest.mark.parametrize("kind", ["trend by channel", "digest", "plan", "pace", "drivers", "ltv"])
@pytest.mark.parametrize("variant", ["typical", "tiny", "huge"])
def test_value_axis_labels_share_one_number_format(kind: str, variant: str) -> None:
    # "CN¥0.00" under "CN¥30,000": money formats cents below 1,000, an axis must not.
    for labels in value_tick_labels(KINDS[kind](Case("en", variant))):
        decimals = {len(m.group(1) or "") for m in map(DECIMALS.search, labels) if m}
        assert len(decimals) == 1, labels


@pytest.mark.parametrize(
    ("values", "labels", "expected"),
    [
        ([0, 30_000, 60_000], ["CN¥0.00", "CN¥30,000", "CN¥60,000"], ["CN¥0", "CN¥30,000", "CN¥60,000"]),
        ([0, 0.005, 0.01], ["0.00%", "0.50%", "1.00%"], ["0.0%", "0.5%", "1.0%"]),
        ([999.5, 1000, 1000.5], ["CN¥999.50", "CN¥1,000", "CN¥1,000"], ["CN¥999.50", "CN¥1,000", "CN¥1,000"]),
        ([1e6, 1.5e6, 2e6], ["1M", "1.5M", "2M"], ["1M", "1.5M", "2M"]),
        ([-500, 0, 500, 1000], ["-¥500.00", "¥0.00", "¥500.00", "¥1,000"], ["-¥500", "¥0", "¥500", "¥1,000"]),
    ],
    ids=["money cents at zero", "percent", "rounded at 1,000: left as the formatter said",
         "scaled: never padded", "negative"],
)
def test_uniform_decimals(values: list[float], labels: list[str], expected: list[str]) -> None:
    assert _uniform_decimals(values, labels) == expected


def test_monthly_points_are_labelled_as_months() -> None:
    (ax,) = ltv(Case("en", "typical")).axes
    labels = [t.get_text() for t in ax.xaxis.get_ticklabels() if t.get_text()]
    assert labels and all(re.fullmatch(r"\d{4}-\d{2}", label) for label in labels), labels


# -- honest shapes ----------------------------------------------------------------------------------


def test_long_daily_slices_are_drawn_as_small_multiples() -> None:
    # Six daily lines over 90 days on one plot cannot be followed: no plot holds more than one.
    fig = trend_by_channel(Case("en", "typical"))
    for ax in fig.axes:
        long_lines = [line for line in ax.get_lines() if np.isfinite(np.asarray(line.get_ydata(), float)).sum() > 31]
        assert len(long_lines) <= 1, f"{len(long_lines)} lines of 90 days on one plot"
    panels = [ax for ax in fig.axes if ax.get_lines()]
    assert len(panels) == 6
    assert len({ax.get_ylim() for ax in panels}) == 1, "panels must share one scale to compare levels"


def test_a_short_or_thin_trend_stays_one_chart() -> None:
    assert len(charts.line_chart.figure(frame(Case("en", "typical"), 6, 12), "weekly").axes) == 1
    assert len(charts.line_chart.figure(frame(Case("en", "typical"), 2, 90), "pace").axes) == 1


@pytest.mark.parametrize("kind", ["top", "top, vertical", "movers", "drivers"])
@pytest.mark.parametrize("variant", ["typical", "huge", "negative"])
def test_bars_start_at_zero(kind: str, variant: str) -> None:
    # A bar's length is its value: an axis cut above zero made a 19 % rise look like a doubling.
    (ax,) = KINDS[kind](Case("en", variant)).axes
    low, high = ax.get_xlim() if not ax.xaxis.get_visible() else ax.get_ylim()
    assert low <= 0 <= high


def test_partial_buckets_are_not_drawn_as_a_solid_drop() -> None:
    fig = trend_weekly_partial(Case("en", "typical"))
    (ax,) = fig.axes
    series = frame(Case("en", "typical"), 6, 13, freq="W-MON")
    solid = [line for line in ax.get_lines() if line.get_linestyle() == "-"]
    assert len(solid) == 6
    for line in solid:
        ys = np.asarray(line.get_ydata(), float)
        assert np.isnan(ys[0]) and np.isnan(ys[-1]), "a partial week on the solid line"
        assert np.isfinite(ys[1:-1]).all()
    dashed = [line for line in ax.get_lines() if line.get_linestyle() not in ("-", "None")]
    assert len(dashed) == 6  # each line reaches its partial weeks on a dashed segment
    assert any("Incomplete buckets" in t.get_text() for t in fig.texts)
    assert len(series) == 13


def test_a_chinese_title_is_drawn_in_one_weight() -> None:
    # WenQuanYi has no bold: a bold title came out with bold Latin digits among regular Chinese.
    if not charts.has_cjk_font():
        pytest.skip(NO_CJK_REASON)
    fig = charts.line_chart.figure(frame(Case("zh", "typical"), 1, 10), "销售额驱动拆解 · 2026-12-02")
    (title,) = [t for t in fig.texts if t.get_text().startswith("销售额")]
    assert title.get_fontweight() in ("bold", 700) if _fonts().cjk_bold else title.get_fontweight() in (
        "normal", 400)


def test_lines_with_few_points_get_markers() -> None:
    # pace: two days of actuals beside a month of plan would be a speck without dots.
    series = frame(Case("en", "typical"), 2, 31, cumulative=True)
    series.iloc[2:, 1] = np.nan
    (ax,) = charts.line_chart.figure(series, "pace").axes
    plan_line, actual = [line for line in ax.get_lines() if isinstance(line, Line2D)][:2]
    assert plan_line.get_marker() in (None, "None", "")
    assert actual.get_marker() == "o"


# -- what the handlers put on their charts ------------------------------------------------------------


@pytest.fixture
def figures(monkeypatch: pytest.MonkeyPatch) -> list[Figure]:
    """The figures charts render as PNG from here on, in order."""
    seen: list[Figure] = []
    render = _png

    def keep(fig: Figure) -> bytes:
        seen.append(fig)
        return render(fig)

    monkeypatch.setattr("metrics.charts.canvas._png", keep)
    return seen


def header(fig: Figure) -> str:
    """The title, subtitle and footnote: the figure-level texts."""
    return " | ".join(t.get_text() for t in fig.texts)


async def test_movers_chart_says_its_period_and_what_it_is_compared_with(chat: Chat, figures: list[Figure]) -> None:
    reply = await chat.send("movers gmv last 7d vs previous by category")
    assert not reply.error, reply.plain_text()
    assert reply.charts[0].png
    (fig,) = figures
    period = reply.data["period"]
    last = date.fromisoformat(period["end"]) - timedelta(days=1)
    compare_start = reply.data["compare"]["start"]
    assert f"{period['start']} – {last}" in header(fig)
    assert compare_start in header(fig)


async def test_a_rate_moves_in_points_on_the_movers_chart(chat: Chat, figures: list[Figure]) -> None:
    # Conversion 2.10 % → 2.20 % is "+0.10 pp", as the table says; "+0.10%" is another number.
    reply = await chat.send("movers conversion yesterday")
    assert not reply.error, reply.plain_text()
    assert reply.charts and reply.charts[0].png
    labels = [t.get_text() for t, _ in draw(figures[0]).texts if re.search(r"\d\.\d\d", t.get_text())]
    assert labels and all(label.endswith(" pp") for label in labels), labels


async def test_drivers_chart_says_what_before_is(chat: Chat, figures: list[Figure]) -> None:
    reply = await chat.send("drivers last 7d vs previous")
    assert not reply.error, reply.plain_text()
    assert reply.charts[0].png
    assert reply.data["compare"]["start"] in header(figures[0])


async def test_a_weekly_trend_marks_its_incomplete_weeks(chat: Chat, figures: list[Figure]) -> None:
    reply = await chat.send("trend orders last 12w weekly by channel")
    assert not reply.error, reply.plain_text()
    assert reply.data["partial"], "the demo period cuts its first week"
    assert reply.charts[0].png
    (fig,) = figures
    assert all(day in header(fig) for day in reply.data["partial"])
    hollow = [c for ax in fig.axes for c in ax.collections if len(c.get_offsets())
              and (c.get_facecolor()[:, :3] == 1.0).all()]
    assert hollow, "no hollow points for the incomplete weeks"

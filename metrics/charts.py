"""Chart images for replies: PNG bytes rendered with matplotlib's object API on the Agg canvas.

Why it is built this way:

- No pyplot. pyplot keeps process-global figure state and is not safe off the main thread;
  handlers render charts in a worker thread (``asyncio.to_thread``) so the event loop never
  blocks. Every chart builds its own ``Figure`` + ``FigureCanvasAgg`` and nothing else.
- No rcParams changes. rcParams are process-global too, so every text gets explicit font
  properties instead (titles, ticks, legends, labels, annotations).
- A fixed 1200x675 px image (8 x 4.5 in at 150 dpi): it is read on a phone inside Slack or
  Telegram, hence large type (>= 11 pt), thick lines, few ticks, no chart junk.
- Fonts: Latin text uses DejaVu Sans (bundled with matplotlib); Chinese glyphs come from an
  installed CJK family through matplotlib's per-glyph font fallback (matplotlib >= 3.6). A
  character that no available font covers is replaced by a box *before* matplotlib sees it
  (and logged once), so a machine without a CJK font still renders every chart without the
  per-glyph "missing from font" warnings.
- Values are formatted by a ``Formatter`` the handler passes in (money in the chat's locale,
  percentages...); ``metrics/`` must not import ``bot/``.
"""

from __future__ import annotations

import io
import logging
import math
import re
import threading
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib import colormaps, font_manager
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.ticker import FuncFormatter, MaxNLocator

__all__ = [
    "Formatter",
    "bar_chart",
    "diverging_bar_chart",
    "font_in_use",
    "funnel_chart",
    "has_cjk_font",
    "heatmap",
    "line_chart",
    "waterfall_chart",
]

log = logging.getLogger(__name__)

Formatter = Callable[[float], str]

# -- geometry and style -------------------------------------------------------------------------

WIDTH_IN, HEIGHT_IN, DPI = 8.0, 4.5, 150  # 1200 x 675 px, a 16:9 image chat clients show whole
TITLE_SIZE, LABEL_SIZE, TICK_SIZE, ANNOTATION_SIZE = 16.0, 13.0, 12.0, 11.0
LINE_WIDTH = 2.6
MAX_LINES = 6  # plus one "other" line
MAX_BARS = 20  # beyond this, labels at >= 11 pt no longer fit in 675 px (CJK glyphs are tall)
MAX_LABEL_CHARS = 24

# Tableau-10 order: distinct at small sizes and familiar from spreadsheets.
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b")
OTHER_COLOR = "#9e9e9e"
BAR_COLOR = "#1f77b4"
TOTAL_COLOR = "#37474f"
UP_COLOR = "#2e7d32"
DOWN_COLOR = "#c62828"
ZERO_COLOR = "#9e9e9e"
HIGHLIGHT_COLOR = "#ffb300"
TEXT_COLOR = "#212121"
MUTED_COLOR = "#616161"
GRID_COLOR = "#e0e0e0"
OTHER_NAMES = frozenset({"other", "others", "其他", "其它"})
NOT_AVAILABLE = "n/a"

# -- fonts --------------------------------------------------------------------------------------

LATIN_FAMILY = "DejaVu Sans"  # ships inside matplotlib, so it is always there
CJK_FAMILIES = (
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Source Han Sans SC",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
    "Droid Sans Fallback",
    "SimHei",
    "Microsoft YaHei",
    "PingFang SC",
)
# Files the Debian/Ubuntu packages install. matplotlib's font cache may predate the package
# (the cache is built once per user), so these are registered explicitly when present.
CJK_FILES = (
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJKsc-Regular.otf",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
    "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",
)
# Other installed families whose names hint at CJK coverage; the glyph probe decides.
_CJK_NAME = re.compile(r"CJK|Han Sans|Han Serif|WenQuanYi|YaHei|Hei|Gothic|Mincho|Song|Kai|Ming|Fallback", re.I)
_PROBE = "销售额订单量客单价转化率暂无数据"
_BOX = "\u25a1"  # WHITE SQUARE, in DejaVu Sans: the visible stand-in for an uncoverable glyph
_INSTALL_HINT = "install a CJK font, e.g. `apt-get install fonts-wqy-zenhei` or fonts-noto-cjk"


class _WeightFallbackFilter(logging.Filter):
    """Drop matplotlib's 'Failed to find font weight ... for <CJK family>' warnings.

    CJK families usually ship a single weight (WenQuanYi Zen Hei is 500), so every new
    size/weight resolved through the fallback list logs a WARNING. Using the only weight a
    fallback font has is intended here, not something for an operator to fix.
    """

    def __init__(self) -> None:
        super().__init__()
        self.families: set[str] = set(CJK_FAMILIES)

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        return not (
            isinstance(record.msg, str)
            and record.msg.startswith("findfont: Failed to find font weight")
            and isinstance(args, tuple)
            and len(args) >= 2
            and args[1] in self.families
        )


_weight_filter = _WeightFallbackFilter()
logging.getLogger("matplotlib.font_manager").addFilter(_weight_filter)


def _charmap(family: str) -> frozenset[int]:
    """Code points the installed font of ``family`` covers (empty when it is not installed)."""
    try:
        path = font_manager.findfont(FontProperties(family=family), fallback_to_default=False)
        return frozenset(font_manager.get_font(path).get_charmap())
    except (ValueError, OSError, RuntimeError):
        return frozenset()


def _detect_cjk_family() -> str | None:
    """The installed CJK-capable family, by preference; None when there is none."""
    manager = font_manager.fontManager
    known = {str(entry.fname) for entry in manager.ttflist}
    for path in CJK_FILES:
        if path not in known and Path(path).is_file():
            try:
                manager.addfont(path)
            except (OSError, RuntimeError, ValueError):
                log.debug("could not register font file %s", path, exc_info=True)
    installed = {entry.name for entry in manager.ttflist}
    candidates = [name for name in CJK_FAMILIES if name in installed]
    candidates += sorted(n for n in installed if n not in candidates and _CJK_NAME.search(n))
    probe = {ord(ch) for ch in _PROBE}
    for name in candidates:
        _weight_filter.families.add(name)
        if probe <= _charmap(name):
            return name
    return None


@dataclass
class _Fonts:
    """The font set charts use, and the text cleaning that goes with it."""

    cjk: str | None
    families: tuple[str, ...]
    covered: frozenset[int]
    _warned: bool = field(default=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def build(cls, cjk: str | None) -> _Fonts:
        # Latin first so Latin text keeps DejaVu's metrics; CJK glyphs fall back to the CJK font.
        families = (LATIN_FAMILY, cjk) if cjk else (LATIN_FAMILY,)
        covered: set[int] = set()
        for family in families:
            covered |= _charmap(family)
        return cls(cjk=cjk, families=families, covered=frozenset(covered))

    def prop(self, size: float = TICK_SIZE, weight: str = "normal") -> FontProperties:
        return FontProperties(family=list(self.families), size=size, weight=weight)

    def clean(self, text: object) -> str:
        """``text`` made safe to draw: uncoverable glyphs boxed, '$' kept literal (no mathtext)."""
        s = str(text)
        if not s.isascii():
            missing = {ch for ch in s if ord(ch) not in self.covered and not ch.isspace()}
            if missing:
                self._warn_once(missing)
                s = "".join(_BOX if ch in missing else ch for ch in s)
        # An even number of '$' would switch matplotlib to mathtext ("$1M-$2M"); escaped
        # dollars render as plain '$'.
        return s.replace("$", r"\$")

    def _warn_once(self, missing: set[str]) -> None:
        with self._lock:
            if self._warned:
                return
            self._warned = True
        sample = "".join(sorted(missing)[:8])
        if self.cjk is None:
            log.warning("no CJK font found; chart text %r is drawn as boxes: %s", sample, _INSTALL_HINT)
        else:
            log.warning("fonts %s lack glyphs %r; they are drawn as boxes", ", ".join(self.families), sample)


_FONTS: _Fonts | None = None
_FONTS_LOCK = threading.Lock()


def _fonts() -> _Fonts:
    """The font set, detected once per process on first use (thread-safe)."""
    global _FONTS
    fonts = _FONTS
    if fonts is None:
        with _FONTS_LOCK:
            if _FONTS is None:
                _FONTS = _Fonts.build(_detect_cjk_family())
                if _FONTS.cjk is None:
                    log.info("charts: no CJK font installed; %s", _INSTALL_HINT)
            fonts = _FONTS
    return fonts


def font_in_use() -> str:
    """The family chart text is drawn in: the CJK family when one is installed, else DejaVu Sans."""
    return _fonts().cjk or LATIN_FAMILY


def has_cjk_font() -> bool:
    """Whether Chinese labels render as real glyphs (rather than boxes)."""
    return _fonts().cjk is not None


# -- shared helpers -----------------------------------------------------------------------------


def _compact(value: float) -> str:
    """Short default number format for axes and labels: 950, 12.3K, 1.23M, 4.5B, 0.123."""
    if not math.isfinite(value):
        return NOT_AVAILABLE
    size = abs(value)
    # Thresholds at x99.5 so rounding never prints "1e+03K".
    for divisor, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if size >= divisor * 0.9995:
            return f"{value / divisor:.3g}{suffix}"
    if size >= 100 or value == int(value):
        return f"{value:,.0f}"
    return f"{value:.3g}"


def _percent(value: float) -> str:
    return f"{value:.0%}" if math.isfinite(value) else NOT_AVAILABLE


def _signed(fmt: Formatter, value: float) -> str:
    """A delta with an explicit sign: '+1.2K' / '-300' (formatters usually only sign negatives)."""
    if not math.isfinite(value):
        return NOT_AVAILABLE
    text = fmt(value)
    return "+" + text if value > 0 and not text.startswith("+") else text


def _width(text: str) -> int:
    """Display width in Latin-character units: CJK and fullwidth characters count twice."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _shorten(text: str, limit: int = MAX_LABEL_CHARS) -> str:
    """One line of at most ``limit`` width units, cut with an ellipsis (so 12 Chinese characters
    take the room of 24 Latin ones and a long label never pushes the plot off the image)."""
    text = " ".join(str(text).split())
    if _width(text) <= limit:
        return text
    out, used = [], 1
    for ch in text:
        used += _width(ch)
        if used > limit:
            break
        out.append(ch)
    return "".join(out).rstrip() + "…"


# A CJK character may break a line anywhere; other text only between words.
_WRAP_TOKEN = re.compile(r"\s+|[\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef]|[^\s\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef]+")


def _wrap(text: str, width: int, max_lines: int = 3) -> str:
    """Wrap to lines of about ``width`` units (CJK-aware, unlike textwrap)."""
    lines: list[str] = []
    line = ""
    for token in _WRAP_TOKEN.findall(" ".join(str(text).split())):
        if token.isspace():
            line += " " if line else ""
        elif line and _width(line) + _width(token) > width:
            lines.append(line.rstrip())
            line = token
        else:
            line += token
    lines.append(line.rstrip())
    if len(lines) > max_lines:
        lines = lines[: max_lines - 1] + [_shorten(" ".join(lines[max_lines - 1 :]), width)]
    return "\n".join(lines)


def _floats(values: Iterable[object]) -> np.ndarray:
    """Values as float64 with None/NA/inf turned into NaN."""
    out = pd.to_numeric(pd.Series(list(values), dtype=object), errors="coerce").to_numpy(
        dtype=float, na_value=np.nan, copy=True  # writable: inf is blanked below
    )
    out[~np.isfinite(out)] = np.nan
    return out


def _check_lengths(labels: Sequence[object], values: Sequence[object]) -> None:
    if len(labels) != len(values):
        raise ValueError(f"{len(labels)} labels for {len(values)} values")


def _new_figure() -> tuple[Figure, Axes]:
    # Constrained layout keeps long tick labels and outside legends inside the fixed canvas.
    fig = Figure(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI, layout="constrained", facecolor="white")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    return fig, ax


def _style(ax: Axes, fonts: _Fonts, *, grid: str | None = "y") -> None:
    """Minimal axes: no box, light grid along the value axis, big tick labels."""
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    for side in ("left", "bottom"):
        ax.spines[side].set_color("#9e9e9e")
    ax.tick_params(
        labelsize=TICK_SIZE, labelfontfamily=list(fonts.families), labelcolor=TEXT_COLOR, color="#9e9e9e"
    )
    if grid:
        ax.grid(axis=grid, color=GRID_COLOR, linewidth=1.0)
        ax.set_axisbelow(True)


def _title(ax: Axes, fonts: _Fonts, title: str) -> None:
    ax.set_title(
        fonts.clean(_shorten(title, 52)),
        loc="left",
        pad=12,
        color=TEXT_COLOR,
        fontproperties=fonts.prop(TITLE_SIZE, "bold"),
    )


def _axis_formatter(fonts: _Fonts, fmt: Formatter) -> FuncFormatter:
    return FuncFormatter(lambda value, _pos: fonts.clean(fmt(value)))


def _png(fig: Figure) -> bytes:
    engine = fig.get_layout_engine()
    if engine is not None:
        # savefig would do a whole extra (non-rendering) draw just to run the layout; running
        # the layout directly and switching it off before saving renders the figure once.
        # (None, not "none": a placeholder engine would still trigger that extra draw.)
        engine.execute(fig)
        fig.set_layout_engine(None)
    buf = io.BytesIO()
    # No "Software" chunk: identical input gives identical bytes across matplotlib versions.
    # compress_level 1: flat-colour charts compress almost as well as at the default 6, in a
    # fraction of the time (the encoder was a tenth of a chart's cost)
    fig.savefig(buf, format="png", dpi=DPI, facecolor="white", metadata={"Software": None},
                pil_kwargs={"compress_level": 1})
    return buf.getvalue()


def _no_data(title: str) -> bytes:
    """A chart-sized image that says there is nothing to plot (better than no reply at all)."""
    fonts = _fonts()
    fig, ax = _new_figure()
    _title(ax, fonts, title)
    ax.set_axis_off()
    note = "No data · 暂无数据" if fonts.cjk else "No data"
    ax.text(
        0.5,
        0.5,
        fonts.clean(note),
        transform=ax.transAxes,
        ha="center",
        va="center",
        color=MUTED_COLOR,
        fontproperties=fonts.prop(18),
    )
    return _png(fig)


def _more_note(ax: Axes, fonts: _Fonts, hidden: int) -> None:
    """Say that rows were left off rather than dropping them silently."""
    if hidden > 0:
        ax.text(
            1.0,
            -0.02,
            f"… +{hidden}",
            transform=ax.transAxes,
            ha="right",
            va="top",
            color=MUTED_COLOR,
            fontproperties=fonts.prop(ANNOTATION_SIZE),
        )


def _pad_limits(low: float, high: float, fraction: float = 0.18) -> tuple[float, float]:
    """Value-axis limits from zero-inclusive data bounds, with room for value labels at bar ends."""
    low, high = min(low, 0.0), max(high, 0.0)
    span = (high - low) or 1.0
    return (low - fraction * span if low < 0 else 0.0, high + fraction * span if high > 0 else 0.0)


# -- line chart ---------------------------------------------------------------------------------


def _to_datetimes(index: pd.Index) -> pd.DatetimeIndex:
    if isinstance(index, pd.PeriodIndex):
        index = index.to_timestamp()
    out = pd.DatetimeIndex(pd.to_datetime(pd.Index(index), errors="coerce"))
    # Days are business-timezone calendar days: keep the wall-clock date, drop the zone.
    return out.tz_localize(None) if out.tz is not None else out


def _day(value: date) -> pd.Timestamp:
    """A highlight as a naive midnight, comparable with the (naive) series index."""
    stamp = pd.Timestamp(value)
    return (stamp.tz_localize(None) if stamp.tzinfo is not None else stamp).normalize()


def _buckets(points: pd.DatetimeIndex, step: pd.Timedelta, days: Sequence[pd.Timestamp]) -> pd.DatetimeIndex:
    """The points (sorted bucket starts, ``step`` apart) whose bucket [point, point + step) holds a day."""
    found = []
    for day in days:
        pos = int(points.searchsorted(day, side="right")) - 1
        if pos >= 0:
            end = points[pos + 1] if pos + 1 < len(points) else points[pos] + step
            if day < end:
                found.append(points[pos])
    return pd.DatetimeIndex(found).unique()


def _is_other(name: object) -> bool:
    return str(name).strip().lower() in OTHER_NAMES


def _date_axis(ax: Axes, x: pd.DatetimeIndex, step: pd.Timedelta) -> None:
    first, last = x.min(), x.max()
    span_days = (last - first).days
    if span_days == 0:
        # One point: give it a day either side so the axis is not degenerate.
        ax.set_xlim(first - step, last + step)
        locator: mdates.DateLocator = mdates.DayLocator()
        fmt = "%Y-%m-%d"
    elif span_days <= 14:
        # AutoDateLocator would pick 12-hour ticks here; daily data wants whole days.
        locator = mdates.DayLocator(interval=max(1, math.ceil((span_days + 1) / 6)))
        fmt = "%m-%d"
    else:
        locator = mdates.AutoDateLocator(minticks=3, maxticks=7)
        # Numeric dates read the same in English and Chinese chats.
        fmt = "%m-%d" if span_days < 300 else "%Y-%m"
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.DateFormatter(fmt))


def line_chart(
    series: pd.DataFrame,
    title: str,
    *,
    y_format: Formatter | None = None,
    highlight: Sequence[date] = (),
) -> bytes:
    """One line per column over a date index; a legend when there is more than one line.

    At most 6 lines plus an "other" column (drawn grey, behind the rest). ``highlight`` days
    (anomalies, promotions) get a shaded band and a dot on every line.
    """
    if isinstance(series, pd.Series):
        series = series.to_frame()
    others = sum(_is_other(name) for name in series.columns)
    if series.shape[1] - others > MAX_LINES or others > 1:
        # More lines than colours a reader can tell apart: the caller must fold the tail into "other".
        raise ValueError(
            f"line_chart takes at most {MAX_LINES} lines plus one 'other', got {list(series.columns)}"
        )
    fonts = _fonts()
    x = _to_datetimes(series.index)
    keep = ~x.isna()
    columns = list(series.columns)
    values = np.column_stack([_floats(series.iloc[:, i]) for i in range(len(columns))]) if columns else None
    if values is None or not keep.any() or not np.isfinite(values[keep]).any():
        return _no_data(title)
    order = np.argsort(x[keep].to_numpy(), kind="stable")
    x = x[keep][order]
    values = values[keep][order]

    fig, ax = _new_figure()
    _style(ax, fonts)
    _title(ax, fonts, title)
    unique = x.unique().sort_values()
    step = pd.Series(unique).diff().median() if len(unique) > 1 else pd.Timedelta(days=1)
    step = step if isinstance(step, pd.Timedelta) and step > pd.Timedelta(0) else pd.Timedelta(days=1)
    xs = x.to_numpy()
    markers = len(unique) <= 14  # short series: a dot per point (a single point has no line)
    colors: list[str] = []
    palette = iter(PALETTE)
    for i, name in enumerate(columns):
        other = _is_other(name)
        color = OTHER_COLOR if other else next(palette, OTHER_COLOR)
        colors.append(color)
        ax.plot(
            xs,
            values[:, i],
            color=color,
            linewidth=LINE_WIDTH - (0.6 if other else 0.0),
            marker="o" if markers else None,
            markersize=6,
            solid_capstyle="round",
            zorder=2 if other else 3,
            label=fonts.clean(_shorten(str(name))),
        )

    if highlight:
        # A highlighted day marks the point whose bucket holds it: the day itself in a daily
        # series, its week or month in a weekly or monthly one. Days off the chart are skipped.
        buckets = _buckets(unique, step, [_day(d) for d in highlight])
        for bucket in buckets:
            ax.axvspan(bucket - step / 2, bucket + step / 2, color=HIGHLIGHT_COLOR, alpha=0.22, lw=0, zorder=1)
        marked = x.isin(buckets)
        for i, color in enumerate(colors):
            hit = marked & np.isfinite(values[:, i])
            if hit.any():
                ax.scatter(
                    xs[hit], values[hit, i], s=80, color=color, edgecolors="white", linewidths=1.5, zorder=4
                )

    _date_axis(ax, unique, step)
    ax.yaxis.set_major_locator(MaxNLocator(nbins=5))
    ax.yaxis.set_major_formatter(_axis_formatter(fonts, y_format or _compact))
    if len(columns) > 1:
        fig.legend(
            loc="outside right upper",
            frameon=False,
            prop=fonts.prop(ANNOTATION_SIZE + 1),
            handlelength=1.4,
            labelcolor=TEXT_COLOR,
        )
    return _png(fig)


# -- bar charts ---------------------------------------------------------------------------------


def _bar_labels(fonts: _Fonts, texts: Sequence[str]) -> list[str]:
    return [fonts.clean(t) for t in texts]


def bar_chart(
    labels: Sequence[str],
    values: Sequence[float],
    title: str,
    *,
    value_format: Formatter | None = None,
    horizontal: bool = True,
) -> bytes:
    """Ranked bars with their values written at the bar ends, in the order given (first on top)."""
    _check_lengths(labels, values)
    fonts = _fonts()
    vals = _floats(values)
    if not np.isfinite(vals).any():
        return _no_data(title)
    names = [str(label) for label in labels]
    hidden = max(0, len(names) - MAX_BARS)
    names, vals = names[:MAX_BARS], vals[:MAX_BARS]
    fmt = value_format or _compact
    heights = np.nan_to_num(vals, nan=0.0)
    texts = _bar_labels(fonts, [fmt(v) if math.isfinite(v) else NOT_AVAILABLE for v in vals])
    positions = np.arange(len(names))

    fig, ax = _new_figure()
    _title(ax, fonts, title)
    low, high = _pad_limits(float(heights.min()), float(heights.max()))
    _style(ax, fonts, grid=None)
    # The bars carry their values, so the value axis would only repeat them: no axis, no
    # frame, just a baseline at zero.
    for spine in ax.spines.values():
        spine.set_visible(False)
    if horizontal:
        bars = ax.barh(positions, heights, height=0.65, color=BAR_COLOR)
        ax.set_yticks(positions, [fonts.clean(_shorten(n)) for n in names])
        ax.set_ylim(len(names) - 0.5, -0.5)  # first (top-ranked) bar on top
        ax.set_xlim(low, high)
        ax.xaxis.set_visible(False)
        ax.axvline(0, color="#757575", linewidth=1.0)
    else:
        bars = ax.bar(positions, heights, width=0.65, color=BAR_COLOR)
        rotate = len(names) > 8 or max(_width(n) for n in names) > 10
        ax.set_xticks(
            positions,
            [fonts.clean(_shorten(n, 16)) for n in names],
            rotation=30 if rotate else 0,
            ha="right" if rotate else "center",
            rotation_mode="anchor",
        )
        ax.set_xlim(-0.5, len(names) - 0.5)
        ax.set_ylim(low, high)
        ax.yaxis.set_visible(False)
        ax.axhline(0, color="#757575", linewidth=1.0)
    # Many bars: step the labels down to the 11 pt floor so neighbouring labels do not touch.
    ax.tick_params(length=0, labelsize=ANNOTATION_SIZE if len(names) > 12 else TICK_SIZE)
    ax.bar_label(
        bars,
        labels=texts,
        padding=4,
        color=TEXT_COLOR,
        fontproperties=fonts.prop(ANNOTATION_SIZE + 1),
        in_layout=False,
    )
    _more_note(ax, fonts, hidden)
    return _png(fig)


def diverging_bar_chart(
    labels: Sequence[str],
    values: Sequence[float],
    title: str,
    *,
    value_format: Formatter | None = None,
) -> bytes:
    """Contributions to a change (the ``movers`` chart): largest rise on top, largest fall at the
    bottom, green up / red down around a zero line, each bar labelled with its signed value.

    Rows without a number are left out; past ``MAX_BARS`` rows only the largest moves are drawn.
    """
    _check_lengths(labels, values)
    fonts = _fonts()
    vals = _floats(values)
    rows = [(str(label), float(v)) for label, v in zip(labels, vals, strict=True) if math.isfinite(v)]
    if not rows:
        return _no_data(title)
    hidden = max(0, len(rows) - MAX_BARS)
    if hidden:
        rows = sorted(rows, key=lambda row: abs(row[1]), reverse=True)[:MAX_BARS]
    rows.sort(key=lambda row: row[1], reverse=True)
    names = [name for name, _ in rows]
    heights = np.array([v for _, v in rows])
    fmt = value_format or _compact
    colors = [UP_COLOR if v > 0 else DOWN_COLOR if v < 0 else ZERO_COLOR for v in heights]
    positions = np.arange(len(rows))

    fig, ax = _new_figure()
    _style(ax, fonts, grid=None)
    _title(ax, fonts, title)
    bars = ax.barh(positions, heights, height=0.65, color=colors)
    ax.axvline(0, color="#424242", linewidth=1.4, zorder=3)
    ax.set_yticks(positions, [fonts.clean(_shorten(n)) for n in names])
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.set_xlim(*_pad_limits(float(heights.min()), float(heights.max()), fraction=0.22))
    ax.xaxis.set_visible(False)
    ax.spines["bottom"].set_visible(False)
    ax.spines["left"].set_visible(False)
    ax.tick_params(length=0, labelsize=ANNOTATION_SIZE if len(rows) > 12 else TICK_SIZE)
    ax.bar_label(
        bars,
        labels=_bar_labels(fonts, [_signed(fmt, v) for v in heights]),
        padding=4,
        color=TEXT_COLOR,
        fontproperties=fonts.prop(ANNOTATION_SIZE + 1),
        in_layout=False,
    )
    _more_note(ax, fonts, hidden)
    return _png(fig)


# -- waterfall ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Bar:
    label: str
    bottom: float
    height: float  # signed: the bar spans bottom .. bottom + height
    delta: float  # what the bar's label says (the total for totals, the change for steps)
    total: bool


def _waterfall_bars(
    start_label: str, start: float, steps: Sequence[tuple[str, float]], end_label: str
) -> list[_Bar]:
    """Start total, one floating bar per step from the running level, end total = start + steps.

    A step without a number moves nothing (its bar is empty and labelled n/a).
    """
    bars = [_Bar(start_label, 0.0, start, start, True)]
    level = start
    for label, raw in steps:
        value = float(raw) if raw is not None and math.isfinite(float(raw)) else math.nan
        move = 0.0 if math.isnan(value) else value
        bars.append(_Bar(str(label), level, move, value, False))
        level += move
    bars.append(_Bar(end_label, 0.0, level, level, True))
    return bars


def waterfall_chart(
    start_label: str,
    start: float,
    steps: Sequence[tuple[str, float]],
    end_label: str,
    title: str,
    *,
    value_format: Formatter | None = None,
) -> bytes:
    """A bridge from ``start`` to ``start + sum(steps)`` (the GMV driver tree).

    When the effects are small next to the totals, the value axis starts above zero so the
    effects stay visible; the axis keeps its labels, so the reader sees where it starts.
    """
    fonts = _fonts()
    start_value = float(start) if start is not None else math.nan
    if not math.isfinite(start_value):
        return _no_data(title)
    bars = _waterfall_bars(str(start_label), start_value, steps, str(end_label))
    fmt = value_format or _compact

    fig, ax = _new_figure()
    _style(ax, fonts)
    _title(ax, fonts, title)
    positions = np.arange(len(bars))
    colors = [
        TOTAL_COLOR if b.total else UP_COLOR if b.height > 0 else DOWN_COLOR if b.height < 0 else ZERO_COLOR
        for b in bars
    ]
    ax.bar(positions, [b.height for b in bars], bottom=[b.bottom for b in bars], width=0.6, color=colors, zorder=2)

    # Connectors: the level each bar ends at carries on to the next bar.
    for i in range(len(bars) - 1):
        level = bars[i].bottom + bars[i].height
        ax.plot([i + 0.3, i + 0.7], [level, level], color="#9e9e9e", linewidth=1.2, linestyle=(0, (3, 2)))

    ends = [b.bottom for b in bars] + [b.bottom + b.height for b in bars]
    levels = [b.bottom + b.height for b in bars]  # start, the level after each step, end
    top, floor = max(ends), min(ends)
    low_level, high_level = min(levels), max(levels)
    spread = high_level - low_level
    if floor >= 0 and low_level > 0 and spread < 0.6 * low_level:
        # Totals dwarf the effects: zoom in on the band the levels move in.
        bottom_limit = max(0.0, low_level - 1.2 * max(spread, 0.02 * low_level))
    else:
        bottom_limit = min(floor, 0.0)
    span = (top - bottom_limit) or abs(top) or 1.0
    upper = top + 0.14 * span
    lower = bottom_limit - (0.14 * span if floor < 0 else 0.0)
    ax.set_ylim(lower, upper)
    if lower < 0 < upper:
        ax.axhline(0, color="#757575", linewidth=1.0, zorder=1)

    pad = 0.015 * (upper - lower)
    for i, b in enumerate(bars):
        text = fmt(b.delta) if b.total else _signed(fmt, b.delta)
        up = b.height >= 0
        # Above a rising bar's top, below a falling bar's bottom: never on a connector.
        y = b.bottom + b.height + (pad if up else -pad)
        ax.text(
            i,
            y,
            fonts.clean(text),
            ha="center",
            va="bottom" if up else "top",
            color=TEXT_COLOR,
            fontproperties=fonts.prop(ANNOTATION_SIZE + 1, "bold" if b.total else "normal"),
            zorder=4,
            in_layout=False,
        )
    wrap = 12 if len(bars) > 5 else 16
    ax.set_xticks(positions, [fonts.clean(_wrap(b.label, wrap)) for b in bars])
    ax.set_xlim(-0.6, len(bars) - 0.4)
    ax.tick_params(axis="x", length=0)
    ax.yaxis.set_major_locator(MaxNLocator(nbins=5))
    ax.yaxis.set_major_formatter(_axis_formatter(fonts, fmt))
    return _png(fig)


# -- heatmap ------------------------------------------------------------------------------------


def _heat_range(values: np.ndarray) -> tuple[float, float]:
    """Colour range: from 0 (or the minimum) to the largest value that is not a constant first column.

    A retention triangle's age 0 is 100 % by definition; scaling to it would wash the
    informative later ages out, so when column 0 dominates the rest it saturates instead.
    """
    finite = values[np.isfinite(values)]
    low = min(0.0, float(finite.min()))
    high = float(finite.max())
    if values.shape[1] > 1:
        rest = values[:, 1:]
        if np.isfinite(rest).any():
            rest_max = float(np.nanmax(rest))
            first = values[:, 0][np.isfinite(values[:, 0])]
            if first.size and rest_max > low and float(first.min()) >= rest_max:
                high = rest_max
    if high <= low:
        high = low + (abs(low) or 1.0)
    return low, high


def _thin_ticks(count: int, most: int) -> np.ndarray:
    return np.arange(0, count, max(1, math.ceil(count / most)))


def heatmap(
    matrix: pd.DataFrame,
    title: str,
    *,
    value_format: Formatter | None = None,
    x_label: str = "",
    y_label: str = "",
) -> bytes:
    """A cohort triangle: rows = cohorts, columns = ages; NaN cells stay blank.

    Cells carry their values when there are at most 15 columns and 18 rows (more would not fit
    at a readable size); otherwise a colour bar gives the scale.
    """
    fonts = _fonts()
    if matrix.size == 0:
        return _no_data(title)
    values = np.column_stack([_floats(matrix.iloc[:, i]) for i in range(matrix.shape[1])])
    if not np.isfinite(values).any():
        return _no_data(title)
    finite = values[np.isfinite(values)]
    fmt = value_format or (_percent if finite.min() >= 0 and finite.max() <= 1 else _compact)
    n_rows, n_cols = values.shape
    low, high = _heat_range(values)
    cmap = colormaps["Blues"].with_extremes(bad="white")
    norm = Normalize(vmin=low, vmax=high, clip=True)

    fig, ax = _new_figure()
    _style(ax, fonts, grid=None)
    _title(ax, fonts, title)
    image = ax.imshow(np.ma.masked_invalid(values), cmap=cmap, norm=norm, aspect="auto", interpolation="nearest")
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.tick_params(length=0)
    cols = _thin_ticks(n_cols, 15)
    ax.set_xticks(cols, [fonts.clean(_shorten(str(matrix.columns[j]), 10)) for j in cols])
    rows = _thin_ticks(n_rows, 18)
    ax.set_yticks(rows, [fonts.clean(_shorten(str(matrix.index[i]), 16)) for i in rows])
    if x_label:
        ax.set_xlabel(fonts.clean(x_label), fontproperties=fonts.prop(LABEL_SIZE), color=TEXT_COLOR)
    if y_label:
        ax.set_ylabel(fonts.clean(y_label), fontproperties=fonts.prop(LABEL_SIZE), color=TEXT_COLOR)

    if n_cols <= 15 and n_rows <= 18:
        size = ANNOTATION_SIZE if n_cols > 8 or n_rows > 12 else ANNOTATION_SIZE + 1
        prop = fonts.prop(size)
        for i in range(n_rows):
            for j in range(n_cols):
                value = values[i, j]
                if math.isfinite(value):
                    ax.text(
                        j,
                        i,
                        fonts.clean(fmt(float(value))),
                        ha="center",
                        va="center",
                        color="white" if norm(value) > 0.55 else TEXT_COLOR,
                        fontproperties=prop,
                        in_layout=False,
                    )
    else:
        bar = fig.colorbar(image, ax=ax, shrink=0.9, aspect=25)
        bar.outline.set_visible(False)
        bar.ax.yaxis.set_major_locator(MaxNLocator(nbins=5))
        bar.ax.yaxis.set_major_formatter(_axis_formatter(fonts, fmt))
        bar.ax.tick_params(labelsize=TICK_SIZE, labelfontfamily=list(fonts.families), length=0)
    return _png(fig)


# -- funnel -------------------------------------------------------------------------------------


def _step_rates(values: np.ndarray) -> list[float | None]:
    """Conversion from each step to the next; None where the step before has nothing to convert."""
    rates: list[float | None] = []
    for before, after in zip(values[:-1], values[1:], strict=True):
        ok = math.isfinite(before) and math.isfinite(after) and before > 0
        rates.append(float(after / before) if ok else None)
    return rates


def funnel_chart(
    steps: Sequence[tuple[str, float]],
    title: str,
    *,
    value_format: Formatter | None = None,
) -> bytes:
    """Centered bars per funnel step with the step-to-step conversion between them.

    The weakest conversion is drawn in red so the eye lands on it first.
    """
    fonts = _fonts()
    names = [str(name) for name, _ in steps]
    vals = _floats([value for _, value in steps])
    if not np.isfinite(vals).any():
        return _no_data(title)
    fmt = value_format or _compact
    widths = np.clip(np.nan_to_num(vals, nan=0.0), 0.0, None)
    widest = float(widths.max()) or 1.0
    n = len(names)
    positions = np.arange(n)

    fig, ax = _new_figure()
    _style(ax, fonts, grid=None)
    _title(ax, fonts, title)
    shades = colormaps["Blues"](np.linspace(0.85, 0.5, n))
    ax.barh(positions, widths, left=-widths / 2, height=0.6, color=shades)
    ax.set_yticks(positions, [fonts.clean(_shorten(name)) for name in names])
    ax.set_ylim(n - 0.5, -0.5)
    ax.set_xlim(-0.62 * widest, 0.62 * widest)
    ax.xaxis.set_visible(False)
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.tick_params(length=0)

    value_prop = fonts.prop(ANNOTATION_SIZE + 1, "bold")
    for i, (value, width) in enumerate(zip(vals, widths, strict=True)):
        text = fonts.clean(fmt(float(value)) if math.isfinite(value) else NOT_AVAILABLE)
        inside = width >= 0.25 * widest
        ax.text(
            0 if inside else width / 2 + 0.02 * widest,
            i,
            text,
            ha="center" if inside else "left",
            va="center",
            color="white" if inside else TEXT_COLOR,
            fontproperties=value_prop,
            in_layout=False,
        )

    rates = _step_rates(vals)
    known = [r for r in rates if r is not None]
    weakest = min(known) if len(known) > 1 else None
    for i, rate in enumerate(rates):
        is_weakest = rate is not None and rate == weakest
        label = "↓ " + (NOT_AVAILABLE if rate is None else f"{rate:.1%}" if rate >= 0.001 else f"{rate:.2%}")
        ax.text(
            0,
            i + 0.5,
            fonts.clean(label),
            ha="center",
            va="center",
            color=DOWN_COLOR if is_weakest else MUTED_COLOR,
            fontproperties=fonts.prop(ANNOTATION_SIZE, "bold" if is_weakest else "normal"),
            zorder=4,
            in_layout=False,
        )
    return _png(fig)

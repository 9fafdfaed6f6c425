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
  installed CJK family through matplotlib's per-glyph font fallback (matplotlib >= 3.6), and
  from the Noto Sans CJK SC subset shipped in metrics/charts/fonts/ when none is installed (most
  servers and fresh containers have none) or the installed one lacks a glyph. A character
  that no available font covers is replaced by a box *before* matplotlib sees it (and logged
  once), so charts never log per-glyph "missing from font" warnings.
- Values are formatted by a ``Formatter`` the handler passes in (money in the chat's locale,
  percentages...); ``metrics/`` must not import ``bot/``.
"""

from __future__ import annotations

import functools
import io
import itertools
import logging
import math
import re
import threading
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Generic, ParamSpec

import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib import colormaps, font_manager
from matplotlib.axes import Axes
from matplotlib.axis import XAxis
from matplotlib.backends.backend_agg import FigureCanvasAgg, RendererAgg
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.layout_engine import ConstrainedLayoutEngine
from matplotlib.text import Annotation, Text
from matplotlib.ticker import Formatter as TickFormatter
from matplotlib.ticker import MaxNLocator
from matplotlib.transforms import Bbox

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
# opsbot's own CJK font (OFL 1.1, see metrics/charts/fonts/README.md): Chinese renders on a fresh install.
SHIPPED_FONT = Path(__file__).resolve().with_name("fonts") / "NotoSansCJKsc-opsbot-subset.otf"
SHIPPED_FAMILY = "Noto Sans CJK SC opsbot"
# Other installed families whose names hint at CJK coverage; the glyph probe decides.
_CJK_NAME = re.compile(r"CJK|Han Sans|Han Serif|WenQuanYi|YaHei|Hei|Gothic|Mincho|Song|Kai|Ming|Fallback", re.I)
_PROBE = "销售额订单量客单价转化率暂无数据"
_BOX = "\u25a1"  # WHITE SQUARE, in DejaVu Sans: the visible stand-in for an uncoverable glyph
_INSTALL_HINT = (
    f"the packaged font {SHIPPED_FONT.name} is missing; reinstall opsbot or install a CJK font, "
    "e.g. `apt-get install fonts-wqy-zenhei` or fonts-noto-cjk"
)


class _WeightFallbackFilter(logging.Filter):
    """Drop matplotlib's 'Failed to find font weight ... for <CJK family>' warnings.

    CJK families usually ship a single weight (WenQuanYi Zen Hei is 500), so every new
    size/weight resolved through the fallback list logs a WARNING. Using the only weight a
    fallback font has is intended here, not something for an operator to fix.
    """

    def __init__(self) -> None:
        super().__init__()
        self.families: set[str] = {*CJK_FAMILIES, SHIPPED_FAMILY}

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


def _weight(value: object) -> int:
    """A font entry's weight as a number (font_manager stores a number or a name such as 'bold')."""
    if isinstance(value, int | float):
        return int(value)
    return font_manager.weight_dict.get(str(value), 400)


def _charmap(family: str) -> frozenset[int]:
    """Code points the installed font of ``family`` covers (empty when it is not installed)."""
    try:
        path = font_manager.findfont(FontProperties(family=family), fallback_to_default=False)
        return frozenset(font_manager.get_font(path).get_charmap())
    except (ValueError, OSError, RuntimeError):
        return frozenset()


def _detect_cjk_family() -> str | None:
    """The installed (system) CJK-capable family, by preference; None when there is none."""
    manager = font_manager.fontManager
    known = {str(entry.fname) for entry in manager.ttflist}
    for path in CJK_FILES:
        if path not in known and Path(path).is_file():
            try:
                manager.addfont(path)
            except (OSError, RuntimeError, ValueError):
                log.debug("could not register font file %s", path, exc_info=True)
    installed = {entry.name for entry in manager.ttflist} - {SHIPPED_FAMILY}
    candidates = [name for name in CJK_FAMILIES if name in installed]
    candidates += sorted(n for n in installed if n not in candidates and _CJK_NAME.search(n))
    probe = {ord(ch) for ch in _PROBE}
    for name in candidates:
        _weight_filter.families.add(name)
        if probe <= _charmap(name):
            return name
    return None


def _register_shipped_font() -> str | None:
    """Register the packaged CJK subset with matplotlib; its family, or None when the file is gone."""
    manager = font_manager.fontManager
    if any(entry.name == SHIPPED_FAMILY for entry in manager.ttflist):
        return SHIPPED_FAMILY
    try:
        manager.addfont(SHIPPED_FONT)
    except (OSError, RuntimeError, ValueError):
        log.warning("charts: could not load the packaged CJK font %s", SHIPPED_FONT, exc_info=True)
        return None
    return SHIPPED_FAMILY


@dataclass
class _Fonts:
    """The font set charts use, and the text cleaning that goes with it."""

    cjk: str | None
    families: tuple[str, ...]
    covered: frozenset[int]
    cjk_bold: bool = False  # whether the CJK family has a bold face (WenQuanYi Zen Hei has one weight)
    _warned: bool = field(default=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def build(cls, cjk: str | None, fallback: str | None = None) -> _Fonts:
        """The set for system CJK family ``cjk`` (None: none installed) and the shipped ``fallback``."""
        # Latin first so Latin text keeps DejaVu's metrics; CJK glyphs fall back to the system
        # CJK font, then to the shipped subset (which also fills the system font's gaps).
        families = tuple(dict.fromkeys(f for f in (LATIN_FAMILY, cjk, fallback) if f))
        cjk = cjk or fallback
        covered: set[int] = set()
        for family in families:
            covered |= _charmap(family)
        bold = cjk is not None and any(
            entry.name == cjk and _weight(entry.weight) >= 600 for entry in font_manager.fontManager.ttflist
        )
        return cls(cjk=cjk, families=families, covered=frozenset(covered), cjk_bold=bold)

    def prop(self, size: float = TICK_SIZE, weight: str = "normal") -> FontProperties:
        return FontProperties(family=list(self.families), size=size, weight=weight)

    def strong(self, text: str) -> str:
        """The weight for emphasised ``text``: bold, unless its Chinese glyphs would come out regular
        next to bold Latin ones (a title half bold, half not reads as a rendering fault)."""
        wide = any(unicodedata.east_asian_width(ch) in "WF" for ch in text)
        return "bold" if not wide or self.cjk_bold else "normal"

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
                _FONTS = _Fonts.build(_detect_cjk_family(), _register_shipped_font())
                if _FONTS.cjk is None:
                    log.info("charts: no CJK font installed; %s", _INSTALL_HINT)
            fonts = _FONTS
    return fonts


def font_in_use() -> str:
    """The family Chinese chart text is drawn in: the system CJK family when one is installed,
    else the shipped subset (DejaVu Sans only when even that is missing)."""
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


# -- figure, header, footer ---------------------------------------------------------------------

EDGE_PX = 14.0  # no text closer than this to the image edge
GAP_PX = 6.0  # between the header lines, and between the header and the plot
SUBTITLE_SIZE = TICK_SIZE
HEADER_LINES = 2  # a title or subtitle wraps onto a second line rather than running off the image


def _renderer(fig: Figure) -> RendererAgg:
    return fig.canvas.get_renderer()  # type: ignore[attr-defined]


def _fit_text(artist: Text, fonts: _Fonts, text: str, max_px: float, max_lines: int) -> None:
    """Set ``text`` on ``artist`` so that it is at most ``max_px`` wide, measured by the renderer:
    as one line if it fits, else wrapped onto up to ``max_lines`` lines, else cut with an ellipsis."""
    renderer = _renderer(artist.get_figure(root=True))  # type: ignore[arg-type]
    text = " ".join(str(text).split())

    def fits(candidate: str) -> bool:
        artist.set_text(fonts.clean(candidate))
        return artist.get_window_extent(renderer).width <= max_px

    if fits(text):
        return
    units = _width(text)
    while units > 8:
        units = int(units * 0.9)
        wrapped = _wrap(text, units, max_lines)
        # A word longer than the line cannot be wrapped; cutting is the fallback below.
        if all(_width(line) <= units + 1 for line in wrapped.split("\n")) and fits(wrapped):
            return
    units = _width(text)
    while units > 4 and not fits(_shorten(text, units)):
        units = int(units * 0.9)


def _header_text(fig: Figure, fonts: _Fonts, text: str, top_px: float, size: float, weight: str,
                 color: str) -> float:
    """One left-aligned header line (or two) with its top at ``top_px``; returns its bottom in px."""
    artist = fig.text(
        EDGE_PX / fig.bbox.width, top_px / fig.bbox.height, "", ha="left", va="top", color=color,
        fontproperties=fonts.prop(size, weight), in_layout=False,
    )
    _fit_text(artist, fonts, text, fig.bbox.width - 2 * EDGE_PX, HEADER_LINES)
    return top_px - artist.get_window_extent(_renderer(fig)).height


def _new_figure(
    fonts: _Fonts, title: str, *, subtitle: str = "", note: str = "", nrows: int = 1, ncols: int = 1,
    **subplots: object,
) -> tuple[Figure, np.ndarray]:
    """A figure with a header (bold title, muted subtitle) and a footer note, and the axes below.

    The header and footer are figure texts spanning the whole width and the constrained layout
    only gets the rectangle between them. So a legend beside the plot can never cover the title
    (which an axes title, hanging over the legend column, did), and a long title wraps inside
    the image instead of being cut by its edge. Returns the axes as a 2-D array.
    """
    fig = Figure(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI, layout="constrained", facecolor="white")
    FigureCanvasAgg(fig)
    height = fig.bbox.height
    bottom = height - EDGE_PX
    if title:
        bottom = _header_text(fig, fonts, title, bottom, TITLE_SIZE, fonts.strong(title), TEXT_COLOR)
    if subtitle:
        bottom = _header_text(fig, fonts, subtitle, bottom - GAP_PX / 2, SUBTITLE_SIZE, "normal", MUTED_COLOR)
    footer = EDGE_PX / 2
    if note:
        artist = fig.text(
            EDGE_PX / fig.bbox.width, EDGE_PX / 2 / height, "", ha="left", va="bottom", color=MUTED_COLOR,
            fontproperties=fonts.prop(ANNOTATION_SIZE), in_layout=False,
        )
        _fit_text(artist, fonts, note, fig.bbox.width - 2 * EDGE_PX, HEADER_LINES)
        footer += artist.get_window_extent(_renderer(fig)).height + GAP_PX
    top = bottom - GAP_PX
    engine = fig.get_layout_engine()
    assert isinstance(engine, ConstrainedLayoutEngine)
    engine.set(rect=(0.0, footer / height, 1.0, (top - footer) / height))
    axes = fig.subplots(nrows, ncols, squeeze=False, **subplots)  # type: ignore[arg-type]
    return fig, axes


def _style(ax: Axes, fonts: _Fonts, *, grid: str | None = "y", size: float = TICK_SIZE) -> None:
    """Minimal axes: no box, light grid along the value axis, big tick labels."""
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    for side in ("left", "bottom"):
        ax.spines[side].set_color("#9e9e9e")
    ax.tick_params(labelsize=size, labelfontfamily=list(fonts.families), labelcolor=TEXT_COLOR, color="#9e9e9e")
    if grid:
        ax.grid(axis=grid, color=GRID_COLOR, linewidth=1.0)
        ax.set_axisbelow(True)


_NUMBER = re.compile(r"(\d[\d,]*)(?:\.(\d+))?")


def _uniform_decimals(values: Sequence[float], labels: Sequence[str]) -> list[str]:
    """Tick labels with one number of decimals, the fewest that keeps every label's digits.

    Formatters built for single values switch precision by size (money shows cents below 1,000,
    so an axis read "CN¥0.00" under "CN¥30,000") or always print two decimals ("5.00%"). On an
    axis the ticks are one scale: all-zero decimals go, and a label gains zeros only when it
    shows the tick value itself (so "CN¥1,000" may become "CN¥1,000.5"-style peers' "1,000.0",
    but a scaled "2M" is never padded to a precision it does not have).
    """
    found = [list(_NUMBER.finditer(label)) for label in labels]
    if not labels or not all(found):
        return list(labels)
    last = [matches[-1] for matches in found]
    decimals = [m.group(2) or "" for m in last]
    needed = max(len(d.rstrip("0")) for d in decimals)
    out = []
    for value, label, m, digits in zip(values, labels, last, decimals, strict=True):
        if len(digits) < needed:
            shown = float(m.group(1).replace(",", "") + ("." + digits if digits else ""))
            if not math.isclose(abs(value), shown, rel_tol=1e-9, abs_tol=1e-12):
                return list(labels)  # cannot pad honestly: keep what the formatter said
            digits = digits + "0" * (needed - len(digits))
        digits = digits[:needed]  # only zeros are cut: ``needed`` keeps every significant digit
        number = m.group(1) + ("." + digits if digits else "")
        out.append(label[: m.start()] + number + label[m.end():])
    return out


class _TickFormat(TickFormatter):
    """An axis formatter from a value formatter, with consistent decimals across the ticks."""

    def __init__(self, fonts: _Fonts, fmt: Formatter) -> None:
        self.fonts, self.fmt = fonts, fmt

    def __call__(self, x: float, pos: int | None = None) -> str:
        return self.fonts.clean(self.fmt(x))

    def format_ticks(self, values: Sequence[float]) -> list[str]:
        return [self.fonts.clean(s) for s in _uniform_decimals(list(values), [self.fmt(v) for v in values])]


def _keep_inside(ax: Axes, texts: Sequence[Text], axis: str) -> bool:
    """Widen the value axis until every data label lies inside the plot (labels stay out of the
    layout, so nothing else makes room for them: "+CN¥107,91" was cut at the image edge).

    Returns whether the limits changed."""
    renderer = _renderer(ax.get_figure(root=True))  # type: ignore[arg-type]
    changed = False
    for _ in range(10):
        box = ax.get_window_extent(renderer)
        boxes = [t.get_window_extent(renderer) for t in texts if t.get_visible() and t.get_text()]
        if not boxes:
            return changed
        if axis == "x":
            low_px, high_px, start, end = min(b.x0 for b in boxes), max(b.x1 for b in boxes), box.x0, box.x1
            low, high = ax.get_xlim()
        else:
            low_px, high_px, start, end = min(b.y0 for b in boxes), max(b.y1 for b in boxes), box.y0, box.y1
            low, high = ax.get_ylim()
        under, over = max(0.0, start + 8 - low_px), max(0.0, high_px - (end - 8))  # 8 px: air, not touch
        if not under and not over:
            return changed
        per_px = (high - low) / max(end - start, 1.0)
        # 1.15: widening shrinks the scale, so the label's fixed pixel width needs a bit more room
        limits = (low - 1.15 * under * per_px, high + 1.15 * over * per_px)
        ax.set_xlim(*limits) if axis == "x" else ax.set_ylim(*limits)
        changed = True
    return changed


def _finish(fig: Figure, fit: Callable[[], bool] | None = None) -> Figure:
    """Run the layout, let ``fit`` move what depends on it (data labels), and freeze the result.

    savefig would do a whole extra (non-rendering) draw just to run the layout; running it here
    and switching it off before saving renders the figure once. (None, not "none": a placeholder
    engine would still trigger that extra draw.)
    """
    engine = fig.get_layout_engine()
    if engine is not None:
        engine.execute(fig)
        # New limits can change the tick labels and so the layout: lay out again, fit again.
        for _ in range(5):
            if fit is None or not fit():
                break
            engine.execute(fig)
        fig.set_layout_engine(None)
    return fig


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    # No "Software" chunk: identical input gives identical bytes across matplotlib versions.
    # compress_level 1: flat-colour charts compress almost as well as at the default 6, in a
    # fraction of the time (the encoder was a tenth of a chart's cost)
    fig.savefig(buf, format="png", dpi=DPI, facecolor="white", metadata={"Software": None},
                pil_kwargs={"compress_level": 1})
    return buf.getvalue()


P = ParamSpec("P")


class _Chart(Generic[P]):
    """A public chart function: builds the figure, returns it as PNG bytes.

    ``.figure`` is the builder itself, for whoever needs the drawn texts rather than the pixels
    (the layout tests measure every text box with the renderer).
    """

    def __init__(self, build: Callable[P, Figure]) -> None:
        self.figure = build
        functools.update_wrapper(self, build)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> bytes:
        return _png(self.figure(*args, **kwargs))


def _no_data_figure(title: str, subtitle: str = "") -> Figure:
    """A chart-sized image that says there is nothing to plot (better than no reply at all)."""
    fonts = _fonts()
    fig, axes = _new_figure(fonts, title, subtitle=subtitle)
    ax = axes[0, 0]
    ax.set_axis_off()
    note = "No data · 暂无数据" if fonts.cjk else "No data"
    ax.text(0.5, 0.5, fonts.clean(note), transform=ax.transAxes, ha="center", va="center", color=MUTED_COLOR,
            fontproperties=fonts.prop(18))
    return _finish(fig)


def _no_data(title: str) -> bytes:
    return _png(_no_data_figure(title))


def _joined(*parts: str) -> str:
    return " · ".join(p for p in parts if p)


def _more_note(hidden: int) -> str:
    """Say that rows were left off rather than dropping them silently."""
    return f"… +{hidden}" if hidden > 0 else ""


def _pad_limits(low: float, high: float, fraction: float = 0.04) -> tuple[float, float]:
    """Value-axis limits from zero-inclusive data bounds: bars start at zero, always (a bar's length
    is its value); the labels at the bar ends get their room from ``_keep_inside``."""
    low, high = min(low, 0.0), max(high, 0.0)
    span = (high - low) or 1.0
    return (low - fraction * span if low < 0 else 0.0, high + fraction * span if high > 0 else 0.0)


def _text_px(fig: Figure, fonts: _Fonts, text: str, size: float, weight: str = "normal") -> float:
    """The drawn width of one line of ``text`` in px (for choosing a layout before drawing it)."""
    width, _, _ = _renderer(fig).get_text_width_height_descent(fonts.clean(text), fonts.prop(size, weight), False)
    return float(width)


# -- line chart ---------------------------------------------------------------------------------

PANEL_LINES = 3  # from this many lines ...
PANEL_POINTS = 31  # ... of more points than a month of days, one chart per line (small multiples)
MARKER_POINTS = 14  # a line with this few points gets a dot per point


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


def _date_axis(ax: Axes, x: pd.DatetimeIndex, step: pd.Timedelta, most: int = 7) -> None:
    first, last = x.min(), x.max()
    span_days = (last - first).days
    locator: mdates.DateLocator
    if span_days == 0:
        # One point: give it a bucket either side so the axis is not degenerate.
        ax.set_xlim(first - step, last + step)
        locator, fmt = mdates.DayLocator(), "%Y-%m-%d"
    elif step >= pd.Timedelta(days=28):
        # Monthly points are months: "2026-05", not the "05-01" of their first day.
        months = span_days // 30 + 1
        locator, fmt = mdates.MonthLocator(interval=max(1, math.ceil(months / most))), "%Y-%m"
    elif span_days <= 14:
        # AutoDateLocator would pick 12-hour ticks here; daily data wants whole days.
        locator, fmt = mdates.DayLocator(interval=max(1, math.ceil((span_days + 1) / min(most, 6)))), "%m-%d"
    else:
        locator = mdates.AutoDateLocator(minticks=min(3, most), maxticks=most)
        # Numeric dates read the same in English and Chinese chats.
        fmt = "%m-%d" if span_days < 300 else "%Y-%m"
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.DateFormatter(fmt))


def _crowded(axis: XAxis) -> bool:
    """Whether neighbouring tick labels of ``axis`` touch (a narrow plot, wide date labels)."""
    renderer = _renderer(axis.get_figure(root=True))  # type: ignore[arg-type]
    low, high = sorted(axis.get_view_interval())
    boxes = sorted(
        (tick.label1.get_window_extent(renderer) for tick in axis.get_major_ticks()
         if low <= tick.get_loc() <= high and tick.label1.get_visible() and tick.label1.get_text()),
        key=lambda box: box.x0,
    )
    return any(right.x0 - left.x1 < 8 for left, right in itertools.pairwise(boxes))


def _thin_dates(ax: Axes, lines: _Lines) -> bool:
    """Fewer date ticks while their labels touch; returns whether the ticks changed."""
    most = len(ax.get_xticks())
    changed = False
    while most > 2 and _crowded(ax.xaxis):
        most -= 1
        _date_axis(ax, lines.unique, lines.step, most=most)
        changed = True
    return changed


@dataclass
class _Lines:
    """A line chart's data, cleaned: sorted naive dates, one float column per line."""

    x: pd.DatetimeIndex
    names: list[str]
    values: np.ndarray  # len(x) x len(names)
    colors: list[str]
    unique: pd.DatetimeIndex
    step: pd.Timedelta

    @classmethod
    def of(cls, series: pd.DataFrame) -> _Lines | None:
        x = _to_datetimes(series.index)
        keep = ~x.isna()
        names = [str(c) for c in series.columns]
        if not names or not keep.any():
            return None
        values = np.column_stack([_floats(series.iloc[:, i]) for i in range(len(names))])
        if not np.isfinite(values[keep]).any():
            return None
        order = np.argsort(x[keep].to_numpy(), kind="stable")
        x, values = x[keep][order], values[keep][order]
        unique = x.unique().sort_values()
        step = pd.Series(unique).diff().median() if len(unique) > 1 else pd.Timedelta(days=1)
        step = step if isinstance(step, pd.Timedelta) and step > pd.Timedelta(0) else pd.Timedelta(days=1)
        palette = iter(PALETTE)
        colors = [OTHER_COLOR if _is_other(n) else next(palette, OTHER_COLOR) for n in names]
        return cls(x, names, values, colors, unique, step)


def _plot_line(ax: Axes, lines: _Lines, i: int, partial: pd.DatetimeIndex, label: str | None) -> None:
    """Line ``i``: solid through complete points; a partial bucket (a week cut by the period, today
    so far) is a hollow dot on a dashed segment, so its low value does not read as a collapse."""
    other = _is_other(lines.names[i])
    color, xs, ys = lines.colors[i], lines.x.to_numpy(), lines.values[:, i]
    cut = lines.x.isin(partial)
    width = LINE_WIDTH - (0.6 if other else 0.0)
    markers = int(np.isfinite(ys).sum()) <= MARKER_POINTS
    zorder = 2 if other else 3
    ax.plot(xs, np.where(cut, np.nan, ys), color=color, linewidth=width, marker="o" if markers else None,
            markersize=6, solid_capstyle="round", zorder=zorder, label=label)
    if cut.any():
        near = cut.copy()  # the partial points and their neighbours: the dashed segments
        near[1:] |= cut[:-1]
        near[:-1] |= cut[1:]
        ax.plot(xs, np.where(near, ys, np.nan), color=color, linewidth=width * 0.8, linestyle=(0, (2, 2)),
                zorder=zorder)
        ax.scatter(xs[cut], ys[cut], s=46, facecolors="white", edgecolors=color, linewidths=2.0, zorder=zorder + 2)


def _mark_days(ax: Axes, lines: _Lines, columns: Sequence[int], days: pd.DatetimeIndex) -> None:
    """Shade the highlighted buckets and dot the lines there."""
    for bucket in days:
        ax.axvspan(bucket - lines.step / 2, bucket + lines.step / 2, color=HIGHLIGHT_COLOR, alpha=0.22, lw=0,
                   zorder=1)
    marked = lines.x.isin(days)
    xs = lines.x.to_numpy()
    for i in columns:
        hit = marked & np.isfinite(lines.values[:, i])
        if hit.any():
            ax.scatter(xs[hit], lines.values[hit, i], s=80, color=lines.colors[i], edgecolors="white",
                       linewidths=1.5, zorder=4)


def _line_figure(
    series: pd.DataFrame,
    title: str,
    *,
    y_format: Formatter | None = None,
    highlight: Sequence[date] = (),
    partial: Sequence[date] = (),
    subtitle: str = "",
    note: str = "",
) -> Figure:
    """One line per column over a date index; a legend when there is more than one line.

    At most 6 lines plus an "other" column (drawn grey, behind the rest). ``highlight`` days
    (anomalies, promotions) get a shaded band and a dot on every line; ``partial`` buckets are
    drawn hollow on a dashed segment (``note`` can say why). Three or more lines of more than a
    month of points are drawn as small multiples, one panel per line on a shared scale: six
    daily lines over 90 days on one plot are a tangle nobody can follow.
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
    lines = _Lines.of(series)
    if lines is None:
        return _no_data_figure(title, subtitle)
    marked = _buckets(lines.unique, lines.step, [_day(d) for d in highlight]) if highlight else pd.DatetimeIndex([])
    cut = _buckets(lines.unique, lines.step, [_day(d) for d in partial]) if partial else pd.DatetimeIndex([])
    fmt = _TickFormat(fonts, y_format or _compact)
    if len(lines.names) >= PANEL_LINES and len(lines.unique) > PANEL_POINTS:
        return _panels_figure(fonts, lines, title, subtitle, note, fmt, marked, cut)

    fig, axes = _new_figure(fonts, title, subtitle=subtitle, note=note)
    ax = axes[0, 0]
    _style(ax, fonts)
    many = len(lines.names) > 1
    for i, name in enumerate(lines.names):
        _plot_line(ax, lines, i, cut, fonts.clean(_shorten(name)) if many else None)
    if len(marked):
        _mark_days(ax, lines, range(len(lines.names)), marked)
    _date_axis(ax, lines.unique, lines.step)
    ax.yaxis.set_major_locator(MaxNLocator(nbins=5))
    ax.yaxis.set_major_formatter(fmt)
    if many:
        # An axes legend just right of the plot: the constrained layout counts it as part of the
        # axes, so it stays inside the rectangle below the header (a figure legend "outside right
        # upper" is anchored to the figure's top corner, where the title is).
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, frameon=False,
                  prop=fonts.prop(ANNOTATION_SIZE + 1), handlelength=1.4, labelcolor=TEXT_COLOR)
    return _finish(fig, lambda: _thin_dates(ax, lines))


def _panel_grid(count: int) -> tuple[int, int]:
    """Rows and columns for ``count`` panels: one row up to three, else two rows."""
    return (1, count) if count <= 3 else (2, math.ceil(count / 2))


def _panels_figure(fonts: _Fonts, lines: _Lines, title: str, subtitle: str, note: str, fmt: _TickFormat,
                   marked: pd.DatetimeIndex, cut: pd.DatetimeIndex) -> Figure:
    """Small multiples: a panel per line, all on one y scale so the levels compare across panels."""
    rows, cols = _panel_grid(len(lines.names))
    fig, axes = _new_figure(fonts, title, subtitle=subtitle, note=note, nrows=rows, ncols=cols,
                            sharex=True, sharey=True)
    fig.get_layout_engine().set(w_pad=8 / 72, h_pad=6 / 72)  # type: ignore[union-attr]
    panels = list(axes.flat)
    for spare in panels[len(lines.names):]:
        spare.remove()
    names: list[Text] = []
    for i, (ax, name) in enumerate(zip(panels, lines.names, strict=False)):
        _style(ax, fonts, size=ANNOTATION_SIZE)
        _plot_line(ax, lines, i, cut, None)
        if len(marked):
            _mark_days(ax, lines, [i], marked)
        names.append(ax.set_title(fonts.clean(_shorten(name)), loc="left", pad=4, color=lines.colors[i],
                                  fontproperties=fonts.prop(TICK_SIZE, fonts.strong(name))))
        # Shared axes: dates only under the bottom panel of each column, values only left of a row.
        below = i + cols < len(lines.names)
        ax.tick_params(labelbottom=not below, labelleft=i % cols == 0)
    first = panels[0]
    _date_axis(first, lines.unique, lines.step, most=3)
    first.yaxis.set_major_locator(MaxNLocator(nbins=4))
    first.yaxis.set_major_formatter(fmt)

    def fit() -> bool:
        # A panel's name may be as wide as its panel, which only the layout knows.
        renderer = _renderer(fig)
        for ax, label, name in zip(panels, names, lines.names, strict=False):
            _fit_text(label, fonts, name, ax.get_window_extent(renderer).width, 1)
        return any([_thin_dates(ax, lines) for ax in panels[len(lines.names) - cols:len(lines.names)]])

    return _finish(fig, fit)


line_chart = _Chart(_line_figure)


# -- bar charts ---------------------------------------------------------------------------------

BAR_LABEL_SIZE = ANNOTATION_SIZE + 1
VERTICAL_BARS = 8  # more bars than this are ranked horizontally: their names need the room


def _vertical_names(fig: Figure, fonts: _Fonts, names: Sequence[str], texts: Sequence[str]) -> list[str] | None:
    """Category names wrapped to fit under vertical bars, or None when the bars should lie down.

    Names are never rotated: slanted text is slow to read, and every bar and value label must
    fit its slot, or the ranking reads better as horizontal bars.
    """
    if len(names) > VERTICAL_BARS:
        return None
    slot = 0.85 * (fig.bbox.width - 2 * EDGE_PX) / len(names) - 8
    if max(_text_px(fig, fonts, t, BAR_LABEL_SIZE) for t in texts) > slot:
        return None
    wrapped = []
    for name in names:
        text = " ".join(name.split())
        units = _width(text)
        while units > 4 and max(_text_px(fig, fonts, line, TICK_SIZE) for line in _wrap(text, units, 2).split("\n")) > slot:
            units -= 1
        wrapped.append(_wrap(text, units, 2))
    return wrapped


def _bar_figure(
    labels: Sequence[str],
    values: Sequence[float],
    title: str,
    *,
    value_format: Formatter | None = None,
    horizontal: bool = True,
    subtitle: str = "",
    note: str = "",
) -> Figure:
    """Ranked bars from zero with their values written at the bar ends, in the order given (first
    on top). Vertical bars are drawn only when names and values fit under and over them."""
    _check_lengths(labels, values)
    fonts = _fonts()
    vals = _floats(values)
    if not np.isfinite(vals).any():
        return _no_data_figure(title, subtitle)
    names = [str(label) for label in labels]
    hidden = max(0, len(names) - MAX_BARS)
    names, vals = names[:MAX_BARS], vals[:MAX_BARS]
    fmt = value_format or _compact
    heights = np.nan_to_num(vals, nan=0.0)
    texts = [fmt(v) if math.isfinite(v) else NOT_AVAILABLE for v in vals]
    positions = np.arange(len(names))

    fig, axes = _new_figure(fonts, title, subtitle=subtitle, note=_joined(note, _more_note(hidden)))
    ax = axes[0, 0]
    low, high = _pad_limits(float(heights.min()), float(heights.max()))
    _style(ax, fonts, grid=None)
    # The bars carry their values, so the value axis would only repeat them: no axis, no
    # frame, just a baseline at zero.
    for spine in ax.spines.values():
        spine.set_visible(False)
    under = _vertical_names(fig, fonts, names, texts) if not horizontal else None
    if under is None:
        bars = ax.barh(positions, heights, height=0.65, color=BAR_COLOR)
        ax.set_yticks(positions, [fonts.clean(_shorten(n)) for n in names])
        ax.set_ylim(len(names) - 0.5, -0.5)  # first (top-ranked) bar on top
        ax.set_xlim(low, high)
        ax.xaxis.set_visible(False)
        ax.axvline(0, color="#757575", linewidth=1.0)
    else:
        bars = ax.bar(positions, heights, width=0.65, color=BAR_COLOR)
        ax.set_xticks(positions, [fonts.clean(n) for n in under])
        ax.set_xlim(-0.5, len(names) - 0.5)
        ax.set_ylim(low, high)
        ax.yaxis.set_visible(False)
        ax.axhline(0, color="#757575", linewidth=1.0)
    # Many bars: step the labels down to the 11 pt floor so neighbouring labels do not touch.
    ax.tick_params(length=0, labelsize=ANNOTATION_SIZE if len(names) > 12 else TICK_SIZE)
    drawn = ax.bar_label(bars, labels=[fonts.clean(t) for t in texts], padding=4, color=TEXT_COLOR,
                         fontproperties=fonts.prop(BAR_LABEL_SIZE), in_layout=False)
    return _finish(fig, lambda: _keep_inside(ax, drawn, "x" if under is None else "y"))


bar_chart = _Chart(_bar_figure)


def _diverging_figure(
    labels: Sequence[str],
    values: Sequence[float],
    title: str,
    *,
    value_format: Formatter | None = None,
    subtitle: str = "",
    note: str = "",
) -> Figure:
    """Contributions to a change (the ``movers`` chart): largest rise on top, largest fall at the
    bottom, green up / red down around a zero line, each bar labelled with its signed value.

    Rows without a number are left out; past ``MAX_BARS`` rows only the largest moves are drawn.
    ``value_format`` formats a change (its sign is added when it has none).
    """
    _check_lengths(labels, values)
    fonts = _fonts()
    vals = _floats(values)
    rows = [(str(label), float(v)) for label, v in zip(labels, vals, strict=True) if math.isfinite(v)]
    if not rows:
        return _no_data_figure(title, subtitle)
    hidden = max(0, len(rows) - MAX_BARS)
    if hidden:
        rows = sorted(rows, key=lambda row: abs(row[1]), reverse=True)[:MAX_BARS]
    rows.sort(key=lambda row: row[1], reverse=True)
    names = [name for name, _ in rows]
    heights = np.array([v for _, v in rows])
    fmt = value_format or _compact
    colors = [UP_COLOR if v > 0 else DOWN_COLOR if v < 0 else ZERO_COLOR for v in heights]
    positions = np.arange(len(rows))

    fig, axes = _new_figure(fonts, title, subtitle=subtitle, note=_joined(note, _more_note(hidden)))
    ax = axes[0, 0]
    _style(ax, fonts, grid=None)
    bars = ax.barh(positions, heights, height=0.65, color=colors)
    ax.axvline(0, color="#424242", linewidth=1.4, zorder=3)
    ax.set_yticks(positions, [fonts.clean(_shorten(n)) for n in names])
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.set_xlim(*_pad_limits(float(heights.min()), float(heights.max())))
    ax.xaxis.set_visible(False)
    ax.spines["bottom"].set_visible(False)
    ax.spines["left"].set_visible(False)
    ax.tick_params(length=0, labelsize=ANNOTATION_SIZE if len(rows) > 12 else TICK_SIZE)
    drawn = ax.bar_label(bars, labels=[fonts.clean(_signed(fmt, v)) for v in heights], padding=4,
                         color=TEXT_COLOR, fontproperties=fonts.prop(BAR_LABEL_SIZE), in_layout=False)
    return _finish(fig, lambda: _keep_inside(ax, drawn, "x"))


diverging_bar_chart = _Chart(_diverging_figure)


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


def _unstack(labels: Sequence[Annotation], renderer: RendererAgg) -> bool:
    """Move each label that overlaps an earlier one away from its bar (up above a rising bar, down
    below a falling one) by the overlap, so two long values at a similar level both stay readable.
    Returns whether anything moved."""
    moved = False
    placed: list[Bbox] = []
    for label in labels:
        box = label.get_window_extent(renderer)
        up = label.get_va() == "bottom"
        for other in placed:
            if box.overlaps(other):
                shift = (other.y1 - box.y0 if up else other.y0 - box.y1) + (2 if up else -2)
                dx, dy = label.xyann
                label.xyann = (dx, dy + shift * 72 / DPI)  # offset points
                box = label.get_window_extent(renderer)
                moved = True
        placed.append(box)
    return moved


def _waterfall_figure(
    start_label: str,
    start: float,
    steps: Sequence[tuple[str, float]],
    end_label: str,
    title: str,
    *,
    value_format: Formatter | None = None,
    subtitle: str = "",
    note: str = "",
) -> Figure:
    """A bridge from ``start`` to ``start + sum(steps)`` (the GMV driver tree).

    The value axis starts at zero: the two totals are bars, and a bar cut off at the bottom
    makes a 19 % rise look like a doubling. Small effects stay readable through their labels.
    """
    fonts = _fonts()
    start_value = float(start) if start is not None else math.nan
    if not math.isfinite(start_value):
        return _no_data_figure(title, subtitle)
    bars = _waterfall_bars(str(start_label), start_value, steps, str(end_label))
    fmt = value_format or _compact

    fig, axes = _new_figure(fonts, title, subtitle=subtitle, note=note)
    ax = axes[0, 0]
    _style(ax, fonts)
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
    low, high = _pad_limits(min(ends), max(ends))
    ax.set_ylim(low, high)
    if low < 0 < high:
        ax.axhline(0, color="#757575", linewidth=1.0, zorder=1)

    labels = []
    for i, b in enumerate(bars):
        text = fmt(b.delta) if b.total else _signed(fmt, b.delta)
        up = b.height >= 0
        # Above a rising bar's top, below a falling bar's bottom: never on a connector.
        labels.append(ax.annotate(
            fonts.clean(text), (i, b.bottom + b.height), xytext=(0, 4 if up else -4), textcoords="offset points",
            ha="center", va="bottom" if up else "top", color=TEXT_COLOR,
            fontproperties=fonts.prop(BAR_LABEL_SIZE, "bold" if b.total else "normal"), zorder=4,
            annotation_clip=False, in_layout=False,
        ))
    wrap = 12 if len(bars) > 5 else 16
    ax.set_xticks(positions, [fonts.clean(_wrap(b.label, wrap)) for b in bars])
    ax.set_xlim(-0.6, len(bars) - 0.4)
    ax.tick_params(axis="x", length=0)
    ax.yaxis.set_major_locator(MaxNLocator(nbins=5))
    ax.yaxis.set_major_formatter(_TickFormat(fonts, fmt))

    def fit() -> bool:
        moved = _unstack(labels, _renderer(fig))
        # The first and last labels are centred on the end bars: a wide value may pass the plot edge.
        wider = _keep_inside(ax, labels, "x")
        return _keep_inside(ax, labels, "y") or moved or wider

    return _finish(fig, fit)


waterfall_chart = _Chart(_waterfall_figure)


# -- heatmap ------------------------------------------------------------------------------------

HEAT_COLS, HEAT_ROWS = 15, 18  # beyond this many cells a side, values do not fit at a readable size


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


def _cell_texts_fit(ax: Axes, texts: Sequence[Text], n_cols: int, n_rows: int) -> bool:
    """Whether every cell value fits inside its cell, measured after the layout."""
    renderer = _renderer(ax.get_figure(root=True))  # type: ignore[arg-type]
    box = ax.get_window_extent(renderer)
    cell_w, cell_h = box.width / n_cols, box.height / n_rows
    return all(
        (b := t.get_window_extent(renderer)).width <= cell_w - 4 and b.height <= cell_h for t in texts
    )


def _heatmap_figure(
    matrix: pd.DataFrame,
    title: str,
    *,
    value_format: Formatter | None = None,
    x_label: str = "",
    y_label: str = "",
    subtitle: str = "",
    note: str = "",
) -> Figure:
    """A cohort triangle: rows = cohorts, columns = ages; NaN cells stay blank.

    Cells carry their values when there are at most 15 columns and 18 rows and every value fits
    its cell; otherwise a colour bar gives the scale.
    """
    fonts = _fonts()
    if matrix.size == 0:
        return _no_data_figure(title, subtitle)
    values = np.column_stack([_floats(matrix.iloc[:, i]) for i in range(matrix.shape[1])])
    if not np.isfinite(values).any():
        return _no_data_figure(title, subtitle)
    finite = values[np.isfinite(values)]
    fmt = value_format or (_percent if finite.min() >= 0 and finite.max() <= 1 else _compact)
    n_rows, n_cols = values.shape
    low, high = _heat_range(values)
    cmap = colormaps["Blues"].with_extremes(bad="white")
    norm = Normalize(vmin=low, vmax=high, clip=True)

    def draw(annotate: bool) -> Figure:
        fig, axes = _new_figure(fonts, title, subtitle=subtitle, note=note)
        ax = axes[0, 0]
        _style(ax, fonts, grid=None)
        image = ax.imshow(np.ma.masked_invalid(values), cmap=cmap, norm=norm, aspect="auto",
                          interpolation="nearest")
        for spine in ax.spines.values():
            spine.set_visible(False)
        ax.tick_params(length=0)
        cols = _thin_ticks(n_cols, HEAT_COLS)
        ax.set_xticks(cols, [fonts.clean(_shorten(str(matrix.columns[j]), 10)) for j in cols])
        rows = _thin_ticks(n_rows, HEAT_ROWS)
        ax.set_yticks(rows, [fonts.clean(_shorten(str(matrix.index[i]), 16)) for i in rows])
        if x_label:
            ax.set_xlabel(fonts.clean(_shorten(x_label, 60)), fontproperties=fonts.prop(LABEL_SIZE), color=TEXT_COLOR)
        if y_label:
            ax.set_ylabel(fonts.clean(_shorten(y_label, 30)), fontproperties=fonts.prop(LABEL_SIZE), color=TEXT_COLOR)
        if not annotate:
            bar = fig.colorbar(image, ax=ax, shrink=0.9, aspect=25)
            bar.outline.set_visible(False)  # type: ignore[operator]
            bar.ax.yaxis.set_major_locator(MaxNLocator(nbins=5))
            bar.ax.yaxis.set_major_formatter(_TickFormat(fonts, fmt))
            bar.ax.tick_params(labelsize=TICK_SIZE, labelfontfamily=list(fonts.families), length=0)
            return _finish(fig)
        prop = fonts.prop(ANNOTATION_SIZE if n_cols > 8 or n_rows > 12 else ANNOTATION_SIZE + 1)
        texts = [
            ax.text(j, i, fonts.clean(fmt(float(values[i, j]))), ha="center", va="center",
                    color="white" if norm(values[i, j]) > 0.55 else TEXT_COLOR, fontproperties=prop,
                    in_layout=False)
            for i in range(n_rows) for j in range(n_cols) if math.isfinite(values[i, j])
        ]
        _finish(fig)
        return fig if _cell_texts_fit(ax, texts, n_cols, n_rows) else draw(False)

    return draw(n_cols <= HEAT_COLS and n_rows <= HEAT_ROWS)


heatmap = _Chart(_heatmap_figure)


# -- funnel -------------------------------------------------------------------------------------


MAX_FUNNEL_STEPS = 8


def _step_rates(values: np.ndarray) -> list[float | None]:
    """Conversion from each step to the next; None where the step before has nothing to convert."""
    rates: list[float | None] = []
    for before, after in zip(values[:-1], values[1:], strict=True):
        ok = math.isfinite(before) and math.isfinite(after) and before > 0
        rates.append(float(after / before) if ok else None)
    return rates


def _rate_text(rate: float | None) -> str:
    return "↓ " + (NOT_AVAILABLE if rate is None else f"{rate:.1%}" if rate >= 0.001 else f"{rate:.2%}")


def _funnel_figure(
    steps: Sequence[tuple[str, float]],
    title: str,
    *,
    value_format: Formatter | None = None,
    subtitle: str = "",
    note: str = "",
) -> Figure:
    """Centered bars per funnel step with the step-to-step conversion between them.

    The weakest conversion is drawn in red so the eye lands on it first. A value is written
    inside its bar when it fits there, else beside it.
    """
    if len(steps) > MAX_FUNNEL_STEPS:
        # A step's bar, name and conversion need a band of their own; so does the reader.
        raise ValueError(f"funnel_chart takes at most {MAX_FUNNEL_STEPS} steps, got {len(steps)}")
    fonts = _fonts()
    names = [str(name) for name, _ in steps]
    vals = _floats([value for _, value in steps])
    if not np.isfinite(vals).any():
        return _no_data_figure(title, subtitle)
    fmt = value_format or _compact
    widths = np.clip(np.nan_to_num(vals, nan=0.0), 0.0, None)
    widest = float(widths.max()) or 1.0
    n = len(names)
    positions = np.arange(n)

    fig, axes = _new_figure(fonts, title, subtitle=subtitle, note=note)
    ax = axes[0, 0]
    _style(ax, fonts, grid=None)
    shades = colormaps["Blues"](np.linspace(0.85, 0.5, n))
    ax.barh(positions, widths, left=-widths / 2, height=0.6, color=shades)
    ax.set_yticks(positions, [fonts.clean(_shorten(name)) for name in names])
    ax.set_ylim(n - 0.5, -0.5)
    ax.set_xlim(-0.55 * widest, 0.55 * widest)
    ax.xaxis.set_visible(False)
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.tick_params(length=0)

    value_prop = fonts.prop(BAR_LABEL_SIZE, "bold")
    labels = [
        ax.annotate(fonts.clean(fmt(float(value)) if math.isfinite(value) else NOT_AVAILABLE), (0, i),
                    xytext=(0, 0), textcoords="offset points", va="center", fontproperties=value_prop, annotation_clip=False,
                    in_layout=False)
        for i, value in enumerate(vals)
    ]
    rates = _step_rates(vals)
    known = [r for r in rates if r is not None]
    weakest = min(known) if len(known) > 1 else None
    for i, rate in enumerate(rates):
        is_weakest = rate is not None and rate == weakest
        ax.text(0, i + 0.5, fonts.clean(_rate_text(rate)), ha="center", va="center",
                color=DOWN_COLOR if is_weakest else MUTED_COLOR,
                fontproperties=fonts.prop(ANNOTATION_SIZE, "bold" if is_weakest else "normal"), zorder=4,
                in_layout=False)

    def fit() -> bool:
        # Inside the bar when the value fits there (white on blue), else just right of the bar.
        renderer = _renderer(fig)
        low, high = ax.get_xlim()
        px_per_unit = ax.get_window_extent(renderer).width / (high - low)
        outside = []
        for i, (label, width) in enumerate(zip(labels, widths, strict=True)):
            inside = label.get_window_extent(renderer).width + 16 <= width * px_per_unit
            label.xy = (0 if inside else width / 2, i)
            label.xyann = (0, 0) if inside else (6, 0)
            label.set_ha("center" if inside else "left")
            label.set_color("white" if inside else TEXT_COLOR)
            if not inside:
                outside.append(label)
        return _keep_inside(ax, outside, "x")

    return _finish(fig, fit)


funnel_chart = _Chart(_funnel_figure)

"""The figure every chart draws on: its header and footer, axes style, value limits and data labels
kept inside the plot, the layout, PNG bytes, the public chart wrapper and the no-data image."""

from __future__ import annotations

import functools
import io
from collections.abc import Callable, Iterable, Sequence
from typing import Generic, ParamSpec

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg, RendererAgg
from matplotlib.figure import Figure
from matplotlib.layout_engine import ConstrainedLayoutEngine
from matplotlib.text import Text

from metrics.charts.labels import _shorten, _width, _wrap
from metrics.charts.style import (
    ANNOTATION_SIZE,
    DPI,
    GRID_COLOR,
    HEIGHT_IN,
    MUTED_COLOR,
    TEXT_COLOR,
    TICK_SIZE,
    TITLE_SIZE,
    WIDTH_IN,
    _Fonts,
    _fonts,
)


def _floats(values: Iterable[object]) -> np.ndarray:
    """Values as float64 with None/NA/inf turned into NaN."""
    out = pd.to_numeric(pd.Series(list(values), dtype=object), errors="coerce").to_numpy(
        dtype=float, na_value=np.nan, copy=True  # writable: inf is blanked below
    )
    out[~np.isfinite(out)] = np.nan
    return out


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


def _pad_limits(low: float, high: float, fraction: float = 0.04) -> tuple[float, float]:
    """Value-axis limits from zero-inclusive data bounds: bars start at zero, always (a bar's length
    is its value); the labels at the bar ends get their room from ``_keep_inside``."""
    low, high = min(low, 0.0), max(high, 0.0)
    span = (high - low) or 1.0
    return (low - fraction * span if low < 0 else 0.0, high + fraction * span if high > 0 else 0.0)

"""Line charts over dates: one plot with a legend, or small multiples (a panel per line) when many
long lines would tangle; partial buckets dashed, highlighted days shaded."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.text import Text
from matplotlib.ticker import MaxNLocator

from metrics.charts.canvas import (
    _Chart,
    _finish,
    _fit_text,
    _floats,
    _new_figure,
    _no_data_figure,
    _renderer,
    _style,
)
from metrics.charts.dates import _buckets, _crowded, _date_axis, _day, _to_datetimes
from metrics.charts.labels import Formatter, _compact, _shorten, _TickFormat
from metrics.charts.style import (
    ANNOTATION_SIZE,
    HIGHLIGHT_COLOR,
    LINE_WIDTH,
    OTHER_COLOR,
    PALETTE,
    TEXT_COLOR,
    TICK_SIZE,
    _Fonts,
    _fonts,
)

MAX_LINES = 6  # plus one "other" line
OTHER_NAMES = frozenset({"other", "others", "其他", "其它"})
PANEL_LINES = 3  # from this many lines ...
PANEL_POINTS = 31  # ... of more points than a month of days, one chart per line (small multiples)
MARKER_POINTS = 14  # a line with this few points gets a dot per point


def _is_other(name: object) -> bool:
    return str(name).strip().lower() in OTHER_NAMES


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

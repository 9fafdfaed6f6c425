"""Bar charts: ranked bars from zero (horizontal, or vertical when names and values fit) and
diverging bars for the contributions to a change."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from metrics.charts.canvas import (
    EDGE_PX,
    _Chart,
    _finish,
    _floats,
    _keep_inside,
    _new_figure,
    _no_data_figure,
    _pad_limits,
    _renderer,
    _style,
)
from metrics.charts.labels import Formatter, _compact, _shorten, _signed, _width, _wrap
from metrics.charts.style import (
    ANNOTATION_SIZE,
    BAR_COLOR,
    BAR_LABEL_SIZE,
    DOWN_COLOR,
    NOT_AVAILABLE,
    TEXT_COLOR,
    TICK_SIZE,
    UP_COLOR,
    ZERO_COLOR,
    _Fonts,
    _fonts,
)

MAX_BARS = 20  # beyond this, labels at >= 11 pt no longer fit in 675 px (CJK glyphs are tall)
VERTICAL_BARS = 8  # more bars than this are ranked horizontally: their names need the room


def _check_lengths(labels: Sequence[object], values: Sequence[object]) -> None:
    if len(labels) != len(values):
        raise ValueError(f"{len(labels)} labels for {len(values)} values")


def _joined(*parts: str) -> str:
    return " · ".join(p for p in parts if p)


def _more_note(hidden: int) -> str:
    """Say that rows were left off rather than dropping them silently."""
    return f"… +{hidden}" if hidden > 0 else ""


def _text_px(fig: Figure, fonts: _Fonts, text: str, size: float, weight: str = "normal") -> float:
    """The drawn width of one line of ``text`` in px (for choosing a layout before drawing it)."""
    width, _, _ = _renderer(fig).get_text_width_height_descent(fonts.clean(text), fonts.prop(size, weight), False)
    return float(width)


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

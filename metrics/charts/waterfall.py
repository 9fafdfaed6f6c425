"""The waterfall (bridge) chart: from a start total through signed steps to the end total, with
the step labels kept apart."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from matplotlib.backends.backend_agg import RendererAgg
from matplotlib.figure import Figure
from matplotlib.text import Annotation
from matplotlib.ticker import MaxNLocator
from matplotlib.transforms import Bbox

from metrics.charts.canvas import (
    _Chart,
    _finish,
    _keep_inside,
    _new_figure,
    _no_data_figure,
    _pad_limits,
    _renderer,
    _style,
)
from metrics.charts.labels import Formatter, _compact, _signed, _TickFormat, _wrap
from metrics.charts.style import (
    BAR_LABEL_SIZE,
    DOWN_COLOR,
    DPI,
    TEXT_COLOR,
    TOTAL_COLOR,
    UP_COLOR,
    ZERO_COLOR,
    _fonts,
)


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

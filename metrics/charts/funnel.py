"""The funnel chart: centred bars per step and the step-to-step conversion, the weakest in red."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure

from metrics.charts.canvas import (
    _Chart,
    _finish,
    _floats,
    _keep_inside,
    _new_figure,
    _no_data_figure,
    _renderer,
    _style,
)
from metrics.charts.labels import Formatter, _compact, _shorten
from metrics.charts.style import (
    ANNOTATION_SIZE,
    BAR_LABEL_SIZE,
    DOWN_COLOR,
    MUTED_COLOR,
    NOT_AVAILABLE,
    TEXT_COLOR,
    _fonts,
)

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

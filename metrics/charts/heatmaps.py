"""The heatmap of a cohort triangle: values in the cells when they fit there, else a colour bar."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.text import Text
from matplotlib.ticker import MaxNLocator

from metrics.charts.canvas import _Chart, _finish, _floats, _new_figure, _no_data_figure, _renderer, _style
from metrics.charts.labels import Formatter, _compact, _percent, _shorten, _TickFormat
from metrics.charts.style import ANNOTATION_SIZE, LABEL_SIZE, TEXT_COLOR, TICK_SIZE, _fonts

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

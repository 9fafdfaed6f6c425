"""The date axis of line charts: series indexes as naive dates, highlighted days as buckets, date
ticks and their labels, and whether those labels touch."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from datetime import date

import matplotlib.dates as mdates
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.axis import XAxis

from metrics.charts.canvas import _renderer


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

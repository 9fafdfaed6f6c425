"""Intraday: today so far against what is normal by this time of day.

Input is a wide frame of hourly sums (index = the start of each hour, naive local time; columns =
series such as "orders" or "orders|channel=search"), today's current hour included as far as it
has run. For each series:

* the **reference days** are the same weekday in the previous `weeks` weeks, minus expected days
  (promotions) and days the frame does not cover;
* the **hour profile** is their pooled share of a day's volume by hour (sum over the reference
  days of the volume before now / sum of their full days), so a quiet night and a 10:00 peak
  are both expected;
* **expected by now** = expected day total x profile share by now, the day total being the
  median of the reference days' totals unless the caller passes a better one (the daily
  detector's expected value for today, which has the trend);
* the **spread** is the robust spread of the reference days' own so-far volumes around what the
  same rule expects for them, floored at the Poisson spread for counts;
* nothing is judged before `min_share` of a normal day's volume is in (at 00:30 one order more or
  less says nothing).

So an order collapse at 10:00 is visible at 11:00 (the hour's volume is missing against a
profile that expected ~5 % of the day in it), not the next morning.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd

from metrics.anomaly.detectors import MAD_TO_SD, PARAMS, Direction, Params, Sensitivity, Severity, severity


@dataclass(frozen=True)
class IntradayCheck:
    series: str
    now: datetime
    span: str  # "day": since midnight; "recent": the last `recent_hours`
    start: datetime  # the span judged: [start, now)
    actual: float
    expected: float
    expected_day: float  # expected for the whole day
    share: float  # share of a normal day's volume that falls in the span
    score: float
    flagged: bool
    direction: Direction | None
    severity: Severity | None

    @property
    def change(self) -> float | None:
        return None if self.expected == 0 else (self.actual - self.expected) / abs(self.expected)

    def as_dict(self) -> dict[str, object]:
        return {
            "series": self.series, "now": self.now.isoformat(sep=" "), "span": self.span,
            "start": self.start.isoformat(sep=" "), "actual": self.actual, "expected": round(self.expected, 4),
            "expected_day": round(self.expected_day, 4), "share": round(self.share, 4),
            "change": None if self.change is None else round(self.change, 4), "score": round(self.score, 2),
            "flagged": self.flagged, "direction": self.direction, "severity": self.severity,
        }


def wide_hourly(long: pd.DataFrame, measure: str, prefix: str | None = None) -> pd.DataFrame:
    """A long hourly result (columns hour[, key], measures; the proposed `Warehouse.hourly`) as the
    wide frame `expected_so_far` takes: one column per key ("orders|channel=search" with a
    prefix "orders|channel"), or a single column named after the measure without a key."""
    frame = long.assign(hour=pd.to_datetime(long["hour"]))
    if "key" not in frame.columns:
        return frame.groupby("hour")[[measure]].sum().astype(np.float64)
    wide = frame.pivot_table(index="hour", columns="key", values=measure, aggfunc="sum").fillna(0.0)
    if prefix:
        wide.columns = [f"{prefix}={k}" for k in wide.columns]
    return wide.astype(np.float64)


def _day_cube(hourly: pd.DataFrame, days: list[date]) -> np.ndarray:
    """(days, 24, series) hourly volumes of the given days (missing hours are 0)."""
    start = pd.Timestamp(min(days))
    index = pd.date_range(start, pd.Timestamp(max(days)) + pd.Timedelta(hours=23), freq="h")
    frame = hourly.reindex(index).fillna(0.0)
    cube = frame.to_numpy(np.float64).reshape(-1, 24, frame.shape[1])  # every day since the first
    offsets = [(d - min(days)).days for d in days]
    return cube[offsets]


def _span(cube: np.ndarray, start: float, end: float) -> np.ndarray:
    """Volume between fractional hours start and end of each day (partial hours pro rata): (days, series)."""
    edges = np.arange(25, dtype=np.float64)
    overlap = np.clip(np.minimum(edges[1:], end) - np.maximum(edges[:-1], start), 0.0, 1.0)  # (24,)
    return np.einsum("dhs,h->ds", cube, overlap)


def hour_profile(hourly: pd.DataFrame, days: Collection[date]) -> pd.DataFrame:
    """Share of the day's volume in each hour (24 rows x series), pooled over `days`."""
    cube = _day_cube(hourly, sorted(days))
    totals = cube.sum(axis=(0, 1))
    with np.errstate(invalid="ignore", divide="ignore"):
        share = cube.sum(axis=0) / totals
    return pd.DataFrame(share, index=pd.RangeIndex(24, name="hour"), columns=hourly.columns)


def reference_days(today: date, weeks: int, expected_days: Collection[date], first: date) -> list[date]:
    """The same weekday in each of the previous `weeks` weeks, minus expected days and days before `first`."""
    skip = set(expected_days)
    days = [today - timedelta(weeks=k) for k in range(1, weeks + 1)]
    return sorted(d for d in days if d not in skip and d >= first)


def expected_so_far(
    hourly: pd.DataFrame,
    now: datetime,
    *,
    weeks: int = 6,
    recent_hours: float = 1.0,
    expected_days: Collection[date] = (),
    expected_day: pd.Series | None = None,
    counts: bool = True,
    min_share: float = 0.05,
    sensitivity: Sensitivity = "medium",
    params: Params = PARAMS,
) -> list[IntradayCheck]:
    """Today so far vs expected by `now`, for every series (column) of `hourly`.

    Two spans per series: since midnight ("day"), and the last `recent_hours` ("recent": a
    collapse at 10:00 is a small dent in the day by 11:00 but a hole in the last hours). Each is
    flagged when |score| >= the sensitivity's threshold, at least `min_share` of a normal day's
    volume falls in it, and today is not an expected day. `expected_day` (per series) overrides
    the median of the reference days' totals.
    """
    hourly = hourly.copy()
    hourly.index = pd.DatetimeIndex(hourly.index).floor("h")
    hourly = hourly.groupby(level=0).sum()
    today = now.date()
    first = pd.Timestamp(hourly.index.min()).date() if len(hourly) else today
    refs = reference_days(today, weeks, expected_days, first)
    if not refs:
        return []
    names = [str(c) for c in hourly.columns]
    cube = _day_cube(hourly, refs + [today])
    ref_cube, today_cube = cube[:-1], cube[-1:]
    ref_total = ref_cube.sum(axis=1)  # (refs, series)
    day_median = np.median(ref_total, axis=0)
    day_expected = (day_median if expected_day is None
                    else expected_day.reindex(hourly.columns).to_numpy(np.float64))
    level = np.where(day_median > 0, day_expected / np.where(day_median > 0, day_median, 1.0), 1.0)
    threshold = params.threshold(sensitivity)
    midnight = datetime.combine(today, datetime.min.time())
    now_h = (now - midnight).total_seconds() / 3600.0
    out: list[IntradayCheck] = []
    for span, start_h in (("day", 0.0), ("recent", max(0.0, now_h - recent_hours))):  # two spans, vectorised over series
        ref_done = _span(ref_cube, start_h, now_h)
        actual = _span(today_cube, start_h, now_h)[0]
        pooled = ref_total.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            share = np.where(pooled > 0, ref_done.sum(axis=0) / pooled, np.nan)
        expected = day_expected * share
        # how far the reference days themselves were from the same rule, scaled to today's level
        dev = ref_done - day_median[None, :] * share[None, :]
        spread = MAD_TO_SD * np.median(np.abs(dev - np.median(dev, axis=0)), axis=0) * level
        if counts:
            spread = np.fmax(spread, np.sqrt(np.maximum(expected, 1.0)))
        spread = np.fmax(spread, 1e-9 * np.maximum(np.abs(expected), 1.0))
        with np.errstate(invalid="ignore", divide="ignore"):
            score = (actual - expected) / spread
            change = np.where(expected != 0, (actual - expected) / np.abs(expected), np.nan)
        flagged = (np.isfinite(score) & (np.abs(score) >= threshold) & (share >= min_share)
                   & (today not in set(expected_days)))
        sev = severity(np.nan_to_num(score), change, threshold, params)
        begin = midnight + timedelta(hours=start_h)
        for j, name in enumerate(names):
            f = bool(flagged[j])
            out.append(IntradayCheck(
                name, now, span, begin, float(actual[j]), float(expected[j]), float(day_expected[j]),
                float(share[j]), float(score[j]) if np.isfinite(score[j]) else 0.0, f,
                ("up" if score[j] > 0 else "down") if f else None,  # type: ignore[arg-type]
                str(sev[j]) if f else None,  # type: ignore[arg-type]
            ))
    return out

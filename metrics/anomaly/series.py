"""The detector on any `timestamp,value` series of a regular grain (`opsbot detect FILE.csv`, NAB).

The grain is inferred from the timestamps (5-minute, hourly, daily, ...); rows are placed on that
grid (gaps stay empty, duplicates in one slot are averaged), so series with a few missing or
jittered rows (most NAB files) still get same-slot seasonal baselines. Daily data uses the weekday
baseline; sub-daily data the hour-of-week, hour-of-day and local baselines (see metrics.anomaly.detectors).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from metrics.anomaly.detectors import (
    PARAMS,
    SENSITIVITIES,
    Anomaly,
    Fit,
    Grid,
    Params,
    Sensitivity,
    anomalies,
    fit,
)

# Steps a measured median step is snapped to (a 5-minute series sampled at 4:58-5:03 is 5-minute).
_NICE_STEPS = [pd.Timedelta(v) for v in (
    "1s", "5s", "10s", "15s", "30s", "1min", "2min", "5min", "10min", "15min", "20min", "30min",
    "1h", "2h", "3h", "4h", "6h", "8h", "12h", "1D", "7D",
)]


class SeriesError(ValueError):
    """A file that is not a usable `timestamp,value` series; the message says what is wrong."""


def infer_step(timestamps: pd.DatetimeIndex) -> pd.Timedelta:
    """The series' regular step: the median gap, snapped to a round step within 10 %."""
    diffs = np.diff(pd.DatetimeIndex(timestamps).as_unit("ns").asi8)
    diffs = diffs[diffs > 0]
    if len(diffs) == 0:
        raise SeriesError("cannot infer the time step: fewer than two distinct timestamps")
    median = pd.Timedelta(int(np.median(diffs)), unit="ns")
    for nice in _NICE_STEPS:
        if abs(median - nice) <= 0.1 * nice:
            return nice
    return pd.Timedelta(seconds=max(1, round(median.total_seconds())))


@dataclass
class GridSeries:
    """A series on a regular grid, with the original timestamp of each filled slot."""

    grid: Grid
    values: np.ndarray  # (T,), NaN in gaps
    stamps: pd.DatetimeIndex  # (T,): the first original timestamp in each slot (NaT in gaps)
    slot_of_row: np.ndarray  # (N,): the slot of each original row


def to_grid(timestamps: pd.DatetimeIndex, values: np.ndarray, step: pd.Timedelta | None = None) -> GridSeries:
    timestamps = pd.DatetimeIndex(timestamps).as_unit("ns")  # asi8 below is in nanoseconds
    step = step or infer_step(timestamps)
    start = timestamps[0]
    slot = np.rint((timestamps.asi8 - start.value) / step.value).astype(np.int64)
    n = int(slot[-1]) + 1
    sums = np.bincount(slot, weights=np.nan_to_num(values), minlength=n)
    cnt = np.bincount(slot, weights=np.isfinite(values).astype(float), minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        grid_values = np.where(cnt > 0, sums / cnt, np.nan)
    first = np.full(n, np.iinfo(np.int64).min, dtype=np.int64)  # NaT
    order = np.arange(len(slot))[::-1]  # last write wins, so writing in reverse keeps the first
    first[slot[order]] = timestamps.asi8[order]
    return GridSeries(Grid(start, step), grid_values, pd.DatetimeIndex(first).as_unit("ns"), slot)


def read_series(path: str | Path) -> tuple[pd.DatetimeIndex, np.ndarray]:
    """Timestamps (sorted, naive) and values of a `timestamp,value` CSV."""
    try:
        frame = pd.read_csv(path)
    except FileNotFoundError as exc:
        raise SeriesError(f"no such file: {path}") from exc
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise SeriesError(f"{path} is not a readable CSV ({exc.__class__.__name__})") from exc
    cols = {c.strip().lower(): c for c in frame.columns}
    if "timestamp" in cols and "value" in cols:
        ts_col, val_col = cols["timestamp"], cols["value"]
    elif len(frame.columns) >= 2:  # headers of another name: first column time, second value
        ts_col, val_col = frame.columns[0], frame.columns[1]
    else:
        raise SeriesError(f"{path} needs two columns, timestamp and value")
    try:
        ts = pd.to_datetime(frame[ts_col], format="mixed")
    except (ValueError, TypeError) as exc:
        raise SeriesError(f"column {ts_col!r} has values that are not timestamps") from exc
    if getattr(ts.dt, "tz", None) is not None:
        ts = ts.dt.tz_localize(None)  # keep the wall clock: seasonality is about local hours
    vals = pd.to_numeric(frame[val_col], errors="coerce")
    ok = ts.notna()
    if ok.sum() < 2:
        raise SeriesError(f"{path} has fewer than two rows with a timestamp")
    series = pd.Series(vals[ok].to_numpy(np.float64), index=pd.DatetimeIndex(ts[ok])).sort_index()
    return pd.DatetimeIndex(series.index), series.to_numpy()


@dataclass
class SeriesResult:
    grid_series: GridSeries
    fitted: Fit
    found: list[Anomaly]


def detect_series(
    timestamps: pd.DatetimeIndex,
    values: np.ndarray,
    sensitivity: Sensitivity = "medium",
    params: Params = PARAMS,
    name: str = "value",
) -> SeriesResult:
    """Place one series on its grid, fit, and list the flagged points at their original timestamps."""
    gs = to_grid(timestamps, values)
    fitted = fit(gs.values, gs.grid, sensitivity=sensitivity, params=params)
    found = anomalies(fitted, gs.values, _fill_nat(gs), [name], sensitivity=sensitivity, params=params)
    return SeriesResult(gs, fitted, found)


def _fill_nat(gs: GridSeries) -> pd.DatetimeIndex:
    """Original timestamps where a slot has a row, the grid time elsewhere (never reported)."""
    grid_times = gs.grid.start + gs.grid.step * np.arange(len(gs.values))
    return pd.DatetimeIndex(np.where(gs.stamps.isna(), grid_times, gs.stamps))


def detect_csv(path: str | Path, sensitivity: Sensitivity = "medium") -> list[dict[str, object]]:
    """The flagged points of a `timestamp,value` CSV: timestamp, value, expected, change, score,
    direction and severity, in time order. Raises SeriesError on a file it cannot use."""
    if sensitivity not in SENSITIVITIES:
        raise SeriesError(f"sensitivity must be one of {', '.join(SENSITIVITIES)}")
    timestamps, values = read_series(path)
    if not np.isfinite(values).any():
        raise SeriesError(f"{path} has no numeric values")
    result = detect_series(timestamps, values, sensitivity)
    out = []
    for a in result.found:
        row = a.as_dict()
        row.pop("series")
        row["timestamp"] = a.timestamp.isoformat(sep=" ")
        out.append(row)
    return out

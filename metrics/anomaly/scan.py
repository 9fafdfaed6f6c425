"""The daily anomaly scan of the warehouse: every KPI, at the total and per slice, with root causes.

One scan reads the history window with four `Warehouse.daily` queries (total, and by each
dimension), builds one wide day x slice block per KPI and runs the vectorised detectors of
metrics.anomaly.detectors over it. Only the scanned day is reported; `backtest` runs the same code over every
day of a longer history (the detectors use only earlier days, so both give the same verdicts).

Root causes for a total-level anomaly split the gap between the total's actual and expected value
over the values of each dimension, like `movers`, but against each slice's own expected value
rather than against a previous period:

* a sum (gmv, orders, ...): slice i contributes a_i - e_i, its actual minus its own baseline, with
  the slice baselines scaled to add up to the total's expected value, so the contributions of one
  dimension add up exactly to the total gap;
* a ratio N/D with expected value E: the shift-share split c_i = ((n_i - n^_i) - E (d_i - d^_i)) / D,
  n^_i, d^_i the slice's expected parts (scaled so that sum n^ / sum d^ = E); sum c_i = N/D - E.

Not scanned: `repurchase_rate` (repeat buyers are not additive by day, so there is no daily series
to learn from; a day's own repeat rate is near zero anyway).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd

from metrics.anomaly.detectors import (
    PARAMS,
    Direction,
    Fit,
    Params,
    RatioKind,
    Sensitivity,
    Severity,
    daily_grid,
    family_threshold,
    fit,
    fit_ratio,
    past_quantile,
    severity,
)
from metrics.data.warehouse import Warehouse, measure_table
from metrics.kpis import CATALOG, Kpi

SCAN_MEASURES: tuple[str, ...] = ("gmv", "orders", "buyers", "refunded", "new_customers", "sessions", "spend")
SCAN_KPIS: tuple[str, ...] = tuple(k for k in CATALOG if k != "repurchase_rate")
COUNT_MEASURES = frozenset({"orders", "buyers", "new_customers", "sessions"})  # Poisson floor applies
RATIO_KINDS: dict[str, RatioKind] = {
    "conversion": "binomial", "repurchase_rate": "binomial",  # counts over counts
    "refund_rate": "share",  # money over money, between 0 and 1
    "aov": "mean", "roas": "mean", "cac": "mean",  # averages: spread ~ value / sqrt(denominator)
}
TOTAL_LABEL = "total"


@dataclass(frozen=True)
class MinVolume:
    """A slice is scanned only when its typical day (median of the last 4 weeks) has this much."""

    orders: float = 10.0  # for KPIs driven by orders (gmv, orders, aov, conversion, refund rate, ...)
    sessions: float = 100.0  # for sessions and spend

    def for_kpi(self, kpi: Kpi) -> tuple[str, float]:
        if kpi.name in ("sessions", "spend"):
            return "sessions", self.sessions
        return "orders", self.orders


MIN_VOLUME = MinVolume()


@dataclass(frozen=True)
class RootCause:
    dimension: str
    value: str
    actual: float | None  # the slice's KPI value on the day
    expected: float | None  # the slice's expected KPI value (scaled as in the module docstring)
    contribution: float  # in the KPI's unit; one dimension's contributions add up to the total gap
    share: float  # contribution / total gap (0.8 = "80 % of the gap")

    def as_dict(self) -> dict[str, object]:
        return {"dimension": self.dimension, "value": self.value, "actual": _num(self.actual),
                "expected": _num(self.expected), "contribution": _num(self.contribution),
                "share": round(self.share, 4)}


@dataclass
class KpiAnomaly:
    kpi: str
    dimension: str | None  # None: the total
    value: str | None  # the slice value
    day: date
    actual: float
    expected: float
    score: float
    direction: Direction
    severity: Severity
    volume: float  # typical daily orders (or sessions) of the slice
    # total-level anomalies: per dimension, the slices that explain most of the gap, biggest first
    root_causes: dict[str, list[RootCause]] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """Dedup key of the series: "gmv" or "gmv|channel=search"."""
        return self.kpi if self.dimension is None else f"{self.kpi}|{self.dimension}={self.value}"

    @property
    def change(self) -> float | None:
        return None if self.expected == 0 else (self.actual - self.expected) / abs(self.expected)

    def headline_causes(self, min_share: float = 0.5, limit: int = 3) -> list[RootCause]:
        """The single slice of each dimension that carries at least `min_share` of the gap,
        biggest share first ("80 % of the gap is channel=search, region=east")."""
        tops = [causes[0] for causes in self.root_causes.values() if causes and causes[0].share >= min_share]
        return sorted(tops, key=lambda c: -c.share)[:limit]

    def as_dict(self) -> dict[str, object]:
        return {
            "kpi": self.kpi, "dimension": self.dimension, "value": self.value, "day": self.day.isoformat(),
            "actual": _num(self.actual), "expected": _num(self.expected), "change": _num(self.change),
            "score": round(self.score, 2), "direction": self.direction, "severity": self.severity,
            "volume": _num(self.volume),
            "root_causes": {d: [c.as_dict() for c in cs] for d, cs in self.root_causes.items()},
        }


@dataclass
class ScanResult:
    day: date
    anomalies: list[KpiAnomaly]
    no_data: bool = False  # nothing at all recorded for the day (data not landed yet?)
    skipped: list[str] = field(default_factory=list)  # series below the minimum volume


def _num(v: float | None) -> float | None:
    if v is None or not math.isfinite(v):
        return None
    return float(f"{v:.6g}")


# ---- reading the warehouse ----------------------------------------------------------------------------


@dataclass
class Levels:
    """Daily measures of one history window: level (None = total) -> measure -> days x slice values."""

    days: pd.DatetimeIndex
    frames: dict[str | None, dict[str, pd.DataFrame]]

    def measure(self, level: str | None, name: str) -> pd.DataFrame | None:
        return self.frames.get(level, {}).get(name)


def load_levels(wh: Warehouse, start: date, end: date, dimensions: Sequence[str] | None = None) -> Levels:
    """Every scanned measure per day over [start, end), at the total and by each dimension."""
    dims = list(wh.dimensions if dimensions is None else dimensions)
    days = pd.date_range(pd.Timestamp(start), pd.Timestamp(end) - pd.Timedelta(days=1), freq="D")
    lo, hi = datetime.combine(start, datetime.min.time()), datetime.combine(end, datetime.min.time())
    frames: dict[str | None, dict[str, pd.DataFrame]] = {}
    for level in [None, *dims]:
        raw = wh.daily(SCAN_MEASURES, lo, hi, by=level)
        present = [m for m in SCAN_MEASURES if m in raw.columns]
        raw = raw.assign(day=pd.to_datetime(raw["day"]))
        if level is None:
            raw = raw.assign(key=TOTAL_LABEL)
        per: dict[str, pd.DataFrame] = {}
        for m in present:
            wide = raw.pivot_table(index="day", columns="key", values=m, aggfunc="sum")
            # a day or slice with no rows had none of it
            per[m] = wide.reindex(days).fillna(0.0).astype(np.float64)
        frames[level] = per
    # days before the first recorded order or session are not zeros, they are before the data: a
    # scan window that reaches back past the start of the history must not learn "0 is normal"
    total = frames.get(None, {})
    seen = np.zeros(len(days), dtype=bool)
    for m in ("orders", "sessions"):
        if m in total:
            seen |= total[m].to_numpy().sum(axis=1) > 0
    if seen.any():
        before = days[: int(np.argmax(seen))]
        for per in frames.values():
            for frame in per.values():
                frame.loc[before] = np.nan
    # and each table's own history: traffic that starts after the orders is unknown before, not 0
    firsts = {m: wh.coverage(measure_table(m), end)[0] for m in SCAN_MEASURES}
    for per in frames.values():
        for m, frame in per.items():
            first = firsts.get(m)
            if first is not None:
                frame.loc[days < pd.Timestamp(first)] = np.nan
    return Levels(days, frames)


# ---- detection over the levels ------------------------------------------------------------------------


@dataclass
class _Block:
    """All series of one KPI: the total first, then every slice of every dimension."""

    kpi: Kpi
    levels: list[str | None]  # per column: dimension (None = total)
    values: list[str | None]  # per column: slice value
    actual: np.ndarray  # (T, S) KPI values
    num: np.ndarray
    den: np.ndarray | None
    volume: np.ndarray  # (T, S) the volume measure
    fitted: Fit


def _block(levels: Levels, kpi: Kpi, expected_rows: np.ndarray, sensitivity: Sensitivity, params: Params,
           min_volume: MinVolume) -> _Block | None:
    cols_l: list[str | None] = []
    cols_v: list[str | None] = []
    nums, dens, vols = [], [], []
    vol_measure, _ = min_volume.for_kpi(kpi)
    for level, per in levels.frames.items():
        n = per.get(kpi.numerator)
        d = per.get(kpi.denominator) if kpi.denominator else None
        if n is None or (kpi.denominator and d is None):
            continue  # the KPI cannot be split this way (sessions by region)
        keys = list(n.columns)
        if d is not None:
            keys = list(dict.fromkeys([*keys, *d.columns]))
        vol = per.get(vol_measure)
        if vol is None:
            vol = per.get("orders")
        for key in keys:
            cols_l.append(level)
            cols_v.append(None if level is None else str(key))
            nums.append(n[key].to_numpy() if key in n.columns else np.zeros(len(levels.days)))
            if d is not None:
                dens.append(d[key].to_numpy() if key in d.columns else np.zeros(len(levels.days)))
            vols.append(vol[key].to_numpy() if vol is not None and key in vol.columns else np.zeros(len(levels.days)))
    if not nums:
        return None
    num = np.column_stack(nums)
    volume = np.column_stack(vols)
    grid = daily_grid(levels.days[0].date())
    base = params.threshold(sensitivity)
    members = {lvl: cols_l.count(lvl) for lvl in set(cols_l)}
    # every slice of a dimension is tested at once: raise their bar so that the dimension as a
    # whole raises no more false alerts than the total does
    thresholds = np.array([
        base if lvl is None or not params.family_correction else family_threshold(base, members[lvl])
        for lvl in cols_l
    ])
    if kpi.denominator is None:
        fitted = fit(num, grid, expected_rows=expected_rows, counts=kpi.numerator in COUNT_MEASURES,
                     sensitivity=sensitivity, params=params, threshold=thresholds)
        return _Block(kpi, cols_l, cols_v, num, num, None, volume, fitted)
    den = np.column_stack(dens)
    fitted = fit_ratio(num, den, grid, RATIO_KINDS[kpi.name], expected_rows=expected_rows,
                       sensitivity=sensitivity, params=params, threshold=thresholds)
    with np.errstate(invalid="ignore", divide="ignore"):
        actual = np.where(den > 0, num / den, np.nan)
    return _Block(kpi, cols_l, cols_v, actual, num, den, volume, fitted)


def _typical_volume(volume: np.ndarray, expected_rows: np.ndarray, window: int = 28) -> np.ndarray:
    """Median daily volume of each series over the `window` days before each row (T, S)."""
    v = np.where(expected_rows[:, None], np.nan, volume)
    return past_quantile(v, window, np.arange(len(v)), min_count=1)


Parts = tuple[list[str], np.ndarray, np.ndarray]  # slice values, actual (T, S), expected (T, S)


def _expected_parts(levels: Levels, measure: str, dimension: str, grid_rows: np.ndarray,
                    sensitivity: Sensitivity, params: Params) -> Parts | None:
    """(slice values, actual (T, S), expected (T, S)) of one measure by one dimension."""
    frame = levels.measure(dimension, measure)
    if frame is None or frame.shape[1] == 0:
        return None
    values = frame.to_numpy(np.float64)
    fitted = fit(values, daily_grid(levels.days[0].date()), expected_rows=grid_rows,
                 counts=measure in COUNT_MEASURES, sensitivity=sensitivity, params=params)
    # a slice with no baseline yet (new) is expected at 0: all of it is new
    return [str(c) for c in frame.columns], values, np.nan_to_num(fitted.expected, nan=0.0)


def root_causes(
    kpi: Kpi, t: int, actual: float, expected: float, parts: dict[str, dict[str, Parts]], limit: int = 3,
) -> dict[str, list[RootCause]]:
    """Per dimension, the `limit` slices pushing hardest in the direction of the gap (module docstring)."""
    gap = actual - expected
    out: dict[str, list[RootCause]] = {}
    if gap == 0 or not math.isfinite(gap):
        return out
    for dim, by_measure in parts.items():
        n_part = by_measure.get(kpi.numerator)
        if n_part is None:
            continue
        keys, n_act, n_exp = n_part[0], n_part[1][t], n_part[2][t]
        if kpi.denominator is None:
            total_exp = n_exp.sum()
            scaled = n_exp * (expected / total_exp) if total_exp > 0 else n_exp
            contrib = n_act - scaled
            slice_actual, slice_expected = n_act, scaled
        else:
            d_part = by_measure.get(kpi.denominator)
            if d_part is None:
                continue
            d_keys = d_part[0]
            d_act = pd.Series(d_part[1][t], index=d_keys).reindex(keys).fillna(0.0).to_numpy()
            d_exp = pd.Series(d_part[2][t], index=d_keys).reindex(keys).fillna(0.0).to_numpy()
            total_d = d_act.sum()
            if total_d <= 0 or n_exp.sum() <= 0 or d_exp.sum() <= 0:
                continue
            n_scaled = n_exp * (expected * d_exp.sum() / n_exp.sum())  # so that sum n^ / sum d^ = E
            contrib = ((n_act - n_scaled) - expected * (d_act - d_exp)) / total_d
            with np.errstate(invalid="ignore", divide="ignore"):
                slice_actual = np.where(d_act > 0, n_act / d_act, np.nan)
                slice_expected = np.where(d_exp > 0, n_scaled / d_exp, np.nan)
        order = np.argsort(-(contrib * np.sign(gap)), kind="stable")[:limit]
        out[dim] = [
            RootCause(dim, keys[i], _float(slice_actual[i]), _float(slice_expected[i]),
                      float(contrib[i]), float(contrib[i] / gap))
            for i in order
        ]
    return out


def _float(v: float) -> float | None:
    return float(v) if math.isfinite(v) else None


def detect_levels(
    levels: Levels,
    rows: Sequence[int] | np.ndarray,
    *,
    kpis: Sequence[str] = SCAN_KPIS,
    expected_days: Collection[date] = (),
    sensitivity: Sensitivity = "medium",
    min_volume: MinVolume = MIN_VOLUME,
    params: Params = PARAMS,
    with_causes: bool = True,
) -> tuple[list[KpiAnomaly], list[str]]:
    """Anomalies on the given rows (day indexes of `levels`), and the series skipped for volume."""
    exp_set = {pd.Timestamp(d) for d in expected_days}
    expected_rows = np.asarray(levels.days.isin(list(exp_set)), dtype=bool)
    rows = np.asarray(rows, dtype=np.int64)
    found: list[KpiAnomaly] = []
    skipped: list[str] = []
    # (dimension, measure) -> slice values, actual, expected: fitted once, shared by every KPI
    part_cache: dict[tuple[str, str], Parts | None] = {}

    def parts_for(kpi: Kpi) -> dict[str, dict[str, Parts]]:
        out: dict[str, dict[str, Parts]] = {}
        for dim in [lvl for lvl in levels.frames if lvl is not None]:
            for m in kpi.measures:
                if (dim, m) not in part_cache:
                    part_cache[dim, m] = _expected_parts(levels, m, dim, expected_rows, sensitivity, params)
                got = part_cache[dim, m]
                if got is not None:
                    out.setdefault(dim, {})[m] = got
        return out

    threshold = params.threshold(sensitivity)
    for name in kpis:
        kpi = CATALOG[name]
        block = _block(levels, kpi, expected_rows, sensitivity, params, min_volume)
        if block is None:
            continue
        _, floor = min_volume.for_kpi(kpi)
        typical = _typical_volume(block.volume, expected_rows)
        is_total = np.array([lvl is None for lvl in block.levels])
        loud = (typical >= floor) | is_total[None, :]
        for j in np.flatnonzero(~loud[rows].all(axis=0) if len(rows) else []):
            skipped.append(f"{name}|{block.levels[j]}={block.values[j]}")
        flags = block.fitted.flags & loud
        sub = np.zeros_like(flags)
        sub[rows] = True
        t_idx, s_idx = np.nonzero(flags & sub)
        if len(t_idx) == 0:
            continue
        act = block.actual[t_idx, s_idx]
        exp = block.fitted.expected[t_idx, s_idx]
        z = block.fitted.score[t_idx, s_idx]
        with np.errstate(invalid="ignore", divide="ignore"):
            change = np.where(exp != 0, (act - exp) / np.abs(exp), np.nan)
        sev = severity(z, change, threshold, params)
        parts = parts_for(kpi) if with_causes and is_total[s_idx].any() else {}
        for t, j, a, e, zz, sv in zip(t_idx, s_idx, act, exp, z, sev, strict=True):
            anomaly = KpiAnomaly(
                name, block.levels[j], block.values[j], levels.days[t].date(), float(a), float(e), float(zz),
                "up" if zz > 0 else "down", str(sv),  # type: ignore[arg-type]
                float(typical[t, j]) if math.isfinite(typical[t, j]) else 0.0,
            )
            if block.levels[j] is None and parts:
                anomaly.root_causes = root_causes(kpi, int(t), float(a), float(e), parts)
            found.append(anomaly)
    found.sort(key=lambda a: (a.day, a.dimension is not None, -abs(a.score)))
    return found, sorted(set(skipped))


def lookback_days(params: Params = PARAMS) -> int:
    """History a scan reads so that it sees exactly what a backtest over a longer history sees:
    lags + level window + spread window + two weekly refresh delays."""
    return int(7 * params.lags + params.level_days + params.scale_days + 2 * 7)


def scan(
    wh: Warehouse,
    day: date,
    *,
    kpis: Sequence[str] = SCAN_KPIS,
    dimensions: Sequence[str] | None = None,
    expected_days: Collection[date] = (),
    sensitivity: Sensitivity = "medium",
    min_volume: MinVolume = MIN_VOLUME,
    params: Params = PARAMS,
    history_days: int | None = None,
) -> ScanResult:
    """The daily scan: anomalies of `day` (normally yesterday, after its data has landed).

    `expected_days` (the promotion calendar, days marked expected) are never flagged and are left
    out of the baselines.
    """
    history = history_days or lookback_days(params)
    start = day - timedelta(days=history)
    levels = load_levels(wh, start, day + timedelta(days=1), dimensions)
    total = levels.frames[None]
    last = len(levels.days) - 1
    if all(frame.iloc[last].sum() == 0 for m, frame in total.items() if m in ("orders", "sessions")):
        return ScanResult(day, [], no_data=True)
    found, skipped = detect_levels(levels, [last], kpis=kpis, expected_days=expected_days,
                                   sensitivity=sensitivity, min_volume=min_volume, params=params)
    return ScanResult(day, found, skipped=skipped)


def backtest(
    wh: Warehouse,
    start: date,
    end: date,
    *,
    kpis: Sequence[str] = SCAN_KPIS,
    dimensions: Sequence[str] | None = None,
    expected_days: Collection[date] = (),
    sensitivity: Sensitivity = "medium",
    min_volume: MinVolume = MIN_VOLUME,
    params: Params = PARAMS,
    with_causes: bool = True,
) -> tuple[Levels, list[KpiAnomaly]]:
    """What the daily scan would have reported on every day of [start, end) (one pass, all days)."""
    levels = load_levels(wh, start, end, dimensions)
    found, _ = detect_levels(levels, np.arange(len(levels.days)), kpis=kpis, expected_days=expected_days,
                             sensitivity=sensitivity, min_volume=min_volume, params=params,
                             with_causes=with_causes)
    return levels, found

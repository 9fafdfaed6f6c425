"""Anomaly detection over many series at once: seasonal robust baselines, robust spreads, ratio tests.

The input is a wide block of values, rows = time on a regular grid, columns = series. Every step
is a numpy operation over the whole block (sorting small stacks along a trailing axis), so 10,000
series cost a few array passes, not 10,000 Python loops; nothing loops per point.

The model, per series and row t (everything uses only rows before t, so a backtest over the whole
history gives what a scan on each day would have given):

* **Seasonal baseline** m_t: the median of the same slot in the previous `lags` seasons (the same
  weekday over the last weeks for daily data; the same hour of the week, +-30 minutes, for
  sub-daily data). A median, so one bad week (an earlier incident) does not move it.
* **Level correction** c_t: the median of (x - m) over the last `level_days`. Growth (or a lasting
  change) makes every same-weekday lag too low by about the same amount; the median of recent
  residuals measures that amount without being dragged by a few anomalous days.
* **Spread** sigma_t, from the past residuals of the last `scale_days`: the larger of the MAD
  estimate (1.4826 x median |residual|) and a high-quantile estimate (the 90th percentile of
  |residual|, or the 10th largest on long sub-daily windows, scaled to one standard deviation).
  Both are one standard deviation for normal noise and ignore a few outliers; on heavy-tailed
  series (a CPU with frequent harmless spikes) the quantile is larger, so only deviations beyond
  the usual spikes alarm. Level and spread are re-estimated every `refresh` rows on a
  calendar-anchored schedule (weekly for daily data, hourly for sub-daily), not on every row: they
  drift slowly, and refreshing on every row would cost a rolling median per point. The anchor is
  absolute time, so the daily scan and a backtest agree.
* Several baselines compete: daily data has the weekday median and the median of the last 7 days
  (a conversion rate has no weekday pattern, and 7 recent days are less noisy than 6 same
  weekdays); sub-daily data has hour-of-week, hour-of-day and the median of the last rows. Each
  row uses the one whose past residuals were smallest.
* **Score** z = (x - expected) / spread. Counts get a Poisson floor on the spread (sqrt(expected)),
  so a series with 3 orders a day cannot alarm on one order.
* **Ratios** (conversion, refund rate, AOV, ...) are tested on their parts: the spread of the ratio
  on a day is sqrt(phi * v(p) / d), d the day's denominator, v(p) = p(1-p) for shares and p^2 for
  means, phi a dispersion factor estimated from the past standardised residuals (>= 1 for count
  proportions: never tighter than binomial). A slice with 12 sessions gets a band 30 times wider
  than one with 10,000, so one lucky order is not an anomaly. Money shares (refund rate) also get
  the root-mean-square residual as a floor: one refunded laptop routinely moves a day's rate by
  several robust spreads.
* **Expected days** (promotions, known outages) are blanked before anything is computed: they
  never enter a baseline, a level or a spread, and are never flagged.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Literal, TypeVar, cast

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

Sensitivity = Literal["low", "medium", "high"]
Direction = Literal["up", "down"]
Severity = Literal["info", "warning", "critical"]
RatioKind = Literal["binomial", "share", "mean"]
SENSITIVITIES: tuple[Sensitivity, ...] = ("low", "medium", "high")
_T = TypeVar("_T")

MAD_TO_SD = 1.4826  # MAD x this = standard deviation, for normal noise
_DAY = pd.Timedelta(days=1)
_CHUNK_CELLS = 4_000_000  # rows x series per block: bounds the memory of the stacked lags


@dataclass(frozen=True)
class Params:
    """One parameter set for every grain and source (chosen on the demo shop and NAB together)."""

    # |score| needed to flag, per sensitivity
    thresholds: dict[str, float] = field(default_factory=lambda: {"low": 4.5, "medium": 3.5, "high": 3.0})
    lags: int = 6  # seasons in the seasonal median (weeks for daily data)
    min_lag_share: float = 0.5  # share of those lag values that must exist for a baseline
    pool_minutes: int = 30  # sub-daily: slots within +- this of the same time are pooled
    local_rows: int = 12  # sub-daily local-median baseline: median of the last this many rows
    level_days: float = 14.0
    scale_days: float = 56.0
    # the spread is the larger of the MAD and the q-quantile of past |residuals| (each scaled to a
    # standard deviation): a high q keeps heavy-tailed series (frequent normal spikes) quiet
    spread_quantile: float = 0.9
    daily_local: bool = True  # daily data also tries the local-median baseline
    spread_rank: int = 10  # the spread quantile is at least 1 - rank / (residuals in the window)
    family_correction: bool = True  # the scan raises the threshold of slices by their number
    min_change: float = 0.0  # a flag also needs |x - expected| >= this x |expected|
    # severity: relative deviation needed for warning / critical (with the score multiples below)
    severity_change: tuple[float, float] = (0.15, 0.35)
    severity_score: tuple[float, float] = (1.5, 2.5)  # x the sensitivity's threshold

    def threshold(self, sensitivity: Sensitivity) -> float:
        if sensitivity not in self.thresholds:
            raise ValueError(f"sensitivity must be one of {', '.join(SENSITIVITIES)}, not {sensitivity!r}")
        return self.thresholds[sensitivity]


PARAMS = Params()


# ---- time grid -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    """One baseline: median of x[t - k*period + j], k = 1..lags, |j| <= pool."""

    name: str
    period: int
    lags: int
    pool: int
    level: bool  # apply the level correction (seasonal baselines lag a trend; the local one does not)


@dataclass(frozen=True)
class Grid:
    """A regular time grid: `step` between rows, row 0 at `start`."""

    start: pd.Timestamp
    step: pd.Timedelta

    @property
    def per_day(self) -> float:
        return _DAY / self.step

    def rows(self, days: float) -> int:
        return max(1, int(round(days * self.per_day)))

    @property
    def refresh(self) -> int:
        """Rows between re-estimates of level and spread: weekly for daily data, hourly below."""
        if self.step >= _DAY:
            return 7 if self.step == _DAY else 1
        return max(1, int(round(pd.Timedelta(hours=1) / self.step)))

    @property
    def phase(self) -> int:
        """Offset that anchors refreshes to absolute time (whole weeks / hours since the epoch)."""
        epoch = pd.Timestamp("1970-01-05")  # a Monday
        return int(((self.start - epoch) // self.step) % self.refresh)

    def candidates(self, params: Params) -> list[Candidate]:
        if self.step == _DAY:
            weekly = Candidate("weekly", 7, params.lags, 0, True)
            # a daily series without a weekday pattern (a conversion rate) is better judged
            # against the median of its recent days than against 6 noisy same-weekday values
            # (7 days: each weekday once, so the weekly pattern does not bias it)
            return [weekly, Candidate("local", 1, 7, 0, False)] if params.daily_local else [weekly]
        per_day = self.per_day
        if self.step > _DAY or abs(per_day - round(per_day)) > 1e-9 or round(per_day) < 2:
            return [Candidate("local", 1, params.local_rows, 0, False)]
        day = int(round(per_day))
        pool = int(pd.Timedelta(minutes=params.pool_minutes) // self.step)
        return [
            Candidate("weekly", 7 * day, params.lags, pool, True),
            Candidate("daily", day, params.lags, pool, True),
            Candidate("local", 1, params.local_rows, 0, False),
        ]


def daily_grid(first: date) -> Grid:
    return Grid(pd.Timestamp(first), _DAY)


# ---- robust statistics on stacks -------------------------------------------------------------------


def _sorted_quantile(s: np.ndarray, n: np.ndarray, q: float | np.ndarray) -> np.ndarray:
    """Quantile q (scalar or per element) of the n valid values at the front of each sorted row."""
    if np.ndim(q) == 0 and n.size:
        # most rows have no gaps: read them with two plain slices, gather only the others
        full = int(n.max())
        pos0 = float(q) * max(full - 1, 0)
        lo0 = int(np.floor(pos0))
        hi0 = min(lo0 + 1, max(full - 1, 0))
        out = s[..., lo0] + (pos0 - lo0) * (s[..., hi0] - s[..., lo0])
        partial = n != full
        if partial.any():
            out[partial] = _gather_quantile(s[partial], n[partial], float(q))
        return out
    return _gather_quantile(s, n, q)


def _gather_quantile(s: np.ndarray, n: np.ndarray, q: float | np.ndarray) -> np.ndarray:
    pos = q * np.maximum(n - 1, 0)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, np.maximum(n - 1, 0))
    vlo = np.take_along_axis(s, lo[..., None], axis=-1)[..., 0]
    vhi = np.take_along_axis(s, hi[..., None], axis=-1)[..., 0]
    return vlo + (pos - lo) * (vhi - vlo)


def _nanquantile_last(a: np.ndarray, q: float, min_count: int) -> np.ndarray:
    """Quantile q along the last axis ignoring NaN (linear between order statistics); NaN where
    fewer than `min_count` values.

    Sorting puts NaN last, so the quantile of the n valid values sits at q*(n-1); this is several
    times faster than np.nanquantile on small trailing axes and needs no Python loop.
    """
    s = np.sort(a, axis=-1)
    n = np.sum(~np.isnan(a), axis=-1)
    return np.where(n >= max(min_count, 1), _sorted_quantile(s, n, q), np.nan)


def _nanmedian_last(a: np.ndarray, min_count: int) -> np.ndarray:
    return _nanquantile_last(a, 0.5, min_count)


def _normal_ppf(p: float | np.ndarray) -> np.ndarray:
    """Inverse of the standard normal CDF, elementwise (Acklam's approximation, |error| < 1.2e-9)."""
    a = (-3.969683028665376e01, 2.209460984245205e02, -2.759285104469687e02, 1.383577518672690e02,
         -3.066479806614716e01, 2.506628277459239e00)
    b = (-5.447609879822406e01, 1.615858368580409e02, -1.556989798598866e02, 6.680131188771972e01,
         -1.328068155288572e01)
    c = (-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e00, -2.549732539343734e00,
         4.374664141464968e00, 2.938163982698783e00)
    d = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e00, 3.754408661907416e00)
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-300, 1 - 1e-16)
    tail = np.minimum(p, 1 - p)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.sqrt(-2 * np.log(tail))
        outer = (((((c[0] * r + c[1]) * r + c[2]) * r + c[3]) * r + c[4]) * r + c[5]) / (
            (((d[0] * r + d[1]) * r + d[2]) * r + d[3]) * r + 1)
        outer = np.where(p < 0.5, outer, -outer)
        m = p - 0.5
        t = m * m
        inner = (((((a[0] * t + a[1]) * t + a[2]) * t + a[3]) * t + a[4]) * t + a[5]) * m / (
            ((((b[0] * t + b[1]) * t + b[2]) * t + b[3]) * t + b[4]) * t + 1)
    return np.where(tail < 0.02425, outer, inner)


def family_threshold(threshold: float, members: int) -> float:
    """The threshold that gives a family of `members` series the false-alarm rate one series has
    at `threshold` (Bonferroni on the two-sided normal tail): 3.5 -> 4.1 for 15 categories.

    The scan tests every slice of a dimension at once; without this, a dimension with 15 slices
    would raise 15 times the false alerts of the total."""
    if members <= 1:
        return threshold
    tail = math.erfc(threshold / math.sqrt(2))  # two-sided P(|Z| >= threshold)
    return float(_normal_ppf(1 - tail / (2 * members)))


def seasonal_median(x: np.ndarray, cand: Candidate, min_share: float) -> np.ndarray:
    """Median of the same slot in earlier seasons, for every row at once (T, S)."""
    offsets = np.array(sorted({k * cand.period - j for k in range(1, cand.lags + 1)
                               for j in range(-cand.pool, cand.pool + 1)} - {0}))
    offsets = offsets[offsets >= 1]  # only the past
    span = int(offsets.max())
    pad = np.full((span,) + x.shape[1:], np.nan, dtype=x.dtype)
    # windows[t] = x[t - span : t]; the value `o` rows back sits at position span - o
    windows = sliding_window_view(np.concatenate([pad, x]), span, axis=0)[: len(x)]
    steps = np.diff(offsets)
    if len(offsets) > 1 and (steps == steps[0]).all():
        stack = windows[..., span - offsets[-1] :: int(steps[0])]  # evenly spaced lags: a view, no gather
    else:
        stack = windows[..., span - offsets]  # one gather: (T, S, lags)
    return _nanmedian_last(stack, int(math.ceil(min_share * len(offsets))))


def refresh_rows(n: int, grid: Grid) -> np.ndarray:
    first = (-grid.phase) % grid.refresh
    return np.arange(first, n, grid.refresh)


def past_quantile(x: np.ndarray, window: int, rows: np.ndarray, min_count: int, q: float = 0.5) -> np.ndarray:
    """Quantile q of x[r - window : r] (NaN ignored) for each r in `rows`: shape (len(rows), S)."""
    pad = np.full((window,) + x.shape[1:], np.nan, dtype=x.dtype)
    windows = sliding_window_view(np.concatenate([pad, x]), window, axis=0)  # windows[r] = x[r-window : r]
    return _nanquantile_last(windows[rows], q, min_count)


def _past_mean(x: np.ndarray, window: int, min_count: int) -> np.ndarray:
    """Mean of x[t - window : t] (NaN ignored) for every row t, from cumulative sums (O(T))."""
    ok = np.isfinite(x)
    zero = np.zeros((1,) + x.shape[1:])
    cs = np.concatenate([zero, np.cumsum(np.where(ok, x, 0.0), axis=0)])
    cn = np.concatenate([zero, np.cumsum(ok, axis=0)])
    t = np.arange(len(x))
    lo = np.maximum(t - window, 0)
    total, count = cs[t] - cs[lo], cn[t] - cn[lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count >= max(min_count, 1), total / count, np.nan)


def _spread_out(stat: np.ndarray, rows: np.ndarray, n: int) -> np.ndarray:
    """Each row gets the statistic of the latest refresh at or before it (NaN before the first)."""
    k = np.searchsorted(rows, np.arange(n), side="right") - 1
    out = stat[np.maximum(k, 0)]
    out[k < 0] = np.nan
    return out


# ---- the detector ----------------------------------------------------------------------------------


@dataclass
class Fit:
    """Per row and series: the expected value, the spread, the signed score and the flags.

    The normal band at a threshold k is expected +- k * spread.
    """

    expected: np.ndarray
    spread: np.ndarray
    score: np.ndarray
    flags: np.ndarray
    baseline: np.ndarray  # index of the candidate used (-1: none)


_FIT_FIELDS = ("expected", "spread", "score", "flags", "baseline")


def _spread(
    resid: np.ndarray, sw: int, rows: np.ndarray, min_count: int, params: Params, rms: bool = False
) -> np.ndarray:
    """Spread of the past |residuals| (in the residuals' units), per row.

    The residuals are centred by the level correction, so the median |residual| is the MAD. The
    MAD estimate, or a high-quantile estimate where that is larger. Both measure one standard
    deviation for normal noise; on a heavy-tailed series (frequent harmless spikes) the quantile is
    larger and keeps those spikes from alarming. With `spread_rank` the quantile is at least
    1 - rank/n of the n residuals in the window: on long windows (sub-daily data: thousands of
    rows) that is close to the window's largest deviations, so an alert means "bigger than
    anything usual lately", while on 56 daily residuals it stays at the 90th percentile.
    Both come from one sort of each window.
    """
    n_rows = len(resid)
    pad = np.full((sw,) + resid.shape[1:], np.nan, dtype=resid.dtype)
    windows = sliding_window_view(np.concatenate([pad, resid]), sw, axis=0)[rows]  # [r] = resid[r-sw : r]
    s = np.sort(windows, axis=-1)
    n = np.sum(~np.isnan(windows), axis=-1)
    spread = MAD_TO_SD * _sorted_quantile(s, n, 0.5)
    q: float | np.ndarray = params.spread_quantile
    if params.spread_rank > 0:
        q = np.maximum(q, 1 - params.spread_rank / np.maximum(n, 1))
    if np.any(np.asarray(q) > 0.5):
        spread = np.fmax(spread, _sorted_quantile(s, n, q) / _normal_ppf(0.5 + np.asarray(q) / 2))
    spread = np.where(n >= max(min_count, 1), spread, np.nan)
    out = _spread_out(spread, rows, n_rows)
    if rms:
        # money shares (refund rate): one big-ticket order moves a day by several robust spreads,
        # routinely; the root-mean-square residual includes those lumps in the spread
        out = np.fmax(out, np.sqrt(_past_mean(resid**2, sw, min_count)))
    return out


def _fit_candidate(
    x: np.ndarray, w: np.ndarray | None, cand: Candidate, grid: Grid, params: Params, rms: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """(expected, spread) of one baseline; the spread is in x's units divided by `w` (if any).

    The windows are sorted in float32: half the memory traffic of float64, twice as fast, and 7
    significant digits are plenty for a baseline and a spread (the scores are float64).
    """
    n = len(x)
    x = x.astype(np.float32)
    if w is not None:
        w = w.astype(np.float32)
    rows = refresh_rows(n, grid)
    m = seasonal_median(x, cand, params.min_lag_share)
    if cand.level:
        lw = max(grid.rows(params.level_days), 7)  # coarse grains (weekly, monthly) still need rows
        level = _spread_out(past_quantile(x - m, lw, rows, max(3, lw // 4)), rows, n)
        expected = m + np.nan_to_num(level, nan=0.0)
    else:
        expected = m
    resid = x - expected
    if w is not None:
        resid = resid / w
    sw = max(grid.rows(params.scale_days), 28)
    min_count = max(7, int(round(grid.per_day))) if grid.step <= _DAY else 7
    spread = _spread(np.abs(resid), sw, rows, min_count, params, rms).astype(np.float64)
    return expected.astype(np.float64), spread


def fit(
    values: np.ndarray,
    grid: Grid,
    *,
    expected_rows: np.ndarray | None = None,
    counts: bool | np.ndarray = False,
    weights: np.ndarray | None = None,
    min_spread: float | np.ndarray = 0.0,
    sensitivity: Sensitivity = "medium",
    params: Params = PARAMS,
    threshold: float | np.ndarray | None = None,
    heavy_tails: bool = False,
) -> Fit:
    """Score every row of every series of `values` (T x S, NaN = missing).

    `expected_rows` (T,) or (T, S) marks expected rows (promotions): left out of every statistic
    and never flagged. `counts` (scalar or per series) adds the Poisson floor. `weights` (T x S)
    divide residuals before the spread is estimated and multiply the spread back (the ratio test);
    `min_spread` floors that unitless spread (1.0 for binomial ratios). `threshold` (scalar or per
    series) overrides the sensitivity's threshold (the scan raises it for slices). `heavy_tails`
    floors the spread at the root-mean-square residual (money shares such as the refund rate).
    """
    x = np.asarray(values, dtype=np.float64)
    if x.ndim == 1:
        return _squeeze(fit(x[:, None], grid, expected_rows=expected_rows, counts=counts,
                            weights=None if weights is None else np.asarray(weights)[:, None],
                            min_spread=min_spread, sensitivity=sensitivity, params=params,
                            threshold=threshold, heavy_tails=heavy_tails))
    thr = params.threshold(sensitivity) if threshold is None else threshold
    n, s = x.shape
    # blocks of columns keep the lag stacks small; everything inside a block is one array pass
    block = max(1, _CHUNK_CELLS // max(n * 8, 1))
    if s > block:
        parts = [
            fit(x[:, lo : lo + block], grid,
                expected_rows=_rows_cols(expected_rows, lo, block), counts=_series_cols(counts, lo, block),
                weights=None if weights is None else weights[:, lo : lo + block],
                min_spread=_series_cols(min_spread, lo, block), sensitivity=sensitivity, params=params,
                threshold=_series_cols(thr, lo, block), heavy_tails=heavy_tails)
            for lo in range(0, s, block)
        ]
        return Fit(*(np.concatenate([getattr(p, f) for p in parts], axis=1) for f in _FIT_FIELDS))
    mask = np.zeros((n, s), dtype=bool)
    if expected_rows is not None:
        mask |= np.broadcast_to(np.asarray(expected_rows, dtype=bool).reshape(n, -1), (n, s))
    clean = np.where(mask, np.nan, x)
    w = None if weights is None else np.where(mask, np.nan, np.asarray(weights, dtype=np.float64))

    best_exp = np.full((n, s), np.nan)
    best_spread = np.full((n, s), np.inf)
    best_idx = np.full((n, s), -1, dtype=np.int64)
    for i, cand in enumerate(grid.candidates(params)):  # at most three baselines, not a loop per point
        exp_c, spread_c = _fit_candidate(clean, w, cand, grid, params, heavy_tails)
        ok = np.isfinite(exp_c) & np.isfinite(spread_c)
        # the baseline whose past residuals were smallest wins
        better = ok & (spread_c < best_spread)
        best_exp = np.where(better, exp_c, best_exp)
        best_spread = np.where(better, spread_c, best_spread)
        best_idx = np.where(better, i, best_idx)
    none = best_idx < 0

    def to_units(sigma: np.ndarray) -> np.ndarray:
        sigma = np.where(none, np.nan, np.maximum(sigma, min_spread))
        spread = sigma if w is None else sigma * w
        is_count = np.broadcast_to(np.asarray(counts, dtype=bool), (s,))
        if is_count.any():
            poisson = np.sqrt(np.maximum(best_exp, 1.0))
            spread = np.where(is_count[None, :], np.fmax(spread, poisson), spread)
        # a perfectly flat past must not turn float noise into an infinite score
        return np.fmax(spread, 1e-9 * np.maximum(np.abs(best_exp), 1.0))

    spread = to_units(best_spread)
    dev = x - best_exp
    with np.errstate(invalid="ignore", divide="ignore"):
        score = dev / spread
    flags = (
        ~mask
        & np.isfinite(score)
        & (np.abs(score) >= (np.asarray(thr, dtype=np.float64)[None, :] if np.ndim(thr) else thr))
        & (np.abs(dev) >= params.min_change * np.abs(best_exp))
    )
    return Fit(best_exp, spread, np.where(np.isfinite(score), score, np.nan), flags, best_idx)


def _rows_cols(mask: np.ndarray | None, lo: int, size: int) -> np.ndarray | None:
    """Columns lo..lo+size of a (T, S) mask; a per-row (T,) mask applies to every block as it is."""
    if mask is None or np.ndim(mask) < 2:
        return mask
    return np.asarray(mask)[:, lo : lo + size]


def _series_cols(value: _T, lo: int, size: int) -> _T:
    """Series lo..lo+size of a per-series (S,) argument; a scalar applies to every block."""
    if isinstance(value, np.ndarray) and value.ndim == 1 and value.size > 1:
        return value[lo : lo + size]  # type: ignore[return-value]
    return value


def _squeeze(f: Fit) -> Fit:
    return Fit(*(getattr(f, name)[:, 0] for name in _FIT_FIELDS))


def fit_ratio(
    numerator: np.ndarray,
    denominator: np.ndarray,
    grid: Grid,
    kind: RatioKind,
    *,
    expected_rows: np.ndarray | None = None,
    sensitivity: Sensitivity = "medium",
    params: Params = PARAMS,
    threshold: float | np.ndarray | None = None,
) -> Fit:
    """The ratio numerator/denominator per row, tested with a spread that shrinks with the denominator.

    v(p) comes from the pooled ratio of the last `scale_days` (sums of parts, robust to a zero
    median in a thin slice), so the band never collapses to zero.
    """
    num = np.asarray(numerator, dtype=np.float64)
    den = np.asarray(denominator, dtype=np.float64)
    squeeze = num.ndim == 1
    if squeeze:
        num, den = num[:, None], den[:, None]
    n = len(num)
    mask = np.zeros(num.shape, dtype=bool)
    if expected_rows is not None:
        mask |= np.broadcast_to(np.asarray(expected_rows, dtype=bool).reshape(n, -1), num.shape)
    valid = (den > 0) & ~mask & np.isfinite(num)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(den > 0, num / den, np.nan)
    # pooled ratio over the previous scale window, from cumulative sums (O(T))
    window = grid.rows(params.scale_days)
    cn = np.vstack([np.zeros((1, num.shape[1])), np.cumsum(np.where(valid, num, 0.0), axis=0)])
    cd = np.vstack([np.zeros((1, num.shape[1])), np.cumsum(np.where(valid, den, 0.0), axis=0)])
    lo = np.maximum(np.arange(n) - window, 0)
    pn, pd_ = cn[np.arange(n)] - cn[lo], cd[np.arange(n)] - cd[lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        pooled = np.where(pd_ > 0, pn / pd_, np.nan)
        if kind == "mean":
            v = pooled**2
        else:
            p = np.clip(pooled, 0.0, 1.0)
            v = p * (1 - p)
        # a share that has been exactly 0 (or 1) so far still has binomial room: one event in d
        v = np.where(kind != "mean", np.fmax(v, 1.0 / np.maximum(pd_, 1.0)), v)
        w = np.sqrt(v / den)
    w = np.where(valid & np.isfinite(w) & (w > 0), w, np.nan)
    result = fit(
        np.where(valid, ratio, np.nan), grid, expected_rows=mask, weights=w,
        min_spread=1.0 if kind == "binomial" else 0.0, sensitivity=sensitivity, params=params,
        threshold=threshold, heavy_tails=kind == "share",
    )
    return _squeeze(result) if squeeze else result


def binomial_score(successes: np.ndarray, trials: np.ndarray, p: np.ndarray) -> np.ndarray:
    """The exact binomial tail of `successes` of `trials` at share `p`, as a signed normal score:
    z with P(Z >= z) = P(X >= successes) above the expected count, -z with P(Z >= z) =
    P(X <= successes) below it (NaN where there are no trials or no share)."""
    from scipy.stats import binom

    x, n, q = (np.asarray(a, dtype=np.float64) for a in (successes, trials, p))
    ok = (n > 0) & np.isfinite(q) & np.isfinite(x)
    q = np.clip(np.where(ok, q, 0.5), 1e-12, 1 - 1e-12)
    n_ = np.where(ok, n, 1.0)
    x_ = np.where(ok, x, 0.0)
    upper = x_ >= n_ * q
    tail = np.where(upper, binom.sf(x_ - 1, n_, q), binom.cdf(x_, n_, q))
    # P(Z >= z) = tail; 1e-300 keeps a certain event finite (z ~ 37)
    z = -_normal_ppf(np.clip(tail, 1e-300, 0.5))
    return np.where(ok, np.where(upper, z, -z), np.nan)


def fit_rare_share(
    numerator: np.ndarray,
    denominator: np.ndarray,
    grid: Grid,
    *,
    weeks: int = 8,
    expected_rows: np.ndarray | None = None,
    sensitivity: Sensitivity = "medium",
    params: Params = PARAMS,
    threshold: float | np.ndarray | None = None,
) -> Fit:
    """A share made of small counts (one reason's returns among a category's 3-5 returns a day)
    against its own history, daily data only.

    `fit_ratio` takes the median of the daily shares as its baseline: for a share of a handful
    of events that median is 0 (most days have none), and a normal band around it makes 3 of 4
    look like a 6-sigma event. Here the baseline is the share pooled over the last `weeks` weeks
    (their numerators over their denominators), without the week in which it was highest, so
    one bad week does not raise the bar for the next ones (a median of weekly shares would be 0
    again for an event seen once a fortnight); at least half an event over those weeks (a share
    never seen yet is not 0), and at least half the weeks with a denominator. The score is the
    exact binomial tail of the day's count at that share (`binomial_score`), so the bar rises by
    itself on a day with few events. Expected rows are left out of every week and never flagged.
    `spread` is the binomial standard deviation of the day's share, for the normal band."""
    num = np.asarray(numerator, dtype=np.float64)
    den = np.asarray(denominator, dtype=np.float64)
    squeeze = num.ndim == 1
    if squeeze:
        num, den = num[:, None], den[:, None]
    n, s = num.shape
    mask = np.zeros((n, s), dtype=bool)
    if expected_rows is not None:
        mask |= np.broadcast_to(np.asarray(expected_rows, dtype=bool).reshape(n, -1), (n, s))
    valid = ~mask & np.isfinite(num) & np.isfinite(den) & (den > 0)
    zero = np.zeros((1, s))
    cn = np.vstack([zero, np.cumsum(np.where(valid, num, 0.0), axis=0)])
    cd = np.vstack([zero, np.cumsum(np.where(valid, den, 0.0), axis=0)])
    t = np.arange(n)
    pn = np.zeros((n, s))
    pd_ = np.zeros((n, s))
    seen = np.zeros((n, s), dtype=np.int64)
    top_share = np.full((n, s), -np.inf)
    top_n = np.zeros((n, s))
    top_d = np.zeros((n, s))
    for k in range(1, weeks + 1):  # week k before row t: rows [t - 7k, t - 7k + 7), (T, S) at a time
        lo, hi = np.clip(t - 7 * k, 0, n), np.clip(t - 7 * k + 7, 0, n)
        wn, wd = cn[hi] - cn[lo], cd[hi] - cd[lo]
        pn += wn
        pd_ += wd
        seen += wd > 0
        with np.errstate(invalid="ignore", divide="ignore"):
            share = np.where(wd > 0, wn / wd, -np.inf)
        higher = share > top_share
        top_share = np.where(higher, share, top_share)
        top_n = np.where(higher, wn, top_n)
        top_d = np.where(higher, wd, top_d)
    # the pooled share of the weeks, without the week it was highest in (one bad week kept out)
    pn, pd_ = pn - top_n, pd_ - top_d
    with np.errstate(invalid="ignore", divide="ignore"):
        # a share never seen yet is not 0: at least half an event over those weeks
        baseline = np.where((seen >= math.ceil(weeks / 2)) & (pd_ > 0), np.fmax(pn, 0.5) / pd_, np.nan)
    baseline = np.where(baseline < 1, baseline, np.nan)  # always all of it: no share to test
    score = binomial_score(num, den, baseline)
    with np.errstate(invalid="ignore", divide="ignore"):
        spread = np.sqrt(baseline * (1 - baseline) / np.where(den > 0, den, np.nan))
    thr = params.threshold(sensitivity) if threshold is None else threshold
    limit = np.asarray(thr, dtype=np.float64)[None, :] if np.ndim(thr) else thr
    flags = valid & np.isfinite(score) & (np.abs(score) >= limit)
    result = Fit(np.where(np.isfinite(baseline), baseline, np.nan), spread, score, flags,
                 np.where(np.isfinite(baseline), 0, -1))
    return _squeeze(result) if squeeze else result


# ---- flagged points --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Anomaly:
    """One flagged point."""

    series: str
    timestamp: pd.Timestamp
    value: float
    expected: float
    score: float
    direction: Direction
    severity: Severity

    @property
    def change(self) -> float | None:
        """Relative deviation from the expected value (None when expected is 0)."""
        return None if self.expected == 0 else (self.value - self.expected) / abs(self.expected)

    def as_dict(self) -> dict[str, object]:
        ts = self.timestamp
        stamp = ts.date().isoformat() if ts == ts.normalize() else ts.isoformat(sep=" ")
        return {
            "series": self.series, "timestamp": stamp, "value": _num(self.value),
            "expected": _num(self.expected), "change": _num(self.change), "score": round(self.score, 2),
            "direction": self.direction, "severity": self.severity,
        }


def _num(v: float | None) -> float | None:
    if v is None or not math.isfinite(v):
        return None
    return float(f"{v:.6g}")


def severity(score: np.ndarray, change: np.ndarray, threshold: float, params: Params = PARAMS) -> np.ndarray:
    """info / warning / critical for flagged points, from the size of the deviation.

    The relative change decides (>= 15 %: warning, >= 35 %: critical); a score far past the
    threshold (2.5 x) raises it one step, since a small move on a very steady series can still be
    a real break. Where the expected value is 0 the change is unknown and the score decides alone
    (1.5 x / 2.5 x the threshold). Money at stake is for the alert rules to add.
    """
    z = np.abs(score) / threshold
    zg = (z >= params.severity_score[0]).astype(int) + (z >= params.severity_score[1]).astype(int)
    c = np.abs(change)
    cg = (c >= params.severity_change[0]).astype(int) + (c >= params.severity_change[1]).astype(int)
    grade = np.where(np.isfinite(change), np.minimum(cg + (zg == 2), 2), zg)
    return np.array(["info", "warning", "critical"], dtype=object)[grade]


def anomalies(
    fitted: Fit,
    values: np.ndarray,
    index: Sequence[pd.Timestamp] | pd.DatetimeIndex,
    series: Sequence[str],
    *,
    rows: np.ndarray | slice | None = None,
    sensitivity: Sensitivity = "medium",
    params: Params = PARAMS,
) -> list[Anomaly]:
    """The flagged points of a fit (optionally only those in `rows`), in time then series order."""
    flags = fitted.flags if fitted.flags.ndim == 2 else fitted.flags[:, None]
    vals = np.asarray(values, dtype=np.float64).reshape(flags.shape)
    exp = fitted.expected.reshape(flags.shape)
    score = fitted.score.reshape(flags.shape)
    keep = np.zeros_like(flags)
    if rows is None:
        keep[:] = True
    else:
        keep[rows] = True
    t_idx, s_idx = np.nonzero(flags & keep)
    if len(t_idx) == 0:
        return []
    v, e, z = vals[t_idx, s_idx], exp[t_idx, s_idx], score[t_idx, s_idx]
    with np.errstate(invalid="ignore", divide="ignore"):
        change = np.where(e != 0, (v - e) / np.abs(e), np.nan)
    sev = severity(z, change, params.threshold(sensitivity), params)
    stamps = pd.DatetimeIndex(index)
    return [
        Anomaly(str(series[j]), stamps[i], float(vi), float(ei), float(zi), "up" if zi > 0 else "down",
                cast(Severity, str(si)))
        for i, j, vi, ei, zi, si in zip(t_idx, s_idx, v, e, z, sev, strict=True)
    ]


# ---- wide DataFrame front ends ---------------------------------------------------------------------


def _day_grid(frame: pd.DataFrame) -> tuple[pd.DataFrame, Grid]:
    """A frame indexed by days, reindexed onto every day between its first and last (missing = NaN)."""
    index = pd.DatetimeIndex(pd.to_datetime(frame.index)).normalize()
    frame = frame.set_axis(index)
    full = pd.date_range(index.min(), index.max(), freq="D")
    return frame.reindex(full), Grid(full[0], _DAY)


def _expected_mask(index: pd.DatetimeIndex, expected_days: Collection[date]) -> np.ndarray:
    days = {pd.Timestamp(d).normalize() for d in expected_days}
    return np.asarray(index.normalize().isin(list(days)), dtype=bool)


def detect_daily(
    frame: pd.DataFrame,
    *,
    expected_days: Collection[date] = (),
    counts: bool | Sequence[bool] = False,
    sensitivity: Sensitivity = "medium",
    params: Params = PARAMS,
    last: int | None = None,
) -> list[Anomaly]:
    """Flagged points of a wide daily frame (index = days, columns = series); `last`: only the last n days."""
    grid_frame, grid = _day_grid(frame)
    fitted = fit(grid_frame.to_numpy(np.float64), grid,
                 expected_rows=_expected_mask(grid_frame.index, expected_days),
                 counts=np.asarray(counts, dtype=bool), sensitivity=sensitivity, params=params)
    rows = None if last is None else slice(len(grid_frame) - last, None)
    return anomalies(fitted, grid_frame.to_numpy(np.float64), grid_frame.index, [str(c) for c in frame.columns],
                     rows=rows, sensitivity=sensitivity, params=params)


def detect_daily_ratio(
    numerator: pd.DataFrame,
    denominator: pd.DataFrame,
    kind: RatioKind,
    *,
    expected_days: Collection[date] = (),
    sensitivity: Sensitivity = "medium",
    params: Params = PARAMS,
    last: int | None = None,
) -> list[Anomaly]:
    """Flagged days of the ratios numerator/denominator (two wide frames with the same shape)."""
    num, grid = _day_grid(numerator)
    den, _ = _day_grid(denominator.reindex(columns=numerator.columns))
    fitted = fit_ratio(num.to_numpy(np.float64), den.to_numpy(np.float64), grid, kind,
                       expected_rows=_expected_mask(num.index, expected_days), sensitivity=sensitivity,
                       params=params)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = num.to_numpy(np.float64) / den.to_numpy(np.float64)
    rows = None if last is None else slice(len(num) - last, None)
    return anomalies(fitted, ratio, num.index, [str(c) for c in numerator.columns],
                     rows=rows, sensitivity=sensitivity, params=params)

"""Budget allocation across channels by their fitted response to spend.

Each channel's daily outcome (GMV, or new customers) is fitted to its daily spend with a
saturating curve  y = c + a*log(1 + s/b): c is the channel's baseline (what it brings without
spend), a*log(1 + s/b) the spend-driven part, b the spend at which returns start to diminish.
The derivative a/(b+s) falls as spend grows, so the best split equalises it across channels
("water filling") within the bounds; the multiplier is found by bisection.

What the history cannot show is never credited:
- a channel is credited no return for spend beyond its *cap*: its 95th-percentile day (what it
  has absorbed on one day in twenty), or, when its fit is weak (r² < MIN_R2), its current daily
  spend. The cap holds under every user constraint; a min share that forces spend past it is
  spent as asked, with no return counted for the excess;
- money no channel can absorb within its cap is not placed, and the reply says so;
- the spend-driven part carries a range: the 10th-90th percentile over a moving-block bootstrap
  of the fit (weeks of days resampled, refitted), so a weak fit gets a wide range;
- a move away from the recent split is credited at the curve's marginal return less MOVE_PENALTY
  of its bootstrap standard deviations at the recent spend (`anchored`). The split is chosen where
  the fitted curves look best, which is partly where their noise flatters them (the optimiser's
  curse); the bootstrap measures the fit's noise, not that selection, so the promised gain over the
  recent split was about twice the truth on the demo shop (bench/README.md). The allowance is the
  estimated optimism; since it is itself uncertain, ranges run from the curve's own 90th percentile
  (no optimism) to its 10th less twice the allowance.

So the expected outcome is a concave function of the split fixed before any constraint is read
(the anchor is the budget split like the recent spend, which no constraint changes): adding
constraints only shrinks the set of splits, and can never raise the expectation.

b is searched on a log grid around the channel's own spend with (c, a) solved by least squares
for each b, then refined with scipy; days whose residual is far outside the rest (promotions,
incidents) are left out of the fit.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta

import numpy as np
import pandas as pd
from scipy.optimize import minimize_scalar

__all__ = ["Allocation", "BudgetError", "Curve", "allocate", "anchored", "caps_for", "demand_factors", "evaluate", "fit_curve",
           "fit_curves", "outcome_series"]

# a channel needs this many days with spend to be fitted at all...
MIN_SPEND_DAYS = 28
# ...and its spend must vary (coefficient of variation), or the curve's bend cannot be seen
MIN_SPEND_CV = 0.05
# below this r², spend explains too little of the outcome to move money on: capped at current spend
MIN_R2 = 0.2
# the day a channel's cap is read from: the 95th percentile of its daily spend
CAP_QUANTILE = 0.95
FLOOR_QUANTILE = 0.05
# the range shown: these percentiles of the bootstrap (an 80 % range)
RANGE = (10.0, 90.0)
BOOTSTRAP_DRAWS = 200
BLOCK_DAYS = 7
# a residual beyond this many robust standard deviations marks an unusual day, left out of the fit
OUTLIER_SD = 4.0
_GRID = np.logspace(-2, 3, 61)  # b as multiples of the median spend
DEMAND_RECENT_DAYS = 28
# a move from the recent spend is credited at the marginal return less this many bootstrap standard
# deviations of it: chosen on demo shops 11-13 and measured on 1-3 (bench/README.md); 0.7 left the
# promised gain optimistic (x1.6), 1.5 gave up true gain
MOVE_PENALTY = 1.0


class BudgetError(ValueError):
    """Constraints that cannot all hold (min shares over 100 %, max shares under 100 %...)."""

    def __init__(self, key: str, **params: object) -> None:
        super().__init__(f"{key}: {params}")
        self.key = key
        self.params = params


@dataclass(frozen=True, eq=False)
class Curve:
    """y per day = c + a*log(1 + spend_per_day/b), with bootstrap draws of (a, b, c)."""

    channel: str
    a: float
    b: float
    c: float
    r2: float
    days: int
    max_daily_spend: float
    mean_daily_spend: float
    high_daily_spend: float  # the CAP_QUANTILE day
    draws: np.ndarray = field(repr=False)  # (BOOTSTRAP_DRAWS, 3): a, b, c
    # the channel's demand apart from spend: day-of-week factors and a growth rate per day, so a
    # busy Saturday or a growing month is not read as the work of the spend that fell on it; the
    # curve is at the demand of the last DEMAND_RECENT_DAYS of its history (factor 1)
    weekday: tuple[float, ...] = (1.0,) * 7
    growth: float = 0.0
    last_day: date | None = None
    # the FLOOR_QUANTILE day: below it the curve's shape is as unknown as above the cap, so a cut
    # below it is credited at the channel's average return there (linear to zero), not at the curve
    low_daily_spend: float = 0.0
    # the recent daily spend moves are measured from (None: no allowance), and the bootstrap standard
    # deviation of the marginal return there: see `anchored`
    anchor: float | None = None
    move_sd: float = 0.0

    def demand_factor(self, start: date, days: int) -> float:
        """Mean demand over [start, start + days) relative to the history's recent days."""
        if self.last_day is None or days <= 0:
            return 1.0
        recent = [self.last_day - timedelta(days=i) for i in range(DEMAND_RECENT_DAYS)]
        period = [start + timedelta(days=i) for i in range(days)]

        def mean(ds: list[date]) -> float:
            return float(np.mean([self.weekday[d.weekday()] * math.exp(self.growth * (d - self.last_day).days)
                                  for d in ds]))

        return mean(period) / mean(recent)

    @property
    def weak(self) -> bool:
        return self.r2 < MIN_R2

    def response(self, daily_spend: float | np.ndarray) -> float | np.ndarray:
        return self.c + self.incremental(daily_spend)

    def incremental(self, daily_spend: float | np.ndarray) -> float | np.ndarray:
        """The spend-driven part of a day's outcome."""
        return self.a * np.log1p(np.asarray(daily_spend, dtype=float) / self.b)

    def incremental_draws(self, daily_spend: float) -> np.ndarray:
        a, b = self.draws[:, 0], self.draws[:, 1]
        return a * np.log1p(daily_spend / b)

    def curve_credited_draws(self, daily_spend: float) -> np.ndarray:
        """The spend-driven part per bootstrap draw by the curve alone: the curve from the floor up,
        and below the floor the floor's return scaled down linearly (the average return, held)."""
        floor = self.low_daily_spend
        if daily_spend >= floor:
            return self.incremental_draws(daily_spend)
        return self.incremental_draws(floor) * (daily_spend / floor)

    def allowance(self, daily_spend: float) -> float:
        """What a move from the anchor is not credited: MOVE_PENALTY sd of the marginal per unit moved,
        or above the anchor, once the curve's marginal return falls below that, all of the return (so a
        unit more is never credited less than nothing: placing money never lowers the expectation,
        which keeps a max share, which places less, from raising it)."""
        if self.anchor is None or self.move_sd <= 0:
            return 0.0
        step = MOVE_PENALTY * self.move_sd
        if daily_spend <= self.anchor:
            return step * (self.anchor - daily_spend)
        flat = max(self._curve_spend_for_marginal(step), self.anchor)
        if daily_spend <= flat:
            return step * (daily_spend - self.anchor)
        beyond = self.curve_credited_draws(daily_spend).mean() - self.curve_credited_draws(flat).mean()
        return step * (flat - self.anchor) + float(beyond)

    def credited_draws(self, daily_spend: float) -> np.ndarray:
        """The spend-driven part per bootstrap draw as credited: the curve's, less the allowance."""
        return self.curve_credited_draws(daily_spend) - self.allowance(daily_spend)

    def expected_incremental(self, daily_spend: float) -> float:
        """The spend-driven part averaged over the bootstrap: what the split is chosen by and what
        the reply states, so the number shown always lies inside its range's draws."""
        return float(self.credited_draws(daily_spend).mean())

    def _curve_marginal(self, daily_spend: float) -> float:
        a, b = self.draws[:, 0], self.draws[:, 1]
        return float((a / (b + daily_spend)).mean())

    def _floor_return(self) -> float:
        """Average return per unit of spend up to the floor (the slope credited below it)."""
        floor = self.low_daily_spend
        return float(self.incremental_draws(floor).mean()) / floor

    def _raw_marginal(self, daily_spend: float) -> float:
        if daily_spend < self.low_daily_spend:
            return self._floor_return()
        return self._curve_marginal(daily_spend)

    def marginal(self, daily_spend: float) -> float:
        """d expected_incremental / d daily spend, to the right (falls as spend grows): below the
        anchor a unit more wins back its allowance, above it a unit more pays one."""
        raw = self._raw_marginal(daily_spend)
        if self.anchor is None:
            return raw
        step = MOVE_PENALTY * self.move_sd
        return raw + step if daily_spend < self.anchor else max(raw - step, 0.0)

    def spend_for_marginal(self, lam: float) -> float:
        """The daily spend at which the marginal return falls to `lam` (0 if it is below already).

        With an anchor the marginal return drops by twice the allowance's rate at the anchor, so a
        whole band of `lam` keeps the channel there: it moves only where the gain is clear of the
        allowance."""
        if self.anchor is None or self.move_sd <= 0:
            return self._curve_spend_for_marginal(lam)
        step = MOVE_PENALTY * self.move_sd
        anchor = self.anchor
        if lam < self._raw_marginal(anchor) - step:
            return max(self._curve_spend_for_marginal(lam + step), anchor)
        below = 0 < self.low_daily_spend and anchor <= self.low_daily_spend  # the slope to its left
        left = self._floor_return() if below else self._curve_marginal(anchor)
        if lam > left + step:
            return min(self._curve_spend_for_marginal(lam - step), anchor)
        return anchor

    def _curve_spend_for_marginal(self, lam: float) -> float:
        floor = self.low_daily_spend
        if floor > 0:
            if self._floor_return() <= lam:
                return 0.0
            if self._curve_marginal(floor) <= lam:
                return floor
        elif self._curve_marginal(0.0) <= lam:
            return 0.0
        lo, hi = floor, max(float(self.draws[:, 1].max()), floor, 1.0)
        while self._curve_marginal(hi) > lam:
            hi *= 4
        for _ in range(60):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if self._curve_marginal(mid) > lam else (lo, mid)
        return (lo + hi) / 2

    def as_json(self) -> dict[str, float | int | str | bool]:
        return {"channel": self.channel, "a": self.a, "b": self.b, "c": self.c, "r2": self.r2, "weak": self.weak,
                "days": self.days, "max_daily_spend": self.max_daily_spend,
                "high_daily_spend": self.high_daily_spend, "low_daily_spend": self.low_daily_spend,
                "move_sd": self.move_sd}


def _ls_grid(s: np.ndarray, y: np.ndarray, bs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(c, a, sse) for each b in `bs` (rows of s and y are draws, columns days; bs per draw and b).

    a and c are kept non-negative (spend never destroys sales); when c would be negative the line
    goes through the origin."""
    x = np.log1p(s[:, None, :] / bs[:, :, None])  # draws, grid, days
    yy = y[:, None, :]
    xm, ym = x.mean(axis=2, keepdims=True), yy.mean(axis=2, keepdims=True)
    vx = ((x - xm) ** 2).sum(axis=2)
    cov = ((x - xm) * (yy - ym)).sum(axis=2)
    a = np.where(vx > 0, np.maximum(cov / np.where(vx > 0, vx, 1.0), 0.0), 0.0)
    c = ym[..., 0] - a * xm[..., 0]
    through_origin = (c < 0) & (a > 0)
    a0 = np.maximum((x * yy).sum(axis=2) / np.maximum((x * x).sum(axis=2), 1e-300), 0.0)
    a = np.where(through_origin, a0, a)
    c = np.maximum(c, 0.0)
    sse = ((yy - c[..., None] - a[..., None] * x) ** 2).sum(axis=2)
    return c, a, sse


def _fit(s: np.ndarray, y: np.ndarray) -> tuple[float, float, float, float]:
    """(a, b, c, sse) of the best fit: the grid, then scipy around the best grid point."""
    scale = float(np.median(s))
    grid = scale * _GRID
    c, a, sse = (v[0] for v in _ls_grid(s[None, :], y[None, :], grid[None, :]))
    i = int(np.argmin(sse))
    best = (float(a[i]), float(grid[i]), float(c[i]), float(sse[i]))
    lo, hi = math.log(grid[max(i - 1, 0)]), math.log(grid[min(i + 1, len(grid) - 1)])

    def sse_at(log_b: float) -> float:
        return float(_ls_grid(s[None, :], y[None, :], np.array([[math.exp(log_b)]]))[2][0, 0])

    res = minimize_scalar(sse_at, bounds=(lo, hi), method="bounded", options={"xatol": 1e-4})
    if res.success and res.fun < best[3]:
        b = math.exp(float(res.x))
        cc, aa, ss = (float(v[0, 0]) for v in _ls_grid(s[None, :], y[None, :], np.array([[b]])))
        best = (aa, b, cc, ss)
    return best


def _bootstrap(s: np.ndarray, y: np.ndarray, seed: int) -> np.ndarray:
    """(a, b, c) refitted on BOOTSTRAP_DRAWS moving-block resamples of the days (grid only)."""
    n = len(s)
    block = min(BLOCK_DAYS, n)
    rng = np.random.default_rng(seed)
    starts = rng.integers(0, n - block + 1, (BOOTSTRAP_DRAWS, math.ceil(n / block)))
    idx = (starts[:, :, None] + np.arange(block)[None, None, :]).reshape(BOOTSTRAP_DRAWS, -1)[:, :n]
    ss, ys = s[idx], y[idx]
    grid = np.median(ss, axis=1, keepdims=True) * _GRID[None, :]
    c, a, sse = _ls_grid(ss, ys, grid)
    best = np.argmin(sse, axis=1)
    rows = np.arange(BOOTSTRAP_DRAWS)
    return np.column_stack([a[rows, best], grid[rows, best], c[rows, best]])


def _demand(days: Sequence[date], s: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, tuple[float, ...], float]:
    """Each day's demand index apart from spend (1 on average over the last DEMAND_RECENT_DAYS), the
    day-of-week factors and the daily growth rate: log y regressed on log spend, days and weekdays."""
    t = np.array([(d - days[-1]).days for d in days], dtype=float)
    dow = np.array([d.weekday() for d in days])
    ok = y > 0
    columns = [np.ones(len(t)), np.log(s), t] + [(dow == k).astype(float) for k in range(1, 7)]
    x = np.column_stack(columns)
    present = [k for k in range(1, 7) if (dow[ok] == k).any()]
    keep_cols = [0, 1, 2] + [2 + k for k in present]
    if ok.sum() < len(keep_cols) + MIN_SPEND_DAYS // 2:
        return np.ones(len(t)), (1.0,) * 7, 0.0
    coef, *_ = np.linalg.lstsq(x[ok][:, keep_cols], np.log(y[ok]), rcond=None)
    growth = float(coef[2])
    weekday = [1.0] * 7
    for k, c in zip(present, coef[3:], strict=True):
        weekday[k] = math.exp(float(c))
    level = np.array([weekday[k] for k in dow]) * np.exp(growth * t)
    level /= level[t > -DEMAND_RECENT_DAYS].mean()
    return level, tuple(weekday), growth


def fit_curve(channel: str, spend: Sequence[float] | np.ndarray, outcome: Sequence[float] | np.ndarray,
              days: Sequence[date] | None = None) -> Curve | None:
    """The channel's curve, or None when its history cannot support one (too few days, flat spend).

    With `days`, the outcome is first divided by the channel's demand index (weekdays, growth), and
    the curve is at the demand of its last weeks."""
    s = np.asarray(spend, dtype=float)
    y = np.asarray(outcome, dtype=float)
    keep = np.isfinite(s) & np.isfinite(y) & (s > 0)
    s, y = s[keep], y[keep]
    kept_days = [d for d, k in zip(days, keep, strict=True) if k] if days is not None else None
    if len(s) < MIN_SPEND_DAYS or s.mean() <= 0 or s.std() / s.mean() < MIN_SPEND_CV:
        return None
    # what the channel has absorbed, from every day it spent (the outcome's unusual days included)
    absorbed = (float(s.max()), float(s.mean()), float(np.quantile(s, CAP_QUANTILE)))
    floor = float(np.quantile(s, FLOOR_QUANTILE))
    weekday: tuple[float, ...] = (1.0,) * 7
    growth = 0.0
    if kept_days is not None:
        level, weekday, growth = _demand(kept_days, s, y)
        y = y / level
    a, b, c, _ = _fit(s, y)
    resid = y - c - a * np.log1p(s / b)
    spread = 1.4826 * float(np.median(np.abs(resid - np.median(resid))))
    usual = np.abs(resid) <= OUTLIER_SD * spread if spread > 0 else np.ones(len(s), dtype=bool)
    if usual.sum() >= MIN_SPEND_DAYS and not usual.all():
        s, y = s[usual], y[usual]
        a, b, c, _ = _fit(s, y)
    sse = float(((y - c - a * np.log1p(s / b)) ** 2).sum())
    sst = float(((y - y.mean()) ** 2).sum())
    # a stable seed per channel and history: the same question gets the same range
    seed = int.from_bytes(channel.encode()[:8].ljust(8, b"\0"), "little") ^ len(s)
    return Curve(channel, a, b, c, 1 - sse / sst if sst > 0 else 0.0, len(s), *absorbed, _bootstrap(s, y, seed),
                 weekday, growth, kept_days[-1] if kept_days else None, floor)


def fit_curves(daily: pd.DataFrame, outcome: str) -> tuple[dict[str, Curve], list[str]]:
    """Curves per channel from a frame with columns key (channel), spend, `outcome`; and the
    channels whose history is too thin (flagged, never guessed)."""
    curves: dict[str, Curve] = {}
    thin: list[str] = []
    for channel, frame in daily.groupby("key", sort=True):
        frame = frame.sort_values("day")
        days = [pd.Timestamp(d).date() for d in frame["day"]] if "day" in frame else None
        curve = fit_curve(str(channel), frame["spend"].to_numpy(), frame[outcome].to_numpy(), days)
        if curve is None or curve.a <= 0:
            thin.append(str(channel))
        else:
            curves[str(channel)] = curve
    return curves, thin


def outcome_series(daily: pd.DataFrame, objective: str) -> pd.DataFrame:
    """The series the curves are fitted on. For GMV: orders x the channel's value per order over
    the history, since spend brings orders and the value per order does not follow the day's spend
    (daily GMV carries the noise of a few large baskets, daily orders much less)."""
    if objective != "gmv":
        return daily
    per_order = daily.groupby("key")["gmv"].sum() / daily.groupby("key")["orders"].sum().replace(0, np.nan)
    return daily.assign(gmv=daily["orders"] * daily["key"].map(per_order).fillna(0.0))


def caps_for(curves: Mapping[str, Curve], days: int, current_daily: Mapping[str, float]) -> dict[str, float]:
    """Spend over `days` beyond which a channel is credited no return: its high day, or for a weak
    fit its current daily spend (no more than its high day)."""
    caps = {}
    for ch, curve in curves.items():
        daily = curve.high_daily_spend
        if curve.weak:
            daily = min(max(current_daily.get(ch, curve.mean_daily_spend), 0.0), daily)
        caps[ch] = daily * days
    return caps


@dataclass
class Allocation:
    spend: dict[str, float]  # over the whole period
    baseline: dict[str, float]  # what each channel brings without spend, over the period
    incremental: dict[str, float]  # the spend-driven part credited, over the period
    marginal: dict[str, float]  # per extra unit of spend at the allocation (0 beyond the cap)
    draws: np.ndarray  # total credited spend-driven outcome per bootstrap draw
    channel_draws: dict[str, np.ndarray]
    uncredited: dict[str, float] = field(default_factory=dict)  # spend beyond a channel's cap
    unplaced: float = 0.0  # budget no channel could absorb within its cap
    allowance: dict[str, float] = field(default_factory=dict)  # not credited for the move from the anchor

    @property
    def total_spend(self) -> float:
        return sum(self.spend.values())

    @property
    def total_incremental(self) -> float:
        return sum(self.incremental.values())

    @property
    def total_baseline(self) -> float:
        return sum(self.baseline.values())

    @property
    def total_outcome(self) -> float:
        return self.total_baseline + self.total_incremental

    @property
    def total_allowance(self) -> float:
        return sum(self.allowance.values())

    # Each range is the RANGE percentiles of the credited draws widened by the allowance either way:
    # the allowance estimates the optimism of the curves where the split was chosen, and is itself
    # uncertain (from none, the curve's own range, to twice the estimate).

    def range(self) -> tuple[float, float]:
        """The range of the total spend-driven outcome."""
        lo, hi = np.percentile(self.draws, RANGE)
        # spend never takes sales away (the curves' a >= 0): a range of what it brings stops at zero
        return max(float(lo) - self.total_allowance, 0.0), float(hi) + self.total_allowance

    def channel_range(self, channel: str) -> tuple[float, float]:
        lo, hi = np.percentile(self.channel_draws[channel], RANGE)
        widen = self.allowance.get(channel, 0.0)
        return max(float(lo) - widen, 0.0), float(hi) + widen

    def uplift_over(self, other: Allocation) -> tuple[float, float, float]:
        """Expected extra spend-driven outcome over `other`, and its range (paired draws)."""
        diff = self.draws - other.draws
        lo, hi = np.percentile(diff, RANGE)
        widen = self.total_allowance + other.total_allowance
        return float(diff.mean()), float(lo) - widen, float(hi) + widen

    def as_json(self) -> dict[str, object]:
        lo, hi = self.range()
        return {"spend": self.spend, "baseline": self.baseline, "incremental": self.incremental,
                "marginal": self.marginal, "total_spend": self.total_spend,
                "total_baseline": self.total_baseline, "total_incremental": self.total_incremental,
                "incremental_range": [lo, hi], "uncredited": self.uncredited, "unplaced": self.unplaced,
                "allowance": self.allowance}


def anchored(curves: Mapping[str, Curve], anchor_daily: Mapping[str, float]) -> dict[str, Curve]:
    """The curves with moves from `anchor_daily` (each channel's daily spend in the budget split
    like the recent spend) credited less MOVE_PENALTY bootstrap sd of the marginal return there.

    The sd is the spread over the draws of each one's marginal return at the anchor (below the
    floor, its average return there), so a channel whose slope the history pins down moves freely
    and one whose slope it does not moves only for a clear gain. The result stays concave: the
    marginal return drops at the anchor, never rises."""
    out = {}
    for ch, curve in curves.items():
        at = max(float(anchor_daily.get(ch, 0.0)), 0.0)
        a, b = curve.draws[:, 0], curve.draws[:, 1]
        floor = curve.low_daily_spend
        slopes = curve.incremental_draws(floor) / floor if at < floor else a / (b + at)
        out[ch] = replace(curve, anchor=at, move_sd=float(np.std(slopes)))
    return out


def demand_factors(curves: Mapping[str, Curve], start: date, days: int) -> dict[str, float]:
    """Each channel's demand over the period relative to its recent weeks (weekdays, growth)."""
    return {ch: curve.demand_factor(start, days) for ch, curve in curves.items()}


def evaluate(curves: Mapping[str, Curve], spend: Mapping[str, float], days: int,
             caps: Mapping[str, float], factors: Mapping[str, float] | None = None,
             unplaced: float = 0.0) -> Allocation:
    """Expected outcome of a split (`spend` per channel over `days` days), crediting no return
    for spend beyond a channel's cap; `factors` scale each channel's curve to the period's demand."""
    baseline, incremental, marginal, uncredited, channel_draws, allowance = {}, {}, {}, {}, {}, {}
    for ch, total in spend.items():
        curve = curves[ch]
        f = (factors or {}).get(ch, 1.0)
        credited = min(total, caps[ch]) / days
        baseline[ch] = curve.c * days * f
        channel_draws[ch] = curve.credited_draws(credited) * days * f
        allowance[ch] = curve.allowance(credited) * days * f
        incremental[ch] = float(channel_draws[ch].mean())
        marginal[ch] = curve.marginal(credited) * f if total < caps[ch] else 0.0
        if total > caps[ch] * (1 + 1e-9):
            uncredited[ch] = total - caps[ch]
    draws = np.sum(list(channel_draws.values()), axis=0) if channel_draws else np.zeros(BOOTSTRAP_DRAWS)
    return Allocation(dict(spend), baseline, incremental, marginal, draws, channel_draws, uncredited, unplaced,
                      allowance)


def check_bounds(channels: Sequence[str], budget: float, min_share: Mapping[str, float],
                 max_share: Mapping[str, float]) -> tuple[dict[str, float], dict[str, float]]:
    """Money bounds per channel from share bounds; raises BudgetError when they cannot all hold."""
    if budget <= 0:
        raise BudgetError("budget_not_positive", amount=budget)
    lo = {ch: budget * min_share.get(ch, 0.0) for ch in channels}
    hi = {ch: budget * max_share.get(ch, 1.0) for ch in channels}
    for ch in channels:
        if lo[ch] > hi[ch] + 1e-9:
            raise BudgetError("budget_min_over_max", channel=ch, min=round(min_share.get(ch, 0) * 100, 2),
                              max=round(max_share.get(ch, 1) * 100, 2))
    total_min = sum(min_share.get(ch, 0.0) for ch in channels)
    if total_min > 1 + 1e-9:
        raise BudgetError("budget_min_over_100", total=round(total_min * 100, 2))
    total_max = sum(max_share.get(ch, 1.0) for ch in channels)
    if total_max < 1 - 1e-9:
        raise BudgetError("budget_max_under_100", total=round(total_max * 100, 2))
    return lo, hi


def allocate(
    curves: Mapping[str, Curve],
    budget: float,
    days: int,
    caps: Mapping[str, float],
    min_share: Mapping[str, float] | None = None,
    max_share: Mapping[str, float] | None = None,
    factors: Mapping[str, float] | None = None,
) -> Allocation:
    """The split of `budget` over `days` days that maximises the credited outcome.

    Each channel spends within [its min, min(its max, its cap)] (a min above the cap wins: spent,
    not credited); what does not fit under those upper bounds is left unplaced. For a concave
    response the optimum equalises marginal returns; a channel whose marginal return at its bound
    is still off the common level stays at the bound (KKT). For a multiplier lam, channel spend is
    clip(days*(a/lam - b), lo, up), which falls with lam, so bisection on lam finds the split that
    spends exactly what can be placed.
    """
    channels = sorted(curves)
    if not channels:
        raise BudgetError("budget_no_channels")
    lo, hi = check_bounds(channels, budget, min_share or {}, max_share or {})
    up = {ch: max(lo[ch], min(hi[ch], caps[ch])) for ch in channels}
    placeable = min(budget, sum(up.values()))
    f = {ch: (factors or {}).get(ch, 1.0) for ch in channels}

    def spend_at(lam: float) -> dict[str, float]:
        return {ch: min(max(days * curves[ch].spend_for_marginal(lam / f[ch]), lo[ch]), up[ch]) for ch in channels}

    if placeable >= sum(up.values()) - 1e-9:
        split = dict(up)
    else:
        lam_lo, lam_hi = 1e-12, max(f[ch] * c.marginal(0.0) for ch, c in curves.items()) * 2 + 1e-12
        for _ in range(200):  # geometric bisection: lam spans many orders of magnitude
            mid = math.sqrt(lam_lo * lam_hi)
            if sum(spend_at(mid).values()) > placeable:
                lam_lo = mid
            else:
                lam_hi = mid
            if lam_hi / lam_lo < 1 + 1e-10:
                break
        # at the multiplier, spend moves between the two splits either side of it: by a rounding
        # residue on a curve, or by a whole stretch where a channel's return is linear (below its
        # floor, where any spend in the stretch is equally good). What the budget leaves goes there.
        split, more = spend_at(lam_hi), spend_at(lam_lo)
        residue = placeable - sum(split.values())
        for ch in sorted(channels, key=lambda c: split[c] - more[c]):
            step = min(residue, more[ch] - split[ch])
            split[ch] += step
            residue -= step
        for ch in channels:  # what is left is rounding: any channel with room takes it
            step = min(residue, up[ch] - split[ch])
            split[ch] += step
            residue -= step
    return evaluate(curves, split, days, caps, factors, unplaced=max(budget - sum(split.values()), 0.0))


def even_split(channels: Sequence[str], budget: float) -> dict[str, float]:
    return {ch: budget / len(channels) for ch in channels}


def current_mix(recent_spend: Mapping[str, float], channels: Sequence[str], budget: float) -> dict[str, float]:
    """The budget split like the recent spend was (even when nothing was spent recently)."""
    total = sum(max(recent_spend.get(ch, 0.0), 0.0) for ch in channels)
    if total <= 0:
        return even_split(channels, budget)
    return {ch: budget * max(recent_spend.get(ch, 0.0), 0.0) / total for ch in channels}

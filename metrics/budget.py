"""Budget allocation across channels by their fitted response to spend.

Each channel's daily outcome (GMV, or new customers) is fitted to its daily spend with a
saturating curve  y = c + a*log(1 + s/b): c is what the channel brings without spend, a the scale
of the spend-driven part, b the spend at which returns start to diminish. The derivative
a/(b+s) falls as spend grows, so the best split equalises it across channels ("water filling"),
clipped to each channel's min/max share; the multiplier is found by bisection.

b is searched on a log grid around the channel's own spend with (c, a) solved by least squares
for each b, then refined with scipy when it is installed; a grid alone is within a few per cent.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

try:  # scipy refines the grid search; the grid alone is good enough without it
    from scipy.optimize import minimize_scalar
except ImportError:  # pragma: no cover - scipy is in the venv
    minimize_scalar = None

__all__ = ["Allocation", "BudgetError", "Curve", "allocate", "evaluate", "fit_curve", "fit_curves"]

# a channel needs this many days with spend to be fitted at all...
MIN_SPEND_DAYS = 28
# ...and its spend must vary (coefficient of variation), or the curve's bend cannot be seen
MIN_SPEND_CV = 0.05
# daily spend above this multiple of the history's largest is extrapolation: said, not hidden
EXTRAPOLATION = 1.5
# by default a channel gets at most this multiple of the most it ever spent in a day: a fitted
# curve says nothing about spend ten times beyond its data (the user's max share overrides)
CAPACITY = 2.0


class BudgetError(ValueError):
    """Constraints that cannot all hold (min shares over 100 %, max shares under 100 %...)."""

    def __init__(self, key: str, **params: object) -> None:
        super().__init__(f"{key}: {params}")
        self.key = key
        self.params = params


@dataclass(frozen=True)
class Curve:
    """y per day = c + a*log(1 + spend_per_day/b)."""

    channel: str
    a: float
    b: float
    c: float
    r2: float
    days: int
    max_daily_spend: float
    mean_daily_spend: float

    def response(self, daily_spend: float | np.ndarray) -> float | np.ndarray:
        return self.c + self.a * np.log1p(np.asarray(daily_spend, dtype=float) / self.b)

    def marginal(self, daily_spend: float) -> float:
        return self.a / (self.b + daily_spend)

    def as_json(self) -> dict[str, float | int | str]:
        return {"channel": self.channel, "a": self.a, "b": self.b, "c": self.c, "r2": self.r2,
                "days": self.days, "max_daily_spend": self.max_daily_spend}


def _ls_for_b(s: np.ndarray, y: np.ndarray, b: float) -> tuple[float, float, float]:
    """(c, a, sse) for a fixed b; a and c are kept non-negative (spend never destroys sales)."""
    x = np.log1p(s / b)
    xm, ym = x.mean(), y.mean()
    vx = ((x - xm) ** 2).sum()
    a = max(((x - xm) * (y - ym)).sum() / vx, 0.0) if vx > 0 else 0.0
    c = max(ym - a * xm, 0.0)
    if c == 0.0 and a > 0:
        a = max((x * y).sum() / (x * x).sum(), 0.0)  # through the origin when c would go negative
    sse = float(((y - c - a * x) ** 2).sum())
    return c, a, sse


def fit_curve(channel: str, spend: Sequence[float] | np.ndarray, outcome: Sequence[float] | np.ndarray) -> Curve | None:
    """The channel's curve, or None when its history cannot support one (too few days, flat spend)."""
    s = np.asarray(spend, dtype=float)
    y = np.asarray(outcome, dtype=float)
    keep = np.isfinite(s) & np.isfinite(y) & (s > 0)
    s, y = s[keep], y[keep]
    if len(s) < MIN_SPEND_DAYS or s.mean() <= 0 or s.std() / s.mean() < MIN_SPEND_CV:
        return None
    scale = float(np.median(s))
    grid = scale * np.logspace(-2, 3, 61)
    sses = [(_ls_for_b(s, y, b)[2], b) for b in grid]
    _, best_b = min(sses)
    if minimize_scalar is not None:
        i = int(np.searchsorted(grid, best_b))
        lo, hi = math.log(grid[max(i - 1, 0)]), math.log(grid[min(i + 1, len(grid) - 1)])
        if hi > lo:
            res = minimize_scalar(lambda lb: _ls_for_b(s, y, math.exp(lb))[2], bounds=(lo, hi), method="bounded",
                                  options={"xatol": 1e-4})
            if res.success and res.fun <= _ls_for_b(s, y, best_b)[2]:
                best_b = math.exp(float(res.x))
    c, a, sse = _ls_for_b(s, y, best_b)
    sst = float(((y - y.mean()) ** 2).sum())
    return Curve(channel, a, best_b, c, 1 - sse / sst if sst > 0 else 0.0, len(s), float(s.max()), float(s.mean()))


def fit_curves(daily: pd.DataFrame, outcome: str) -> tuple[dict[str, Curve], list[str]]:
    """Curves per channel from a frame with columns key (channel), spend, `outcome`; and the
    channels whose history is too thin (flagged, never guessed)."""
    curves: dict[str, Curve] = {}
    thin: list[str] = []
    for channel, frame in daily.groupby("key", sort=True):
        curve = fit_curve(str(channel), frame["spend"].to_numpy(), frame[outcome].to_numpy())
        if curve is None or curve.a <= 0:
            thin.append(str(channel))
        else:
            curves[str(channel)] = curve
    return curves, thin


@dataclass
class Allocation:
    spend: dict[str, float]  # over the whole period
    outcome: dict[str, float]  # expected over the whole period
    marginal: dict[str, float]  # per extra unit of spend at the allocation
    extrapolated: list[str] = field(default_factory=list)

    @property
    def total_spend(self) -> float:
        return sum(self.spend.values())

    @property
    def total_outcome(self) -> float:
        return sum(self.outcome.values())

    def as_json(self) -> dict[str, object]:
        return {"spend": self.spend, "outcome": self.outcome, "marginal": self.marginal,
                "total_spend": self.total_spend, "total_outcome": self.total_outcome,
                "extrapolated": self.extrapolated}


def evaluate(curves: Mapping[str, Curve], spend: Mapping[str, float], days: int) -> Allocation:
    """Expected outcome of a split (`spend` per channel over `days` days)."""
    outcome, marginal, extrapolated = {}, {}, []
    for ch, total in spend.items():
        curve = curves[ch]
        per_day = total / days
        outcome[ch] = float(curve.response(per_day)) * days
        marginal[ch] = curve.marginal(per_day)
        if per_day > EXTRAPOLATION * curve.max_daily_spend:
            extrapolated.append(ch)
    return Allocation(dict(spend), outcome, marginal, extrapolated)


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
    min_share: Mapping[str, float] | None = None,
    max_share: Mapping[str, float] | None = None,
) -> Allocation:
    """The split of `budget` over `days` days that maximises the expected outcome.

    For a concave response the optimum equalises marginal returns; with bounds, a channel whose
    marginal return at its bound is still off the common level stays at the bound (KKT). For a
    multiplier lam, channel spend is clip(days*(a/lam - b), lo, hi), which falls with lam, so
    bisection on lam finds the split that spends exactly the budget.
    """
    channels = sorted(curves)
    if not channels:
        raise BudgetError("budget_no_channels")
    lo, hi = check_bounds(channels, budget, min_share or {}, max_share or {})
    hi = capacity_bounds(curves, budget, days, lo, hi, max_share or {})

    def spend_at(lam: float) -> dict[str, float]:
        return {ch: min(max(days * (curves[ch].a / lam - curves[ch].b), lo[ch]), hi[ch]) for ch in channels}

    lam_lo, lam_hi = 1e-12, max(c.a / c.b for c in curves.values()) * 2 + 1e-12
    for _ in range(200):  # geometric bisection: lam spans many orders of magnitude
        mid = math.sqrt(lam_lo * lam_hi)
        if sum(spend_at(mid).values()) > budget:
            lam_lo = mid
        else:
            lam_hi = mid
        if lam_hi / lam_lo < 1 + 1e-12:
            break
    split = spend_at(math.sqrt(lam_lo * lam_hi))
    # bisection leaves a rounding residue; hand it to channels with room, so the total is exact
    residue = budget - sum(split.values())
    for ch in sorted(channels, key=lambda c: -curves[c].marginal(split[c] / days)):
        room = hi[ch] - split[ch] if residue > 0 else split[ch] - lo[ch]
        step = math.copysign(min(abs(residue), room), residue)
        split[ch] += step
        residue -= step
        if abs(residue) < 1e-9:
            break
    return evaluate(curves, split, days)


def capacity_bounds(curves: Mapping[str, Curve], budget: float, days: int, lo: Mapping[str, float],
                    hi: Mapping[str, float], max_share: Mapping[str, float]) -> dict[str, float]:
    """Upper bounds tightened to what each channel has shown it can absorb (CAPACITY x its largest
    day). When the whole budget is more than all channels ever absorbed, the caps grow together
    so the budget can still be spent; `evaluate` then flags the extrapolation."""
    cap = {ch: CAPACITY * curves[ch].max_daily_spend * days for ch in curves}
    free = [ch for ch in curves if ch not in max_share]  # an explicit max share is the user's call
    fixed = sum(hi[ch] for ch in curves if ch in max_share)
    room = sum(cap[ch] for ch in free)
    need = budget - fixed - sum(lo[ch] for ch in free)
    scale = max(1.0, (budget - fixed) / room) if room > 0 and need > 0 else 1.0
    out = dict(hi)
    for ch in free:
        out[ch] = max(lo[ch], min(hi[ch], cap[ch] * scale))
    if sum(out.values()) < budget:  # rounding or bounds: fall back to the share bounds alone
        return dict(hi)
    return out


def even_split(channels: Sequence[str], budget: float) -> dict[str, float]:
    return {ch: budget / len(channels) for ch in channels}


def current_mix(recent_spend: Mapping[str, float], channels: Sequence[str], budget: float) -> dict[str, float]:
    """The budget split like the recent spend was (even when nothing was spent recently)."""
    total = sum(max(recent_spend.get(ch, 0.0), 0.0) for ch in channels)
    if total <= 0:
        return even_split(channels, budget)
    return {ch: budget * max(recent_spend.get(ch, 0.0), 0.0) / total for ch in channels}

"""Goal decomposition and pacing.

A goal ("gmv 3,000,000 in 2027Q1") is split into one target per day, weighted by the shop's own
seasonality: a weekday profile, a month-of-year profile (when the history covers a year), the
known promotion days and the growth trend, all read from a log-linear fit of the daily history,
and the days around holidays that move (Chinese New Year, 618, 11.11: metrics/planning/holidays.py), read
from what those days sold in the history against the rest of the profile.
Months and weeks are sums of days, so every level adds up to the goal exactly: the split works in
integer minor units (cents for money, units for counts) with largest-remainder rounding.

Pacing compares the actual to date with the plan to date and projects the landing as
actual + (plan for the remaining days) x (recent actual / recent plan): the plan already holds the
seasonal shape, the recent ratio says how the shop is running against it. Before the period starts
(or in its first days) the recent days lie before it: they get a plan-equivalent from the same day
weights (`lead_plan`), so a goal that has not started is projected from the run-rate too.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import pandas as pd

from metrics.planning.holidays import HOLIDAYS, bin_key, bins_of

__all__ = [
    "AT_RISK",
    "ON_TRACK",
    "Pace",
    "Profile",
    "Split",
    "daily_weights",
    "days_of",
    "decompose",
    "fit_profile",
    "largest_remainder",
    "lead_plan",
    "pace",
    "pace_level",
    "verdict",
]

# verdict thresholds on projected landing / goal: a plan within 2 % is on track, within 10 % the
# gap can still be closed with effort, beyond that the plan or the goal needs rethinking
ON_TRACK = 0.98
AT_RISK = 0.90
# how many recent days set the run-rate: two weeks smooth the weekday wobble but still react
RECENT_DAYS = 14
# z for an 80 % range: wide enough to be honest, narrow enough to be useful in a chat line
RANGE_Z = 1.2816
RANGE_LEVEL = 0.8
# what the day noise does not explain: the day weights are estimates (weekday, month, promotions,
# trend), demand moves in weekly swings (budgets, campaigns) that days do not average out, and
# growth is not projected from under a year of history. A relative error of MODEL_SD at any
# distance plus HORIZON_SD per square root of a month ahead, set so the 80 % range covered 80 % of
# back-test cases on demo shops of seeds 101-103 (bench/backtest_planning.py; bench/README.md
# "Back-tests" reports seeds 1-3, which were not used to set them)
MODEL_SD = 0.03
HORIZON_SD = 0.03
# with under a year of history no trend is projected (see fit_profile); the range then allows a
# yearly growth of this sd between the run-rate's days and the days projected
UNTRENDED_GROWTH_SD = 0.3
MIN_HISTORY_FOR_MONTHS = 365
# a trend read from less than a year mixes growth with the season; and even a real one is capped,
# so a plan never bakes in a growth the shop has not shown for long
MIN_HISTORY_FOR_TREND = 365
MAX_GROWTH_PER_YEAR = 0.5
# a month with fewer days outside holiday windows than this (February, under Chinese New Year) takes
# its level between its neighbours': read from a handful of days it would be mostly noise, and the
# holiday's own effect would be split between the two at random
MIN_MONTH_DAYS = 14


@dataclass(frozen=True)
class Profile:
    """Multiplicative day weights learnt from history (all 1.0 = no seasonality known)."""

    weekday: tuple[float, ...] = (1.0,) * 7  # Monday..Sunday, mean 1
    month: tuple[float, ...] = (1.0,) * 12  # January..December, mean 1 over the months seen
    promo: Mapping[tuple[int, int], float] = field(default_factory=dict)  # (month, day) -> multiplier
    growth_per_day: float = 0.0  # log growth per day
    default_promo: float = 1.0  # for a campaign day whose (month, day) was never seen
    history_days: int = 0
    # holiday bin ("cny:-7") -> multiplier, for the bins the history covers; any other is 1
    holiday: Mapping[str, float] = field(default_factory=dict)
    # holiday ("cny") -> the anchors in the history its bins were read from
    holiday_seen: Mapping[str, tuple[date, ...]] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Mapping[str, object] | None) -> Profile:
        """The profile `as_json` stored (rounded to 4 digits: weights to 1e-4, enough for a split)."""
        if not data:
            return cls()
        promo = {(int(k[:2]), int(k[3:])): float(v) for k, v in dict(data.get("promo") or {}).items()}  # type: ignore[call-overload]
        return cls(
            weekday=tuple(float(w) for w in data.get("weekday") or (1.0,) * 7),  # type: ignore[union-attr]
            month=tuple(float(m) for m in data.get("month") or (1.0,) * 12),  # type: ignore[union-attr]
            promo=promo,
            growth_per_day=math.log1p(float(data.get("growth_per_year") or 0.0)) / 365,  # type: ignore[arg-type]
            default_promo=float(np.mean(list(promo.values()))) if promo else 1.0,
            history_days=int(data.get("history_days") or 0),  # type: ignore[call-overload]
            holiday={str(k): float(v) for k, v in dict(data.get("holidays") or {}).items()},  # type: ignore[call-overload]
            holiday_seen={str(k): tuple(date.fromisoformat(str(a)) for a in v)
                          for k, v in dict(data.get("holiday_seen") or {}).items()},  # type: ignore[call-overload]
        )

    def as_json(self) -> dict[str, object]:
        return {
            "weekday": [round(w, 4) for w in self.weekday],
            "month": [round(m, 4) for m in self.month],
            "promo": {f"{m:02d}-{d:02d}": round(v, 4) for (m, d), v in sorted(self.promo.items())},
            "growth_per_year": round(math.expm1(self.growth_per_day * 365), 4),
            "history_days": self.history_days,
            "holidays": {k: round(v, 4) for k, v in sorted(self.holiday.items())},
            "holiday_seen": {k: [a.isoformat() for a in v] for k, v in sorted(self.holiday_seen.items())},
        }


def days_of(start: date, end: date) -> list[date]:
    """Every day of [start, end)."""
    return [start + timedelta(days=i) for i in range((end - start).days)]


def fit_profile(
    daily: pd.Series,
    promo_days: Iterable[date] = (),
    *,
    trend: bool = True,
) -> Profile:
    """Learn the weekday, month, promotion and holiday weights from a daily series (index: date).

    log(y) = level + growth*t + weekday + month + one effect per promotion (month, day), by least
    squares. Logs make the effects multiplicative, so a promotion doubling a Friday and a Monday
    alike is one number. Month effects need a whole year: with less they would only echo the trend.

    The days around a holiday (metrics/planning/holidays.py; a promotion day keeps its own effect instead)
    are left out of that fit and read against it afterwards: each holiday bin's effect is the
    geometric mean of what its days sold over what the rest of the profile expected of them, when
    the history holds at least half of the bin's days. Otherwise the bin stays at 1 (Profile.holiday
    has no entry for it), which the plan says. Fitting them together instead would let February's
    level and Chinese New Year's dip trade places at random, since one year has one of each.
    """
    s = pd.Series(daily, dtype=float)
    s = s[s > 0].sort_index()  # no orders on a day is a gap in data, not a seasonal signal
    if len(s) < 14:
        return Profile(history_days=len(s))
    days = [d if isinstance(d, date) else pd.Timestamp(d).date() for d in s.index]
    t = np.array([(d - days[0]).days for d in days], dtype=float)
    span = t[-1] + 1
    y = np.log(s.to_numpy())
    promo_keys = sorted({(d.month, d.day) for d in promo_days} & {(d.month, d.day) for d in days})
    promo_set = set(promo_keys)
    in_bins = [() if (d.month, d.day) in promo_set else tuple(bins_of(d)) for d in days]
    clean = np.array([not b for b in in_bins])
    if clean.sum() < 14:  # hardly a day outside holidays: no profile to read them against
        in_bins, clean = [() for _ in days], np.ones(len(days), dtype=bool)
    use_months = span >= MIN_HISTORY_FOR_MONTHS
    months_seen = sorted({d.month for d in days}) if use_months else []
    month_days = {m: sum(1 for d, c in zip(days, clean, strict=True) if c and d.month == m) for m in months_seen}
    # the reference month is the best observed one: every other month is read relative to it
    months_seen.sort(key=lambda m: (-month_days[m], m))
    cols = [np.ones_like(t)]
    names: list[tuple[str, object]] = [("level", None)]
    if trend and span >= MIN_HISTORY_FOR_TREND:
        cols.append(t - t.mean())
        names.append(("trend", None))
    for wd in range(1, 7):  # Monday is the reference
        cols.append(np.array([d.weekday() == wd for d in days], dtype=float))
        names.append(("weekday", wd))
    for m in months_seen[1:]:
        cols.append(np.array([d.month == m for d in days], dtype=float))
        names.append(("month", m))
    for key in promo_keys:
        cols.append(np.array([(d.month, d.day) == key for d in days], dtype=float))
        names.append(("promo", key))
    x = np.column_stack(cols)
    coef, *_ = np.linalg.lstsq(x[clean], y[clean], rcond=None)
    fitted = dict(zip(names, coef, strict=True))
    m_fit = {m: float(fitted.get(("month", m), 0.0)) for m in months_seen}
    for m, v in _fill_weak_months(m_fit, month_days).items():
        fitted[("month", m)] = v
    coef = np.array([fitted[n] for n in names])
    wd_log = np.array([0.0] + [fitted[("weekday", wd)] for wd in range(1, 7)])
    weekday = np.exp(wd_log - wd_log.mean())
    month = np.ones(12)
    if months_seen:
        m_log = np.array([fitted.get(("month", m), 0.0) for m in months_seen])
        m_log -= m_log.mean()
        for m, v in zip(months_seen, m_log, strict=True):
            month[m - 1] = math.exp(v)
    promo = {key: math.exp(fitted[("promo", key)]) for key in promo_keys}
    holiday, seen = _holiday_effects(days, in_bins, y - x @ coef)
    return Profile(
        weekday=tuple(float(w) for w in weekday),
        month=tuple(float(m) for m in month),
        promo=promo,
        growth_per_day=_capped_growth(float(fitted.get(("trend", None), 0.0))),
        default_promo=float(np.mean(list(promo.values()))) if promo else 1.0,
        history_days=int(span),
        holiday=holiday,
        holiday_seen=seen,
    )


def _fill_weak_months(m_log: dict[int, float], month_days: dict[int, int]) -> dict[int, float]:
    """Log levels for the months with fewer than MIN_MONTH_DAYS ordinary days: between the nearest
    well-observed months before and after (around the year), weighted by distance."""
    good = [m for m in m_log if month_days[m] >= MIN_MONTH_DAYS]
    out: dict[int, float] = {}
    if not good:
        return out
    for m in m_log:
        if month_days[m] >= MIN_MONTH_DAYS:
            continue
        before = min(good, key=lambda g: (m - g) % 12)
        after = min(good, key=lambda g: (g - m) % 12)
        db, da = (m - before) % 12, (after - m) % 12
        out[m] = m_log[before] if before == after else (m_log[before] * da + m_log[after] * db) / (da + db)
    return out


def _holiday_effects(days: Sequence[date], in_bins: Sequence[tuple[tuple[str, date], ...]],
                     residual: np.ndarray) -> tuple[dict[str, float], dict[str, tuple[date, ...]]]:
    """Each holiday bin's multiplier from its days' log residuals, when the history holds enough of
    them, and which anchors (holiday dates) they came from."""
    per_bin: dict[str, list[float]] = {}
    anchors: dict[str, set[date]] = {}
    for r, bins in zip(residual, in_bins, strict=True):
        for key, anchor in bins:
            per_bin.setdefault(key, []).append(float(r))
            anchors.setdefault(key, set()).add(anchor)
    effects: dict[str, float] = {}
    seen: dict[str, set[date]] = {}
    for h in HOLIDAYS:
        for first, last in h.bins:
            key = bin_key(h, first)
            values = per_bin.get(key, [])
            # half of the bin's days at least, over every year seen (one day for a one-day bin)
            if values and len(values) * 2 >= last - first + 1:
                effects[key] = math.exp(float(np.mean(values)))
                seen.setdefault(h.key, set()).update(anchors[key])
    return effects, {k: tuple(sorted(v)) for k, v in seen.items()}


def _capped_growth(per_day: float) -> float:
    cap = math.log1p(MAX_GROWTH_PER_YEAR) / 365
    return max(-cap, min(cap, per_day))


def daily_weights(profile: Profile, days: Sequence[date], promo_days: Iterable[date] = ()) -> np.ndarray:
    """Relative weight of each day: weekday x month x promotion (or holiday) x growth since the first day."""
    extra = {(d.month, d.day) for d in promo_days}
    out = np.empty(len(days))
    for i, d in enumerate(days):
        w = profile.weekday[d.weekday()] * profile.month[d.month - 1]
        key = (d.month, d.day)
        if key in profile.promo:
            w *= profile.promo[key]
        elif key in extra:
            w *= profile.default_promo  # a planned campaign the history has not seen yet
        elif profile.holiday:
            # around a holiday (on its date of that year); a bin the history did not cover stays at 1
            for bin_name, _ in bins_of(d):
                w *= profile.holiday.get(bin_name, 1.0)
        w *= math.exp(profile.growth_per_day * (d - days[0]).days) if days else 1.0
        out[i] = w
    return out


def largest_remainder(total: int, weights: Sequence[float] | np.ndarray) -> list[int]:
    """Split the integer `total` in proportion to `weights`; the parts sum to `total` exactly.

    Each part gets the floor of its share; the units left over go to the largest remainders
    (ties to the earlier day, so the split is deterministic).
    """
    w = np.asarray(weights, dtype=float)
    if len(w) == 0:
        raise ValueError("nothing to split over")
    if not np.all(np.isfinite(w)) or (w < 0).any():
        raise ValueError("weights must be finite and non-negative")
    if w.sum() <= 0:
        w = np.ones_like(w)
    sign = -1 if total < 0 else 1
    n = abs(int(total))
    # exact fractions via integer arithmetic on scaled weights would be overkill: float shares of
    # at most 1e15 cents keep the floor right, and the remainder pass fixes the sum regardless
    shares = w / w.sum() * n
    base = np.floor(shares).astype(np.int64)
    left = n - int(base.sum())
    if left:
        order = np.argsort(-(shares - base), kind="stable")
        base[order[:left]] += 1
    return [sign * int(v) for v in base]


@dataclass
class Split:
    """A goal split into days, weeks (ISO, clipped to the period) and months; all in minor units."""

    days: list[date]
    day_units: list[int]
    scale: int  # minor units per unit: 100 for money, 1 for counts

    def by_day(self) -> list[tuple[date, float]]:
        return [(d, v / self.scale) for d, v in zip(self.days, self.day_units, strict=True)]

    def _group(self, key: object) -> list[tuple[date, date, float]]:
        groups: dict[object, list[int]] = {}
        firsts: dict[object, date] = {}
        lasts: dict[object, date] = {}
        for d, v in zip(self.days, self.day_units, strict=True):
            k = key(d)  # type: ignore[operator]
            groups.setdefault(k, []).append(v)
            firsts.setdefault(k, d)
            lasts[k] = d
        return [(firsts[k], lasts[k] + timedelta(days=1), sum(vs) / self.scale) for k, vs in groups.items()]

    def by_week(self) -> list[tuple[date, date, float]]:
        """(first day, day after the last, target) per ISO week; a period starting mid-week
        starts with a short week."""
        return self._group(lambda d: d.isocalendar()[:2])

    def by_month(self) -> list[tuple[date, date, float]]:
        return self._group(lambda d: (d.year, d.month))

    @property
    def total(self) -> float:
        return sum(self.day_units) / self.scale


def decompose(
    target: float,
    start: date,
    end: date,
    profile: Profile,
    *,
    scale: int = 100,
    promo_days: Iterable[date] = (),
) -> Split:
    """Split `target` over [start, end) by the profile's day weights, exactly to 1/scale."""
    days = days_of(start, end)
    if not days:
        raise ValueError("empty period")
    units = round(target * scale)
    weights = daily_weights(profile, days, promo_days)
    return Split(days, largest_remainder(units, weights), scale)


# ---- pacing ------------------------------------------------------------------------------------


def verdict(ratio: float | None) -> str:
    """on_track / at_risk / off_track from projected landing (or level) over the goal."""
    if ratio is None or not math.isfinite(ratio):
        return "unknown"
    if ratio >= ON_TRACK:
        return "on_track"
    if ratio >= AT_RISK:
        return "at_risk"
    return "off_track"


@dataclass
class Pace:
    goal: float
    actual: float  # to date
    plan: float  # plan to date
    gap: float  # actual - plan
    projected: float  # nan: no run-rate to project from (no recent data)
    low: float
    high: float
    run_rate_ratio: float | None  # recent actual / recent plan
    needed_per_day: float | None  # average per remaining day to land on the goal
    needed_ratio: float | None  # needed vs plan for the remaining days
    days_elapsed: int
    days_left: int
    verdict: str
    recent_days: int = 0  # how many days the run-rate was read from (before the period too)
    recent_per_day: float | None = None  # their actual per day, as it came (not adjusted)
    run_rate_remaining: float | None = None  # what the remaining days bring at the run-rate
    needed_vs_run_rate: float | None = None  # (goal - actual) / run_rate_remaining: 1.3 = 30 % above the rate
    outlook: str = "unknown"  # the verdict of the projection, also for a period not started yet

    def as_json(self) -> dict[str, object]:
        def num(v: float | None) -> float | None:
            return None if v is None or not math.isfinite(v) else float(f"{v:.12g}")

        return {
            "goal": num(self.goal), "actual": num(self.actual), "plan": num(self.plan), "gap": num(self.gap),
            "projected": num(self.projected), "low": num(self.low), "high": num(self.high),
            "range_level": RANGE_LEVEL,
            "run_rate_ratio": num(self.run_rate_ratio), "needed_per_day": num(self.needed_per_day),
            "needed_ratio": num(self.needed_ratio), "days_elapsed": self.days_elapsed,
            "days_left": self.days_left, "verdict": self.verdict, "outlook": self.outlook,
            "recent_days": self.recent_days, "recent_per_day": num(self.recent_per_day),
            "run_rate_remaining": num(self.run_rate_remaining),
            "needed_vs_run_rate": num(self.needed_vs_run_rate),
            "attainment": num(self.actual / self.goal if self.goal else None),
        }


def pace(
    targets: Mapping[date, float],
    actuals: Mapping[date, float],
    as_of: date,
    *,
    recent_days: int = RECENT_DAYS,
    lead_plan: Mapping[date, float] | None = None,
    growth_sd: float = 0.0,
) -> Pace:
    """Pace of a sum goal whose daily targets are `targets`, with actuals for days before `as_of`.

    Days before `as_of` are complete; a missing actual is zero (no orders that day). `lead_plan`
    gives days before the period a plan-equivalent (the same day weights, on the goal's scale) and
    `actuals` their actuals: the run-rate is read from the last `recent_days` days before `as_of`,
    inside the period or before it, so a goal that has not started is projected from the run-rate
    like one that has. `growth_sd`: the sd of a yearly growth the day weights do not hold (a profile
    without a trend), widening the range with the distance from the run-rate's days.
    """
    days = sorted(targets)
    goal = float(sum(targets.values()))
    past = [d for d in days if d < as_of]
    future = [d for d in days if d >= as_of]
    actual = float(sum(actuals.get(d, 0.0) for d in past))
    plan = float(sum(targets[d] for d in past))
    remaining_plan = float(sum(targets[d] for d in future))
    first = days[0] if days else as_of
    # the plan of every day the run-rate may come from: lead days before the period, then its own
    reference = {d: float(v) for d, v in (lead_plan or {}).items() if d < first and d < as_of}
    reference.update({d: float(targets[d]) for d in past})
    recent = sorted(reference)[-recent_days:]
    ratio: float | None = None
    rel_sd = 0.0
    if recent:
        recent_plan = sum(reference[d] for d in recent)
        if recent_plan > 0:
            ratio = sum(actuals.get(d, 0.0) for d in recent) / recent_plan
            daily = np.array([actuals.get(d, 0.0) / reference[d] for d in recent if reference[d] > 0])
            if ratio > 0:
                # uncertainty of the level from the recent days, plus the noise of the days to come,
                # plus what the day weights get wrong, more the further ahead they reach
                sd = float(np.std(daily, ddof=1)) / ratio if len(daily) > 1 else 0.0
                ahead = _horizon(recent[-1], future)
                # growth unknown to the weights acts from the middle of the run-rate's days
                drift = growth_sd * (ahead + len(recent) / 2) / 365
                rel_sd = math.sqrt(sd**2 * (1 / len(daily) + 1 / max(len(future), 1)) + MODEL_SD**2
                                   + HORIZON_SD**2 * ahead / 30 + drift**2)
    recent_per_day = sum(actuals.get(d, 0.0) for d in recent) / len(recent) if recent else None
    if ratio is None and not past:
        # no recent data at all: nothing to project from (not the goal itself)
        projected = low = high = math.nan
        at_rate = None
    else:
        r = ratio if ratio is not None else 1.0
        at_rate = remaining_plan * r
        spread = RANGE_Z * rel_sd
        projected = actual + at_rate
        # a log-normal range: never below zero, wider above than below
        low = actual + at_rate * math.exp(-spread)
        high = actual + at_rate * math.exp(spread)
    # already past the goal: nothing more is needed (not a negative run-rate)
    needed = max(goal - actual, 0.0)
    needed_per_day = needed / len(future) if future else None
    needed_ratio = needed / remaining_plan if future and remaining_plan > 0 else None
    needed_vs_rate = needed / at_rate if future and at_rate else None
    outlook = verdict(projected / goal if goal and math.isfinite(projected) else None)
    if not future:
        v = "achieved" if actual >= goal else "missed"
    elif not past:
        v = "not_started"
    else:
        v = outlook
    return Pace(goal, actual, plan, actual - plan, projected, low, high, ratio, needed_per_day,
                needed_ratio, len(past), len(future), v, len(recent), recent_per_day, at_rate,
                needed_vs_rate, outlook)


def lead_plan(
    targets: Mapping[date, float],
    profile: Profile,
    start: date,
    promo_days: Iterable[date] = (),
) -> dict[date, float]:
    """A plan-equivalent for the days [start, first target day): the profile's day weights on the
    targets' scale (targets = goal x weight / the period's weights, as `decompose` splits them)."""
    days = sorted(targets)
    if not days or start >= days[0]:
        return {}
    span = days_of(start, days[-1] + timedelta(days=1))
    w = daily_weights(profile, span, promo_days)
    n_lead = (days[0] - start).days
    index = {d: i for i, d in enumerate(span)}
    period_w = float(sum(w[index[d]] for d in days))
    if period_w <= 0:
        return {}
    scale = float(sum(targets.values())) / period_w
    return {d: float(w[i]) * scale for i, d in enumerate(span[:n_lead])}


def _horizon(last_seen: date, future: Sequence[date]) -> float:
    """Mean distance in days from the last day the run-rate saw to the days projected."""
    if not future:
        return 0.0
    return float(np.mean([(d - last_seen).days for d in future]))


def pace_level(target: float, actual: float | None, higher_is_better: bool) -> str:
    """Verdict for a level goal (conversion 3 %, cac 80): how close the level to date is."""
    if actual is None or target <= 0:
        return "unknown"
    ratio = actual / target if higher_is_better else (target / actual if actual > 0 else math.inf)
    return verdict(ratio)

"""Promotion lift against a seasonal counterfactual.

What would the campaign days have sold without the campaign? The weeks before say: a log-linear
fit of the pre-campaign days (level + trend + weekday, other promotions left out) extrapolated over
the campaign and the days after it. Lift = actual / baseline - 1; the incremental amounts are
actual - baseline; the days after the campaign show the pull-forward dip (negative increments),
which the net increment includes. ROI is the net incremental GMV per unit of campaign spend.

The campaign's cost is the one declared with it; without one, the marketing spend of the campaign
days above its own pre-campaign baseline (an estimate, and said to be one). Either way the result
also carries the campaign days' whole marketing spend and that baseline, so a reply can show what
the cost figure is a part of.

The same event a year earlier is aligned by event day (day 1 with day 1), not by calendar date.

Where order lines are recorded, units sold get the same baseline as GMV and orders; where stock is
recorded too, `sold_out` finds the SKUs that ran out during the campaign (a stock-out that began on
one of its days, per SKU and warehouse, with its lost-sales estimate: metrics/products/stock.py).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from metrics.data.warehouse import Filter, Warehouse
from metrics.products.source import has
from metrics.products.stock import StockOut, stockouts

__all__ = ["CampaignResult", "EventWindow", "baseline", "campaign_lift", "lift_from_daily", "sold_out"]

MEASURES = ("gmv", "orders", "new_customers", "spend", "units")  # units: where order lines are recorded
LIFT_MEASURES = ("gmv", "orders", "new_customers", "units")
PRE_DAYS = 56  # eight weeks: enough for a weekday profile and a trend, short enough to stay seasonal
# days right before the campaign left out of the baseline (teasers, waiting shoppers); a week's gap
# did not make the back-test's lifts better (bench/README.md "Back-tests"), so none by default
GAP_DAYS = 0
POST_DAYS = 7  # the pull-forward dip usually fades within a week
MIN_PRE_DAYS = 14
RANGE_Z = 1.2816  # an 80 % range, as pacing's
RANGE_LEVEL = 0.8


@dataclass(frozen=True)
class EventWindow:
    name: str
    start: date  # first day
    end: date  # the day after the last (half-open)
    channels: tuple[str, ...] = ()
    spend: float | None = None  # the campaign's own cost when known (coupons, fees, ads)

    @property
    def days(self) -> int:
        return (self.end - self.start).days


def baseline(pre: pd.DataFrame, measure: str, days: Sequence[date]) -> np.ndarray:
    """The counterfactual of `measure` on `days` from the pre-campaign frame (index: date).

    log(y) = level + trend*t + weekday; without enough days for a trend, level + weekday; a
    weekday the pre window never saw gets no weekday effect.
    """
    return baseline_fit(pre, measure, days).values


@dataclass
class BaselineFit:
    values: np.ndarray  # the counterfactual per day
    rows: np.ndarray | None  # the design row of each day (None: no regression, too few days)
    cov: np.ndarray | None  # covariance of the log-scale coefficients
    sigma2: float  # variance of one day's log residual around the fit

    def log_se(self, index: slice) -> float | None:
        """Standard error of log(actual sum / baseline sum) over the days `index` when there is no
        effect: the baseline's own uncertainty (its coefficients) plus the days' noise."""
        v = self.values[index]
        if self.rows is None or self.cov is None or len(v) == 0 or v.sum() <= 0:
            return None
        share = v / v.sum()
        g = share @ self.rows[index]  # d log(sum) / d coefficients
        return math.sqrt(float(g @ self.cov @ g) + self.sigma2 * float((share**2).sum()))


def baseline_fit(pre: pd.DataFrame, measure: str, days: Sequence[date]) -> BaselineFit:
    """`baseline` with what its uncertainty needs (see BaselineFit)."""
    s = pre[measure].astype(float)
    s = s[s > 0]
    if len(s) < 3:
        return BaselineFit(np.full(len(days), float(s.mean()) if len(s) else 0.0), None, None, 0.0)
    d0 = s.index[0]
    t = np.array([(d - d0).days for d in s.index], dtype=float)
    wd = np.array([d.weekday() for d in s.index])
    seen = sorted(set(wd))
    cols = [np.ones_like(t)]
    use_trend = len(s) >= 28
    if use_trend:
        cols.append(t)
    for w in seen[1:]:
        cols.append((wd == w).astype(float))
    x = np.column_stack(cols)
    y = np.log(s.to_numpy())
    coef, *_ = np.linalg.lstsq(x, y, rcond=None)
    # a log fit estimates the geometric mean; the smearing factor turns it back into the mean
    resid = y - x @ coef
    smear = float(np.mean(np.exp(resid)))
    dof = len(y) - x.shape[1]
    rows = []
    for d in days:
        row = [1.0]
        if use_trend:
            row.append(float((d - d0).days))
        row += [1.0 if d.weekday() == w else 0.0 for w in seen[1:]]
        rows.append(row)
    design = np.array(rows, dtype=float).reshape(len(days), x.shape[1])
    values = np.exp(design @ coef) * smear
    if dof <= 0:
        return BaselineFit(values, None, None, 0.0)
    sigma2 = float(resid @ resid) / dof
    cov = sigma2 * np.linalg.pinv(x.T @ x)
    return BaselineFit(values, design, cov, sigma2)


def _num(v: float | None) -> float | None:
    return None if v is None or not math.isfinite(v) else float(f"{v:.12g}")


@dataclass
class CampaignResult:
    event: EventWindow
    actual: dict[str, float]
    expected: dict[str, float]  # the baseline over the campaign days
    incremental: dict[str, float]
    lift: dict[str, float | None]
    lift_low: dict[str, float | None]  # the lift's range (RANGE_LEVEL): the baseline's own uncertainty
    lift_high: dict[str, float | None]
    post_incremental: dict[str, float]  # over the days after (negative = pull-forward)
    post_days: int
    aov: float | None
    baseline_aov: float | None
    spend: float | None
    roi: float | None  # net incremental GMV / spend
    daily: pd.DataFrame  # day, event_day, gmv, gmv_baseline, orders, orders_baseline...
    last_year: CampaignResult | None = None
    notes: list[str] = field(default_factory=list)
    spend_source: str = "declared"  # declared with the campaign | estimated: marketing spend above its baseline
    spend_window: float | None = None  # all marketing spend of the campaign days (its channels); None: not recorded
    spend_baseline: float | None = None  # what the pre-campaign fit expected of it

    @property
    def net_incremental_gmv(self) -> float:
        return self.incremental["gmv"] + self.post_incremental.get("gmv", 0.0)

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.event.name,
            "period": {"start": self.event.start.isoformat(), "end": self.event.end.isoformat()},
            "channels": list(self.event.channels),
            "actual": {k: _num(v) for k, v in self.actual.items()},
            "baseline": {k: _num(v) for k, v in self.expected.items()},
            "incremental": {k: _num(v) for k, v in self.incremental.items()},
            "lift": {k: _num(v) for k, v in self.lift.items()},
            "lift_range": {k: [_num(self.lift_low.get(k)), _num(self.lift_high.get(k))] for k in self.lift},
            "range_level": RANGE_LEVEL,
            "post_incremental": {k: _num(v) for k, v in self.post_incremental.items()},
            "post_days": self.post_days,
            "net_incremental_gmv": _num(self.net_incremental_gmv),
            "aov": _num(self.aov), "baseline_aov": _num(self.baseline_aov),
            "aov_change_pct": _num((self.aov / self.baseline_aov - 1) * 100)
            if self.aov and self.baseline_aov else None,
            "spend": _num(self.spend), "spend_source": self.spend_source if self.spend is not None else None,
            "spend_window": _num(self.spend_window), "spend_baseline": _num(self.spend_baseline),
            "roi": _num(self.roi),
            "daily": [
                {"day": r.day.isoformat(), "event_day": int(r.event_day), "gmv": _num(r.gmv),
                 "gmv_baseline": _num(r.gmv_baseline)}
                for r in self.daily.itertuples()
            ],
            "notes": self.notes,
        }
        out["last_year"] = self.last_year.as_json() if self.last_year else None
        return out


def lift_from_daily(
    event: EventWindow,
    daily: pd.DataFrame,
    data_end: date,
    exclude: Iterable[date] = (),
) -> CampaignResult | None:
    """Lift of `event` from a daily frame (index: date; columns gmv, orders, new_customers[, spend])
    covering the pre window, the campaign and the days after. None when the campaign has no data."""
    daily = daily.sort_index()
    skip = set(exclude)
    pre_start = event.start - timedelta(days=PRE_DAYS + GAP_DAYS)
    pre_end = event.start - timedelta(days=GAP_DAYS)
    pre = daily[(daily.index >= pre_start) & (daily.index < pre_end) & ~daily.index.isin(list(skip))]
    camp_days = [d for d in (event.start + timedelta(days=i) for i in range(event.days)) if d < data_end]
    if not camp_days:
        return None
    post_days = [d for d in (event.end + timedelta(days=i) for i in range(POST_DAYS)) if d < data_end]
    notes = []
    if len(pre) < MIN_PRE_DAYS:
        notes.append("short_baseline")
    if len(camp_days) < event.days:
        notes.append("in_progress")
    # units only where lines are recorded (the warehouse leaves the column out otherwise) and sold
    measures = [m for m in LIFT_MEASURES if m in daily.columns and (m != "units" or (daily[m] > 0).any())]
    frame = daily.reindex(camp_days + post_days).fillna(0.0)
    actual, expected, incremental, lift, post_inc = {}, {}, {}, {}, {}
    lift_low: dict[str, float | None] = {}
    lift_high: dict[str, float | None] = {}
    rows: dict[str, Any] = {"day": camp_days + post_days,
                            "event_day": list(range(1, len(camp_days) + len(post_days) + 1))}
    for m in measures:
        fit = baseline_fit(pre, m, camp_days + post_days)
        base = fit.values
        vals = frame[m].to_numpy(dtype=float)
        n = len(camp_days)
        actual[m] = float(vals[:n].sum())
        expected[m] = float(base[:n].sum())
        incremental[m] = actual[m] - expected[m]
        lift[m] = actual[m] / expected[m] - 1 if expected[m] > 0 else None
        se = fit.log_se(slice(0, n))
        if lift[m] is not None and se is not None and actual[m] > 0:
            lift_low[m] = (1 + lift[m]) * math.exp(-RANGE_Z * se) - 1
            lift_high[m] = (1 + lift[m]) * math.exp(RANGE_Z * se) - 1
        else:
            lift_low[m] = lift_high[m] = None
        post_inc[m] = float((vals[n:] - base[n:]).sum())
        rows[m], rows[f"{m}_baseline"] = vals, base
    aov = actual["gmv"] / actual["orders"] if actual.get("orders") else None
    pre_orders = float(pre["orders"].sum()) if "orders" in pre else 0.0
    baseline_aov = float(pre["gmv"].sum()) / pre_orders if pre_orders else None
    spend = event.spend
    spend_source = "declared"
    spend_window = spend_base = None
    if "spend" in daily.columns and daily["spend"].notna().any():
        spend_window = float(frame["spend"].to_numpy()[: len(camp_days)].sum())
        spend_base = float(baseline(pre, "spend", camp_days).sum()) if pre["spend"].sum() > 0 else 0.0
    if spend is None and spend_window is not None and spend_base is not None:
        # no declared cost: the marketing spend above its own pre-campaign baseline
        extra = spend_window - spend_base
        spend = extra if extra > 0 else None
        spend_source = "estimated"
    net = incremental["gmv"] + post_inc.get("gmv", 0.0)
    roi = net / spend if spend else None
    return CampaignResult(event, actual, expected, incremental, lift, lift_low, lift_high, post_inc, len(post_days),
                          aov, baseline_aov, spend, roi, pd.DataFrame(rows), notes=notes, spend_source=spend_source,
                          spend_window=spend_window, spend_baseline=spend_base)


def _daily_frame(warehouse: Warehouse, start: date, end: date, channels: Sequence[str]) -> pd.DataFrame:
    filters = [Filter("channel", tuple(channels))] if channels else []
    frame = warehouse.daily(list(MEASURES), datetime.combine(start, datetime.min.time()),
                            datetime.combine(end, datetime.min.time()), filters=filters)
    if frame.empty:
        return pd.DataFrame(columns=[m for m in MEASURES if m != "units"], index=pd.Index([], name="day"))
    return frame.set_index("day")


def shift_year(event: EventWindow, previous: Sequence[EventWindow] = ()) -> EventWindow:
    """Last year's edition: a stored campaign of the same name about a year earlier, else the
    same dates a year back (Feb 29 -> Feb 28)."""
    target = event.start - timedelta(days=365)
    same = [p for p in previous if p.name == event.name and abs((p.start - target).days) <= 45]
    if same:
        return min(same, key=lambda p: abs((p.start - target).days))

    def back(d: date) -> date:
        return date(d.year - 1, d.month, 28) if (d.month, d.day) == (2, 29) else d.replace(year=d.year - 1)

    last = back(event.end - timedelta(days=1))
    return EventWindow(event.name, back(event.start), last + timedelta(days=1), event.channels)


def campaign_lift(
    warehouse: Warehouse,
    event: EventWindow,
    data_end: date,
    other_events: Sequence[EventWindow] = (),
    promo_days: Iterable[date] = (),
    with_last_year: bool = True,
) -> CampaignResult | None:
    """The campaign's lift on the warehouse, and last year's edition beside it when there is data."""
    exclude = set(promo_days)
    for other in other_events:
        if other.name != event.name or other.start != event.start:
            # another promotion and the week after it (its pull-forward dip) are no baseline days
            exclude.update(other.start + timedelta(days=i) for i in range(other.days + POST_DAYS))
    start = event.start - timedelta(days=PRE_DAYS + GAP_DAYS)
    end = min(event.end + timedelta(days=POST_DAYS), data_end)
    if end <= event.start:
        return None
    result = lift_from_daily(event, _daily_frame(warehouse, start, end, event.channels), data_end, exclude)
    if result is None or not with_last_year:
        return result
    last = shift_year(event, other_events)
    previous = campaign_lift(warehouse, last, data_end, other_events, promo_days, with_last_year=False)
    if previous is not None and previous.actual.get("gmv", 0) > 0:
        result.last_year = previous
    return result


def sold_out(warehouse: Warehouse, event: EventWindow, data_end: date) -> list[StockOut] | None:
    """The SKUs that ran out during the campaign: the stock-outs per SKU and warehouse whose first
    day at zero is one of the campaign's days (so one that began before it is not its doing), with
    their days at zero and lost sales within the campaign's days, most lost sales first. None when
    stock or order lines are not recorded (the lost sales need the lines)."""
    if not has(warehouse, "inventory") or not has(warehouse, "order_lines"):
        return None
    end = min(event.end, data_end)
    if end <= event.start:
        return []
    # from the day before: a SKU already at zero then began its stock-out before the campaign
    runs = stockouts(warehouse, event.start - timedelta(days=1), end, by_warehouse=True)
    return [r for r in runs if r.first >= event.start]

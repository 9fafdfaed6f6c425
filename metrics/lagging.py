"""KPIs whose recent days are not final yet: refunds land on their order's day, but later.

`refund_rate` is refunded amount / GMV by order day. An order refunded a week after it was placed
adds to its own day's refunds a week later, so the refund rate of the last days is low until their
refunds come in, and yesterday against the day before reads as an improvement that is not one.

The data has no refund timestamp, so the refund rate of a recent day cannot be compared with the
rate an older day had at the same age. Instead the days still inside the *refund window* are
marked incomplete, and a change involving them is never called better or worse. The window is
`[kpis] refund_window_days` when configured, otherwise measured from the data (`measure_window`):
the most recent order days whose refund rate is still clearly below that of mature orders.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal

import numpy as np

from metrics.data.warehouse import Warehouse
from metrics.kpis import KpiResult
from metrics.periods import Period

LAGGING = ("refund_rate",)  # KPIs whose recent days still rise; "refunded" is their lagging measure
MATURE_AGES = (60, 120)  # order days this many days before the last one are taken as final
PROBE = 7  # days pooled at each age: one day's refund rate is too noisy to read
MAX_WINDOW = MATURE_AGES[0]


@dataclass(frozen=True)
class RefundWindow:
    """Refunds of orders from `first` through `last` (the last day with orders) are still arriving."""

    days: int
    last: date
    source: Literal["configured", "measured"]

    @property
    def first(self) -> date:
        return self.last - timedelta(days=self.days - 1)

    def touches(self, period: Period) -> bool:
        """Whether the period has order days inside the window (days after the data are not: unknown)."""
        return self.days > 0 and period.start <= self.last and period.end > self.first

    def as_json(self) -> dict[str, object]:
        return {"window_days": self.days, "from": self.first.isoformat(), "until": self.last.isoformat(),
                "source": self.source}


def measure_window(wh: Warehouse, last: date) -> int | None:
    """Days of the refund window measured from the data, or None with too little history.

    The mature refund rate M is that of orders 60–119 days older than the last day; s is the spread of
    its daily rates. Walking from the last day back, the window ends at the first age k whose 7 days
    (k … k+6 days old) have a pooled refund rate within 2·s/√7 (two standard errors) of M."""
    lo, hi = MATURE_AGES
    start = datetime.combine(last - timedelta(days=hi - 1), datetime.min.time())
    end = datetime.combine(last + timedelta(days=1), datetime.min.time())
    daily = wh.daily(["gmv", "refunded"], start, end)
    if daily.empty or "refunded" not in daily or "gmv" not in daily:
        return None
    ages = np.array([(last - d).days for d in daily["day"]])
    gmv = np.zeros(hi)
    refunded = np.zeros(hi)
    np.add.at(gmv, ages, daily["gmv"].to_numpy(dtype=float))
    np.add.at(refunded, ages, daily["refunded"].to_numpy(dtype=float))
    mature = slice(lo, hi)
    sold = gmv[mature] > 0
    if sold.sum() < (hi - lo) // 2 or gmv[mature].sum() <= 0:
        return None  # not enough mature days to know the final rate
    rate = refunded[mature].sum() / gmv[mature].sum()
    spread = float(np.std(refunded[mature][sold] / gmv[mature][sold]))
    tolerance = 2 * spread / math.sqrt(PROBE)
    for k in range(MAX_WINDOW):
        pooled_gmv = gmv[k:k + PROBE].sum()
        if pooled_gmv > 0 and refunded[k:k + PROBE].sum() / pooled_gmv >= rate - tolerance:
            return k
    return MAX_WINDOW


def refund_window(wh: Warehouse, today: date, configured: int | None) -> RefundWindow | None:
    """The refund window for the data as it is today; None without orders or a measurable history."""
    _, last = wh.coverage("orders", today)
    if last is None:
        return None
    if configured is not None:
        return RefundWindow(configured, last, "configured")
    days = wh.remember(("refund_window", last), lambda: measure_window(wh, last))
    return RefundWindow(days, last, "measured") if days is not None else None


def mark_incomplete(result: KpiResult, window: RefundWindow | None) -> None:
    """Note in `result.incomplete` each lagging KPI whose period or comparison has days in the window."""
    if window is None:
        return
    periods = [result.query.period] + ([result.query.compare.period] if result.query.compare else [])
    for k in result.query.metrics:
        if k.name in LAGGING and any(window.touches(p) for p in periods):
            result.incomplete[k.name] = window

"""The purchase funnel and the playbook's customer lifecycle:
sessions → product views → add to cart → orders → repeat buyers
(awareness → interest → purchase → repurchase)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from metrics.data.warehouse import TOTAL, Filter, Warehouse
from metrics.periods import Period

STEPS = ("sessions", "product_views", "add_to_cart", "orders", "repeat_buyers")
STAGES = {"sessions": "awareness", "product_views": "interest", "add_to_cart": "interest",
          "orders": "purchase", "repeat_buyers": "repurchase"}


@dataclass
class FunnelRow:
    key: str
    counts: dict[str, float | None]  # None: a step the data does not record (no traffic by region)
    previous: dict[str, float | None] | None

    def rate(self, step: str, counts: dict[str, float | None] | None = None) -> float | None:
        """Share of the step before that reached `step` (None for the first step, an empty one, or
        a step the data does not record)."""
        counts = self.counts if counts is None else counts
        i = STEPS.index(step)
        if i == 0:
            return None
        before, count = counts.get(STEPS[i - 1]), counts.get(step)
        return count / before if before and count is not None else None

    def lost_orders(self, step: str) -> float | None:
        """Orders the step's fall against the comparison period cost: the visitors who reached the
        step before it, times the fall of its rate, times the current rates from it on to an order
        (negative when the step improved). None after the order step, or without a comparison."""
        i = STEPS.index(step)
        if self.previous is None or i == 0 or i > STEPS.index("orders"):
            return None
        rate, before, entering = self.rate(step), self.rate(step, self.previous), self.counts.get(STEPS[i - 1])
        if rate is None or before is None or entering is None:
            return None
        onward = 1.0
        for later in STEPS[i + 1:STEPS.index("orders") + 1]:
            r = self.rate(later)
            if r is None:
                return None
            onward *= r
        return entering * (before - rate) * onward

    def weakest(self) -> str | None:
        """The step whose fall against the comparison period cost the most orders; None when no step
        up to the order fell (or there is nothing to compare with).

        Not the lowest rate: steps differ in their natural level (view → cart is always far below
        cart → order), so a low rate says nothing by itself; and not the largest relative drop
        either, which lets a small step with few visitors outrank one that loses many orders."""
        lost = {s: v for s in STEPS[1:] if (v := self.lost_orders(s)) is not None and v > 0}
        return max(lost, key=lambda s: lost[s]) if lost else None


def _rows(frame: pd.DataFrame) -> dict[str, dict[str, float | None]]:
    """Counts per row; a step the warehouse left out (not recorded, or not at this scope) is None."""
    return {str(k): {s: float(frame.loc[k][s]) if s in frame.columns else None for s in STEPS}
            for k in frame.index}


def funnel(
    wh: Warehouse, period: Period, compare: Period | None = None, by: str | None = None,
    filters: Sequence[Filter] = (),
) -> tuple[FunnelRow, list[FunnelRow]]:
    cur_frame = wh.aggregate(STEPS, *period.bounds(), filters=filters)
    cur = _rows(cur_frame)
    prev = _rows(wh.aggregate(STEPS, *compare.bounds(), filters=filters)) if compare else None
    empty = {s: 0.0 if s in cur_frame.columns else None for s in STEPS}
    total = FunnelRow(TOTAL, cur.get(TOTAL, empty), prev.get(TOTAL) if prev else None)
    rows = []
    if by:
        cur_by = _rows(wh.aggregate(STEPS, *period.bounds(), by=by, filters=filters))
        prev_by = _rows(wh.aggregate(STEPS, *compare.bounds(), by=by, filters=filters)) if compare else None
        for key, counts in sorted(cur_by.items(), key=lambda kv: -(kv[1]["sessions"] or 0.0)):
            rows.append(FunnelRow(key, counts, prev_by.get(key) if prev_by else None))
    return total, rows

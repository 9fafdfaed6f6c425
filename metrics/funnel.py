"""The purchase funnel and the playbook's customer lifecycle:
sessions → product views → add to cart → orders → repeat buyers
(awareness → interest → purchase → repurchase)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from metrics.periods import Period
from metrics.warehouse import TOTAL, Filter, Warehouse

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

    def weakest(self) -> str | None:
        """The step that fell most against the earlier period; without one, the lowest rate.

        Steps differ in their natural level (view→cart is always lower than cart→order), so
        a drop against its own history says more than a low absolute rate.
        """
        rates = {s: self.rate(s) for s in STEPS[1:]}
        if self.previous is not None:
            drops = {}
            for s, r in rates.items():
                p = self.rate(s, self.previous)
                if r is not None and p:
                    drops[s] = r / p - 1
            if drops and min(drops.values()) < 0:
                return min(drops, key=lambda s: drops[s])
        known = {s: r for s, r in rates.items() if r is not None}
        return min(known, key=lambda s: known[s]) if known else None


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

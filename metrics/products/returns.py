"""What comes back: returned units and amounts, and return rates, in total and by reason, SKU or
category. From `returns` (by `returned_at`) against the units and line GMV sold in the same period.

Definitions (docs/products.md):
- returned units / amount: sum of returns.quantity / returns.amount with returned_at in the period.
- return rate (units): returned units ÷ units sold in the same period; (amount): returned amount ÷
  line GMV of the same period. Both count what happened in the period, so a day of few sales and
  many returns (after a promotion) can read above 100 %: that is the definition, not an error.
- by reason: the rate's denominator is the whole period's sales (what share of everything sold came
  back for this reason); by SKU or category: that SKU's or category's sales.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import pandas as pd
from sqlalchemy import func, select

from metrics.data.warehouse import Warehouse
from metrics.products.source import columns, has

Split = Literal["reason", "sku", "category"]


@dataclass(frozen=True)
class Returned:
    key: str  # the reason, SKU or category; "" for the total
    units: float
    amount: float
    sold_units: float
    sold_gmv: float

    @property
    def unit_rate(self) -> float | None:
        return self.units / self.sold_units if self.sold_units else None

    @property
    def amount_rate(self) -> float | None:
        return self.amount / self.sold_gmv if self.sold_gmv else None


def returns(w: Warehouse, start: datetime, end: datetime, by: Split | None = None) -> tuple[Returned, list[Returned]]:
    """The total, and one row per reason, SKU or category (most returned amount first)."""
    have = columns(w, "returns")
    r = w.tables["returns"]
    lo, hi = w.ts_bounds(start, end)
    units = func.coalesce(func.sum(r.c.quantity), 0) if "quantity" in have else func.count()
    amount = func.coalesce(func.sum(r.c.amount), 0.0) if "amount" in have else func.sum(0.0)
    source = r
    key = None
    if by == "reason" and "reason" in have:
        key = r.c.reason
    elif by in ("sku", "category") and "sku" in have:
        key = r.c.sku
        if by == "category" and has(w, "products"):
            p = w.tables["products"]
            source = r.outerjoin(p, p.c.sku == r.c.sku)
            key = p.c.category
    cols = [units.label("units"), amount.label("amount")]
    q = (select(key.label("key"), *cols) if key is not None else select(*cols)).select_from(source)
    q = q.where(r.c.returned_at >= lo, r.c.returned_at < hi)
    with w.connect() as conn:
        frame = pd.DataFrame([dict(x) for x in conn.execute(q.group_by(key) if key is not None else q)
                              .mappings().all()])
    sold = w.aggregate(["units", "line_gmv"], start, end)
    sold_units = float(sold["units"].iloc[0]) if "units" in sold and len(sold) else 0.0
    sold_gmv = float(sold["line_gmv"].iloc[0]) if "line_gmv" in sold and len(sold) else 0.0
    total = Returned("", float(frame["units"].sum()) if len(frame) else 0.0,
                     float(frame["amount"].sum()) if len(frame) else 0.0, sold_units, sold_gmv)
    if key is None:
        return total, []
    per = _sold_by(w, start, end, by) if by in ("sku", "category") else {}
    everything = (sold_units, sold_gmv) if by == "reason" else (0.0, 0.0)
    rows = []
    for x in frame.itertuples():
        name = "" if x.key is None or pd.isna(x.key) else str(x.key)  # no reason, or no category known
        rows.append(Returned(name, float(x.units), float(x.amount), *per.get(name, everything)))
    rows.sort(key=lambda x: (-x.amount, -x.units, x.key))
    return total, rows


def _sold_by(w: Warehouse, start: datetime, end: datetime, by: str) -> dict[str, tuple[float, float]]:
    """Units and line GMV sold per SKU (or per the SKU's category in products)."""
    sold = w.aggregate(["units", "line_gmv"], start, end, by="sku")
    out: dict[str, tuple[float, float]] = {str(k): (float(v["units"]), float(v["line_gmv"])) for k, v in sold.iterrows()}
    if by == "sku":
        return out
    p = w.tables["products"]
    with w.connect() as conn:
        category = {str(s): str(c) for s, c in conn.execute(select(p.c.sku, p.c.category)).all() if c is not None}
    grouped: dict[str, tuple[float, float]] = {}
    for sku, (units, gmv) in out.items():
        cat = category.get(sku, "")
        u, g = grouped.get(cat, (0.0, 0.0))
        grouped[cat] = (u + units, g + gmv)
    return grouped

"""How orders leave and arrive: ship delay and delivery time (p50/p90), and the on-time ship rate
against an SLA, in total and by warehouse or carrier. From `shipments`, for the orders that count
placed in the period.

Definitions (docs/products.md):
- ship delay: shipped_at − ordered_at, in hours; delivery time: delivered_at − shipped_at, in
  days, over the delivered shipments; percentiles interpolated linearly (numpy's default).
- on-time ship rate: the orders shipped within `sla_hours` of being placed ÷ the orders that were
  due: placed in the period, and either shipped or past their deadline at `now` (an order not yet
  shipped and past its deadline is late; one not yet due counts nowhere).
- by warehouse or carrier: shipped orders only (an unshipped order has neither); the total
  includes the late unshipped ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import numpy as np
import pandas as pd
from sqlalchemy import select

from metrics.data.warehouse import Filter, Warehouse
from metrics.products.source import columns

DEFAULT_SLA_HOURS = 24.0
Split = Literal["warehouse", "carrier"]


@dataclass(frozen=True)
class Fulfilment:
    key: str  # the warehouse or carrier; "" for the total
    due: int
    on_time: int
    shipped: int
    delivered: int
    ship_p50: float | None  # hours
    ship_p90: float | None
    delivery_p50: float | None  # days
    delivery_p90: float | None

    @property
    def on_time_rate(self) -> float | None:
        return self.on_time / self.due if self.due else None


def _local(w: Warehouse, values: pd.Series) -> pd.Series:
    stamps = pd.to_datetime(values)
    if w.mapping.timestamps == "utc":
        if stamps.dt.tz is None:
            stamps = stamps.dt.tz_localize("UTC")
        stamps = stamps.dt.tz_convert(w.mapping.timezone).dt.tz_localize(None)
    return stamps


def shipments_of(w: Warehouse, start: datetime, end: datetime, filters: tuple[Filter, ...] = ()) -> pd.DataFrame:
    """The orders that count placed in [start, end) with their shipment, if any: order_id,
    ordered_at, shipped_at, delivered_at, warehouse, carrier (local naive timestamps)."""
    have = columns(w, "shipments")
    o, s = w.tables["orders"], w.tables["shipments"]
    extra = [s.c[c] for c in ("delivered_at", "warehouse", "carrier") if c in have]
    q = (select(o.c.order_id, o.c.ordered_at, s.c.shipped_at, *extra)
         .select_from(o.outerjoin(s, s.c.order_id == o.c.order_id))
         .where(*w.orders_where(start, end, filters)))
    with w.connect() as conn:
        frame = pd.DataFrame([tuple(r) for r in conn.execute(q)],
                             columns=["order_id", "ordered_at", "shipped_at", *[c.key for c in extra]])
    for column in ("ordered_at", "shipped_at", "delivered_at"):
        frame[column] = _local(w, frame[column]) if column in frame else pd.NaT
    for column in ("warehouse", "carrier"):
        if column not in frame:
            frame[column] = None
    return frame


def _percentile(values: pd.Series, q: float) -> float | None:
    clean = values.dropna()
    return float(np.percentile(clean, q)) if len(clean) else None


def _summary(key: str, rows: pd.DataFrame, due: pd.Series, sla: timedelta) -> Fulfilment:
    ship_hours = (rows["shipped_at"] - rows["ordered_at"]).dt.total_seconds() / 3600
    delivery_days = (rows["delivered_at"] - rows["shipped_at"]).dt.total_seconds() / 86400
    on_time = rows["shipped_at"].notna() & (rows["shipped_at"] - rows["ordered_at"] <= sla)
    return Fulfilment(key, int(due.sum()), int((on_time & due).sum()), int(rows["shipped_at"].notna().sum()),
                      int(rows["delivered_at"].notna().sum()), _percentile(ship_hours, 50),
                      _percentile(ship_hours, 90), _percentile(delivery_days, 50), _percentile(delivery_days, 90))


def fulfilment(w: Warehouse, start: datetime, end: datetime, now: datetime, by: Split | None = None,
               sla_hours: float = DEFAULT_SLA_HOURS,
               filters: tuple[Filter, ...] = ()) -> tuple[Fulfilment, list[Fulfilment]]:
    """The total, and one row per warehouse or carrier (most orders first)."""
    frame = shipments_of(w, start, end, filters)
    sla = timedelta(hours=sla_hours)
    due = frame["shipped_at"].notna() | (frame["ordered_at"] + sla <= now)
    total = _summary("", frame, due, sla)
    if by is None:
        return total, []
    shipped = frame[frame["shipped_at"].notna() & frame[by].notna()]
    rows = [_summary(str(key), group, due.loc[group.index], sla) for key, group in shipped.groupby(by)]
    rows.sort(key=lambda f: (-f.shipped, f.key))
    return total, rows

"""What is on the shelf: stock as of a day, days of cover, the SKUs at risk of running out within
their lead time, stock-outs and the sales they cost, sell-through. From `inventory` (end-of-day
snapshots per SKU and warehouse), with units from order lines and lead times from `products`.

Definitions (docs/products.md):
- stock of a SKU on a day: the sum of `on_hand` over its warehouses in that day's snapshot; a day
  without a snapshot row for a SKU is unknown, not zero.
- days of cover: stock at the end of the day ÷ the average daily units sold over the COVER_WINDOW
  days up to and including it (None when it sold nothing: cover without demand is unbounded).
- at risk: a SKU that sold in the window and whose cover is below its lead time (products.
  lead_time_days, DEFAULT_LEAD_TIME where unknown); GMV at stake = its average daily line GMV ×
  (lead time − cover), the sales of the days it would stand empty before a reorder arrives.
- a stock-out: a snapshot day on which a SKU's stock (or, per warehouse, its stock there) is 0.
- lost sales of a stocked-out SKU-day: the SKU's average daily units over the LOST_BASELINE
  in-stock snapshot days before its stock-out began (days with stock > 0), × its ASP over those
  days; a SKU that never sold in stock before has no estimate (None).
- sell-through over a period: units sold ÷ (units sold + stock at the period's last snapshot day).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import pandas as pd
from sqlalchemy import func, select

from metrics.data.warehouse import Filter, Warehouse
from metrics.products.source import columns, has

COVER_WINDOW = 28
LOST_BASELINE = 28
DEFAULT_LEAD_TIME = 7


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time())


def stock_on(w: Warehouse, day: date, by_warehouse: bool = False) -> pd.DataFrame:
    """Stock as of the last snapshot on or before `day`: sku[, warehouse], on_hand, on_order, and
    the snapshot's day in `as_of` (an empty frame when there is none)."""
    have = columns(w, "inventory")
    inv = w.tables["inventory"]
    with w.connect() as conn:
        last = conn.execute(select(func.max(inv.c.day)).where(inv.c.day <= day)).scalar()
        if last is None:
            return pd.DataFrame(columns=["sku", "on_hand", "on_order", "as_of"])
        keys = [inv.c.sku] + ([inv.c.warehouse] if by_warehouse and "warehouse" in have else [])
        on_order = func.coalesce(func.sum(inv.c.on_order), 0) if "on_order" in have else func.sum(0)
        q = (select(*keys, func.coalesce(func.sum(inv.c.on_hand), 0).label("on_hand"), on_order.label("on_order"))
             .where(inv.c.day == last).group_by(*keys))
        frame = pd.DataFrame([dict(r) for r in conn.execute(q).mappings().all()])
    frame["sku"] = frame["sku"].astype(str)
    frame["as_of"] = pd.Timestamp(str(last)).date()
    return frame


def sales_by_sku(w: Warehouse, start: date, end: date, filters: tuple[Filter, ...] = ()) -> pd.DataFrame:
    """Units and line GMV per SKU over the days [start, end)."""
    frame = w.aggregate(["units", "line_gmv"], _midnight(start), _midnight(end), by="sku", filters=filters)
    frame.index = frame.index.astype(str)
    return frame


def lead_times(w: Warehouse) -> dict[str, int]:
    if not has(w, "products") or "lead_time_days" not in columns(w, "products"):
        return {}
    p = w.tables["products"]
    with w.connect() as conn:
        rows = conn.execute(select(p.c.sku, p.c.lead_time_days).where(p.c.lead_time_days.is_not(None))).all()
    return {str(sku): int(days) for sku, days in rows}


@dataclass(frozen=True)
class Cover:
    sku: str
    on_hand: float
    daily_units: float
    daily_gmv: float
    cover_days: float | None  # None: no sales in the window
    lead_time: int
    gmv_at_stake: float  # over the days it would stand empty before a reorder arrives

    @property
    def at_risk(self) -> bool:
        return self.cover_days is not None and self.cover_days < self.lead_time


def cover(w: Warehouse, day: date, window: int = COVER_WINDOW) -> list[Cover]:
    """Days of cover of every SKU in stock data as of `day` (inclusive), most GMV at stake first."""
    stock = stock_on(w, day)
    if stock.empty:
        return []
    sales = sales_by_sku(w, day - timedelta(days=window - 1), day + timedelta(days=1))
    leads = lead_times(w)
    out: list[Cover] = []
    for row in stock.itertuples():
        units = float(sales.at[row.sku, "units"]) if row.sku in sales.index else 0.0
        gmv = float(sales.at[row.sku, "line_gmv"]) if row.sku in sales.index else 0.0
        daily, daily_gmv = units / window, gmv / window
        days = float(row.on_hand) / daily if daily > 0 else None
        lead = leads.get(row.sku, DEFAULT_LEAD_TIME)
        stake = daily_gmv * (lead - days) if days is not None and days < lead else 0.0
        out.append(Cover(row.sku, float(row.on_hand), daily, daily_gmv, days, lead, stake))
    out.sort(key=lambda c: (-c.gmv_at_stake, -c.daily_gmv, c.sku))
    return out


def at_risk(w: Warehouse, day: date, window: int = COVER_WINDOW) -> list[Cover]:
    """The SKUs whose cover is below their lead time, most GMV at stake first."""
    return [c for c in cover(w, day, window) if c.at_risk]


def daily_stock(w: Warehouse, start: date, end: date, skus: list[str] | None = None,
                by_warehouse: bool = False) -> pd.DataFrame:
    """Snapshot stock per day over [start, end): day, sku[, warehouse], on_hand."""
    have = columns(w, "inventory")
    inv = w.tables["inventory"]
    keys = [inv.c.day, inv.c.sku] + ([inv.c.warehouse] if by_warehouse and "warehouse" in have else [])
    q = select(*keys, func.sum(inv.c.on_hand).label("on_hand")).where(inv.c.day >= start, inv.c.day < end)
    if skus is not None:
        q = q.where(inv.c.sku.in_(skus))
    with w.connect() as conn:
        frame = pd.DataFrame([dict(r) for r in conn.execute(q.group_by(*keys)).mappings().all()])
    if frame.empty:
        return pd.DataFrame(columns=[k.key for k in keys] + ["on_hand"])
    frame["day"] = pd.to_datetime(frame["day"].astype(str)).dt.date
    frame["sku"] = frame["sku"].astype(str)
    return frame


@dataclass(frozen=True)
class StockOut:
    sku: str
    warehouse: str | None  # None: the SKU's whole stock
    first: date
    last: date
    days: int  # snapshot days at zero between first and last
    lost_units: float | None
    lost_gmv: float | None
    ongoing: bool  # still at zero on the period's last snapshot day


def stockouts(w: Warehouse, start: date, end: date, by_warehouse: bool = False) -> list[StockOut]:
    """Runs of snapshot days at zero stock within [start, end), with their lost-sales estimate."""
    stock = daily_stock(w, start, end, by_warehouse=by_warehouse)
    if stock.empty:
        return []
    group = ["sku", "warehouse"] if by_warehouse and "warehouse" in stock else ["sku"]
    last_day = stock["day"].max()
    runs: list[tuple[tuple[str, ...], list[date]]] = []
    for key, rows in stock.sort_values("day").groupby(group):
        key = key if isinstance(key, tuple) else (key,)
        run: list[date] = []
        for day, on_hand in zip(rows["day"], rows["on_hand"], strict=True):
            if on_hand <= 0:
                run.append(day)
            elif run:
                runs.append((key, run))
                run = []
        if run:
            runs.append((key, run))
    if not runs:
        return []
    baseline = _baselines(w, sorted({k[0] for k, run in runs}), min(r[0] for _, r in runs), end)
    out = []
    for key, run in runs:
        units, asp = baseline.get((key[0], run[0]), (None, None))
        lost_units = units * len(run) if units is not None else None
        out.append(StockOut(key[0], key[1] if len(key) > 1 else None, run[0], run[-1], len(run), lost_units,
                            lost_units * asp if lost_units is not None and asp is not None else None,
                            run[-1] == last_day))
    out.sort(key=lambda s: (-(s.lost_gmv or 0.0), s.sku, s.first))
    return out


def _baselines(w: Warehouse, skus: list[str], earliest: date,
               end: date) -> dict[tuple[str, date], tuple[float, float | None]]:
    """(sku, first day out) → (average daily units, ASP) over the LOST_BASELINE in-stock days before."""
    since = earliest - timedelta(days=LOST_BASELINE * 3)  # history enough to find 28 in-stock days
    stock = daily_stock(w, since, end, skus)
    sold = w.daily(["units", "line_gmv"], _midnight(since), _midnight(end), by="sku",
                   filters=(Filter("sku", tuple(skus)),))
    by_day = {(str(r.key), r.day): (float(r.units), float(r.line_gmv)) for r in sold.itertuples()}
    out: dict[tuple[str, date], tuple[float, float | None]] = {}
    for sku, rows in stock.groupby("sku"):
        rows = rows.sort_values("day")
        in_stock: list[date] = []
        previous_zero = False
        for day, on_hand in zip(rows["day"], rows["on_hand"], strict=True):
            if on_hand <= 0:
                if not previous_zero:  # a run starts: its baseline is the in-stock days before
                    window = in_stock[-LOST_BASELINE:]
                    units = sum(by_day.get((sku, d), (0.0, 0.0))[0] for d in window)
                    gmv = sum(by_day.get((sku, d), (0.0, 0.0))[1] for d in window)
                    if window:
                        out[(str(sku), day)] = (units / len(window), gmv / units if units else None)
                previous_zero = True
            else:
                in_stock.append(day)
                previous_zero = False
    return out


def sell_through(w: Warehouse, start: date, end: date) -> tuple[float | None, pd.DataFrame]:
    """Units sold over [start, end) ÷ (units sold + stock at the period's last snapshot day): the
    whole shop's, and per SKU (columns units, on_hand, sell_through)."""
    sold = sales_by_sku(w, start, end)
    stock = stock_on(w, end - timedelta(days=1)).set_index("sku")
    frame = pd.DataFrame({"units": sold["units"] if "units" in sold else pd.Series(dtype=float)}).join(
        stock[["on_hand"]], how="outer").fillna(0.0)
    base = frame["units"] + frame["on_hand"]
    frame["sell_through"] = (frame["units"] / base).where(base > 0)
    total_base = float(base.sum())
    return (float(frame["units"].sum()) / total_base if total_base else None), frame

"""What is on the shelf: stock as of a day, days of cover, the SKUs at risk of running out within
their lead time, stock-outs and the sales they cost, sell-through. From `inventory` (end-of-day
snapshots per SKU and warehouse), with units from order lines and lead times from `products`.

Definitions (docs/products.md):
- stock of a SKU on a day: the sum of `on_hand` over its warehouses in that day's snapshot; a day
  without a snapshot row for a SKU is unknown, not zero.
- days of cover: stock at the end of the day ÷ the average daily units sold over the COVER_WINDOW
  days up to and including it (None when it sold nothing: cover without demand is unbounded); per
  warehouse where shipments name the warehouse each order left from (its stock ÷ its own orders'
  units), else per SKU over all warehouses.
- at risk: a SKU that sold in the window and whose stock on hand plus on order would not last its
  lead time (products.lead_time_days, DEFAULT_LEAD_TIME where unknown): what is already ordered
  arrives within the lead time, a new order would not. GMV at stake = its average daily line GMV
  × (lead time − that cover), the sales of the days it would stand empty.
- a stock-out: a snapshot day on which a SKU's stock (or, per warehouse, its stock there) is 0.
- lost sales of a stocked-out SKU-day: the SKU's average daily units over the LOST_BASELINE
  in-stock snapshot days before its stock-out began (days with stock > 0), × its ASP over those
  days; at one warehouse, × that warehouse's share of the SKU's stock over those days (the stock
  is where its orders ship from). A SKU that never sold in stock before has no estimate (None).
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
        frame = pd.DataFrame([tuple(r) for r in conn.execute(q)], columns=[c.name for c in q.selected_columns])
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
    cover_days: float | None  # on hand ÷ units a day; None: no sales in the window
    lead_time: int
    gmv_at_stake: float  # over the days it would stand empty before a reorder arrives
    on_order: float = 0.0
    warehouse: str | None = None  # None: the SKU's stock everywhere

    @property
    def cover_with_orders(self) -> float | None:
        return (self.on_hand + self.on_order) / self.daily_units if self.daily_units > 0 else None

    @property
    def at_risk(self) -> bool:
        cover = self.cover_with_orders
        return cover is not None and cover < self.lead_time


def sales_by_warehouse(w: Warehouse, start: date, end: date) -> pd.DataFrame:
    """Units and line GMV per SKU and shipping warehouse over the days [start, end): the lines of the
    orders that count, at the warehouse their order shipped from (unshipped orders left out)."""
    lines, o, s = w.tables["order_lines"], w.tables["orders"], w.tables["shipments"]
    joined = lines.join(o, lines.c.order_id == o.c.order_id).join(s, s.c.order_id == o.c.order_id)
    q = (select(lines.c.sku, s.c.warehouse, func.coalesce(func.sum(lines.c.quantity), 0).label("units"),
                func.coalesce(func.sum(w.line_amount()), 0.0).label("line_gmv"))
         .select_from(joined).where(*w.orders_where(_midnight(start), _midnight(end)))
         .group_by(lines.c.sku, s.c.warehouse))
    with w.connect() as conn:
        frame = pd.DataFrame([tuple(r) for r in conn.execute(q)], columns=["sku", "warehouse", "units", "line_gmv"])
    frame["sku"] = frame["sku"].astype(str)
    frame["warehouse"] = frame["warehouse"].astype(str)
    return frame.set_index(["sku", "warehouse"])


def _per_warehouse(w: Warehouse) -> bool:
    """Cover per warehouse needs each warehouse's demand: the warehouse on shipments and on stock."""
    return (has(w, "shipments") and "warehouse" in columns(w, "shipments")
            and "warehouse" in columns(w, "inventory"))


def cover(w: Warehouse, day: date, window: int = COVER_WINDOW, *, only_at_risk: bool = False,
          sku: str | None = None) -> list[Cover]:
    """Days of cover as of `day` (inclusive), most GMV at stake first: per SKU and warehouse where
    shipments say which warehouse each order left from (a warehouse empties on its own orders),
    else per SKU over all its stock."""
    by_warehouse = _per_warehouse(w)
    stock = stock_on(w, day, by_warehouse=by_warehouse)
    if stock.empty:
        return []
    first, after = day - timedelta(days=window - 1), day + timedelta(days=1)
    sales = sales_by_warehouse(w, first, after) if by_warehouse else sales_by_sku(w, first, after)
    keys = ["sku", "warehouse"] if by_warehouse else ["sku"]
    if by_warehouse:
        stock["warehouse"] = stock["warehouse"].astype(str)
    sales = sales.reset_index()
    sales.columns = [*keys, *sales.columns[len(keys):]]
    frame = stock.merge(sales[[*keys, "units", "line_gmv"]], on=keys, how="left").fillna(
        {"units": 0.0, "line_gmv": 0.0})
    leads = lead_times(w)
    frame["daily"] = frame["units"].astype(float) / window
    frame["daily_gmv"] = frame["line_gmv"].astype(float) / window
    frame["lead"] = frame["sku"].map(leads).fillna(DEFAULT_LEAD_TIME).astype(int)
    selling = frame["daily"] > 0
    frame["days"] = (frame["on_hand"] / frame["daily"]).where(selling)
    lasting = ((frame["on_hand"] + frame["on_order"]) / frame["daily"]).where(selling)
    frame["stake"] = (frame["daily_gmv"] * (frame["lead"] - lasting)).where(lasting < frame["lead"], 0.0)
    risky = lasting < frame["lead"]
    if only_at_risk:
        frame = frame[risky]
    if sku is not None:
        frame = frame[frame["sku"] == sku]
    frame = frame.sort_values(["stake", "daily_gmv", "sku", *keys[1:]], ascending=[False, False, True,
                                                                                    *[True] * (len(keys) - 1)])
    return [Cover(sku, float(on_hand), float(daily), float(daily_gmv), None if pd.isna(days) else float(days), int(lead),
                  float(stake), float(on_order), str(wh) if by_warehouse else None)
            for sku, on_hand, daily, daily_gmv, days, lead, stake, on_order, wh in zip(
                frame["sku"], frame["on_hand"], frame["daily"], frame["daily_gmv"], frame["days"], frame["lead"],
                frame["stake"], frame["on_order"], frame["warehouse"] if by_warehouse else frame["sku"], strict=True)]


def at_risk(w: Warehouse, day: date, window: int = COVER_WINDOW) -> list[Cover]:
    """The SKUs (at a warehouse) whose stock and orders would not last their lead time, most GMV
    at stake first."""
    return cover(w, day, window, only_at_risk=True)


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


def _zero_days(w: Warehouse, start: date, end: date, by_warehouse: bool) -> tuple[pd.DataFrame, date | None]:
    """The (sku[, warehouse], day) snapshot rows at zero stock in [start, end) (per SKU: the days its
    warehouses sum to zero), and the window's last snapshot day. Only the zero rows leave the
    database: a stock table is millions of rows, its stock-outs a handful."""
    have = columns(w, "inventory")
    inv = w.tables["inventory"]
    in_window = (inv.c.day >= start, inv.c.day < end)
    keys = [inv.c.sku] + ([inv.c.warehouse] if by_warehouse and "warehouse" in have else [])
    if len(keys) > 1:
        q = select(*keys, inv.c.day).where(*in_window, inv.c.on_hand <= 0)
    else:
        q = select(inv.c.sku, inv.c.day).where(*in_window).group_by(inv.c.sku, inv.c.day).having(
            func.sum(inv.c.on_hand) <= 0)
    with w.connect() as conn:
        last = conn.execute(select(func.max(inv.c.day)).where(*in_window)).scalar()
        frame = pd.DataFrame(conn.execute(q).all(), columns=[c.key for c in keys] + ["day"])
    frame["day"] = pd.to_datetime(frame["day"].astype(str)).dt.date if len(frame) else frame["day"]
    for column in ("sku", "warehouse"):
        if column in frame:
            frame[column] = frame[column].astype(str)
    return frame, (pd.Timestamp(str(last)).date() if last is not None else None)


def stockouts(w: Warehouse, start: date, end: date, by_warehouse: bool = False) -> list[StockOut]:
    """Runs of consecutive days at zero stock within [start, end), with their lost-sales estimate."""
    zeros, last_day = _zero_days(w, start, end, by_warehouse)
    if zeros.empty:
        return []
    group = ["sku", "warehouse"] if "warehouse" in zeros else ["sku"]
    zeros = zeros.sort_values([*group, "day"]).reset_index(drop=True)
    days = pd.to_datetime(zeros["day"])
    same = (zeros[group].shift() == zeros[group]).all(axis=1)
    new_run = ~(same & (days.diff() == pd.Timedelta(days=1)))
    zeros["run"] = new_run.cumsum()
    runs: list[tuple[tuple[str, ...], list[date]]] = [
        (tuple(str(rows[g].iloc[0]) for g in group), list(rows["day"])) for _, rows in zeros.groupby("run")]
    starts = {(key[0], key[1] if len(key) > 1 else None, run[0]) for key, run in runs}
    baseline = _baselines(w, starts, end)
    out = []
    for key, run in runs:
        units, asp = baseline.get((key[0], key[1] if len(key) > 1 else None, run[0]), (None, None))
        lost_units = units * len(run) if units is not None else None
        out.append(StockOut(key[0], key[1] if len(key) > 1 else None, run[0], run[-1], len(run), lost_units,
                            lost_units * asp if lost_units is not None and asp is not None else None,
                            run[-1] == last_day))
    out.sort(key=lambda s: (-(s.lost_gmv or 0.0), s.sku, s.first))
    return out


def _baselines(w: Warehouse, starts: set[tuple[str, str | None, date]],
               end: date) -> dict[tuple[str, str | None, date], tuple[float, float | None]]:
    """(sku, warehouse or None, first day out) → (units a day that stock-out costs, ASP): the SKU's
    average daily units over the LOST_BASELINE snapshot days before, on which it was in stock, and
    at a warehouse × that warehouse's share of the SKU's stock over those days."""
    skus = sorted({sku for sku, _, _ in starts})
    since = min(day for _, _, day in starts) - timedelta(days=LOST_BASELINE * 3)  # enough to find 28
    stock = daily_stock(w, since, end, skus, by_warehouse=True)
    sold = w.daily(["units", "line_gmv"], _midnight(since), _midnight(end), by="sku",
                   filters=(Filter("sku", tuple(skus)),))
    by_day = {(str(r.key), r.day): (float(r.units), float(r.line_gmv)) for r in sold.itertuples()}
    total = stock.groupby(["sku", "day"], observed=True).on_hand.sum()
    per_wh = (stock.groupby(["sku", "warehouse", "day"], observed=True).on_hand.sum()
              if "warehouse" in stock else pd.Series(dtype=float))
    out: dict[tuple[str, str | None, date], tuple[float, float | None]] = {}
    for sku, wh, first in starts:
        days = [d for (s_, d), v in total.items() if s_ == sku and d < first and v > 0][-LOST_BASELINE:]
        if not days:
            continue
        units = sum(by_day.get((sku, d), (0.0, 0.0))[0] for d in days)
        gmv = sum(by_day.get((sku, d), (0.0, 0.0))[1] for d in days)
        daily = units / len(days)
        if wh is not None:
            held = sum(float(per_wh.get((sku, wh, d), 0.0)) for d in days)
            daily *= held / sum(float(total[(sku, d)]) for d in days)
        out[(sku, wh, first)] = (daily, gmv / units if units else None)
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

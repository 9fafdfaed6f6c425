"""Product alerts (issue 19): what the daily scan finds in stock, fulfilment and returns, as
findings the alert life-cycle (bot/state/alerts.py) deduplicates, cools down and closes.

Five kinds, one series per slice (the life-cycle's dedup key, `ProductFinding.series`):

* ``stock_risk`` (``stock_risk|sku=S``): a **top SKU** that runs short within its lead time and
  within a week. Cover as stock.cover counts it: (on_hand + on_order) ÷ the units a day of the
  `cover_window` days up to the day, per warehouse where shipments name the warehouse each order
  left from (its stock over its own orders' units), else for the SKU's whole stock. Short where
  that is below the lead time (stock.Cover.at_risk: what is on order arrives in time, a new order
  would not) **and** below SOON_DAYS (7), at a warehouse (or SKU) selling at least MIN_DAILY_UNITS
  (0.5) a day. The week and the floor keep the trailing average's noise out: with cover below the
  lead time alone, the no-anomaly demo shop (whose reorders plan on the real demand) raised 55
  alerts in 97 days over its 20 top SKUs, nearly all on long lead times (phones, furniture: a cover
  of 20 days against 27) or thin warehouses (a unit every three days); with the week, 6; with
  both, 2. GMV at stake: per warehouse
  short, its daily line GMV × (lead time − cover), summed (stock.cover's). Named: the SKU, the
  cover and stock of the warehouse holding the least, the lead time, the GMV at stake and the
  other warehouses short.
* ``stockout_began`` (``stockout|sku=S|warehouse=W``; ``stockout|sku=S`` where stock has no
  warehouse): the end-of-day stock of a top SKU at a warehouse is 0. Reported on every day of the
  run (the alert stays open) and closed by the restock; the run's first day is `since`. Lost sales
  so far: stock.stockouts' estimate for the run (the SKU's units a day over the in-stock days
  before, at a warehouse × its share of the stock; × their price) × the days out, the first
  included. Per warehouse, as `stock` lists them: a SKU out at one warehouse while another holds
  it already loses that warehouse's orders.
* ``on_time_drop`` (``on_time|warehouse=W``, ``on_time|carrier=C``): the orders placed on a day,
  from a warehouse (or handed to a carrier), that shipped within `sla_hours`, judged on the day
  the last of them fell due (the scan of d + ceil(sla / 24 h)) with what had shipped by then, as
  a share of those shipped. By order day, not ship day: after a promotion the backlog ships late
  for days, and a ship-day rate falls with it though every order was handled as usual (the demo's
  11.11 did that at all three warehouses). An order not shipped yet has no warehouse: a
  warehouse that stops shipping altogether is not seen here (see the limits in docs/products.md).
* ``delivery_slow`` (``delivery|carrier=C``): the median delivery time (delivered_at −
  shipped_at, days) of the parcels a carrier delivered on the day, above its normal range. Per
  carrier only: a warehouse's median of the day moves with its carrier mix (after a promotion
  the slow carriers' parcels arrive last); the hint gives the carrier's median at each warehouse.
  By delivery day, so the day is final when it ends; a delay shows once the late parcels arrive.
* ``returns_spike`` (``returns|category=K|reason=R``, ``returns|reason=R``, ``returns|sku=S``): a
  reason's share of a category's returned lines, a reason's share of all of them, or one SKU's
  share of all of them, far above normal on the day (by returned_at). Shares, not counts: the
  returns wave after a promotion raises every reason and SKU together; a faulty batch or a
  wrong size chart raises one. The hint names the SKUs (for a SKU: the reasons) behind it.

**Top SKU**: one of the `top` (TOP_SKUS = 20) SKUs with the most line GMV over the `cover_window`
days up to the day an episode begins (the day before a stock-out's first day: a SKU that sells
nothing while it is out would drop out of the top).

**Normal range** (fulfilment and returns) comes from metrics.anomaly.detectors, fitted on one wide
daily block per dimension, every row using only the days before it (a scan and a backtest agree):

* median delivery days: `fit` (the KPI scan's detector: robust weekday / last-7-days median
  baseline, level correction, MAD / quantile spread), weighted by 1/sqrt(parcels) since a median
  of 10 parcels wanders more than one of 100;
* late share of the shipped orders and the returns shares: `fit_rare_share`, an exact binomial
  tail against the share pooled over the last 8 weeks without its worst week. These are shares of
  a few events a day (3-5 returns of a category, 2 late orders in 20) whose daily median is 0: the
  median baseline and normal band of `fit_ratio` made 3 returns of 4 for one reason a 6-sigma
  event (8 returns and 4 on-time alerts in 97 days of the no-anomaly shop; none with this one).

Each dimension's slices are tested at once with the scan's family correction (`family_threshold`:
3 warehouses, 4 carriers, some 90 category × reason pairs). A finding also needs a change worth
acting on: on-time rate down by MIN_ON_TIME_DROP (5 points) with MIN_LATE (3) late orders; median
delivery up by MIN_DELAY_DAYS (1 day) and MIN_DELAY_SHARE (25 %); a returns share at RETURNS_RATIO
(2×) its baseline from at least MIN_RETURNS (3) lines. A slice is tested when its typical day
(median of the last 28) has MIN_SHIPPED (20) shipped orders, MIN_DELIVERED (10) deliveries, or
MIN_RETURN_BASE (2) returns in its base (the category, or all).

**One alert per event.** An episode is a run of flagged days with gaps of at most `hold`
(HOLD_DAYS = 2) days in range. It is reported on every day it lasts and `hold` days after its
last flagged day (a delay that dips into range for a day is not closed and reopened), telling the
last flagged day's numbers; its `score` is its first day's, so the life-cycle's "pushed again when
worse" never re-pushes an ongoing episode: pushed once, updated while open, closed with a
recovery note. Stock-outs end with the restock (no hold). A slice that another kind of slice
explains is not a second alert: a carrier's late share judged without the warehouses that are out
of range themselves, a reason's or a SKU's returns share without the category × reason pairs
(and a SKU's without the reasons) that are, back in range, is not reported.

Promotion and expected days (`expected_days`) are left out of every baseline and never flagged
(for the on-time rate: the day their orders fall due). A warehouse without the tables, or with
empty ones, yields no finding and no error.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import select

from metrics.anomaly.detectors import (
    PARAMS,
    Params,
    Sensitivity,
    binomial_score,
    daily_grid,
    family_threshold,
    fit,
    fit_rare_share,
    fit_ratio,
    severity,
)
from metrics.anomaly.scan import lookback_days
from metrics.data.warehouse import Warehouse
from metrics.products.fulfilment import DEFAULT_SLA_HOURS
from metrics.products.source import columns, has
from metrics.products.stock import COVER_WINDOW, DEFAULT_LEAD_TIME, lead_times, stockouts

KINDS: tuple[str, ...] = ("stock_risk", "stockout_began", "on_time_drop", "delivery_slow", "returns_spike")
TOP_SKUS = 20
SOON_DAYS = 7.0  # stock_risk: the cover below the lead time and below this
MIN_DAILY_UNITS = 0.5  # stock_risk: a warehouse's (or SKU's) units a day for its cover to mean something
HOLD_DAYS = 2
STOCK_HISTORY = 56  # days of stock read before the first reported day (where a stock episode can begin)
TYPICAL_DAYS = 28  # the typical day of a slice: median of this many days before
MIN_SHIPPED = 20.0
MIN_DELIVERED = 10.0
MIN_DAY_DELIVERED = 5  # a day's median of fewer parcels is not computed
MIN_RETURNS = 3
MIN_RETURN_BASE = 2.0
MIN_ON_TIME_DROP = 0.05
MIN_LATE = 3  # late orders of the day
MIN_DELAY_DAYS = 1.0
MIN_DELAY_SHARE = 0.25
RETURNS_RATIO = 2.0
HINTS = 3  # slices named in a hint


@dataclass(frozen=True)
class ProductFinding:
    kind: str  # one of KINDS
    series: str  # the dedup key: "stockout|sku=S|warehouse=W"
    day: date  # the scanned day
    since: date  # the episode's first day
    severity: str  # warning or critical
    score: float  # the episode's first day's: fixed while it lasts
    details: dict[str, object] = field(default_factory=dict)  # JSON-ready: what the alert says


@dataclass
class ProductScan:
    day: date
    findings: list[ProductFinding] = field(default_factory=list)
    scanned: set[str] = field(default_factory=set)  # every series looked at: absent from findings = in range


@dataclass(frozen=True)
class Options:
    sla_hours: float = DEFAULT_SLA_HOURS
    cover_window: int = COVER_WINDOW
    top: int = TOP_SKUS
    sensitivity: Sensitivity = "medium"
    expected_days: frozenset[date] = frozenset()
    hold: int = HOLD_DAYS
    params: Params = PARAMS


def scan_products(w: Warehouse, day: date, *, sla_hours: float = DEFAULT_SLA_HOURS,
                  cover_window: int = COVER_WINDOW, top: int = TOP_SKUS, sensitivity: Sensitivity = "medium",
                  expected_days: Collection[date] = ()) -> ProductScan:
    """The product findings of `day` (normally yesterday)."""
    [result] = backtest_products(w, day, day + timedelta(days=1), sla_hours=sla_hours, cover_window=cover_window,
                                 top=top, sensitivity=sensitivity, expected_days=expected_days)
    return result


def backtest_products(w: Warehouse, start: date, end: date, *, sla_hours: float = DEFAULT_SLA_HOURS,
                      cover_window: int = COVER_WINDOW, top: int = TOP_SKUS, sensitivity: Sensitivity = "medium",
                      expected_days: Collection[date] = (), hold: int = HOLD_DAYS) -> list[ProductScan]:
    """What the daily scan would find on each day of [start, end), in one pass: every rule uses
    only the days up to the one it reports on."""
    options = Options(sla_hours, cover_window, top, sensitivity, frozenset(expected_days), hold)
    history = start - timedelta(days=lookback_days(options.params))
    days = pd.date_range(pd.Timestamp(history), pd.Timestamp(end) - pd.Timedelta(days=1), freq="D")
    report = np.flatnonzero(days >= pd.Timestamp(start))
    scans = [ProductScan(d.date()) for d in days[report]]
    if not len(report):
        return scans
    for rule in (_stock_rules, _fulfilment_rules, _returns_rules):
        for row, (found, scanned) in zip(report, rule(w, days, report, options), strict=True):
            scan = scans[int(row - report[0])]
            scan.findings += found
            scan.scanned |= scanned
    for scan in scans:
        scan.findings.sort(key=lambda f: (KINDS.index(f.kind), f.series))
    return scans


Rows = list[tuple[list[ProductFinding], set[str]]]


def _nothing(report: np.ndarray) -> Rows:
    return [([], set()) for _ in report]


# ---- episodes ---------------------------------------------------------------------------------------


def episodes(flag: np.ndarray, hold: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row and series of a (T, S) flag block: the row the episode active there began, and its
    last flagged row so far (both -1 where none is active). An episode is active from its first
    flagged row until `hold` rows after its last; a flag within `hold` + 1 rows of the last one
    continues it."""
    n, s = flag.shape
    began = np.full((n, s), -1, dtype=np.int64)
    latest = np.full((n, s), -1, dtype=np.int64)
    cur_start = np.full(s, -1, dtype=np.int64)
    cur_last = np.full(s, -1, dtype=np.int64)
    for t in range(n):
        alive = (cur_last >= 0) & (t - cur_last <= hold + 1)  # still open on the row before
        cur_start[~alive] = -1
        cur_last[~alive] = -1
        f = flag[t]
        cur_start[f & (cur_start < 0)] = t
        cur_last[f] = t
        active = (cur_last >= 0) & (t - cur_last <= hold)
        began[t] = np.where(active, cur_start, -1)
        latest[t] = np.where(active, cur_last, -1)
    return began, latest


def _num(v: object) -> float | None:
    if v is None:
        return None
    f = float(v)  # type: ignore[arg-type]
    return float(f"{f:.6g}") if math.isfinite(f) else None


def _iso(days: pd.DatetimeIndex, row: int) -> str:
    return days[row].date().isoformat()


def _expected_rows(days: pd.DatetimeIndex, options: Options) -> np.ndarray:
    return np.asarray(days.isin([pd.Timestamp(d) for d in options.expected_days]), dtype=bool)


def _typical(values: np.ndarray, expected_rows: np.ndarray, window: int = TYPICAL_DAYS) -> np.ndarray:
    """Median of each series over the `window` days before each row (expected days left out)."""
    frame = pd.DataFrame(np.where(expected_rows[:, None], np.nan, values))
    return frame.shift(1).rolling(window, min_periods=1).median().to_numpy()


def _wide(frame: pd.DataFrame, day: str, key: str, value: str, days: pd.DatetimeIndex) -> pd.DataFrame:
    """Sums of `value` per day (rows: `days`, 0 where none) and `key` (columns, as text)."""
    if frame.empty:
        return pd.DataFrame(index=days, dtype=float)
    wide = frame.groupby([day, key], observed=True, sort=False)[value].sum().unstack(key)
    wide.columns = [str(c) for c in wide.columns]
    return wide.reindex(index=days, columns=sorted(wide.columns)).fillna(0.0).astype(np.float64)


def _grade(score: float, change: float | None, threshold: float, params: Params) -> str:
    sev = str(severity(np.array([score]), np.array([np.nan if change is None else change]), threshold, params)[0])
    return "warning" if sev == "info" else sev


# ---- stock ------------------------------------------------------------------------------------------


def _local(w: Warehouse, values: pd.Series) -> pd.Series:
    """Timestamps as stored → naive business-local time (as fulfilment.shipments_of reads them)."""
    stamps = pd.to_datetime(values)
    if w.mapping.timestamps == "utc":
        if stamps.dt.tz is None:
            stamps = stamps.dt.tz_localize("UTC")
        stamps = stamps.dt.tz_convert(w.mapping.timezone).dt.tz_localize(None)
    return stamps


def _local_days(w: Warehouse, values: pd.Series) -> pd.Series:
    """Timestamps as stored → the business day they fall on (naive midnight)."""
    return _local(w, values).dt.normalize()


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time())


def _read(w: Warehouse, query: Any, names: list[str]) -> pd.DataFrame:
    """The rows of `query` as a frame with these column names (plain tuples: rows of a few
    hundred thousand shipments are read in a blink rather than mapped one by one)."""
    with w.connect() as conn:
        return pd.DataFrame.from_records(conn.execute(query).all(), columns=names)


def _sales(w: Warehouse, days: pd.DatetimeIndex, window: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Units and line GMV per day and SKU over the loaded days (and the window before the first)."""
    first = days[0].date() - timedelta(days=window)
    daily = w.daily(["units", "line_gmv"], _midnight(first), _midnight(days[-1].date() + timedelta(days=1)),
                    by="sku")
    index = pd.date_range(pd.Timestamp(first), days[-1], freq="D")
    if daily.empty or "units" not in daily or "line_gmv" not in daily:
        empty = pd.DataFrame(index=index, dtype=float)
        return empty, empty
    daily = daily.assign(day=pd.to_datetime(daily["day"].astype(str)))
    return _wide(daily, "day", "key", "units", index), _wide(daily, "day", "key", "line_gmv", index)


def _read_inventory(w: Warehouse, first: date, end: date, skus: list[str]) -> pd.DataFrame:
    have = columns(w, "inventory")
    inv = w.tables["inventory"]
    cols = [inv.c.day, inv.c.sku, inv.c.on_hand] + [inv.c[c] for c in ("warehouse", "on_order") if c in have]
    q = select(*cols).where(inv.c.day >= first, inv.c.day < end, inv.c.sku.in_(skus))
    frame = _read(w, q, [c.key for c in cols])
    frame["day"] = pd.to_datetime(frame["day"].astype(str))
    frame["sku"] = frame["sku"].astype(str)
    frame["on_hand"] = pd.to_numeric(frame["on_hand"]).fillna(0.0).astype(float)
    frame["on_order"] = pd.to_numeric(frame["on_order"]).fillna(0.0).astype(float) if "on_order" in frame else 0.0
    return frame


def _warehouse_demand(w: Warehouse, days: pd.DatetimeIndex, window: int, pairs: list[tuple[str, str]]
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Units and line GMV of each (sku, warehouse) over the `window` days up to each loaded day, as
    stock.cover counts them (the lines of the orders that count placed in the window, at the
    warehouse their order shipped from), known at the end of that day (shipped by then): (T, P)."""
    n = len(days)
    units = np.zeros((n + 1, len(pairs)))
    gmv = np.zeros((n + 1, len(pairs)))
    if not pairs:
        return units[:n], gmv[:n]
    lines, o, s = w.tables["order_lines"], w.tables["orders"], w.tables["shipments"]
    skus = sorted({sku for sku, _ in pairs})
    q = (select(lines.c.sku, lines.c.quantity, w.line_amount().label("gmv"), s.c.warehouse, o.c.ordered_at,
                s.c.shipped_at)
         .select_from(lines.join(o, lines.c.order_id == o.c.order_id).join(s, s.c.order_id == o.c.order_id))
         .where(*w.orders_where(_midnight(days[0].date() - timedelta(days=window)),
                                _midnight(days[-1].date() + timedelta(days=1))),
                lines.c.sku.in_(skus), s.c.shipped_at.is_not(None), s.c.warehouse.is_not(None)))
    rows = _read(w, q, ["sku", "quantity", "gmv", "warehouse", "ordered_at", "shipped_at"])
    if rows.empty:
        return units[:n], gmv[:n]
    index = {pair: j for j, pair in enumerate(pairs)}
    col = np.array([index.get((str(a), str(b)), -1) for a, b in zip(rows["sku"], rows["warehouse"], strict=True)])
    first = days[0]
    ordered = ((_local_days(w, rows["ordered_at"]) - first).dt.days).to_numpy()
    shipped = ((_local_days(w, rows["shipped_at"]) - first).dt.days).to_numpy()
    # a line counts on the days from the later of its order and its shipment to window - 1 after its order
    lo = np.clip(np.maximum(ordered, shipped), 0, n)
    hi = np.clip(ordered + window, 0, n)
    keep = (col >= 0) & (lo < hi)
    q_units = pd.to_numeric(rows["quantity"]).to_numpy(np.float64)
    q_gmv = pd.to_numeric(rows["gmv"]).fillna(0.0).to_numpy(np.float64)
    for target, value in ((units, q_units), (gmv, q_gmv)):
        np.add.at(target, (lo[keep], col[keep]), value[keep])
        np.add.at(target, (hi[keep], col[keep]), -value[keep])
    return np.cumsum(units, axis=0)[:n], np.cumsum(gmv, axis=0)[:n]


def _top_sets(gmv: pd.DataFrame, days: pd.DatetimeIndex, window: int, top: int) -> list[frozenset[str]]:
    """Per loaded day: the `top` SKUs by line GMV over the `window` days up to it."""
    if gmv.shape[1] == 0:
        return [frozenset() for _ in days]
    rolled = gmv.rolling(window, min_periods=1).sum().reindex(days).fillna(0.0)
    values = rolled.to_numpy()
    names = np.asarray(rolled.columns, dtype=object)
    out = []
    for row in values:
        order = np.lexsort((names, -row))[:top]  # most GMV first, the code breaking ties
        out.append(frozenset(str(names[i]) for i in order if row[i] > 0))
    return out


def _pivot(frame: pd.DataFrame, value: str, days: pd.DatetimeIndex, names: list[str]) -> np.ndarray:
    """(T, P) of `value` per day and `key`, NaN where there is no snapshot row."""
    if frame.empty:
        return np.full((len(days), len(names)), np.nan)
    wide = frame.pivot_table(index="day", columns="key", values=value, aggfunc="sum", observed=True)
    return wide.reindex(index=days, columns=names).to_numpy(np.float64)


def _stock_rules(w: Warehouse, days: pd.DatetimeIndex, report: np.ndarray, options: Options) -> Rows:
    if not (has(w, "inventory") and has(w, "order_lines")) or "sku" not in w.split_dimensions:
        return _nothing(report)
    # stock needs no detector's history: STOCK_HISTORY days before the first reported one
    offset = max(0, int(report[0]) - STOCK_HISTORY)
    days, report = days[offset:], report - offset
    window = options.cover_window
    units, gmv = _sales(w, days, window)
    tops = _top_sets(gmv, days, window, options.top)
    watched = sorted(set().union(*tops))
    if not watched:
        return _nothing(report)
    inv = _read_inventory(w, days[0].date(), days[-1].date() + timedelta(days=1), watched)
    if inv.empty:
        return _nothing(report)
    # stock-outs per warehouse where the stock names it (as `stock` lists them); cover per warehouse
    # where the shipments say which warehouse each order left from too (as stock.cover)
    stocked_at = "warehouse" in inv and bool(inv["warehouse"].notna().any())
    by_warehouse = stocked_at and has(w, "shipments") and "warehouse" in columns(w, "shipments")
    if stocked_at:
        inv = inv[inv["warehouse"].notna()].assign(warehouse=lambda f: f["warehouse"].astype(str))
        unique = inv[["sku", "warehouse"]].drop_duplicates()
        pairs: list[tuple[str, str | None]] = sorted(zip(unique["sku"], unique["warehouse"], strict=True))
        inv = inv.assign(key=inv["sku"] + "\x00" + inv["warehouse"])
        names = [f"{a}\x00{b}" for a, b in pairs]
    else:
        pairs = [(sku, None) for sku in sorted(set(inv["sku"]))]
        inv = inv.assign(key=inv["sku"])
        names = [sku for sku, _ in pairs]
    hand = _pivot(inv, "on_hand", days, names)
    position = hand + np.nan_to_num(_pivot(inv, "on_order", days, names), nan=0.0)
    if by_warehouse:
        covered = list(pairs)
        demand_u, demand_g = _warehouse_demand(w, days, window, pairs)  # type: ignore[arg-type]
        cover_hand, cover_pos = hand, position
    else:  # the SKU's whole stock
        covered = [(sku, None) for sku in sorted({sku for sku, _ in pairs})]
        sku_of = np.array([covered.index((sku, None)) for sku, _ in pairs])
        cover_hand = np.full((len(days), len(covered)), np.nan)
        cover_pos = np.full((len(days), len(covered)), np.nan)
        for k in range(len(covered)):
            mine = sku_of == k
            seen_any = ~np.isnan(hand[:, mine]).all(axis=1)
            cover_hand[:, k] = np.where(seen_any, np.nansum(hand[:, mine], axis=1), np.nan)
            cover_pos[:, k] = np.where(seen_any, np.nansum(position[:, mine], axis=1), np.nan)
        cols = [sku for sku, _ in covered]
        demand_u = units.rolling(window, min_periods=1).sum().reindex(index=days, columns=cols).fillna(0.0).to_numpy()
        demand_g = gmv.rolling(window, min_periods=1).sum().reindex(index=days, columns=cols).fillna(0.0).to_numpy()
    leads = lead_times(w)
    skus = sorted({sku for sku, _ in covered})
    lead_of = np.array([leads.get(sku, DEFAULT_LEAD_TIME) for sku, _ in covered], dtype=np.float64)
    daily_u, daily_g = demand_u / window, demand_g / window
    with np.errstate(divide="ignore", invalid="ignore"):
        cover = np.where(daily_u > 0, cover_pos / daily_u, np.inf)
    # at risk (stock.Cover.at_risk: on hand and on order would not last the lead time) and short
    # within a week
    short = ~np.isnan(cover_pos) & (daily_u >= MIN_DAILY_UNITS) & (cover < np.minimum(lead_of, SOON_DAYS)[None, :])
    # an empty warehouse is the stock-out's alert: it does not start a risk, only continues one
    risky = np.zeros_like(short)
    for t in range(len(days)):
        risky[t] = short[t] & ((np.nan_to_num(cover_hand[t], nan=0.0) > 0) | (risky[t - 1] if t else False))
    k_of = np.array([skus.index(sku) for sku, _ in covered], dtype=np.int64)
    risk = np.zeros((len(days), len(skus)), dtype=bool)
    seen = np.zeros((len(days), len(skus)), dtype=bool)
    for j, k in enumerate(k_of):
        risk[:, k] |= risky[:, j]
        seen[:, k] |= ~np.isnan(cover_pos[:, j])

    def top_at(sku: str, row: int) -> bool:
        return sku in tops[max(row, 0)]

    out = _nothing(report)
    # ---- stock_risk: one series per SKU, naming its warehouses that run short
    worst = np.full((len(days), len(skus)), np.inf)
    for j, k in enumerate(k_of):
        worst[:, k] = np.fmin(worst[:, k], np.where(risky[:, j], cover[:, j], np.inf))
    began, latest = episodes(risk, options.hold)
    for i, t in enumerate(report):
        found, scanned = out[i]
        for k, sku in enumerate(skus):
            if not seen[t, k]:
                continue  # no snapshot: unknown, not in range
            scanned.add(f"stock_risk|sku={sku}")
            b, last = int(began[t, k]), int(latest[t, k])
            if b < 0 or not top_at(sku, b):
                continue
            rows = []
            for j in np.flatnonzero(k_of == k):
                if np.isnan(cover_pos[last, j]):
                    continue
                c = cover[last, j]
                short = bool(risky[last, j])
                rows.append({"warehouse": covered[j][1], "on_hand": _num(cover_hand[last, j]),
                             "on_order": _num(cover_pos[last, j] - cover_hand[last, j]),
                             "daily_units": _num(daily_u[last, j]),
                             "cover_days": _num(c) if math.isfinite(c) else None, "at_risk": short,
                             "gmv_at_stake": _num(daily_g[last, j] * (lead_of[j] - c) if short else 0.0)})
            rows.sort(key=lambda r: (r["cover_days"] if r["cover_days"] is not None else math.inf,
                                     r["on_hand"] or 0.0, str(r["warehouse"])))
            found.append(_stock_risk(days, t, b, last, sku, float(lead_of[np.flatnonzero(k_of == k)[0]]),
                                     float(worst[b, k]), rows))
    # ---- stockout_began: a pair at 0 at the end of the day; no hold (the restock ends it)
    out_flag = ~np.isnan(hand) & (np.nan_to_num(hand, nan=1.0) <= 0)
    run_start, _ = episodes(out_flag, 0)
    total_hand = {}
    for sku in {sku for sku, _ in pairs}:
        mine = [j for j, (s_, _) in enumerate(pairs) if s_ == sku]
        total_hand[sku] = np.where(np.isnan(hand[:, mine]).all(axis=1), np.nan, np.nansum(hand[:, mine], axis=1))
    baselines: dict[tuple[str, str | None, date], tuple[float | None, float | None]] = {}
    for i, t in enumerate(report):
        found, scanned = out[i]
        for j, (sku, wh) in enumerate(pairs):
            if np.isnan(hand[t, j]):
                continue
            series = f"stockout|sku={sku}" + (f"|warehouse={wh}" if wh is not None else "")
            scanned.add(series)
            b = int(run_start[t, j])
            if b < 0 or not top_at(sku, b - 1):
                continue
            first = days[b].date()
            if (sku, wh, first) not in baselines:
                baselines[sku, wh, first] = _lost_per_day(w, sku, wh, first, stocked_at)
            per_day, asp = baselines[sku, wh, first]
            out_days = t - b + 1
            lost_units = per_day * out_days if per_day is not None else None
            lost_gmv = lost_units * asp if lost_units is not None and asp is not None else None
            total = total_hand[sku][t]
            everywhere = wh is None or (not np.isnan(total) and total <= 0)
            daily_lost = per_day * asp if per_day is not None and asp is not None else 0.0
            found.append(ProductFinding(
                "stockout_began", series, days[t].date(), first, "warning", round(max(daily_lost, 1.0), 4), {
                    "sku": sku, "warehouse": wh, "everywhere": bool(everywhere), "days_out": int(out_days),
                    "daily_units_lost": _num(per_day), "lost_units": _num(lost_units), "lost_gmv": _num(lost_gmv),
                    "lead_time": int(leads.get(sku, DEFAULT_LEAD_TIME)), "money_at_stake": _num(daily_lost)}))
    return out


def _lost_per_day(w: Warehouse, sku: str, warehouse: str | None, first: date,
                  by_warehouse: bool) -> tuple[float | None, float | None]:
    """What a stock-out that began on `first` costs a day, as stock.stockouts estimates it: (units,
    their average price); None where the SKU never sold in stock before."""
    for run in stockouts(w, first, first + timedelta(days=1), by_warehouse):
        if run.sku == sku and run.warehouse == warehouse and run.first == first:
            if run.lost_units is None:
                return None, None
            asp = run.lost_gmv / run.lost_units if run.lost_gmv is not None and run.lost_units else None
            return run.lost_units / run.days, asp
    return None, None


def _stock_risk(days: pd.DatetimeIndex, t: int, began: int, last: int, sku: str, lead: float, first_cover: float,
                rows: list[dict[str, object]]) -> ProductFinding:
    at_risk = [r for r in rows if r["at_risk"]]
    least = at_risk[:HINTS] or rows[:1]
    worst = at_risk[0] if at_risk else (rows[0] if rows else {})
    stake = sum(float(r["gmv_at_stake"] or 0.0) for r in at_risk)  # type: ignore[arg-type]
    # how far below its lead time the episode began: lead time / cover (fixed while it lasts)
    score = lead / max(first_cover, 0.1)
    return ProductFinding("stock_risk", f"stock_risk|sku={sku}", days[t].date(), days[began].date(), "warning",
                          round(score, 4), {
                              "sku": sku, "as_of": _iso(days, last), "lead_time": int(lead),
                              "warehouse": worst.get("warehouse"), "cover_days": worst.get("cover_days"),
                              "on_hand": worst.get("on_hand"), "on_order": worst.get("on_order"),
                              "daily_units": worst.get("daily_units"), "gmv_at_stake": _num(stake),
                              "warehouses": least, "money_at_stake": _num(stake)})


# ---- fulfilment -------------------------------------------------------------------------------------


@dataclass
class _Family:
    """One dimension's slices of one measure over the loaded days, fitted."""

    dimension: str
    keys: list[str]
    actual: np.ndarray  # (T, S)
    expected: np.ndarray
    spread: np.ndarray
    score: np.ndarray
    flags: np.ndarray
    threshold: float
    count: np.ndarray  # (T, S) the day's volume (shipments, parcels, lines)
    base: np.ndarray  # (T, S) the denominator of a share (else = count)


def _thresholds(options: Options, members: int) -> float:
    base = options.params.threshold(options.sensitivity)
    return family_threshold(base, members) if options.params.family_correction else base


def _ratio_family(dimension: str, num: pd.DataFrame, den: pd.DataFrame, days: pd.DatetimeIndex,
                  options: Options, min_base: float, *, rare: bool = False) -> _Family | None:
    """A share per slice (`num` / `den`, wide by day), fitted as binomial counts: `fit_ratio` for a
    dense share (the on-time rate), `fit_rare_share` for one made of a few events a day (returns)."""
    keys = list(den.columns)
    if not keys:
        return None
    n = num.reindex(columns=keys, fill_value=0.0).to_numpy(np.float64)
    d = den.to_numpy(np.float64)
    expected_rows = _expected_rows(days, options)
    thr = _thresholds(options, len(keys))
    grid = daily_grid(days[0].date())
    if rare:
        fitted = fit_rare_share(n, d, grid, expected_rows=expected_rows, sensitivity=options.sensitivity,
                                params=options.params, threshold=thr)
    else:
        fitted = fit_ratio(n, d, grid, "binomial", expected_rows=expected_rows, sensitivity=options.sensitivity,
                           params=options.params, threshold=thr)
    loud = np.nan_to_num(_typical(d, expected_rows), nan=0.0) >= min_base
    with np.errstate(invalid="ignore", divide="ignore"):
        actual = np.where(d > 0, n / d, np.nan)
    return _Family(dimension, keys, actual, fitted.expected, fitted.spread, fitted.score, fitted.flags & loud, thr,
                   n, d)


def _fulfilment_rules(w: Warehouse, days: pd.DatetimeIndex, report: np.ndarray, options: Options) -> Rows:
    if not has(w, "shipments"):
        return _nothing(report)
    have = columns(w, "shipments")
    dims = [d for d in ("warehouse", "carrier") if d in have]
    if not dims:
        return _nothing(report)
    lag = max(1, math.ceil(options.sla_hours / 24))  # an order placed on day d is decided by the end of d + lag
    frame = _shipped(w, _midnight(days[0].date() - timedelta(days=40)), _midnight(days[-1].date() + timedelta(days=1)),
                     dims)
    if frame.empty:
        return _nothing(report)
    # on time: the orders placed on d, as the end of d + lag knows them (shipped by then), by
    # the scan day d + lag; late ones shipped later are not known yet, and neither is their slice
    frame["scan_day"] = frame["ordered_at"].dt.normalize() + pd.Timedelta(days=lag)
    frame["on_time"] = ((frame["shipped_at"] - frame["ordered_at"]) <= pd.Timedelta(hours=options.sla_hours)) \
        .astype(float)
    cohort = frame[frame["scan_day"].between(days[0], days[-1])
                   & (frame["shipped_at"] < frame["scan_day"] + pd.Timedelta(days=1))].assign(one=1.0)
    frame["delivery_days"] = (frame["delivered_at"] - frame["shipped_at"]).dt.total_seconds() / 86400
    frame["deliv_day"] = frame["delivered_at"].dt.normalize()
    delivered = frame[frame["deliv_day"].between(days[0], days[-1]) & frame["delivery_days"].notna()]
    out = _nothing(report)
    cohort_options = replace(options, expected_days=frozenset(d + timedelta(days=lag) for d in options.expected_days))

    on_time: dict[str, _Family] = {}
    cohort = cohort.assign(late=1.0 - cohort["on_time"])
    for d in dims:
        rows = cohort[cohort[d].notna()]
        # tested as the late share (a few in a hundred): its tail is far from normal
        fam = _ratio_family(d, _wide(rows, "scan_day", d, "late", days), _wide(rows, "scan_day", d, "one", days),
                            days, cohort_options, MIN_SHIPPED, rare=True)
        if fam is not None:
            fam.flags &= (fam.score > 0) & (fam.actual - fam.expected >= MIN_ON_TIME_DROP) & (fam.count >= MIN_LATE)
            on_time[d] = fam
    if "warehouse" in on_time and "carrier" in on_time:
        # a carrier's on-time rate judged without the warehouses out of range: shipping is theirs
        _explain(on_time["carrier"], on_time["warehouse"], cohort, "scan_day", "late", days, options)
    for fam in on_time.values():  # told as the on-time rate
        fam.actual, fam.expected, fam.score = 1.0 - fam.actual, 1.0 - fam.expected, -fam.score
    for d, fam in on_time.items():
        other = "carrier" if d == "warehouse" else "warehouse"

        def late_hint(row: int, key: str, d: str = d, other: str = other) -> list[dict[str, object]]:
            if other not in cohort:
                return []
            mine = cohort[(cohort["scan_day"] == days[row]) & (cohort[d] == key) & cohort[other].notna()]
            g = mine.groupby(other, observed=True)["on_time"].agg(["mean", "size"])
            g = g.sort_values(["mean", "size"], ascending=[True, False])
            return [{other: str(k), "on_time_rate": _num(v["mean"]), "shipped": int(v["size"])}
                    for k, v in g.head(HINTS).iterrows()]

        _family_findings("on_time_drop", "on_time", fam, days, report, options, out, late_hint,
                         {"orders_of": -lag})  # the orders placed that day
    # delivery time is the carrier's: per carrier only (a warehouse's median of the day moves with
    # its carrier mix: after a promotion the slow carriers' parcels arrive last); the hint says where
    if "carrier" in dims:
        fam = _median_family("carrier", delivered[delivered["carrier"].notna()], days, options)
        if fam is not None:
            def where_hint(row: int, key: str) -> list[dict[str, object]]:
                if "warehouse" not in delivered:
                    return []
                mine = delivered[(delivered["deliv_day"] == days[row]) & (delivered["carrier"] == key)
                                 & delivered["warehouse"].notna()]
                g = mine.groupby("warehouse", observed=True)["delivery_days"].agg(["median", "size"])
                g = g[g["size"] >= MIN_DAY_DELIVERED].sort_values("median", ascending=False)
                return [{"warehouse": str(k), "delivery_days": _num(v["median"]), "delivered": int(v["size"])}
                        for k, v in g.head(HINTS).iterrows()]

            _family_findings("delivery_slow", "delivery", fam, days, report, options, out, where_hint)
    return out


def _shipped(w: Warehouse, start: datetime, end: datetime, dims: list[str]) -> pd.DataFrame:
    """The shipped orders that count placed in [start, end): ordered_at, shipped_at, delivered_at
    (local naive), and the warehouse and carrier where recorded (fulfilment.shipments_of's rows,
    the unshipped ones left out)."""
    have = columns(w, "shipments")
    o, s = w.tables["orders"], w.tables["shipments"]
    extra = [c for c in ("delivered_at", *dims) if c in have]
    q = (select(o.c.ordered_at, s.c.shipped_at, *[s.c[c] for c in extra])
         .select_from(o.join(s, s.c.order_id == o.c.order_id))
         .where(*w.orders_where(start, end), s.c.shipped_at.is_not(None)))
    frame = _read(w, q, ["ordered_at", "shipped_at", *extra])
    for column in ("ordered_at", "shipped_at", "delivered_at"):
        frame[column] = _local(w, frame[column]) if column in frame else pd.NaT
    for d in dims:
        frame[d] = frame[d].astype("string")
    return frame


def _median_family(dimension: str, rows: pd.DataFrame, days: pd.DatetimeIndex, options: Options) -> _Family | None:
    if rows.empty:
        return None
    g = rows.groupby(["deliv_day", dimension], observed=True)["delivery_days"].agg(["median", "size"]).reset_index()
    med = g.pivot_table(index="deliv_day", columns=dimension, values="median", observed=True).reindex(days)
    cnt = g.pivot_table(index="deliv_day", columns=dimension, values="size", observed=True).reindex(days) \
        .reindex(columns=med.columns).fillna(0.0)
    keys = [str(c) for c in med.columns]
    count = cnt.to_numpy(np.float64)
    values = np.where(count >= MIN_DAY_DELIVERED, med.to_numpy(np.float64), np.nan)
    expected_rows = _expected_rows(days, options)
    thr = _thresholds(options, len(keys))
    with np.errstate(divide="ignore"):
        weights = np.where(count > 0, 1.0 / np.sqrt(np.maximum(count, 1.0)), np.nan)
    fitted = fit(values, daily_grid(days[0].date()), expected_rows=expected_rows, weights=weights,
                 sensitivity=options.sensitivity, params=options.params, threshold=thr)
    loud = np.nan_to_num(_typical(count, expected_rows), nan=0.0) >= MIN_DELIVERED
    excess = values - fitted.expected
    flags = fitted.flags & loud & (fitted.score > 0) & (excess >= MIN_DELAY_DAYS) \
        & (excess >= MIN_DELAY_SHARE * np.abs(fitted.expected))
    return _Family(dimension, keys, values, fitted.expected, fitted.spread, fitted.score, flags, thr, count, count)


def _explain(secondary: _Family, primary: _Family, rows: pd.DataFrame, day_col: str, value: str,
             days: pd.DatetimeIndex, options: Options) -> None:
    """Drop the flags of `secondary` slices (a rare share: the mean of the 0/1 column `value`)
    that are back in range once the rows of the `primary` slices active that day (flagged, or
    within the hold after) are left out."""
    _, latest = episodes(primary.flags, options.hold)
    for t, s in zip(*np.nonzero(secondary.flags), strict=True):
        active = [primary.keys[j] for j in np.flatnonzero(latest[t] >= 0)]
        if not active:
            continue
        mine = rows[(rows[day_col] == days[t]) & (rows[secondary.dimension] == secondary.keys[s])]
        rest = mine[~mine[primary.dimension].isin(active)]
        z = float(binomial_score(np.array([rest[value].sum()]), np.array([len(rest)]),
                                 np.array([secondary.expected[t, s]]))[0]) if len(rest) else 0.0
        if not z >= secondary.threshold:
            secondary.flags[t, s] = False


def _family_findings(kind: str, prefix: str, fam: _Family, days: pd.DatetimeIndex, report: np.ndarray,
                     options: Options, out: Rows, hint: object, offsets: dict[str, int] | None = None) -> None:
    """Findings of one fitted family on the reported rows (one per active episode), and the
    series scanned. `offsets`: detail keys naming a day this many days from the flagged one."""
    began, latest = episodes(fam.flags, options.hold)
    for i, t in enumerate(report):
        found, scanned = out[i]
        for s, key in enumerate(fam.keys):
            if not (fam.base[t, s] > 0 or np.isfinite(fam.expected[t, s])):
                continue
            series = f"{prefix}|{fam.dimension}={key}"
            scanned.add(series)
            b, last = int(began[t, s]), int(latest[t, s])
            if b < 0:
                continue
            actual, expected = float(fam.actual[last, s]), float(fam.expected[last, s])
            change = (actual - expected) / abs(expected) if expected else None
            details: dict[str, object] = {
                fam.dimension: key, "dimension": fam.dimension, "value": key, "on": _iso(days, last),
                "actual": _num(actual), "expected": _num(expected),
                "upper": _num(expected + fam.threshold * fam.spread[last, s]),
                "lower": _num(expected - fam.threshold * fam.spread[last, s]),
                "change": _num(change), "count": int(fam.count[last, s]), "base": int(fam.base[last, s]),
                "hint": hint(last, key),  # type: ignore[operator]
            }
            for name, offset in (offsets or {}).items():
                details[name] = (days[last] + pd.Timedelta(days=offset)).date().isoformat()
            sev = _grade(float(fam.score[last, s]), change, fam.threshold, options.params)
            found.append(ProductFinding(kind, series, days[t].date(), days[b].date(), sev,
                                        round(abs(float(fam.score[b, s])), 4), details))


# ---- returns ----------------------------------------------------------------------------------------


def _read_returns(w: Warehouse, first: date, end: date) -> pd.DataFrame:
    have = columns(w, "returns")
    r = w.tables["returns"]
    cols = [r.c.returned_at] + [r.c[c] for c in ("sku", "reason") if c in have]
    source = r
    if "sku" in have and has(w, "products") and "category" in columns(w, "products"):
        p = w.tables["products"]
        source = r.outerjoin(p, p.c.sku == r.c.sku)
        cols.append(p.c.category.label("category"))
    lo, hi = w.ts_bounds(_midnight(first), _midnight(end))
    q = select(*cols).select_from(source).where(r.c.returned_at >= lo, r.c.returned_at < hi)
    frame = _read(w, q, [c.key for c in cols])
    frame["day"] = _local_days(w, frame["returned_at"]) if len(frame) else pd.Series(dtype="datetime64[ns]")
    for c in ("sku", "reason", "category"):
        if c in frame:
            frame[c] = frame[c].astype("string")
    return frame.assign(one=1.0)


def _returns_rules(w: Warehouse, days: pd.DatetimeIndex, report: np.ndarray, options: Options) -> Rows:
    if not has(w, "returns"):
        return _nothing(report)
    rows = _read_returns(w, days[0].date(), days[-1].date() + timedelta(days=1))
    out = _nothing(report)
    if rows.empty:
        return out
    everything = rows.groupby("day")["one"].sum().reindex(days).fillna(0.0)
    # (level, family, its rows with their slice in `key`), the most specific first
    families: list[tuple[str, _Family, pd.DataFrame]] = []
    if "category" in rows and "reason" in rows:
        known = rows[rows["category"].notna() & rows["reason"].notna()]
        known = known.assign(key=known["category"] + "|reason=" + known["reason"])
        num = _wide(known, "day", "key", "one", days)
        per_category = _wide(known, "day", "category", "one", days)
        den = pd.DataFrame({k: per_category[k.split("|reason=")[0]] for k in num.columns}, index=days)
        fam = _ratio_family("category", num, den, days, options, MIN_RETURN_BASE, rare=True)
        if fam is not None:
            families.append(("category_reason", fam, known))
    for level in ("reason", "sku"):
        if level not in rows:
            continue
        known = rows[rows[level].notna()]
        known = known.assign(key=known[level])
        num = _wide(known, "day", "key", "one", days)
        den = pd.DataFrame({k: everything for k in num.columns}, index=days)
        fam = _ratio_family(level, num, den, days, options, MIN_RETURN_BASE, rare=True)
        if fam is not None:
            families.append((level, fam, known))
    for _, fam, _ in families:
        expected = np.where(np.isfinite(fam.expected), fam.expected, np.inf)
        fam.flags &= (fam.score > 0) & (fam.count >= MIN_RETURNS) & (fam.actual >= RETURNS_RATIO * expected)
    # a reason's or a SKU's share that the category x reason pairs (and a SKU's that the reasons)
    # out of range that day explain is theirs, not a second alert
    for i, (level, fam, _) in enumerate(families):
        for _, primary, _ in families[:i]:
            _explain_returns(level, fam, primary, rows, days, options)
    for level, fam, known in families:
        by = "reason" if level == "sku" else "sku"

        def hint(row: int, key: str, known: pd.DataFrame = known, by: str = by) -> list[dict[str, object]]:
            if by not in known:
                return []
            mine = known[(known["day"] == days[row]) & (known["key"] == key)]
            g = mine.groupby(by, observed=True).size().sort_values(ascending=False, kind="stable")
            return [{by: str(k), "lines": int(v)} for k, v in g.head(HINTS).items()]

        _family_findings("returns_spike", "returns", fam, days, report, options, out, hint)
    for found, _ in out:
        for k, f in enumerate(found):
            if f.kind == "returns_spike" and f.details.get("dimension") == "category":
                category, _, reason = str(f.details["value"]).partition("|reason=")
                found[k] = replace(f, details={**f.details, "category": category, "reason": reason})
    return out


def _explain_returns(level: str, fam: _Family, primary: _Family, rows: pd.DataFrame, days: pd.DatetimeIndex,
                     options: Options) -> None:
    """Drop the flags of `fam` (reason or SKU shares) that are back in range without the returns
    of the slices of `primary` (category x reason pairs, or reasons) active that day."""
    _, latest = episodes(primary.flags, options.hold)
    for t, s in zip(*np.nonzero(fam.flags), strict=True):
        active = [primary.keys[j] for j in np.flatnonzero(latest[t] >= 0)]
        if not active:
            continue
        day = rows[rows["day"] == days[t]]
        if primary.dimension == "category":
            pairs = {tuple(k.split("|reason=")) for k in active}
            theirs = np.array([(c, r) in pairs for c, r in zip(day["category"].fillna(""), day["reason"].fillna(""),
                                                               strict=True)], dtype=bool)
        else:
            theirs = day[primary.dimension].isin(active).to_numpy(dtype=bool)
        rest = day[~theirs]
        n = float((rest[level] == fam.keys[s]).sum())
        d = float(len(rest))
        p = fam.expected[t, s]
        z = float(binomial_score(np.array([n]), np.array([d]), np.array([p]))[0]) if d > 0 else 0.0
        if n < MIN_RETURNS or not z >= fam.threshold or n / max(d, 1.0) < RETURNS_RATIO * p:
            fam.flags[t, s] = False

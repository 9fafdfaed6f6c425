"""Product alerts (issue 19): what the daily scan finds in stock, fulfilment and returns, as
findings the alert life-cycle (bot/state/alerts.py) deduplicates, cools down and closes.

Five kinds, each one series per slice (the life-cycle's dedup key, `ProductFinding.series`):

* ``stock_risk`` (``stock_risk|sku=S``): a **top SKU** whose cover is below its lead time. Cover
  here counts what is on order: (on_hand + on_order) / the average daily units of the
  `cover_window` days up to the day, for the SKU's whole stock (units by order day, as
  metrics.products.stock.cover) and at each warehouse (units shipped from it, by ship day: an
  order line has no warehouse, its shipment has). At risk when the whole stock or one warehouse
  is below the SKU's lead time (products.lead_time_days, else stock.DEFAULT_LEAD_TIME). GMV at
  stake: the SKU's daily line GMV × (lead time − cover) for the whole stock, else the sum of that
  over the warehouses at risk (with their own daily GMV). Named: the SKU, its cover, lead time,
  GMV at stake and the warehouses holding the least (lowest cover first).
* ``stockout_began`` (``stockout|sku=S|warehouse=W``; ``stockout|sku=S`` without warehouses): the
  end-of-day stock of a top SKU at a warehouse is 0 on the day. Reported every day of the run
  (so the alert stays open) and closed by the restock; the run's first day is `since`. Lost sales
  so far: days out (the first included, as stock.stockouts counts them) × the SKU's average
  daily units shipped from that warehouse over the LOST_BASELINE in-stock days before the run ×
  their average price (without warehouses: units by order day, as stock.stockouts). Per
  warehouse on purpose: a SKU out at one warehouse while another holds it already loses that
  warehouse's orders (handlers/products.py says the same of `stock`).
* ``on_time_drop`` (``on_time|warehouse=W``, ``on_time|carrier=C``): of the orders shipped on the
  day from a warehouse (or handed to a carrier), the share shipped within `sla_hours` of being
  placed, below its normal range. By ship day, so a day's rate is final when the day ends and
  the slice is known (an order not shipped yet has no warehouse); a warehouse that stops
  shipping shows when its backlog ships, late.
* ``delivery_slow`` (``delivery|carrier=C``, ``delivery|warehouse=W``): the median delivery time
  (delivered_at − shipped_at, days) of the parcels delivered on the day, above its normal range.
  By delivery day, so the number is final when the day ends (parcels still in transit are not
  in it: a delay shows once the late parcels arrive).
* ``returns_spike`` (``returns|category=K|reason=R``, ``returns|reason=R``, ``returns|sku=S``): a
  reason's share of a category's returned lines, a reason's share of all of them, or one SKU's
  share of all of them, far above normal on the day (by returned_at). Shares rather than counts:
  the returns wave after a promotion raises every reason and SKU together, a faulty batch or a
  mislabelled size chart raises one.

**Top SKU** (stock kinds): one of the `top` (TOP_SKUS = 20) SKUs with the most line GMV over the
`cover_window` days up to the day, judged on the day an episode begins (the day before a
stock-out's first day: a SKU that sells nothing while out would otherwise drop out of the top).

**Normal range** (fulfilment and returns) is metrics.anomaly.detectors, as the KPI scan uses it,
on one wide daily block per dimension, so a scan and a backtest give the same verdicts:

* on-time rate and returns shares: `fit_ratio(..., "binomial")`: counts over counts, so the band
  widens on a day with few shipments or returns (3 of 4 returns for one reason is not 3 of 40),
  never tighter than binomial; the baseline is the robust weekday / last-7-days median with the
  level correction and the MAD / quantile spread of the module's docstring;
* median delivery days: `fit` on the daily medians, weighted by 1/sqrt(parcels), since a median
  of 10 parcels wanders more than one of 100 (the spread is estimated in those units).

Each dimension's slices are tested at once with the family correction of the scan
(`family_threshold`: 4 carriers, 90 category × reason pairs). On top of the band a finding needs
a change worth acting on: on-time rate down by MIN_ON_TIME_DROP (5 points), median delivery up by
MIN_DELAY_DAYS (half a day) and MIN_DELAY_SHARE (20 %), a returns share at RETURNS_RATIO (2×) its
expected value and from at least MIN_RETURNS (3) lines. A slice is tested when its typical day
(median of the last 28) has MIN_SHIPPED (20) shipments, MIN_DELIVERED (10) deliveries, or
MIN_RETURN_BASE (2) returns of its base (the category, or all).

**One alert per event.** An episode is a run of flagged days with gaps of at most `hold`
(HOLD_DAYS = 2) days in range; it is reported on every day it lasts, `hold` days after its last
flagged day included (a delay that dips into range for a day is not closed and reopened), and
its `score` is its first day's, so the life-cycle's "pushed again when worse" never re-pushes an
ongoing episode: it is pushed once, updated while open, closed with a recovery note after.
Stock-outs end with the restock (no hold). A slice explained by another kind of slice is not a
second alert: a warehouse's delivery time judged without the parcels of carriers that are out
of range themselves, a carrier's on-time rate without the warehouses that are, a reason's or a
SKU's returns share without the category × reason pairs (and a SKU's without the reasons) that
are, back in range, is not reported; the one that is names the other as a hint.

Promotion and expected days (`expected_days`) are left out of every baseline and never flagged.
A warehouse without the tables (or without data in them) yields no finding and no error.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta

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
from metrics.products.fulfilment import DEFAULT_SLA_HOURS, shipments_of
from metrics.products.source import columns, has
from metrics.products.stock import COVER_WINDOW, DEFAULT_LEAD_TIME, LOST_BASELINE, lead_times

KINDS: tuple[str, ...] = ("stock_risk", "stockout_began", "on_time_drop", "delivery_slow", "returns_spike")
TOP_SKUS = 20
SOON_DAYS = 7.0  # stock_risk: the cover below the lead time and below this
HOLD_DAYS = 2
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
    if frame.empty:
        return pd.DataFrame(index=days, dtype=float)
    wide = frame.pivot_table(index=day, columns=key, values=value, aggfunc="sum", observed=True)
    wide.columns = [str(c) for c in wide.columns]
    return wide.reindex(days).fillna(0.0).astype(np.float64)


def _grade(score: float, change: float | None, threshold: float, params: Params) -> str:
    sev = str(severity(np.array([score]), np.array([np.nan if change is None else change]), threshold, params)[0])
    return "warning" if sev == "info" else sev


# ---- stock ------------------------------------------------------------------------------------------


def _local_days(w: Warehouse, values: pd.Series) -> pd.Series:
    """Timestamps as stored → the business day they fall on (naive midnight)."""
    stamps = pd.to_datetime(values)
    if w.mapping.timestamps == "utc":
        if stamps.dt.tz is None:
            stamps = stamps.dt.tz_localize("UTC")
        stamps = stamps.dt.tz_convert(w.mapping.timezone).dt.tz_localize(None)
    return stamps.dt.normalize()


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time())


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
    with w.connect() as conn:
        frame = pd.DataFrame([dict(r) for r in conn.execute(q).mappings().all()],
                             columns=[c.key for c in cols])
    frame["day"] = pd.to_datetime(frame["day"].astype(str))
    frame["sku"] = frame["sku"].astype(str)
    frame["on_hand"] = pd.to_numeric(frame["on_hand"]).fillna(0.0).astype(float)
    frame["on_order"] = pd.to_numeric(frame["on_order"]).fillna(0.0).astype(float) if "on_order" in frame else 0.0
    return frame


def _shipped_lines(w: Warehouse, first: date, end: date, skus: list[str]) -> pd.DataFrame:
    """Units and line GMV of `skus` per ship day and warehouse (lines of orders that count)."""
    out = pd.DataFrame(columns=["day", "sku", "warehouse", "units", "gmv"])
    if not has(w, "shipments") or "warehouse" not in columns(w, "shipments"):
        return out
    lines, o, s = w.tables["order_lines"], w.tables["orders"], w.tables["shipments"]
    # orders placed up to a month before the first day can ship inside the window
    q = (select(lines.c.sku, lines.c.quantity, w.line_amount().label("gmv"), s.c.warehouse, s.c.shipped_at)
         .select_from(lines.join(o, lines.c.order_id == o.c.order_id).join(s, s.c.order_id == o.c.order_id))
         .where(*w.orders_where(_midnight(first - timedelta(days=30)), _midnight(end)), lines.c.sku.in_(skus),
                s.c.shipped_at.is_not(None), s.c.warehouse.is_not(None)))
    with w.connect() as conn:
        rows = pd.DataFrame([dict(r) for r in conn.execute(q).mappings().all()],
                            columns=["sku", "quantity", "gmv", "warehouse", "shipped_at"])
    if rows.empty:
        return out
    rows["day"] = _local_days(w, rows["shipped_at"])
    rows["sku"] = rows["sku"].astype(str)
    rows["warehouse"] = rows["warehouse"].astype(str)
    rows["units"] = pd.to_numeric(rows["quantity"]).astype(float)
    rows["gmv"] = pd.to_numeric(rows["gmv"]).astype(float)
    return rows.groupby(["day", "sku", "warehouse"], as_index=False)[["units", "gmv"]].sum()


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


def _stock_rules(w: Warehouse, days: pd.DatetimeIndex, report: np.ndarray, options: Options) -> Rows:
    if not (has(w, "inventory") and has(w, "order_lines")) or "sku" not in w.split_dimensions:
        return _nothing(report)
    window = options.cover_window
    units, gmv = _sales(w, days, window)
    tops = _top_sets(gmv, days, window, options.top)
    watched = sorted(set().union(*tops))
    if not watched:
        return _nothing(report)
    inv = _read_inventory(w, days[0].date(), days[-1].date() + timedelta(days=1), watched)
    if inv.empty:
        return _nothing(report)
    by_warehouse = "warehouse" in inv and inv["warehouse"].notna().any()
    shipped = _shipped_lines(w, days[0].date() - timedelta(days=window), days[-1].date() + timedelta(days=1),
                             watched) if by_warehouse else pd.DataFrame()
    leads = lead_times(w)
    n = len(days)
    # whole stock per SKU: (T, K), NaN where no snapshot
    present = inv.groupby(["day", "sku"], as_index=False)[["on_hand", "on_order"]].sum()
    skus = [s for s in watched if s in set(present["sku"])]
    on_hand = present.pivot_table(index="day", columns="sku", values="on_hand").reindex(index=days, columns=skus)
    on_order = present.pivot_table(index="day", columns="sku", values="on_order").reindex(index=days, columns=skus)
    u_roll = units.rolling(window, min_periods=1).sum().reindex(index=days, columns=skus).fillna(0.0) / window
    g_roll = gmv.rolling(window, min_periods=1).sum().reindex(index=days, columns=skus).fillna(0.0) / window
    position = (on_hand + on_order).to_numpy()
    daily_u = u_roll.to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        cover_total = np.where(daily_u > 0, position / daily_u, np.inf)
    lead = np.array([leads.get(s, DEFAULT_LEAD_TIME) for s in skus], dtype=np.float64)
    seen = ~np.isnan(position)
    soon = np.minimum(lead, SOON_DAYS)
    total_risk = seen & (cover_total < soon[None, :])

    # per warehouse: pairs (sku, warehouse) with their own demand
    pairs: list[tuple[str, str | None]] = []
    pair_hand = pair_pos = pair_u = pair_g = np.zeros((n, 0))
    if by_warehouse:
        per = inv[inv["warehouse"].notna()].assign(warehouse=lambda f: f["warehouse"].astype(str))
        per = per[per["sku"].isin(skus)]
        unique = per[["sku", "warehouse"]].drop_duplicates()
        pairs = sorted(zip(unique["sku"].astype(str), unique["warehouse"].astype(str), strict=True))
        key = per["sku"] + "\x00" + per["warehouse"]
        names = [f"{a}\x00{b}" for a, b in pairs]
        pair_hand = per.assign(key=key).pivot_table(index="day", columns="key", values="on_hand", aggfunc="sum") \
            .reindex(index=days, columns=names).to_numpy()
        pair_pos = pair_hand + per.assign(key=key).pivot_table(index="day", columns="key", values="on_order",
                                                                 aggfunc="sum").reindex(index=days, columns=names) \
            .fillna(0.0).to_numpy()
        index = pd.date_range(days[0] - pd.Timedelta(days=window), days[-1], freq="D")
        if len(shipped):
            sk = shipped.assign(key=shipped["sku"] + "\x00" + shipped["warehouse"])
            su = _wide(sk, "day", "key", "units", index).reindex(columns=names, fill_value=0.0)
            sg = _wide(sk, "day", "key", "gmv", index).reindex(columns=names, fill_value=0.0)
        else:
            su = sg = pd.DataFrame(0.0, index=index, columns=names)
        pair_units_daily = su.reindex(days).fillna(0.0).to_numpy()
        pair_gmv_daily = sg.reindex(days).fillna(0.0).to_numpy()
        pair_u = su.rolling(window, min_periods=1).sum().reindex(days).fillna(0.0).to_numpy() / window
        pair_g = sg.rolling(window, min_periods=1).sum().reindex(days).fillna(0.0).to_numpy() / window
    else:
        pairs = [(s, None) for s in skus]
        pair_hand = on_hand.to_numpy()
        pair_units_daily = units.reindex(index=days, columns=skus).fillna(0.0).to_numpy()
        pair_gmv_daily = gmv.reindex(index=days, columns=skus).fillna(0.0).to_numpy()
    pair_sku = np.array([skus.index(s) for s, _ in pairs], dtype=np.int64)
    if by_warehouse:
        with np.errstate(divide="ignore", invalid="ignore"):
            pair_cover = np.where(pair_u > 0, pair_pos / pair_u, np.inf)
        pair_risk = ~np.isnan(pair_pos) & (pair_cover < soon[pair_sku][None, :]) & (pair_u > 0)
    else:
        pair_cover = np.full((n, len(pairs)), np.inf)
        pair_risk = np.zeros((n, len(pairs)), dtype=bool)
    risk = total_risk.copy()
    for j, k in enumerate(pair_sku):
        risk[:, k] |= pair_risk[:, j]

    def top_at(sku: str, row: int) -> bool:
        return sku in tops[max(row, 0)]

    out = _nothing(report)
    # ---- stock_risk
    worst = np.where(total_risk, cover_total, np.inf)  # the lowest cover at risk, whole stock or a warehouse
    for j, k in enumerate(pair_sku):
        worst[:, k] = np.fmin(worst[:, k], np.where(pair_risk[:, j], pair_cover[:, j], np.inf))
    began, latest = episodes(risk, options.hold)
    for i, t in enumerate(report):
        found, scanned = out[i]
        for k, sku in enumerate(skus):
            if not seen[t, k]:
                continue  # no snapshot: unknown, not in range
            series = f"stock_risk|sku={sku}"
            scanned.add(series)
            b, last = int(began[t, k]), int(latest[t, k])
            if b < 0 or not top_at(sku, b):
                continue
            # inside the hold (back in range for a day or two) the episode's last risky day is told
            found.append(_stock_risk(days, t, b, last, k, sku, pairs, pair_sku, lead, on_hand, on_order,
                                     cover_total, worst, u_roll, g_roll, total_risk, pair_hand, pair_pos,
                                     pair_cover, pair_u, pair_g, pair_risk))
    # ---- stockout_began: a pair at 0 at the end of the day; no hold (the restock ends it)
    out_flag = ~np.isnan(pair_hand) & (np.nan_to_num(pair_hand, nan=1.0) <= 0)
    run_start, _ = episodes(out_flag, 0)
    for i, t in enumerate(report):
        found, scanned = out[i]
        for j, (sku, wh) in enumerate(pairs):
            if np.isnan(pair_hand[t, j]):
                continue
            series = f"stockout|sku={sku}" + (f"|warehouse={wh}" if wh is not None else "")
            scanned.add(series)
            b = int(run_start[t, j])
            if b < 0 or not top_at(sku, b - 1):
                continue
            found.append(_stockout(days, t, b, j, sku, wh, pair_hand, pair_units_daily, pair_gmv_daily,
                                   on_hand[sku].to_numpy(), lead[skus.index(sku)], options))
    return out


def _stock_risk(days: pd.DatetimeIndex, t: int, began: int, last: int, k: int, sku: str,
                pairs: list[tuple[str, str | None]], pair_sku: np.ndarray, lead: np.ndarray, on_hand: pd.DataFrame,
                on_order: pd.DataFrame, cover_total: np.ndarray, worst: np.ndarray, u_roll: pd.DataFrame,
                g_roll: pd.DataFrame,
                total_risk: np.ndarray, pair_hand: np.ndarray, pair_pos: np.ndarray, pair_cover: np.ndarray,
                pair_u: np.ndarray, pair_g: np.ndarray, pair_risk: np.ndarray) -> ProductFinding:
    lt = float(lead[k])
    cover = float(cover_total[last, k])
    daily_gmv = float(g_roll.iat[last, k])
    warehouses = []
    for j in np.flatnonzero(pair_sku == k):
        wh = pairs[j][1]
        if wh is None or np.isnan(pair_hand[last, j]):
            continue
        c = pair_cover[last, j]
        stake = float(pair_g[last, j] * (lt - c)) if pair_risk[last, j] else 0.0
        warehouses.append({"warehouse": wh, "on_hand": _num(pair_hand[last, j]), "daily_units": _num(pair_u[last, j]),
                           "on_order": _num(pair_pos[last, j] - pair_hand[last, j]),
                           "cover_days": _num(c) if math.isfinite(c) else None, "at_risk": bool(pair_risk[last, j]),
                           "gmv_at_stake": _num(stake)})
    warehouses.sort(key=lambda x: (x["cover_days"] if x["cover_days"] is not None else math.inf,  # type: ignore[operator]
                                   x["on_hand"] or 0.0, str(x["warehouse"])))
    if total_risk[last, k]:
        stake = daily_gmv * (lt - cover)
    else:
        stake = sum(float(x["gmv_at_stake"] or 0.0) for x in warehouses if x["at_risk"])  # type: ignore[arg-type]
    at_risk = [x for x in warehouses if x["at_risk"]]
    least = at_risk[:HINTS] or warehouses[:1]
    whole = bool(total_risk[last, k])
    shown = cover if whole or not at_risk else at_risk[0]["cover_days"]
    # how far below its lead time the episode began: lead time / cover (fixed while it lasts)
    score = lt / max(float(worst[began, k]), 0.1)
    return ProductFinding("stock_risk", f"stock_risk|sku={sku}", days[t].date(), days[began].date(), "warning",
                          round(score, 4), {
                              "sku": sku, "as_of": _iso(days, last), "lead_time": int(lt), "whole_stock": whole,
                              "cover_days": _num(shown) if shown is not None and math.isfinite(float(shown)) else None,  # type: ignore[arg-type]
                              "warehouse": None if whole or not at_risk else at_risk[0]["warehouse"],
                              "stock_cover_days": _num(cover) if math.isfinite(cover) else None,
                              "on_hand": _num(on_hand.iat[last, k]), "on_order": _num(on_order.iat[last, k]),
                              "daily_units": _num(u_roll.iat[last, k]), "daily_gmv": _num(daily_gmv),
                              "gmv_at_stake": _num(stake), "warehouses": least, "money_at_stake": _num(stake)})


def _stockout(days: pd.DatetimeIndex, t: int, began: int, j: int, sku: str, wh: str | None, pair_hand: np.ndarray,
              units: np.ndarray, gmv: np.ndarray, total_hand: np.ndarray, lead: float,
              options: Options) -> ProductFinding:
    # the LOST_BASELINE in-stock days before the run (days with a snapshot above 0)
    before = np.flatnonzero(~np.isnan(pair_hand[:began, j]) & (np.nan_to_num(pair_hand[:began, j]) > 0))
    base = before[-LOST_BASELINE:]
    per_day = lost_units = lost_gmv = asp = None
    if len(base):
        u = float(units[base, j].sum())
        per_day = u / len(base)
        asp = float(gmv[base, j].sum()) / u if u else None
    out_days = t - began + 1
    if per_day is not None:
        lost_units = per_day * out_days
        lost_gmv = lost_units * asp if asp is not None else None
    everywhere = wh is None or (not np.isnan(total_hand[t]) and total_hand[t] <= 0)
    daily_lost = per_day * asp if per_day is not None and asp is not None else 0.0
    return ProductFinding("stockout_began", f"stockout|sku={sku}" + (f"|warehouse={wh}" if wh is not None else ""),
                          days[t].date(), days[began].date(), "warning", round(max(daily_lost, 1.0), 4), {
                              "sku": sku, "warehouse": wh, "everywhere": bool(everywhere), "days_out": int(out_days),
                              "daily_units_lost": _num(per_day), "lost_units": _num(lost_units),
                              "lost_gmv": _num(lost_gmv), "lead_time": int(lead), "money_at_stake": _num(daily_lost)})


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
    frame = shipments_of(w, _midnight(days[0].date() - timedelta(days=40)),
                         _midnight(days[-1].date() + timedelta(days=1)))
    frame = frame[frame["shipped_at"].notna()].copy()
    if frame.empty:
        return _nothing(report)
    for d in dims:
        frame[d] = frame[d].astype("string")
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
    with w.connect() as conn:
        frame = pd.DataFrame([dict(x) for x in conn.execute(q).mappings().all()],
                             columns=[c.key for c in cols])
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

"""RFM customer segments: who is new, active, high-value, at risk, dormant or lost.

Everything is computed in the warehouse. One statement finds each snapshot's "top 20 %" GMV
threshold. A second one groups orders by customer for every customer's first order and, for each
snapshot day (as of, a month earlier, two and three months earlier), the last order, the number
of orders and the GMV before it; it classifies each customer at every snapshot and returns only
the counts per combination of the four segments (at most 7⁴ rows). Movement between months and
the "high-value customers turning dormant faster than usual" check come from those few rows, so
no per-customer row ever reaches Python, except in an export, which asks for exactly one
segment's customers. The answer is kept while the data is unchanged (metrics/data/cache.py).

Rules (`SegmentRules` holds the numbers). Segments "as of" a day D count the orders through D, and
"the last 90 days" are the 90 days ending with D (D - 89 .. D); recency = the days from the last
order to D + 1, so an order on D itself is 1 day ago (as it is the morning after):

    new         first order in the last 30 days (recency of the first order 1..30)
    champions   last order in the last 90 days (recency 1..90) and (3+ orders or lifetime GMV in the top 20 %)
    active      last order in the last 90 days, the rest
    at_risk     last order in the 90 days before those (recency 91..180) and (2+ orders or GMV in the
                top 20 %): valued customers slipping
    dormant     recency 91..365, the rest
    lost        recency > 365

`rule_days` gives those windows as dates, which is how the reply states them: a reader checks any
exported customer's last order day against them without counting days.

"Top 20 %" is GMV at or above the 80th percentile of the customers of that snapshot, linearly
interpolated (numpy's and PostgreSQL's percentile_cont). Day counts are whole business-local
days: each rule is a comparison of a timestamp with a local midnight, which also keeps stored
UTC timestamps right.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import and_, case, false, func, or_, select

from metrics.data.dialects import quantiles
from metrics.data.warehouse import Warehouse

__all__ = ["SEGMENTS", "SegmentRules", "SegmentReport", "export_csv", "rule_days", "segment_report"]

SEGMENTS: tuple[str, ...] = ("new", "champions", "active", "at_risk", "dormant", "lost")
# what the playbook says to do with each (message keys: segment_action_<name>)
SNAPSHOT_STEP_DAYS = 30
SNAPSHOTS = 4  # as of, and 1..3 months earlier: the latest month's movement against the two before
DECLINE = ("at_risk", "dormant", "lost")
# a shift is abnormal when the latest month's rate is this many times the usual one...
SHIFT_FACTOR = 1.5
# ...and enough customers moved for it to matter
SHIFT_MIN_CUSTOMERS = 10


@dataclass(frozen=True)
class SegmentRules:
    new_days: int = 30
    active_days: int = 90
    at_risk_days: int = 180
    lost_days: int = 365
    champion_orders: int = 3
    at_risk_orders: int = 2
    top_share: float = 0.20  # "GMV in the top 20 %"


def rule_days(as_of: date, rules: SegmentRules = SegmentRules()) -> dict[str, date]:
    """The rules' windows as days for segments as of the start of `as_of` (orders before it): the
    same comparisons `_segment_code` makes, so the legend and the classes cannot drift apart."""
    return {
        "day": as_of - timedelta(days=1),  # the last day whose orders count
        "new_from": as_of - timedelta(days=rules.new_days),  # first order on or after
        "active_from": as_of - timedelta(days=rules.active_days),  # last order on or after
        "risk_from": as_of - timedelta(days=rules.at_risk_days),
        "risk_to": as_of - timedelta(days=rules.active_days + 1),
        "lost_before": as_of - timedelta(days=rules.lost_days),  # a last order before this day: lost
    }


def _cutoffs(as_of: date) -> list[datetime]:
    return [datetime.combine(as_of - timedelta(days=SNAPSHOT_STEP_DAYS * k), datetime.min.time())
            for k in range(SNAPSHOTS)]


def _stored(warehouse: Warehouse, local: datetime) -> datetime:
    """A local instant in the stored timestamps' convention."""
    return warehouse._ts_bounds(local, local)[0]


def _customers(warehouse: Warehouse, cutoffs: list[datetime]) -> Any:
    """Per customer: first_at, and last_k / orders_k / gmv_k before each snapshot k (0 = as_of)."""
    o = warehouse.tables["orders"]
    cols = [o.c.customer_id.label("customer_id"), func.min(o.c.ordered_at).label("first_at")]
    for k, cut in enumerate(cutoffs):
        before = o.c.ordered_at < _stored(warehouse, cut)
        cols += [
            func.max(case((before, o.c.ordered_at))).label(f"last_{k}"),
            func.sum(case((before, 1), else_=0)).label(f"orders_{k}"),
            func.sum(case((before, o.c.amount), else_=0.0)).label(f"gmv_{k}"),
        ]
    return _per_customer(warehouse, cols, cutoffs[0]).subquery("customers")


def _per_customer(warehouse: Warehouse, cols: list[Any], until: datetime) -> Any:
    o = warehouse.tables["orders"]
    return (select(*cols)
            .where(o.c.ordered_at < _stored(warehouse, until), warehouse._not_cancelled(o), o.c.customer_id.is_not(None))
            .group_by(o.c.customer_id))


def thresholds_query(warehouse: Warehouse, cutoffs: list[datetime], rules: SegmentRules) -> Any:
    """Each snapshot's "top 20 %" GMV threshold over the customers of that snapshot (NULL: none).

    A query of its own: it needs only one sum per snapshot and customer, and handing the
    thresholds to the classifying query as numbers lets that one stream (a threshold computed
    inside it would make the engine keep every customer row until the percentiles are known)."""
    o = warehouse.tables["orders"]
    # NULL for a customer with no order before the snapshot: percentiles skip NULLs
    cols = [func.sum(case((o.c.ordered_at < _stored(warehouse, cut), func.coalesce(o.c.amount, 0.0)))).label(f"gmv_{k}")
            for k, cut in enumerate(cutoffs)]
    per = _per_customer(warehouse, cols, cutoffs[0]).cte("spend")
    return quantiles(per, [f"gmv_{k}" for k in range(len(cutoffs))], 1 - rules.top_share, warehouse.engine.dialect.name)


def _segment_code(warehouse: Warehouse, c: Any, k: int, cut: datetime, top: float | None, rules: SegmentRules) -> Any:
    """The index in SEGMENTS of each customer's segment at snapshot k (-1: not a customer yet);
    `top`: the snapshot's top-20 % GMV threshold."""
    def within(days: int) -> datetime:  # "at most `days` whole days before the snapshot day"
        return _stored(warehouse, cut - timedelta(days=days))

    last, orders, gmv = c.c[f"last_{k}"], c.c[f"orders_{k}"], c.c[f"gmv_{k}"]
    valuable = gmv >= top if top is not None else false()
    return case(
        (last.is_(None), -1),
        (c.c.first_at >= within(rules.new_days), SEGMENTS.index("new")),
        (and_(last >= within(rules.active_days), or_(orders >= rules.champion_orders, valuable)),
         SEGMENTS.index("champions")),
        (last >= within(rules.active_days), SEGMENTS.index("active")),
        (and_(last >= within(rules.at_risk_days), or_(orders >= rules.at_risk_orders, valuable)),
         SEGMENTS.index("at_risk")),
        (last >= within(rules.lost_days), SEGMENTS.index("dormant")),
        else_=SEGMENTS.index("lost"),
    )


def _coded(warehouse: Warehouse, cutoffs: list[datetime], tops: list[float | None], rules: SegmentRules) -> Any:
    c = _customers(warehouse, cutoffs)
    codes = [_segment_code(warehouse, c, k, cut, tops[k], rules).label(f"s{k}") for k, cut in enumerate(cutoffs)]
    return select(c.c.customer_id, c.c.first_at, c.c.last_0, c.c.orders_0, c.c.gmv_0, *codes).subquery("coded")


def combinations_query(warehouse: Warehouse, cutoffs: list[datetime], tops: list[float | None],
                       rules: SegmentRules) -> Any:
    """Customers, their GMV and earliest first order per combination of the snapshots' segments."""
    coded = _coded(warehouse, cutoffs, tops, rules)
    codes = [coded.c[f"s{k}"] for k in range(len(cutoffs))]
    return select(*codes, func.count().label("customers"), func.coalesce(func.sum(coded.c.gmv_0), 0.0).label("gmv"),
                  func.min(coded.c.first_at).label("first_at")).group_by(*codes)


def members_query(warehouse: Warehouse, cutoffs: list[datetime], tops: list[float | None], rules: SegmentRules,
                  only: str | None) -> Any:
    """The customers of one segment as of cutoffs[0] (all customers when `only` is None)."""
    coded = _coded(warehouse, cutoffs, tops, rules)
    keep = coded.c.s0 >= 0 if only is None else coded.c.s0 == SEGMENTS.index(only)
    return select(coded.c.customer_id, coded.c.last_0, coded.c.orders_0, coded.c.gmv_0, coded.c.s0).where(keep)


def read_frame(warehouse: Warehouse, query: Any) -> pd.DataFrame:
    """A query's rows as a DataFrame; on DuckDB straight from its columnar result (500k rows of
    Python tuples would cost more than the query)."""
    engine = warehouse.engine
    with warehouse.connect() as conn:
        if engine.dialect.name == "duckdb":
            # expanding IN parameters (the cancelled statuses) must be rendered before binding
            compiled = query.compile(dialect=engine.dialect, compile_kwargs={"render_postcompile": True})
            params = [compiled.params[name] for name in compiled.positiontup or []]
            duck = conn.connection.driver_connection
            return duck.execute(str(compiled), params).df()
        result = conn.execute(query)
        return pd.DataFrame(result.fetchall(), columns=list(result.keys()))


def _local(warehouse: Warehouse, stored: pd.Series) -> pd.Series:
    """Stored timestamps as business-local naive ones."""
    values = pd.to_datetime(stored)
    if warehouse.mapping.timestamps == "utc":
        values = values.dt.tz_localize("UTC").dt.tz_convert(warehouse.zone).dt.tz_localize(None)
    return values


@dataclass
class SegmentReport:
    as_of: date
    previous_as_of: date
    customers: int
    counts: dict[str, int]
    previous: dict[str, int]
    gmv_share: dict[str, float]
    gmv: dict[str, float]
    movement: dict[str, dict[str, int]]  # from previous segment ("" = not yet a customer) -> to
    shifts: list[dict[str, Any]] = field(default_factory=list)
    frame: pd.DataFrame | None = None  # customer_id, last_order_day, orders, gmv, segment

    def as_json(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of.isoformat(), "previous_as_of": self.previous_as_of.isoformat(),
            "customers": self.customers, "counts": self.counts, "previous": self.previous,
            "change": {s: self.counts[s] - self.previous[s] for s in SEGMENTS},
            "gmv": {s: float(f"{v:.12g}") for s, v in self.gmv.items()},
            # 12 digits: the engine's parallel sums may differ in the last bit from one run to the next
            "gmv_share": {s: float(f"{v:.12g}") for s, v in self.gmv_share.items()},
            "movement": self.movement, "shifts": self.shifts,
        }


def _decline_rates(combos: pd.DataFrame, cutoffs: list[datetime], data_start: datetime | None,
                   rules: SegmentRules) -> list[tuple[int, int]]:
    """(champions at the start, of them in a declining segment a month later) per month, latest first.

    A month only counts when the data reaches back far enough for anyone to have gone quiet for
    `active_days` by its end; a young history would otherwise make every decline look abnormal."""
    out = []
    for k in range(len(cutoffs) - 1):
        if data_start is None or (cutoffs[k] - data_start).days < rules.active_days + SNAPSHOT_STEP_DAYS:
            break
        was = combos[f"s{k + 1}"] == SEGMENTS.index("champions")
        declined = combos[f"s{k}"] >= SEGMENTS.index("at_risk")  # at_risk, dormant, lost: the last three codes
        out.append((int(combos.customers[was].sum()), int(combos.customers[was & declined].sum())))
    return out


def detect_shifts(rates: list[tuple[int, int]]) -> list[dict[str, Any]]:
    """High-value customers declining faster than in the months before: a segment-shift alert."""
    if len(rates) < 2 or rates[0][0] == 0:
        return []
    latest = rates[0][1] / rates[0][0]
    usual = [m / n for n, m in rates[1:] if n > 0]
    if not usual:
        return []
    base = float(np.mean(usual))
    moved = rates[0][1]
    if moved >= SHIFT_MIN_CUSTOMERS and latest > SHIFT_FACTOR * base:
        return [{"from": "champions", "to": list(DECLINE), "customers": moved, "rate": latest, "usual": base}]
    return []


def segment_report(
    warehouse: Warehouse, as_of: date, rules: SegmentRules = SegmentRules(), keep_frame: bool = False,
    only: str | None = None,
) -> SegmentReport:
    """Segments as of the start of `as_of` (orders before that day), with last month's movement.

    keep_frame also reads the per-customer rows for export (only those of segment `only` when
    given: reading a million rows to hand out three thousand is wasted work)."""
    cutoffs = _cutoffs(as_of)

    def compute() -> tuple[SegmentReport, list[float | None]]:
        with warehouse.connect() as conn:
            tops = [None if v is None else float(v)
                    for v in conn.execute(thresholds_query(warehouse, cutoffs, rules)).one()]
            rows = conn.execute(combinations_query(warehouse, cutoffs, tops, rules)).all()
        combos = pd.DataFrame(
            [tuple(r) for r in rows], columns=[*(f"s{k}" for k in range(len(cutoffs))), "customers", "gmv", "first_at"]
        ).astype({f"s{k}": int for k in range(len(cutoffs))} | {"customers": int, "gmv": float})
        return report_from_combinations(warehouse, combos, as_of, cutoffs, rules), tops

    # kept while the data is unchanged: it reads closed days only, and every customer's history
    report, tops = warehouse.remember(("segments", as_of, rules), compute, shared=True)
    if not keep_frame:
        return report
    return replace(report, frame=_members(warehouse, cutoffs, tops, rules, only))


def report_from_combinations(warehouse: Warehouse, combos: pd.DataFrame, as_of: date, cutoffs: list[datetime],
                             rules: SegmentRules) -> SegmentReport:
    now = combos.groupby("s0").customers.sum()
    prev = combos.groupby("s1").customers.sum()
    seg_gmv_series = combos.groupby("s0").gmv.sum()
    counts = {s: int(now.get(i, 0)) for i, s in enumerate(SEGMENTS)}
    previous = {s: int(prev.get(i, 0)) for i, s in enumerate(SEGMENTS)}
    seg_gmv = {s: float(seg_gmv_series.get(i, 0.0)) for i, s in enumerate(SEGMENTS)}
    total = sum(seg_gmv.values())
    names = [""] + list(SEGMENTS)  # code -1 ("not a customer yet") is ""
    pairs = combos.groupby(["s1", "s0"]).customers.sum()
    movement: dict[str, dict[str, int]] = {}
    for (before, after), moved in sorted(pairs.items()):
        if moved:
            movement.setdefault(names[before + 1], {})[names[after + 1]] = int(moved)
    first = _local(warehouse, combos.first_at).min() if len(combos) else None
    data_start = None if first is None or pd.isna(first) else first.to_pydatetime()
    return SegmentReport(
        as_of, cutoffs[1].date(), int(combos.customers.sum()), counts, previous,
        {s: (v / total if total else 0.0) for s, v in seg_gmv.items()}, seg_gmv, movement,
        detect_shifts(_decline_rates(combos, cutoffs, data_start, rules)),
    )


def _members(warehouse: Warehouse, cutoffs: list[datetime], tops: list[float | None], rules: SegmentRules,
             only: str | None) -> pd.DataFrame:
    rows = read_frame(warehouse, members_query(warehouse, cutoffs, tops, rules, only))
    return pd.DataFrame({
        "customer_id": rows["customer_id"].to_numpy(),
        "last_order_day": _local(warehouse, rows["last_0"]).dt.date.to_numpy(),
        "orders": pd.to_numeric(rows["orders_0"]).astype(int).to_numpy(),
        "gmv": np.round(pd.to_numeric(rows["gmv_0"]).to_numpy(dtype=float), 2),
        "segment": np.array(list(SEGMENTS), dtype=object)[rows["s0"].to_numpy(dtype=int)],
    })


def export_csv(report: SegmentReport, segment: str | None = None) -> str:
    """customer_id,last_order_day,orders,gmv,segment — one segment or all, best customers first."""
    assert report.frame is not None, "segment_report(..., keep_frame=True) first"
    rows = report.frame if segment is None else report.frame[report.frame["segment"] == segment]
    rows = rows.sort_values(["gmv", "customer_id"], ascending=[False, True])
    buf = io.StringIO()
    rows.to_csv(buf, index=False, lineterminator="\n")
    return buf.getvalue()

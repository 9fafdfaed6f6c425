"""RFM customer segments: who is new, active, high-value, at risk, dormant or lost.

One SQL pass over orders gives every customer's first order, and for each snapshot day (as of,
a month earlier, two and three months earlier) the last order, the number of orders and the GMV
before it; pandas classifies the per-customer frame (vectorised), so movement between months and
the "high-value customers turning dormant faster than usual" check cost no extra scans.

Rules (days since the last order = recency; `SegmentRules` holds the numbers):

    new         first order in the last 30 days
    champions   recency <= 90 and (3+ orders or lifetime GMV in the top 20 %)
    active      recency <= 90, the rest
    at_risk     90 < recency <= 180 and (2+ orders or GMV in the top 20 %): valued customers slipping
    dormant     90 < recency <= 365, the rest
    lost        recency > 365
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import case, func, select

from metrics.warehouse import Warehouse

__all__ = ["SEGMENTS", "SegmentRules", "SegmentReport", "classify", "customer_frame", "export_csv", "segment_report"]

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


def _cutoffs(as_of: date) -> list[datetime]:
    return [datetime.combine(as_of - timedelta(days=SNAPSHOT_STEP_DAYS * k), datetime.min.time())
            for k in range(SNAPSHOTS)]


def _query(warehouse: Warehouse, cutoffs: list[datetime]) -> Any:
    o = warehouse.tables["orders"]
    cols = [o.c.customer_id.label("customer_id"), func.min(o.c.ordered_at).label("first_at")]
    for k, cut in enumerate(cutoffs):
        before = o.c.ordered_at < cut
        cols += [
            func.max(case((before, o.c.ordered_at))).label(f"last_{k}"),
            func.sum(case((before, 1), else_=0)).label(f"orders_{k}"),
            func.sum(case((before, o.c.amount), else_=0.0)).label(f"gmv_{k}"),
        ]
    return (select(*cols)
            .where(o.c.ordered_at < cutoffs[0], warehouse._not_cancelled(o), o.c.customer_id.is_not(None))
            .group_by(o.c.customer_id))


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


def customer_frame(warehouse: Warehouse, as_of: date) -> pd.DataFrame:
    """Per customer: first_at, and last_k / orders_k / gmv_k before each snapshot k (0 = as_of)."""
    frame = read_frame(warehouse, _query(warehouse, _cutoffs(as_of)))
    for col in frame.columns:
        if col == "first_at" or col.startswith("last_"):
            frame[col] = pd.to_datetime(frame[col])
        elif col.startswith(("orders_", "gmv_")):
            frame[col] = pd.to_numeric(frame[col]).fillna(0)
    return frame


def classify_codes(
    recency: np.ndarray,
    tenure: np.ndarray,
    orders: np.ndarray,
    gmv: np.ndarray,
    rules: SegmentRules = SegmentRules(),
) -> np.ndarray:
    """Segment codes (index into SEGMENTS; -1 = not a customer yet, NaN recency) as int8: a
    million customers classify in tens of milliseconds, where strings would take a second."""
    exists = np.isfinite(recency)
    top = np.quantile(gmv[exists], 1 - rules.top_share) if exists.any() else np.inf
    valuable = gmv >= top
    with np.errstate(invalid="ignore"):  # NaN recency compares False; those rows are set to -1 below
        conditions = [
            tenure <= rules.new_days,
            (recency <= rules.active_days) & ((orders >= rules.champion_orders) | valuable),
            recency <= rules.active_days,
            (recency <= rules.at_risk_days) & ((orders >= rules.at_risk_orders) | valuable),
            recency <= rules.lost_days,
        ]
    codes = np.select(conditions, np.arange(len(conditions), dtype=np.int8), default=SEGMENTS.index("lost"))
    codes = codes.astype(np.int8)
    codes[~exists] = -1
    return codes


def classify(
    recency: np.ndarray,
    tenure: np.ndarray,
    orders: np.ndarray,
    gmv: np.ndarray,
    rules: SegmentRules = SegmentRules(),
) -> np.ndarray:
    """Segment names for customers (recency and tenure in days; NaN recency = not a customer yet,
    classified as "")."""
    names = np.array(list(SEGMENTS) + [""], dtype=object)
    return names[classify_codes(recency, tenure, orders, gmv, rules)]


def _days(cut: datetime, when: pd.Series) -> np.ndarray:
    # whole days between the order day and the snapshot day: an order yesterday is 1 day ago
    order_day = when.to_numpy(dtype="datetime64[ns]").astype("datetime64[D]")
    days = (np.datetime64(cut.date(), "D") - order_day).astype("timedelta64[D]").astype(float)
    days[np.isnat(order_day)] = np.nan
    return days


def snapshot(frame: pd.DataFrame, cutoffs: list[datetime], k: int, rules: SegmentRules) -> np.ndarray:
    recency = _days(cutoffs[k], frame[f"last_{k}"])
    tenure = _days(cutoffs[k], frame["first_at"])
    return classify_codes(recency, tenure, frame[f"orders_{k}"].to_numpy(dtype=float),
                          frame[f"gmv_{k}"].to_numpy(dtype=float), rules)


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
            "gmv": {s: float(f"{v:.12g}") for s, v in self.gmv.items()}, "gmv_share": self.gmv_share,
            "movement": self.movement, "shifts": self.shifts,
        }


def _decline_rates(labels: list[np.ndarray], cutoffs: list[datetime], data_start: datetime | None,
                   rules: SegmentRules) -> list[tuple[int, int]]:
    """(champions at the start, of them in a declining segment a month later) per month, latest first.

    A month only counts when the data reaches back far enough for anyone to have gone quiet for
    `active_days` by its end; a young history would otherwise make every decline look abnormal."""
    out = []
    for k in range(len(labels) - 1):
        if data_start is None or (cutoffs[k] - data_start).days < rules.active_days + SNAPSHOT_STEP_DAYS:
            break
        before, after = labels[k + 1], labels[k]
        was = before == SEGMENTS.index("champions")
        declined = after >= SEGMENTS.index("at_risk")  # at_risk, dormant, lost: the last three codes
        out.append((int(was.sum()), int((was & declined).sum())))
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

    keep_frame keeps the per-customer rows for export (only those of segment `only` when given:
    formatting a million rows to hand out three thousand is wasted work)."""
    cutoffs = _cutoffs(as_of)
    frame = customer_frame(warehouse, as_of)
    return report_from_frame(frame, as_of, cutoffs, rules, keep_frame, only)


def report_from_frame(frame: pd.DataFrame, as_of: date, cutoffs: list[datetime], rules: SegmentRules,
                      keep_frame: bool, only: str | None = None) -> SegmentReport:
    labels = [snapshot(frame, cutoffs, k, rules) for k in range(len(cutoffs))]
    now, prev = labels[0], labels[1]
    gmv = frame["gmv_0"].to_numpy(dtype=float)
    total = float(gmv.sum())
    n = len(SEGMENTS)
    counts_arr = np.bincount(now[now >= 0], minlength=n)
    prev_arr = np.bincount(prev[prev >= 0], minlength=n)
    gmv_arr = np.bincount(now[now >= 0], weights=gmv[now >= 0], minlength=n)
    counts = {s: int(counts_arr[i]) for i, s in enumerate(SEGMENTS)}
    previous = {s: int(prev_arr[i]) for i, s in enumerate(SEGMENTS)}
    seg_gmv = {s: float(gmv_arr[i]) for i, s in enumerate(SEGMENTS)}
    # transitions as one bincount over (from + 1) * (n + 1) + (to + 1); -1 ("not yet") maps to ""
    pairs = np.bincount((prev.astype(np.int64) + 1) * (n + 1) + now + 1, minlength=(n + 1) ** 2).reshape(n + 1, n + 1)
    names = [""] + list(SEGMENTS)
    movement = {names[f]: {names[t]: int(pairs[f, t]) for t in range(n + 1) if pairs[f, t]}
                for f in range(n + 1) if pairs[f].any()}
    report = SegmentReport(
        as_of, cutoffs[1].date(), int(len(frame)), counts, previous,
        {s: (v / total if total else 0.0) for s, v in seg_gmv.items()}, seg_gmv, movement,
        detect_shifts(_decline_rates(labels, cutoffs, frame["first_at"].min() if len(frame) else None, rules)),
    )
    if keep_frame:
        keep = now >= 0 if only is None else now == SEGMENTS.index(only)
        rows = frame[keep]
        report.frame = pd.DataFrame({
            "customer_id": rows["customer_id"].to_numpy(),
            "last_order_day": rows["last_0"].dt.date.to_numpy(),
            "orders": rows["orders_0"].astype(int).to_numpy(),
            "gmv": np.round(gmv[keep], 2),
            "segment": np.array(list(SEGMENTS), dtype=object)[now[keep]],
        })
    return report


def export_csv(report: SegmentReport, segment: str | None = None) -> str:
    """customer_id,last_order_day,orders,gmv,segment — one segment or all, best customers first."""
    assert report.frame is not None, "segment_report(..., keep_frame=True) first"
    rows = report.frame if segment is None else report.frame[report.frame["segment"] == segment]
    rows = rows.sort_values(["gmv", "customer_id"], ascending=[False, True])
    buf = io.StringIO()
    rows.to_csv(buf, index=False, lineterminator="\n")
    return buf.getvalue()

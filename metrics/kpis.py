"""The KPI catalogue of DESIGN.md and its evaluation from summed parts.

Every KPI is a measure or a ratio of two measures; ratios are computed from
the period's sums, never as averages of daily ratios.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

import pandas as pd

from metrics.data.warehouse import TOTAL, Filter, Warehouse
from metrics.errors import UnknownMetric
from metrics.periods import Comparison, Period

Unit = Literal["money", "count", "percent", "ratio"]


@dataclass(frozen=True)
class Kpi:
    name: str
    zh: str
    numerator: str
    denominator: str | None
    unit: Unit
    higher_is_better: bool
    aliases: tuple[str, ...] = ()

    @property
    def measures(self) -> tuple[str, ...]:
        return (self.numerator,) + ((self.denominator,) if self.denominator else ())


CATALOG: dict[str, Kpi] = {
    k.name: k
    for k in (
        Kpi("gmv", "销售额", "gmv", None, "money", True, ("sales", "revenue", "gmv", "成交额", "营业额")),
        Kpi("orders", "订单量", "orders", None, "count", True, ("order", "订单", "订单数")),
        Kpi("aov", "客单价", "gmv", "orders", "money", True, ("average_order_value",)),
        Kpi("buyers", "下单客户数", "buyers", None, "count", True, ("customers", "买家数", "客户数")),
        Kpi("new_customers", "新客数", "new_customers", None, "count", True, ("new", "新客", "新客户")),
        Kpi("sessions", "访客数", "sessions", None, "count", True, ("traffic", "visits", "流量", "访客")),
        Kpi("conversion", "转化率", "orders", "sessions", "percent", True, ("cvr", "conversion_rate", "转化")),
        Kpi("spend", "推广费用", "spend", None, "money", False, ("marketing", "ad_spend", "推广费", "广告费")),
        Kpi("cac", "获客成本", "spend", "new_customers", "money", False, ("customer_acquisition_cost",)),
        Kpi("roas", "投入产出比", "gmv", "spend", "ratio", True, ("roi", "投产比")),
        Kpi("refund_rate", "退款率", "refunded", "gmv", "percent", False, ("refunds", "退款")),
        Kpi("repurchase_rate", "复购率", "repeat_buyers", "buyers", "percent", True, ("repurchase", "复购")),
        # from order lines (docs/products.md)
        Kpi("units", "销量", "units", None, "count", True, ("units_sold", "qty", "quantity", "件数", "销售件数")),
        Kpi("items_per_order", "连带率", "units", "line_orders", "ratio", True, ("upt", "ipo", "件单比")),
        Kpi("asp", "件均价", "line_gmv", "units", "money", True, ("average_selling_price", "unit_price", "均价")),
        Kpi("gross_margin", "毛利", "margin", None, "money", True, ("margin", "profit", "毛利额")),
        Kpi("margin_rate", "毛利率", "margin", "costed_gmv", "percent", True, ("gross_margin_rate", "margin_pct")),
        Kpi("sell_through", "售出率", "units", "sell_base", "percent", True, ("sellthrough", "str", "动销率")),
        Kpi("return_rate", "退货率", "returned_units", "units", "percent", False, ("returns_rate", "退货件数率")),
    )
}

# The card `kpi` shows when no metric is named.
STANDARD_CARD: tuple[str, ...] = ("gmv", "orders", "aov", "conversion", "new_customers", "refund_rate")

_LOOKUP: dict[str, str] = {}
for _k in CATALOG.values():
    for _word in (_k.name, _k.zh, *_k.aliases):
        _LOOKUP[_word.lower()] = _k.name


def metric_names() -> list[str]:
    """Every word that names a KPI, for suggestions."""
    return list(_LOOKUP)


def lookup_metric(word: str) -> Kpi | None:
    name = _LOOKUP.get(word.lower().replace("-", "_"))
    return CATALOG[name] if name else None


def resolve_metric(word: str, suggest: str | None = None) -> Kpi:
    kpi = lookup_metric(word)
    if kpi is None:
        raise UnknownMetric("unknown_metric", name=word, suggestion=suggest or "")
    return kpi


def json_number(value: float | None) -> float | None:
    """A number for --json: twelve significant digits keep every real digit of a money sum or
    a rate and drop float-sum noise (144188.57000000004); NaN (no value) becomes None."""
    if value is None or value != value:
        return None
    return float(f"{value:.12g}")


@dataclass(frozen=True)
class KpiQuery:
    metrics: tuple[Kpi, ...]
    period: Period
    compare: Comparison | None = None
    by: str | None = None
    filters: tuple[Filter, ...] = ()


@dataclass
class MetricValue:
    value: float | None
    previous: float | None = None

    @property
    def change(self) -> float | None:
        if self.value is None or self.previous is None:
            return None
        return self.value - self.previous

    @property
    def change_pct(self) -> float | None:
        change = self.change
        if change is None or not self.previous:
            return None
        return change / abs(self.previous) * 100.0

    def as_json(self) -> dict[str, float | None]:
        return {
            name: json_number(v)
            for name, v in (("value", self.value), ("previous", self.previous),
                            ("change", self.change), ("change_pct", self.change_pct))
        }


@dataclass
class KpiResult:
    query: KpiQuery
    totals: dict[str, MetricValue]
    rows: list[tuple[str, dict[str, MetricValue]]] = field(default_factory=list)
    # KPIs the data cannot split or filter as asked (sessions by region)
    unavailable: list[str] = field(default_factory=list)
    # what the data covers of the periods asked (metrics.coverage.KpiCoverage), once judged
    coverage: object | None = None
    # the summed parts behind every value (current, earlier), so that rows a table leaves out can be
    # folded into an exact "other" row (rest_row)
    total_parts: tuple[pd.Series | None, pd.Series | None] = (None, None)
    row_parts: dict[str, tuple[pd.Series | None, pd.Series | None]] = field(default_factory=dict)
    # lagging KPIs not final for the periods asked (metrics.lagging.RefundWindow by KPI name)
    incomplete: dict[str, object] = field(default_factory=dict)


# measures whose slices add up to the total (a new customer belongs to their first order's slice);
# distinct counts (buyers, repeat buyers) do not: a customer who bought in two channels is in both
ADDITIVE = frozenset({"gmv", "orders", "refunded", "new_customers", "sessions", "product_views", "add_to_cart",
                      "spend"})


def rows_shown(count: int, limit: int) -> int:
    """How many of `count` rows a table of at most `limit` rows shows before its "other" row: all of
    them when at most one would be left out (an "other" of one row would hide a name for nothing)."""
    return count if count <= limit + 1 else limit


def rest_parts(total: pd.Series | None, shown: Sequence[pd.Series | None],
               rest: Sequence[pd.Series | None]) -> pd.Series | None:
    """The summed parts of the rows a table leaves out.

    An additive measure is the total less the shown rows, from the exact sums (never from rounded
    display values), so that shown rows + other = total to the cent, even when some orders have no
    slice value at all. A distinct count cannot be subtracted (a customer in two slices) and is the
    left-out rows' own sum, as the slices themselves are counted."""
    frames = [p for p in rest if p is not None]
    seen = frames + [p for p in shown if p is not None]
    if not seen or total is None and not frames:
        return None
    # only what the rows themselves have: a measure the split cannot give (sessions by category)
    # stays unknown in "other" too, not the whole total
    columns = list(seen[0].index)
    out = pd.Series(0.0, index=columns, dtype=float)
    for m in columns:
        if m in ADDITIVE and total is not None and m in total.index:
            out[m] = float(total[m]) - sum(float(p[m]) for p in shown if p is not None and m in p.index)
        else:
            out[m] = sum(float(p[m]) for p in frames if m in p.index)
    return out


@dataclass
class OtherRow:
    """The rows a table leaves out, as one row: how many, and their KPIs from their summed parts
    (the AOV of "other" is its GMV / its orders, not an average of the rows' AOVs)."""

    count: int
    values: dict[str, MetricValue]

    def as_json(self) -> dict[str, object]:
        return {"rows": self.count, "metrics": {n: mv.as_json() for n, mv in self.values.items()}}


def rest_row(result: KpiResult, shown: int) -> OtherRow | None:
    """The rows of `result` after the first `shown`, folded into one, or None when none are left out.
    Values the data cannot give (result.coverage) stay unknown in it as in every row."""
    if len(result.rows) <= shown:
        return None
    keys = [k for k, _ in result.rows]
    parts = [result.row_parts.get(k, (None, None)) for k in keys]
    cur = rest_parts(result.total_parts[0], [c for c, _ in parts[:shown]], [c for c, _ in parts[shown:]])
    compare = result.query.compare is not None
    prev = rest_parts(result.total_parts[1], [p for _, p in parts[:shown]], [p for _, p in parts[shown:]]) \
        if compare else None
    gaps = getattr(result.coverage, "gaps", {}) or {}
    compare_gaps = getattr(result.coverage, "compare_gaps", {}) or {}
    values = {}
    for k in result.query.metrics:
        value = None if k.name in gaps else kpi_value(k, cur)
        previous = None
        if compare and k.name not in gaps and k.name not in compare_gaps:
            previous = kpi_value(k, prev)
        values[k.name] = MetricValue(value, previous)
    return OtherRow(len(keys) - shown, values)


def kpi_value(kpi: Kpi, parts: pd.Series | None) -> float | None:
    """A KPI from its summed parts; None for a ratio over zero or a measure that is not available."""
    if parts is None or kpi.numerator not in parts.index:
        return None
    num = float(parts[kpi.numerator])
    if kpi.denominator is None:
        return num
    if kpi.denominator not in parts.index:
        return None
    den = float(parts[kpi.denominator])
    if den == 0 or math.isnan(den):
        return None
    return num / den


def _measures(kpis: Sequence[Kpi]) -> list[str]:
    return list(dict.fromkeys(m for k in kpis for m in k.measures))


def _row(frame: pd.DataFrame, key: str) -> pd.Series | None:
    return frame.loc[key] if key in frame.index else None


# aggregates already read for one answer (see evaluate)
Memo = dict[tuple[object, ...], pd.DataFrame]


def evaluate_many(warehouse: Warehouse, queries: Sequence[KpiQuery]) -> list[KpiResult]:
    """Several KPI queries answered together (the standard card: day over day and week over week):
    every distinct aggregate is read once, and each split's periods go to the warehouse together,
    so that new customers are counted in one pass over the history (Warehouse.aggregate_many)."""
    needs: dict[tuple[tuple[str, ...], str | None, tuple[Filter, ...]], list[tuple[datetime, datetime]]] = {}
    for q in queries:
        periods = [q.period.bounds()] + ([q.compare.period.bounds()] if q.compare else [])
        for by in dict.fromkeys([None, q.by]):
            wanted = needs.setdefault((tuple(_measures(q.metrics)), by, tuple(q.filters)), [])
            wanted += [p for p in periods if p not in wanted]
    memo: Memo = {}
    for (measures, by, filters), periods in needs.items():
        frames = warehouse.aggregate_many(list(measures), periods, by=by, filters=list(filters))
        for (start, end), frame in zip(periods, frames, strict=True):
            memo[(measures, start, end, by, filters)] = frame
    return [evaluate(warehouse, q, memo) for q in queries]


def evaluate(warehouse: Warehouse, query: KpiQuery, memo: Memo | None = None) -> KpiResult:
    """The query's KPIs. `memo`, shared by the evaluations of one answer, reads each identical
    aggregate once (the standard card's day-over-day and week-over-week both need yesterday)."""
    def aggregate(measures: list[str], start: datetime, end: datetime, by: str | None = None) -> pd.DataFrame:
        key = (tuple(measures), start, end, by, tuple(filters))
        if memo is None:
            return warehouse.aggregate(measures, start, end, by=by, filters=filters)
        if key not in memo:
            memo[key] = warehouse.aggregate(measures, start, end, by=by, filters=filters)
        return memo[key]

    measures = _measures(query.metrics)
    filters = list(query.filters)
    unavailable = [
        k.name for k in query.metrics if not all(warehouse.available(m, query.by, filters) for m in k.measures)
    ]
    current_total = aggregate(measures, *query.period.bounds())
    previous_total = None
    if query.compare is not None:
        previous_total = aggregate(measures, *query.compare.period.bounds())

    def values(cur: pd.Series | None, prev: pd.Series | None) -> dict[str, MetricValue]:
        out = {}
        for k in query.metrics:
            previous = kpi_value(k, prev) if query.compare is not None else None
            if query.compare is not None and previous is None and prev is None and k.denominator is None:
                previous = 0.0  # a slice absent from the earlier period had none of it
            out[k.name] = MetricValue(kpi_value(k, cur), previous)
        return out

    result = KpiResult(
        query,
        values(_row(current_total, TOTAL), _row(previous_total, TOTAL) if previous_total is not None else None),
        unavailable=unavailable,
        total_parts=(_row(current_total, TOTAL), _row(previous_total, TOTAL) if previous_total is not None else None),
    )
    if query.by:
        current = aggregate(measures, *query.period.bounds(), by=query.by)
        previous = None
        if query.compare is not None:
            previous = aggregate(measures, *query.compare.period.bounds(), by=query.by)
        keys = list(current.index) + [k for k in (previous.index if previous is not None else []) if k not in current.index]
        for key in keys:
            prev_row = _row(previous, key) if previous is not None else None
            cur_row = _row(current, key)
            if cur_row is None:
                cur_row = pd.Series(0.0, index=current.columns)
            result.rows.append((key, values(cur_row, prev_row)))
            result.row_parts[key] = (cur_row, prev_row)
        lead = query.metrics[0].name
        result.rows.sort(key=lambda kv: -(kv[1][lead].value or 0.0))
    return result

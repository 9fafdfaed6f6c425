"""Where a KPI comes from and why it moved: rankings, contributions to a change, and the
GMV driver tree. Every decomposition here is exact: its parts add up to the change.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import pandas as pd

from metrics.data.warehouse import TOTAL, Filter, Warehouse
from metrics.kpis import ADDITIVE, CATALOG, Kpi, kpi_value, rest_parts
from metrics.periods import Period


@dataclass
class Ranked:
    key: str
    value: float | None
    share: float | None  # of the total numerator (GMV share, order share...)
    previous: float | None = None

    @property
    def change(self) -> float | None:
        return None if self.value is None or self.previous is None else self.value - self.previous

    @property
    def change_pct(self) -> float | None:
        ch = self.change
        return None if ch is None or not self.previous else ch / abs(self.previous) * 100


@dataclass
class TopResult:
    dimension: str
    kpi: Kpi
    total: float | None
    previous_total: float | None
    rows: list[Ranked]
    # summed parts per slice and in total (current, earlier), for the "other" row (top_rest)
    frames: tuple[pd.DataFrame | None, pd.DataFrame | None] = (None, None)
    totals: tuple[pd.DataFrame | None, pd.DataFrame | None] = (None, None)


def _parts_of(frame: pd.DataFrame | None, keys: Sequence[str]) -> list[pd.Series | None]:
    if frame is None:
        return []
    index = {str(k): k for k in frame.index}
    return [frame.loc[index[k]] if k in index else None for k in keys]


def top_rest(result: TopResult, shown: int) -> Ranked | None:
    """The slices of a ranking after the first `shown`, as one row from their summed parts (key
    None): its share is the rest of 100 %, a ratio is its own parts' ratio. None when none are left."""
    if len(result.rows) <= shown:
        return None
    kpi, (cur, prev) = result.kpi, result.frames
    keys = [r.key for r in result.rows]

    def parts(frame: pd.DataFrame | None, totals: pd.DataFrame | None) -> pd.Series | None:
        rows = _parts_of(frame, keys)
        return rest_parts(_row(totals, TOTAL) if totals is not None else None, rows[:shown], rows[shown:])

    now = parts(cur, result.totals[0])
    value = kpi_value(kpi, now)
    total_num = float(cur[kpi.numerator].sum()) if cur is not None and kpi.numerator in cur else 0.0
    # the share of the sum the rows' shares are of, so that shown shares + other = 100 %
    shown_num = sum(float(p[kpi.numerator]) for p in _parts_of(cur, keys[:shown])
                    if p is not None and kpi.numerator in p.index)
    share = (total_num - shown_num) / total_num if total_num else None
    previous = None
    if prev is not None:
        previous = kpi_value(kpi, parts(prev, result.totals[1]))
        if previous is None and kpi.denominator is None:
            previous = 0.0
    return Ranked(None, value, share, previous)  # type: ignore[arg-type]


def _frame(wh: Warehouse, kpi: Kpi, period: Period, by: str | None, filters: Sequence[Filter]) -> pd.DataFrame:
    return wh.aggregate(kpi.measures, *period.bounds(), by=by, filters=filters)


def _row(frame: pd.DataFrame, key: str) -> pd.Series | None:
    return frame.loc[key] if key in frame.index else None




def _totals(wh: Warehouse, kpi: Kpi, period: Period, filters: Sequence[Filter],
            split: pd.DataFrame | None) -> pd.DataFrame:
    """The period's totals: summed from a split already read when that is exact, else queried."""
    if split is not None and set(kpi.measures) <= ADDITIVE and set(kpi.measures) <= set(split.columns):
        return split.sum().to_frame(TOTAL).T
    return _frame(wh, kpi, period, None, filters)


def top(
    wh: Warehouse,
    dimension: str,
    kpi: Kpi,
    period: Period,
    compare: Period | None = None,
    filters: Sequence[Filter] = (),
) -> TopResult:
    cur = _frame(wh, kpi, period, dimension, filters)
    prev = _frame(wh, kpi, compare, dimension, filters) if compare else None
    total_num = float(cur[kpi.numerator].sum()) if kpi.numerator in cur else 0.0
    rows = []
    for key in cur.index:
        parts = cur.loc[key]
        value = kpi_value(kpi, parts)
        share = float(parts[kpi.numerator]) / total_num if total_num else None
        previous = None
        if prev is not None:
            previous = kpi_value(kpi, _row(prev, key))
            if previous is None and kpi.denominator is None:
                previous = 0.0
        rows.append(Ranked(str(key), value, share, previous))
    rows.sort(key=lambda r: -(r.value if r.value is not None else -math.inf))
    totals = _totals(wh, kpi, period, filters, cur)
    prev_totals = _totals(wh, kpi, compare, filters, prev) if compare else None
    return TopResult(
        dimension, kpi, kpi_value(kpi, _row(totals, TOTAL)),
        kpi_value(kpi, _row(prev_totals, TOTAL)) if prev_totals is not None else None, rows,
        (cur, prev), (totals, prev_totals),
    )


# ---- movers ------------------------------------------------------------------------


@dataclass
class Contribution:
    key: str
    contribution: float  # in the KPI's unit; the contributions of one dimension sum to the total change
    value: float | None
    previous: float | None


@dataclass
class MoversResult:
    kpi: Kpi
    value: float | None
    previous: float | None
    by_dimension: dict[str, list[Contribution]] = field(default_factory=dict)
    unavailable: list[str] = field(default_factory=list)
    # each dimension's summed parts (current, earlier), for the "other" row (movers_rest)
    frames: dict[str, tuple[pd.DataFrame, pd.DataFrame]] = field(default_factory=dict)

    @property
    def change(self) -> float | None:
        return None if self.value is None or self.previous is None else self.value - self.previous


def contributions(kpi: Kpi, cur: pd.DataFrame, prev: pd.DataFrame) -> list[Contribution] | None:
    """Each slice's share of the KPI's change, exactly.

    For a sum the slice's own change. For a ratio R = N/D the shift-share split
    c_i = ((n_i1 − n_i0) − R0·(d_i1 − d_i0)) / D1, whose sum is N1/D1 − N0/D0 exactly:
    a slice contributes by adding numerator beyond what its added denominator
    would have brought at the old rate. None when the ratio is undefined in either period.
    """
    keys = list(dict.fromkeys([*cur.index, *prev.index]))
    cur = cur.reindex(keys).fillna(0.0)
    prev = prev.reindex(keys).fillna(0.0)
    n1, n0 = cur[kpi.numerator], prev[kpi.numerator]
    if kpi.denominator is None:
        parts = n1 - n0
    else:
        d1, d0 = cur[kpi.denominator], prev[kpi.denominator]
        if d1.sum() == 0 or d0.sum() == 0:
            return None
        r0 = n0.sum() / d0.sum()
        parts = ((n1 - n0) - r0 * (d1 - d0)) / d1.sum()
    out = []
    for key in keys:
        out.append(Contribution(
            str(key), float(parts[key]),
            kpi_value(kpi, cur.loc[key]) if cur.loc[key].any() else None,
            kpi_value(kpi, prev.loc[key]) if prev.loc[key].any() else None,
        ))
    out.sort(key=lambda c: -abs(c.contribution))
    return out


def movers(
    wh: Warehouse,
    kpi: Kpi,
    period: Period,
    compare: Period,
    dimensions: Sequence[str],
    filters: Sequence[Filter] = (),
) -> MoversResult:
    splits = {dim: (_frame(wh, kpi, period, dim, filters), _frame(wh, kpi, compare, dim, filters))
              for dim in dimensions if all(wh.available(m, dim, filters) for m in kpi.measures)}
    first = next(iter(splits.values()), (None, None))
    totals = _totals(wh, kpi, period, filters, first[0])
    prev_totals = _totals(wh, kpi, compare, filters, first[1])
    result = MoversResult(kpi, kpi_value(kpi, _row(totals, TOTAL)), kpi_value(kpi, _row(prev_totals, TOTAL)))
    for dim in dimensions:
        if dim not in splits:
            result.unavailable.append(dim)
            continue
        split = contributions(kpi, *splits[dim])
        if split is None:
            result.unavailable.append(dim)
        else:
            result.by_dimension[dim] = split
            result.frames[dim] = splits[dim]
    return result


def movers_rest(result: MoversResult, dim: str, shown: int) -> Contribution | None:
    """The slices of `dim` after the first `shown`, as one (key None): their contributions summed, so
    that the shown rows + other add up to the change exactly; its values from its summed parts."""
    contribs = result.by_dimension.get(dim, [])
    if len(contribs) <= shown:
        return None
    rest = contribs[shown:]
    cur, prev = result.frames[dim]

    def value(frame: pd.DataFrame) -> float | None:
        parts = [p for p in _parts_of(frame, [c.key for c in rest]) if p is not None]
        return kpi_value(result.kpi, sum(parts[1:], parts[0])) if parts else None

    return Contribution(None, math.fsum(c.contribution for c in rest), value(cur),  # type: ignore[arg-type]
                        value(prev))


# ---- the GMV driver tree ---------------------------------------------------------------

DRIVERS = ("sessions", "conversion", "aov")


@dataclass
class DriverSplit:
    key: str
    gmv: float
    previous_gmv: float
    # sessions, conversion, aov: (value, previous)
    factors: dict[str, tuple[float | None, float | None]]
    # effect of each factor on GMV; they sum to gmv − previous_gmv; None when a factor is undefined
    effects: dict[str, float] | None


def shapley_product(old: Sequence[float], new: Sequence[float]) -> list[float]:
    """Shapley split of the change of a product of factors: exact, order-free, and defined at zero."""
    n = len(old)
    effects = []
    for i in range(n):
        total = 0.0
        others = [j for j in range(n) if j != i]
        for size in range(n):
            weight = math.factorial(size) * math.factorial(n - size - 1) / math.factorial(n)
            for changed in itertools.combinations(others, size):
                base = [new[j] if j in changed else old[j] for j in range(n)]
                with_new = base.copy()
                with_new[i] = new[i]
                with_old = base.copy()
                with_old[i] = old[i]
                total += weight * (math.prod(with_new) - math.prod(with_old))
        effects.append(total)
    return effects


def _either(value: float | None, fallback: float | None) -> float:
    if value is not None:
        return value
    return fallback if fallback is not None else 0.0


def _split(key: str, cur: pd.Series | None, prev: pd.Series | None) -> DriverSplit:
    def factors(parts: pd.Series | None) -> tuple[float, float | None, float | None, float]:
        if parts is None:
            return 0.0, None, None, 0.0
        sessions = float(parts.get("sessions", 0.0))
        orders, gmv = float(parts.get("orders", 0.0)), float(parts.get("gmv", 0.0))
        conversion = orders / sessions if sessions else None
        aov = gmv / orders if orders else None
        return sessions, conversion, aov, gmv

    s1, c1, a1, g1 = factors(cur)
    s0, c0, a0, g0 = factors(prev)
    effects = None
    # orders without sessions cannot be written as sessions × conversion × AOV at all
    if not ((s1 == 0 and g1 > 0) or (s0 == 0 and g0 > 0)):
        # a rate over nothing (AOV with no orders, conversion with no sessions) is undefined
        # but multiplies a zero; borrowing the other period's value puts the whole move on
        # the factor that really changed
        new = [s1, _either(c1, c0), _either(a1, a0)]
        old = [s0, _either(c0, c1), _either(a0, a1)]
        effects = dict(zip(DRIVERS, shapley_product(old, new), strict=True))
    return DriverSplit(key, g1, g0, {"sessions": (s1, s0), "conversion": (c1, c0), "aov": (a1, a0)}, effects)


def drivers(
    wh: Warehouse, period: Period, compare: Period, by: str | None = None
) -> tuple[DriverSplit, list[DriverSplit]]:
    """GMV's change split into sessions, conversion and AOV effects, in total and per channel."""
    measures = ("gmv", "orders", "sessions")
    cur = wh.aggregate(measures, *period.bounds())
    prev = wh.aggregate(measures, *compare.bounds())
    total = _split(TOTAL, _row(cur, TOTAL), _row(prev, TOTAL))
    rows: list[DriverSplit] = []
    if by:
        cur_by = wh.aggregate(measures, *period.bounds(), by=by)
        prev_by = wh.aggregate(measures, *compare.bounds(), by=by)
        for key in dict.fromkeys([*cur_by.index, *prev_by.index]):
            rows.append(_split(str(key), _row(cur_by, key), _row(prev_by, key)))
        rows.sort(key=lambda r: -abs(r.gmv - r.previous_gmv))
    return total, rows


GMV = CATALOG["gmv"]

"""What the data covers, so that a number the data cannot give is said to be unknown, never zero.

Each logical table (orders, traffic, marketing_spend) covers [first day, last day]: the
min and max of its date column as the asking warehouse sees it (Warehouse.coverage). A
question about a period is judged against the tables its measures come from:

- `missing_table` / `missing_column`: the database lacks what the measure is computed from;
- `empty`: the table has no rows (for this scope);
- `future`: the period starts after today: it has not happened yet;
- `before`: the period ends before the data starts;
- `after`: the period starts after the data ends (a load that has not arrived);

any of which makes the measure unknown for that period. A period that is only partly inside
the data is answered, with a `Partial` note saying from / until when the data runs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from metrics.data.warehouse import Warehouse, measure_table
from metrics.kpis import KpiResult
from metrics.periods import Period

# the order tables are judged and reported in
TABLES = ("orders", "traffic", "marketing_spend", "order_lines", "inventory", "shipments", "returns")


@dataclass(frozen=True)
class Gap:
    """Why a table can say nothing about a period."""

    kind: str  # missing_table | missing_column | empty | future | before | after
    table: str
    first: date | None = None
    last: date | None = None
    columns: tuple[str, ...] = ()  # missing_column: the logical columns the database lacks

    def as_json(self) -> dict[str, object]:
        return {"reason": self.kind, "table": self.table,
                "first": self.first.isoformat() if self.first else None,
                "last": self.last.isoformat() if self.last else None,
                "columns": list(self.columns)}


@dataclass(frozen=True)
class Partial:
    """The period is answered from part of it only: the data starts and/or ends inside it."""

    table: str
    first: date | None  # set when the data starts after the period does
    last: date | None  # set when the data ends before the period's last day (up to today)
    # how many of the period's days the data has, of how many ("3 of 31 days"): a month whose data
    # starts on the 29th reads very differently from one missing its last day
    covered: int = 0
    days: int = 0

    def as_json(self) -> dict[str, object]:
        return {"table": self.table, "first": self.first.isoformat() if self.first else None,
                "last": self.last.isoformat() if self.last else None,
                "days_with_data": self.covered, "days": self.days}


def tables_of(measures: Iterable[str]) -> list[str]:
    wanted = {measure_table(m) for m in measures}
    return [t for t in TABLES if t in wanted]


def schema_gap(wh: Warehouse, measure: str) -> Gap | None:
    """The measure's table or columns missing from the database, if they are."""
    missing = wh.missing_columns(measure)
    table = measure_table(measure)
    if missing is None:
        return Gap("missing_table", table)
    if missing:
        return Gap("missing_column", table, columns=missing)
    return None


def judge(wh: Warehouse, table: str, period: Period, today: date) -> Gap | Partial | None:
    """How much of `period` the table covers: a Gap (nothing), a Partial, or None (all of it)."""
    if period.start > today:
        return Gap("future", table)
    first, last = wh.coverage(table, today)
    if first is None or last is None:
        return Gap("empty", table)
    if period.end <= first:
        return Gap("before", table, first, last)
    if period.start > last:
        return Gap("after", table, first, last)
    # the last day that should have data: the period's, or today for a period that runs on
    due = min(period.end - timedelta(days=1), today)
    starts_inside = first if first > period.start else None
    ends_inside = last if last < due else None
    if starts_inside or ends_inside:
        covered = (min(period.end - timedelta(days=1), last) - max(period.start, first)).days + 1
        return Partial(table, starts_inside, ends_inside, covered, period.days)
    return None


@dataclass
class Judgement:
    """Every gap and partial note for a set of measures over one period."""

    gaps: dict[str, Gap]  # by measure
    partial: list[Partial]

    def gap_for(self, measures: Iterable[str]) -> Gap | None:
        for m in measures:
            if m in self.gaps:
                return self.gaps[m]
        return None

    @property
    def reasons(self) -> list[Gap]:
        """Each distinct reason once, in table order."""
        return list(dict.fromkeys(self.gaps.values()))


def judge_measures(wh: Warehouse, measures: Iterable[str], period: Period, today: date) -> Judgement:
    """Schema gaps first (a missing table is the reason whatever the period), then coverage.
    Measures the warehouse cannot split or scope as asked are the callers' (`available`)."""
    gaps: dict[str, Gap] = {}
    partial: list[Partial] = []
    by_table: dict[str, Gap | Partial | None] = {}
    for m in dict.fromkeys(measures):
        if not wh.available(m, None, ()):
            continue  # not recorded at the scope's grain (traffic by region): the caller says so
        gap = schema_gap(wh, m)
        if gap is None:
            table = measure_table(m)
            if table not in by_table:
                by_table[table] = judge(wh, table, period, today)
                found = by_table[table]
                if isinstance(found, Partial):
                    partial.append(found)
            found = by_table[table]
            gap = found if isinstance(found, Gap) else None
        if gap is not None:
            gaps[m] = gap
    return Judgement(gaps, sorted(partial, key=lambda p: TABLES.index(p.table)))


@dataclass
class KpiCoverage:
    """A KPI answer's coverage: per KPI the reason it is unknown, for the period and the comparison."""

    gaps: dict[str, Gap]  # KPI name -> why its value is unknown
    partial: list[Partial]
    compare_gaps: dict[str, Gap]  # KPI name -> why its change is unknown
    compare_partial: list[Partial]

    def __bool__(self) -> bool:
        return bool(self.gaps or self.partial or self.compare_gaps or self.compare_partial)

    def as_json(self) -> dict[str, object]:
        return {"gaps": {k: g.as_json() for k, g in self.gaps.items()},
                "partial": [p.as_json() for p in self.partial],
                "compare_gaps": {k: g.as_json() for k, g in self.compare_gaps.items()},
                "compare_partial": [p.as_json() for p in self.compare_partial]}


def apply_to_kpis(wh: Warehouse, result: KpiResult, today: date) -> KpiCoverage:
    """Blank out (None) every value the data cannot give: a KPI whose table misses the period, or
    the comparison's, has no value / no change rather than a zero or a -100 %."""
    query = result.query
    measures = [m for k in query.metrics for m in k.measures]
    main = judge_measures(wh, measures, query.period, today)
    compare = judge_measures(wh, measures, query.compare.period, today) if query.compare else Judgement({}, [])
    gaps = {k.name: g for k in query.metrics if (g := main.gap_for(k.measures))}
    compare_gaps = {k.name: g for k in query.metrics if k.name not in gaps and (g := compare.gap_for(k.measures))}
    for values in [result.totals, *(v for _, v in result.rows)]:
        for name, mv in values.items():
            if name in gaps:
                mv.value = None
                mv.previous = None
            elif name in compare_gaps:
                mv.previous = None
    found = KpiCoverage(gaps, main.partial, compare_gaps, compare.partial if query.compare else [])
    result.coverage = found
    return found

"""Cohort KPIs of DESIGN.md: retention triangles and LTV curves, as SQL aggregates.

A customer's cohort is the calendar month (or ISO week, Monday start) of their first ever
non-cancelled order, in business-local time. A cohort's age k is the k-th month (week) after
it: age 0 is the cohort month itself.

* Retention at age k: the share of the cohort's customers with at least one non-cancelled
  order in month M+k. Age 0 is 100 % by construction.
* LTV after age k: the cohort's cumulative GMV (amount of non-cancelled orders, refunds NOT
  subtracted, as DESIGN.md defines gmv) over ages 0..k, per cohort customer. The net figure
  (amount - refunded_amount) is computed alongside for whoever wants it.
* CAC of a cohort: marketing spend in the cohort month / the cohort's customers, which are
  exactly that month's new customers (so it equals `kpi cac <month>`).
* LTV/CAC is compared at one age for every cohort (M0, and M3: LTV_CAC_AGE): a cohort's latest
  age would put an old cohort's six months beside a new one's first and read as a decline.

Only complete buckets count: the month (week) in progress is neither a cohort nor an age,
since a half-month would read as a drop in retention.

The database does the work: one query groups the orders of the cohorts' customers by
(cohort bucket, order bucket) and returns one row per cell of the triangle; ages are the
distance between the two buckets, worked out in Python on those few rows. Orders never reach
pandas.
Orders without a customer id (guest checkouts) belong to no cohort.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Literal

from sqlalchemy import and_, distinct, func, select
from sqlalchemy.sql.elements import ColumnElement

from metrics.data.dialects import bucket_date, month_bucket, unindexed, utc_to_local, week_bucket
from metrics.data.warehouse import Warehouse
from metrics.errors import InputError
from metrics.periods import Period

Grain = Literal["month", "week"]
GRAINS: tuple[Grain, ...] = ("month", "week")

DEFAULT_COHORTS = 12  # the last 12 complete months (weeks) when no period is given
# More rows than this no longer fit a chat table or a readable heatmap; 30 weeks still takes
# `retention by week last 6m` (27 weeks touch six months).
MAX_COHORTS: dict[Grain, int] = {"month": 24, "week": 30}
DEFAULT_LTV_MONTHS = 6
MAX_LTV_MONTHS = 24
# the age LTV/CAC is compared at (besides M0): a quarter shows the repeat orders, and most
# cohorts of a year's window have reached it
LTV_CAC_AGE = 3


# ---- errors (each carries a message key of bot/text/messages.py) -------------------------------------


class CohortInputError(InputError):
    """Bad input for a cohort command."""


class BadGrain(CohortInputError):
    """`retention by year`: cohorts are monthly or weekly."""


class BadMonths(CohortInputError):
    """`ltv abc`, `ltv 0`, `ltv 500`."""


class NoCompleteCohort(CohortInputError):
    """The period holds no complete month (week) yet, e.g. `retention this month`."""


class TooManyCohorts(CohortInputError):
    """More cohorts than a table can show."""


# ---- calendar buckets ---------------------------------------------------------------------------


def bucket_start(day: date, grain: Grain) -> date:
    if grain == "week":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def add_buckets(start: date, grain: Grain, n: int) -> date:
    """`start` (a bucket start) moved by n buckets."""
    if grain == "week":
        return start + timedelta(weeks=n)
    index = start.year * 12 + start.month - 1 + n
    return date(index // 12, index % 12 + 1, 1)


def buckets_between(start: date, end: date, grain: Grain) -> int:
    """Whole buckets from bucket start `start` to bucket start `end`."""
    if grain == "week":
        return (end - start).days // 7
    return (end.year - start.year) * 12 + end.month - start.month


def bucket_label(start: date, grain: Grain) -> str:
    """'2026-01' for a month, '2026-W05' (ISO week, the form `metrics.periods` parses) for a week."""
    if grain == "week":
        year, week, _ = start.isocalendar()
        return f"{year}-W{week:02d}"
    return f"{start.year}-{start.month:02d}"


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time())


@dataclass(frozen=True)
class CohortWindow:
    """Which cohorts to show, and up to when their orders count."""

    grain: Grain
    start: date  # first day of the first cohort
    end: date  # first day after the last cohort (half-open)
    complete_end: date  # first day of the bucket in progress: orders from here on are not counted

    @property
    def starts(self) -> list[date]:
        return [add_buckets(self.start, self.grain, i) for i in range(buckets_between(self.start, self.end, self.grain))]

    @property
    def in_progress(self) -> str:
        """Label of the bucket in progress, which is left out."""
        return bucket_label(self.complete_end, self.grain)

    def complete_ages(self, cohort_start: date) -> int:
        """How many ages of a cohort are complete (age 0 always is: cohorts end before complete_end)."""
        return buckets_between(cohort_start, self.complete_end, self.grain)

    def as_json(self) -> dict[str, str]:
        return {"start": self.start.isoformat(), "end": self.end.isoformat()}


def cohort_window(grain: Grain, period: Period | None, today: date, count: int = DEFAULT_COHORTS) -> CohortWindow:
    """Cohorts whose first order falls in `period`, widened to whole buckets and cut before the
    bucket in progress; by default the last `count` complete buckets.

    A period that starts or ends inside a month (`last 30d`) takes the whole months it touches:
    a cohort of half a month's new customers would not compare with the others.
    """
    if grain not in GRAINS:
        raise BadGrain("cohort_bad_grain", text=str(grain))
    current = bucket_start(today, grain)
    if period is None:
        start, end = add_buckets(current, grain, -count), current
    else:
        start = bucket_start(period.start, grain)
        end = min(add_buckets(bucket_start(period.end - timedelta(days=1), grain), grain, 1), current)
        if end <= start:
            raise NoCompleteCohort("cohort_no_complete", period=period.label, current=bucket_label(current, grain))
    n = buckets_between(start, end, grain)
    if n > MAX_COHORTS[grain]:
        raise TooManyCohorts("cohort_too_many", count=n, limit=MAX_COHORTS[grain])
    return CohortWindow(grain, start, end, current)


# ---- results ------------------------------------------------------------------------------------


def _ratio(num: float, den: float) -> float | None:
    return num / den if den else None


@dataclass(frozen=True)
class Cohort:
    """One row of the triangle; per-age tuples hold the complete ages only."""

    start: date
    label: str
    size: int  # customers whose first non-cancelled order is in this bucket
    customers: tuple[int, ...]  # of them, how many ordered at age k
    gmv: tuple[float, ...] = ()  # GMV of their orders at age k (not cumulative)
    refunded: tuple[float, ...] = ()

    @property
    def retention(self) -> tuple[float, ...]:
        return tuple(c / self.size for c in self.customers)


@dataclass(frozen=True)
class CohortTable:
    window: CohortWindow
    cohorts: tuple[Cohort, ...]

    @property
    def customers(self) -> int:
        return sum(c.size for c in self.cohorts)

    @property
    def max_age(self) -> int:
        """The oldest complete age of any cohort (-1 when there are none)."""
        return max((len(c.customers) for c in self.cohorts), default=0) - 1

    def weighted_retention(self, age: int) -> float | None:
        """Retention at `age` over every cohort that has reached it, from summed customers
        (DESIGN.md: ratios from summed parts, never averages of ratios)."""
        reached = [c for c in self.cohorts if len(c.customers) > age]
        return _ratio(sum(c.customers[age] for c in reached), sum(c.size for c in reached))


@dataclass(frozen=True)
class LtvCohort:
    cohort: Cohort
    spend: float | None  # marketing spend in the cohort month; None where the data has none for it

    @property
    def cac(self) -> float | None:
        return None if self.spend is None else _ratio(self.spend, self.cohort.size)

    @property
    def ltv(self) -> tuple[float, ...]:
        """Cumulative GMV per cohort customer after ages 0..k (refunds not subtracted)."""
        return _cumulative_per_customer(self.cohort.gmv, self.cohort.size)

    @property
    def ltv_net(self) -> tuple[float, ...]:
        """The same, net of refunded amounts."""
        net = [g - r for g, r in zip(self.cohort.gmv, self.cohort.refunded, strict=True)]
        return _cumulative_per_customer(net, self.cohort.size)

    def ltv_cac_at(self, age: int) -> float | None:
        """LTV after `age` / CAC; None when the cohort has not reached that age or had no spend."""
        cac = self.cac
        return self.ltv[age] / cac if age < len(self.ltv) and cac else None


def _cumulative_per_customer(values: Sequence[float], size: int) -> tuple[float, ...]:
    out, total = [], 0.0
    for v in values:
        total += v
        out.append(total / size)
    return tuple(out)


@dataclass(frozen=True)
class LtvTable:
    window: CohortWindow
    months: int
    cohorts: tuple[LtvCohort, ...]

    @property
    def comparison_age(self) -> int:
        """The age every cohort's LTV/CAC is compared at besides M0 (within the ages followed)."""
        return min(LTV_CAC_AGE, self.months - 1)

    def average_ltv(self, age: int) -> float | None:
        """LTV at `age` over every cohort that has reached it: their summed GMV / summed customers."""
        reached = [c.cohort for c in self.cohorts if len(c.cohort.gmv) > age]
        return _ratio(sum(sum(c.gmv[: age + 1]) for c in reached), sum(c.size for c in reached))

    @property
    def cac(self) -> float | None:
        """Spend of all cohort months / all their new customers (of the months whose spend is known)."""
        known = [c for c in self.cohorts if c.spend is not None]
        return _ratio(sum(c.spend or 0.0 for c in known), sum(c.cohort.size for c in known)) if known else None


# ---- queries ------------------------------------------------------------------------------------


def cells_query(wh: Warehouse, window: CohortWindow, until: date, money: bool) -> Any:
    """One row per (cohort bucket, order bucket) with distinct customers (and summed amounts
    when `money`), over the window's cohorts and their non-cancelled orders before `until`.

    The first non-cancelled order of every customer (GROUP BY customer_id, MIN) is kept when it
    falls in the window and joined back to that customer's orders. Ages are worked out from the
    two buckets afterwards, on the few result rows, which keeps the per-order SQL to the
    cheapest expression each engine has.
    """
    o = wh.tables["orders"]
    dialect = wh.engine.dialect.name
    bucket = month_bucket if window.grain == "month" else week_bucket
    lo, hi = wh._ts_bounds(_midnight(window.start), _midnight(window.end))
    _, stop = wh._ts_bounds(_midnight(window.start), _midnight(until))

    def local(column: ColumnElement[Any]) -> ColumnElement[Any]:
        # Bounds above are already in the stored convention; buckets need business-local time.
        if wh.mapping.timestamps == "utc":
            return utc_to_local(column, dialect, wh.mapping.timezone, lo, stop)
        return column

    first_at = func.min(o.c.ordered_at)
    customer = unindexed(o.c.customer_id, dialect)
    firsts = (
        select(customer.label("customer_id"), first_at.label("first_at"))
        .where(wh._not_cancelled(o))
        .group_by(customer)
        .having(and_(first_at >= lo, first_at < hi))
        .subquery("firsts")
    )
    cohort = bucket(local(firsts.c.first_at), dialect)
    ordered = bucket(local(o.c.ordered_at), dialect)
    columns: list[Any] = [
        cohort.label("cohort"),
        ordered.label("bucket"),
        func.count(distinct(o.c.customer_id)).label("customers"),
    ]
    if money:
        columns += [
            func.coalesce(func.sum(o.c.amount), 0.0).label("gmv"),
            func.coalesce(func.sum(o.c.refunded_amount), 0.0).label("refunded"),
        ]
    return (
        select(*columns)
        .select_from(o.join(firsts, firsts.c.customer_id == o.c.customer_id))
        # every order of a cohort customer is at or after its first, so `>= lo` loses none
        .where(wh._not_cancelled(o), o.c.ordered_at >= lo, o.c.ordered_at < stop)
        .group_by(cohort, ordered)
    )


def _cells(
    wh: Warehouse, window: CohortWindow, until: date, money: bool
) -> dict[tuple[date, int], tuple[int, float, float]]:
    """{(cohort start, age): (customers, gmv, refunded)} for the window's cohorts, from orders
    before `until`."""
    with wh.connect() as conn:
        rows = conn.execute(cells_query(wh, window, until, money)).mappings().all()
    cells = {}
    for r in rows:
        start = bucket_date(r["cohort"], window.grain)
        age = buckets_between(start, bucket_date(r["bucket"], window.grain), window.grain)
        cells[(start, age)] = (
            int(r["customers"]),
            float(r["gmv"]) if money else 0.0,
            float(r["refunded"]) if money else 0.0,
        )
    return cells


def _cohorts(
    window: CohortWindow, cells: dict[tuple[date, int], tuple[int, float, float]], max_ages: int | None, money: bool
) -> tuple[Cohort, ...]:
    out = []
    for start in window.starts:
        size = cells.get((start, 0), (0, 0.0, 0.0))[0]
        if size == 0:
            continue  # no new customers that month: nothing to follow
        ages = window.complete_ages(start)
        if max_ages is not None:
            ages = min(ages, max_ages)
        row = [cells.get((start, k), (0, 0.0, 0.0)) for k in range(ages)]
        out.append(Cohort(
            start=start,
            label=bucket_label(start, window.grain),
            size=size,
            customers=tuple(c for c, _, _ in row),
            gmv=tuple(g for _, g, _ in row) if money else (),
            refunded=tuple(r for _, _, r in row) if money else (),
        ))
    return tuple(out)


def retention(wh: Warehouse, window: CohortWindow) -> CohortTable:
    """The retention triangle of the window's cohorts, every complete age (kept while the data is
    unchanged: it reads only complete buckets, and every customer's history)."""
    def compute() -> CohortTable:
        cells = _cells(wh, window, window.complete_end, money=False)
        return CohortTable(window, _cohorts(window, cells, None, money=False))
    return wh.remember(("retention", window), compute, shared=True)


def check_months(months: int) -> int:
    if not 1 <= months <= MAX_LTV_MONTHS:
        raise BadMonths("ltv_months_range", months=months, limit=MAX_LTV_MONTHS)
    return months


def _spend_by_month(wh: Warehouse, window: CohortWindow) -> dict[date, float | None]:
    """Marketing spend per cohort month (spend is per business day: no time zone shift); None for
    every month when spend is not recorded (no table, or not at this scope: spend by region), and
    for a month wholly outside the days the spend data covers."""
    starts = window.starts
    if not wh.available("spend", None, ()) or not wh.recorded("spend"):
        return dict.fromkeys(starts)
    first, last = wh.coverage("marketing_spend", window.complete_end)
    unknown = {m for m in starts if first is None or last is None
               or add_buckets(m, "month", 1) <= first or m > last}
    t = wh.tables["marketing_spend"]
    month = month_bucket(t.c.day, wh.engine.dialect.name)
    query = (
        select(month.label("month"), func.coalesce(func.sum(t.c.spend), 0.0).label("spend"))
        .where(t.c.day >= window.start, t.c.day < window.end)
        .group_by(month)
    )
    with wh.connect() as conn:
        rows = conn.execute(query).mappings().all()
    spend: dict[date, float | None] = {bucket_date(r["month"], "month"): float(r["spend"]) for r in rows}
    return {m: None if m in unknown else spend.get(m, 0.0) for m in starts}


def ltv(wh: Warehouse, window: CohortWindow, months: int = DEFAULT_LTV_MONTHS) -> LtvTable:
    """Cumulative GMV per customer of monthly cohorts over their first `months` months, with CAC."""
    check_months(months)
    if window.grain != "month":
        raise BadGrain("cohort_bad_grain", text=window.grain)

    def compute() -> LtvTable:
        # orders after the last cohort's last counted age are not needed
        until = min(window.complete_end, add_buckets(window.end, "month", months - 1))
        cells = _cells(wh, window, until, money=True)
        spend = _spend_by_month(wh, window)
        cohorts = tuple(LtvCohort(c, spend.get(c.start)) for c in _cohorts(window, cells, months, money=True))
        return LtvTable(window, months, cohorts)
    return wh.remember(("ltv", window, months), compute, shared=True)

"""KPIs on the hand-made shop; every expected number was worked out by hand from DESIGN.md.

Period 2026-11-01..2026-11-03 (16 counted orders; orders 7 and 15 are cancelled):
  gmv 1995, orders 16, buyers 9 (c1 c2 c3 c4 c5 c6 c7 c9 c10), repeat buyers 6 (c1 c2 c3 c4 c6 c7)
  new customers 8: c2 (first order in October was cancelled), c3 c4 c5 (first order cancelled
  on Nov 1, first counted one Nov 2) c6 c7 c9 c10; c1 ordered in October, c8 only cancelled.
  sessions 520, spend 870, refunded 300 + 50 + 10 = 360.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from metrics.data.schema import Mapping
from metrics.data.warehouse import Filter, Warehouse
from metrics.kpis import CATALOG, KpiQuery, evaluate
from metrics.periods import Comparison, Period
from tests.metrics import small_shop

NOV_1_3 = Period(date(2026, 11, 1), date(2026, 11, 4), "2026-11-01..2026-11-03")


@pytest.fixture
def warehouse(tmp_path: Path) -> Warehouse:
    return Warehouse.from_url(small_shop.build(tmp_path / "small.db"), Mapping.default())


def run(wh: Warehouse, names: str, period: Period = NOV_1_3, **kw: object):
    query = KpiQuery(tuple(CATALOG[n] for n in names.split()), period, **kw)  # type: ignore[arg-type]
    return evaluate(wh, query)


def values(result) -> dict[str, float | None]:
    return {name: mv.value for name, mv in result.totals.items()}


ALL = "gmv orders aov buyers new_customers sessions conversion spend cac roas refund_rate repurchase_rate"


def test_every_kpi_over_three_days(warehouse: Warehouse) -> None:
    got = values(run(warehouse, ALL))
    assert got == pytest.approx({
        "gmv": 1995, "orders": 16, "aov": 1995 / 16, "buyers": 9, "new_customers": 8,
        "sessions": 520, "conversion": 16 / 520, "spend": 870, "cac": 870 / 8, "roas": 1995 / 870,
        "refund_rate": 360 / 1995, "repurchase_rate": 6 / 9,
    })


@pytest.mark.parametrize(
    ("day", "gmv", "orders", "new"),
    [(1, 700, 4, 3), (2, 460, 5, 2), (3, 835, 7, 3)],
)
def test_day_boundaries(warehouse: Warehouse, day: int, gmv: float, orders: int, new: int) -> None:
    # order 5 at 23:59:59.999 belongs to Nov 1, order 8 at 00:00:00.000000 to Nov 2
    one = Period(date(2026, 11, day), date(2026, 11, day + 1), f"2026-11-0{day}")
    assert values(run(warehouse, "gmv orders new_customers", one)) == pytest.approx(
        {"gmv": gmv, "orders": orders, "new_customers": new}
    )


def test_by_channel_attributes_new_customers_to_their_first_order(warehouse: Warehouse) -> None:
    result = run(warehouse, "gmv orders new_customers cac roas conversion", by="channel")
    rows = {key: {n: mv.value for n, mv in vals.items()} for key, vals in result.rows}
    assert rows["search"] == pytest.approx(
        {"gmv": 1190, "orders": 5, "new_customers": 3, "cac": 600 / 3, "roas": 1190 / 600, "conversion": 5 / 300}
    )
    assert rows["social"] == pytest.approx(
        {"gmv": 380, "orders": 4, "new_customers": 2, "cac": 250 / 2, "roas": 380 / 250, "conversion": 4 / 110}
    )
    assert rows["email"] == pytest.approx(
        {"gmv": 270, "orders": 5, "new_customers": 2, "cac": 20 / 2, "roas": 270 / 20, "conversion": 5 / 90}
    )
    # direct has no spend: ROAS has no denominator, CAC is a real zero
    assert rows["direct"]["roas"] is None
    assert rows["direct"]["cac"] == 0
    assert [key for key, _ in result.rows] == ["search", "social", "email", "direct"]  # by GMV, largest first


def test_zero_sessions_gives_no_conversion(warehouse: Warehouse) -> None:
    nov2 = Period(date(2026, 11, 2), date(2026, 11, 3), "2026-11-02")
    result = run(warehouse, "conversion orders", nov2, by="channel")
    rows = {key: vals for key, vals in result.rows}
    assert rows["social"]["orders"].value == 2
    assert rows["social"]["conversion"].value is None  # 2 orders over 0 sessions: n/a, not infinity


def test_filter_and_unavailable_measures(warehouse: Warehouse) -> None:
    result = run(warehouse, "gmv orders new_customers conversion", filters=(Filter("region", ("east",)),))
    assert values(result) == {"gmv": 660, "orders": 7, "new_customers": 3, "conversion": None}
    assert result.unavailable == ["conversion"]  # traffic is not recorded per region


def test_negated_filter(warehouse: Warehouse) -> None:
    result = run(warehouse, "gmv", filters=(Filter("channel", ("search", "social"), negate=True),))
    assert values(result) == {"gmv": 270 + 155}


def test_comparison_with_the_day_before(warehouse: Warehouse) -> None:
    nov3 = Period(date(2026, 11, 3), date(2026, 11, 4), "2026-11-03")
    nov2 = Period(date(2026, 11, 2), date(2026, 11, 3), "2026-11-02")
    result = run(warehouse, "gmv aov", nov3, compare=Comparison("previous", nov2))
    gmv = result.totals["gmv"]
    assert (gmv.value, gmv.previous, gmv.change) == (835, 460, 375)
    assert gmv.change_pct == pytest.approx(375 / 460 * 100)
    assert result.totals["aov"].previous == pytest.approx(460 / 5)


def test_an_empty_period_is_zero_not_an_error(warehouse: Warehouse) -> None:
    empty = Period(date(2025, 1, 1), date(2025, 1, 2), "2025-01-01")
    got = values(run(warehouse, "gmv orders aov conversion", empty))
    assert got == {"gmv": 0, "orders": 0, "aov": None, "conversion": None}


def test_utc_timestamps_are_bucketed_into_business_days(tmp_path: Path) -> None:
    """Stored in UTC, counted by the Shanghai day (UTC+8): 15:59:59 UTC on Nov 1 is 23:59:59 on Nov 1,
    16:00:00 UTC is midnight of Nov 2."""
    import dataclasses

    from sqlalchemy import create_engine, text

    url = f"sqlite:///{tmp_path / 'utc.db'}"
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("create table orders (order_id integer, customer_id integer, ordered_at text, amount real, "
                          "status text, refunded_amount real, channel text, category text, region text)"))
        rows = [(1, 1, "2026-10-31 16:00:00", 10), (2, 2, "2026-11-01 15:59:59", 20),
                (3, 3, "2026-11-01 16:00:00", 40), (4, 4, "2026-10-31 15:59:59", 80)]
        conn.execute(text("insert into orders values (:i, :c, :t, :a, 'paid', 0, 'search', 'shoes', 'east')"),
                     [dict(i=i, c=c, t=t, a=a) for i, c, t, a in rows])
        conn.execute(text("create table traffic (day text, channel text, sessions int, product_views int, add_to_cart int)"))
        conn.execute(text("create table marketing_spend (day text, channel text, spend real)"))
    engine.dispose()
    wh = Warehouse.from_url(url, dataclasses.replace(Mapping.default("Asia/Shanghai"), timestamps="utc"))
    from datetime import datetime

    daily = wh.daily(["gmv", "orders"], datetime(2026, 10, 31), datetime(2026, 11, 3))
    assert dict(zip(daily.day.astype(str), daily.gmv, strict=True)) == {
        "2026-10-31": 80, "2026-11-01": 30, "2026-11-02": 40}
    nov1 = wh.aggregate(["gmv"], datetime(2026, 11, 1), datetime(2026, 11, 2))
    assert nov1.loc["__total__", "gmv"] == 30


def test_evaluate_many_counts_new_customers_of_several_days_at_once(demo_warehouse: Warehouse, demo_shop) -> None:  # type: ignore[no-untyped-def]
    """The standard card asks yesterday, the day before and the same day last week together; the
    new customers of all three come from one statement and must match the definition per day."""
    import pandas as pd

    from metrics.kpis import evaluate_many
    from tests.conftest import TODAY

    o = demo_shop.orders
    firsts = (o[o.status != "cancelled"].sort_values(["ordered_at", "order_id"])
              .drop_duplicates("customer_id").set_index("customer_id"))

    def expected(day: date, where_region: str | None = None) -> dict[str, int]:
        f = firsts[(firsts.ordered_at >= pd.Timestamp(day)) & (firsts.ordered_at < pd.Timestamp(day) + pd.Timedelta(days=1))]
        if where_region:
            f = f[f.region == where_region]
        return {str(k): int(v) for k, v in f.groupby("channel").size().items()}

    def day(n: int) -> Period:
        d = TODAY - timedelta(days=n)
        return Period(d, d + timedelta(days=1), d.isoformat())

    metrics = (CATALOG["new_customers"], CATALOG["gmv"])
    for filters in ((), (Filter("region", ("east",)),)):
        queries = [KpiQuery(metrics, day(1), Comparison("previous", day(2)), by="channel", filters=filters),
                   KpiQuery(metrics, day(1), Comparison("week", day(8)), filters=filters)]
        card, weekly = evaluate_many(demo_warehouse, queries)
        region = filters[0].values[0] if filters else None
        got = {key: int(v["new_customers"].value) for key, v in card.rows if v["new_customers"].value}
        assert got == expected(TODAY - timedelta(days=1), region)
        prev = {key: int(v["new_customers"].previous) for key, v in card.rows if v["new_customers"].previous}
        assert prev == expected(TODAY - timedelta(days=2), region)
        assert weekly.totals["new_customers"].previous == sum(expected(TODAY - timedelta(days=8), region).values())
        # the same answers one query at a time
        for many, one in zip((card, weekly), (evaluate(demo_warehouse, q) for q in queries), strict=True):
            assert many.totals == one.totals and many.rows == one.rows
    # overlapping periods (a week and its last day) are counted one by one, with the same result
    week = Period(TODAY - timedelta(days=7), TODAY, "last 7d")
    overlapping = [KpiQuery(metrics, week, Comparison("previous", day(1)))]
    assert evaluate_many(demo_warehouse, overlapping)[0].totals == evaluate(demo_warehouse, overlapping[0]).totals

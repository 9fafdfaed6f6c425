"""Cohort retention and LTV on a hand-made shop (expected triangles worked out by hand below),
and on the demo shop against an independent pandas computation from the generator's frames.

The hand-made shop, with "today" 2026-11-25 (November is in progress, so it is no cohort and
no age). Cohort = month of the first NON-CANCELLED order:

  customer  orders (non-cancelled unless marked)                              cohort
  c11       06-20 90, 08-08 40                                                 2026-06
  c1        07-03 100, 08-10 50, 10-05 70                                      2026-07
  c3        07-20 60, 07-28 40                                                 2026-07
  c4        07-31 23:59:59.999 30, 08-01 00:00:00 20 (a month boundary)        2026-07
  c2        07-15 200 CANCELLED, 08-02 80, 09-20 40                            2026-08 (not 07)
  c5        08-05 150 refunded in full, 10-10 90                               2026-08
  c6        08-15 70, 08-20 30 CANCELLED, 09-01 45                             2026-08
  c7        09-03 300, 11-02 500 (November: not counted monthly)               2026-09
  c9        09-12 80 (30 refunded), 09-13 23:59:59 10, 09-14 00:00 15, 10-01 60  2026-09
  c10       10-15 110                                                          2026-10
  c12       10-31 23:30 55, 11-01 00:30 65 (November)                          2026-10
  c8        09-10 25 CANCELLED only                                            none
  c13       11-20 35                                                           none (in progress)

Monthly triangle (customers ordering at age k; retention = / size):
  2026-06  size 1  [1, 0, 1, 0, 0]
  2026-07  size 3  [3, 2, 0, 1]      Aug: c1, c4; Oct: c1
  2026-08  size 3  [3, 2, 1]         Sep: c2, c6; Oct: c5
  2026-09  size 2  [2, 1]            Oct: c9
  2026-10  size 2  [2]
GMV at age k (cancelled excluded, refunds not subtracted) and refunded at age k:
  2026-06  [90, 0, 40, 0, 0]   2026-07 [230, 70, 0, 70]   2026-08 [300, 85, 90] refunded [150, 0, 0]
  2026-09  [405, 60] refunded [30, 0]                      2026-10 [165]
Spend per month: Jun 50, Jul 300, Aug 600, Sep none, Oct 100 (Nov 999 is ignored).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import MetaData, create_engine, insert, select, text
from sqlalchemy import table as sa_table
from sqlalchemy.sql import column

from metrics import cohorts as co
from metrics.data.dialects import Timestamp, utc_offset_segments, utc_to_local
from metrics.data.sample import Shop
from metrics.data.schema import Mapping
from metrics.data.warehouse import Warehouse, build_tables
from metrics.periods import parse_period
from tests.conftest import NOW, TODAY, pg_scratch_url
from tests.metrics import small_shop

ORDERS = [
    # id, customer, ordered_at (local), amount, status, refunded
    (1, 11, "2026-06-20 12:00:00", 90, "completed", 0),
    (2, 1, "2026-07-03 10:00:00", 100, "completed", 0),
    (3, 2, "2026-07-15 09:00:00", 200, "cancelled", 0),
    (4, 3, "2026-07-20 11:00:00", 60, "completed", 0),
    (5, 3, "2026-07-28 15:00:00", 40, "completed", 0),
    (6, 4, "2026-07-31 23:59:59.999000", 30, "completed", 0),
    (7, 4, "2026-08-01 00:00:00", 20, "paid", 0),
    (8, 2, "2026-08-02 10:00:00", 80, "completed", 0),
    (9, 5, "2026-08-05 10:00:00", 150, "refunded", 150),
    (10, 11, "2026-08-08 10:00:00", 40, "completed", 0),
    (11, 1, "2026-08-10 10:00:00", 50, "completed", 0),
    (12, 6, "2026-08-15 10:00:00", 70, "completed", 0),
    (13, 6, "2026-08-20 10:00:00", 30, "cancelled", 0),
    (14, 6, "2026-09-01 08:00:00", 45, "shipped", 0),
    (15, 7, "2026-09-03 10:00:00", 300, "completed", 0),
    (16, 8, "2026-09-10 10:00:00", 25, "cancelled", 0),
    (17, 9, "2026-09-12 10:00:00", 80, "completed", 30),
    (18, 9, "2026-09-13 23:59:59", 10, "completed", 0),
    (19, 9, "2026-09-14 00:00:00.000000", 15, "completed", 0),
    (20, 2, "2026-09-20 10:00:00", 40, "completed", 0),
    (21, 9, "2026-10-01 10:00:00", 60, "completed", 0),
    (22, 1, "2026-10-05 10:00:00", 70, "completed", 0),
    (23, 5, "2026-10-10 10:00:00", 90, "completed", 0),
    (24, 10, "2026-10-15 10:00:00", 110, "placed", 0),
    (25, 12, "2026-10-31 23:30:00", 55, "completed", 0),
    (26, 12, "2026-11-01 00:30:00", 65, "completed", 0),
    (27, 7, "2026-11-02 10:00:00", 500, "completed", 0),
    (28, 13, "2026-11-20 10:00:00", 35, "completed", 0),
]
SPEND = [
    ("2026-06-10", "search", 50), ("2026-07-01", "search", 100), ("2026-07-15", "social", 200),
    ("2026-08-03", "search", 600), ("2026-10-20", "social", 100), ("2026-11-02", "search", 999),
]  # fmt: skip

TRIANGLE = {
    "2026-06": (1, [1, 0, 1, 0, 0]),
    "2026-07": (3, [3, 2, 0, 1]),
    "2026-08": (3, [3, 2, 1]),
    "2026-09": (2, [2, 1]),
    "2026-10": (2, [2]),
}
GMV = {
    "2026-06": [90, 0, 40, 0, 0],
    "2026-07": [230, 70, 0, 70],
    "2026-08": [300, 85, 90],
    "2026-09": [405, 60],
    "2026-10": [165],
}
REFUNDED = {"2026-08": [150, 0, 0], "2026-09": [30, 0]}
SPEND_BY_MONTH = {"2026-06": 50, "2026-07": 300, "2026-08": 600, "2026-09": 0, "2026-10": 100}

SHANGHAI = "Asia/Shanghai"


def build_shop(path: Path, utc: bool = False) -> str:
    """The shop above as a SQLite file; with `utc`, timestamps are stored in UTC (local - 8 h).

    Timestamps are written as text the way real SQLite files hold them, some with fractions of
    a second and some without, to pin the bucket boundaries."""
    url = f"sqlite:///{path}"
    engine = create_engine(url)
    with engine.begin() as conn:
        small_shop.create_tables(conn)
        conn.execute(
            text("insert into orders values (:i, :c, :t, :a, :s, :r, 'search', 'shoes', 'east')"),
            [dict(i=i, c=c, t=_stored(t, utc).isoformat(sep=" ") if utc else t, a=a, s=s, r=r)
             for i, c, t, a, s, r in ORDERS],
        )
        conn.execute(text("insert into marketing_spend values (:d, :c, :s)"),
                     [dict(d=d, c=c, s=s) for d, c, s in SPEND])
    engine.dispose()
    return url


def _stored(local: str, utc: bool) -> datetime:
    at = datetime.fromisoformat(local)
    return at - timedelta(hours=8) if utc else at


def build_shop_on(url: str, utc: bool = False) -> None:
    """The same shop in any SQLAlchemy database, through the warehouse's own table declarations."""
    metadata = MetaData()
    tables = build_tables(Mapping.default(SHANGHAI), metadata)
    engine = create_engine(url)
    metadata.drop_all(engine)
    metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(tables["orders"]), [
            dict(order_id=i, customer_id=c, ordered_at=_stored(t, utc), amount=a, status=s, refunded_amount=r,
                 channel="search", category="shoes", region="east")
            for i, c, t, a, s, r in ORDERS
        ])
        conn.execute(insert(tables["marketing_spend"]),
                     [dict(day=date.fromisoformat(d), channel=c, spend=s) for d, c, s in SPEND])
    engine.dispose()


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[Warehouse]:
    wh = Warehouse.from_url(build_shop(tmp_path / "cohorts.db"), Mapping.default(SHANGHAI))
    yield wh
    wh.engine.dispose()


def window(grain: co.Grain = "month", period: str | None = None) -> co.CohortWindow:
    return co.cohort_window(grain, parse_period(period, NOW) if period else None, TODAY)


def triangle(table: co.CohortTable) -> dict[str, tuple[int, list[int]]]:
    return {c.label: (c.size, list(c.customers)) for c in table.cohorts}


# ---- windows ------------------------------------------------------------------------------------


def test_default_window_is_the_last_12_complete_months_or_weeks() -> None:
    w = window()
    assert (w.start, w.end, w.complete_end) == (date(2025, 11, 1), date(2026, 11, 1), date(2026, 11, 1))
    assert w.in_progress == "2026-11" and len(w.starts) == 12
    w = window("week")
    # today is Wednesday 2026-11-25: its week (from Monday 11-23) is in progress
    assert (w.start, w.end) == (date(2026, 8, 31), date(2026, 11, 23)) and w.in_progress == "2026-W48"


def test_a_period_takes_the_whole_buckets_it_touches_and_stops_before_the_one_in_progress() -> None:
    w = window("month", "last 30d")  # 2026-10-26 .. 2026-11-24
    assert (w.start, w.end) == (date(2026, 10, 1), date(2026, 11, 1))
    assert len(window("week", "last 6m").starts) == 27  # May-Oct touch 27 weeks: still one table
    w = window("week", "2026-09")
    assert (w.start, w.end) == (date(2026, 8, 31), date(2026, 10, 5))
    assert [co.bucket_label(s, "week") for s in w.starts] == [
        "2026-W36", "2026-W37", "2026-W38", "2026-W39", "2026-W40"
    ]


@pytest.mark.parametrize(
    ("grain", "period", "error", "key"),
    [
        ("month", "this month", co.NoCompleteCohort, "cohort_no_complete"),
        ("month", "next month", co.NoCompleteCohort, "cohort_no_complete"),
        ("week", "today", co.NoCompleteCohort, "cohort_no_complete"),
        ("month", "2020-01-01..2026-10-31", co.TooManyCohorts, "cohort_too_many"),
        ("week", "2026", co.TooManyCohorts, "cohort_too_many"),
        ("year", None, co.BadGrain, "cohort_bad_grain"),
    ],
)
def test_windows_that_cannot_be_shown(grain: str, period: str | None, error: type, key: str) -> None:
    with pytest.raises(error) as info:
        window(grain, period)  # type: ignore[arg-type]
    assert isinstance(info.value, co.CohortInputError)
    assert info.value.key == key


# ---- the hand-made shop -------------------------------------------------------------------------


def test_monthly_retention_triangle(shop: Warehouse) -> None:
    table = co.retention(shop, window())
    assert triangle(table) == TRIANGLE
    by_label = {c.label: c for c in table.cohorts}
    assert by_label["2026-07"].retention == pytest.approx((1.0, 2 / 3, 0.0, 1 / 3))
    assert table.customers == 11
    assert table.max_age == 4
    # age 1 over the cohorts that reached it: (0 + 2 + 2 + 1) / (1 + 3 + 3 + 2)
    assert table.weighted_retention(1) == pytest.approx(5 / 9)
    assert table.weighted_retention(4) == 0.0
    assert table.weighted_retention(5) is None


def test_a_period_selects_cohorts_not_orders(shop: Warehouse) -> None:
    # cohorts of July and August only; their later orders still count
    assert triangle(co.retention(shop, window("month", "2026-07-01..2026-08-31"))) == {
        "2026-07": TRIANGLE["2026-07"],
        "2026-08": TRIANGLE["2026-08"],
    }


def test_weekly_retention(shop: Warehouse) -> None:
    # weeks touching September: W36 (Aug 31 - Sep 6) holds c7, W37 (Sep 7 - 13) holds c9.
    # c7 comes back Mon Nov 2, age 9 (a complete week, though November is in progress);
    # c9 orders Sun Sep 13 23:59:59 (age 0), Mon Sep 14 00:00 (age 1) and Thu Oct 1 (age 3).
    # Ages run to the week before the one in progress (from Mon Nov 23).
    table = co.retention(shop, window("week", "2026-09"))
    assert triangle(table) == {
        "2026-W36": (1, [1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0]),
        "2026-W37": (1, [1, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0]),
    }
    assert [c.start for c in table.cohorts] == [date(2026, 8, 31), date(2026, 9, 7)]


def test_ltv_and_cac(shop: Warehouse) -> None:
    result = co.ltv(shop, window(), 6)
    got = {c.cohort.label: c for c in result.cohorts}
    assert list(got) == list(GMV)
    for label, gmv in GMV.items():
        c = got[label]
        size = TRIANGLE[label][0]
        assert list(c.cohort.gmv) == pytest.approx(gmv)
        assert list(c.ltv) == pytest.approx(list(pd.Series(gmv).cumsum() / size))
        assert c.spend == SPEND_BY_MONTH[label]
        assert c.cac == pytest.approx(SPEND_BY_MONTH[label] / size)
    assert got["2026-07"].ltv == pytest.approx((230 / 3, 100, 100, 370 / 3))
    assert got["2026-08"].ltv_net == pytest.approx((50, 235 / 3, 325 / 3))
    assert got["2026-09"].ltv_net == pytest.approx((187.5, 217.5))
    # LTV/CAC at one age for every cohort: M3 only for the cohorts that reached it (not August's
    # latest, M2); September had no spend, so no ratio at any age
    assert result.comparison_age == co.LTV_CAC_AGE == 3
    assert {k: c.ltv_cac_at(3) for k, c in got.items()} == pytest.approx(
        {"2026-06": 130 / 50, "2026-07": (370 / 3) / 100, "2026-08": None, "2026-09": None, "2026-10": None}
    )
    assert {k: c.ltv_cac_at(0) for k, c in got.items()} == pytest.approx(
        {"2026-06": 90 / 50, "2026-07": (230 / 3) / 100, "2026-08": 100 / 200, "2026-09": None, "2026-10": 82.5 / 50}
    )
    assert result.average_ltv(0) == pytest.approx((90 + 230 + 300 + 405 + 165) / 11)
    assert result.average_ltv(1) == pytest.approx((90 + 300 + 385 + 465) / 9)
    assert result.cac == pytest.approx(1050 / 11)


def test_ltv_months_caps_the_ages(shop: Warehouse) -> None:
    result = co.ltv(shop, window(), 2)
    assert {c.cohort.label: len(c.ltv) for c in result.cohorts} == {
        "2026-06": 2, "2026-07": 2, "2026-08": 2, "2026-09": 2, "2026-10": 1
    }
    july = next(c for c in result.cohorts if c.cohort.label == "2026-07")
    assert result.comparison_age == 1  # the last age followed
    assert july.ltv_cac_at(1) == pytest.approx(100 / 100)


@pytest.mark.parametrize("months", [0, -1, 25, 500])
def test_ltv_months_out_of_range(shop: Warehouse, months: int) -> None:
    with pytest.raises(co.BadMonths) as info:
        co.ltv(shop, window(), months)
    assert info.value.key == "ltv_months_range"


def test_no_cohort_customers_is_an_empty_table_not_an_error(shop: Warehouse) -> None:
    table = co.retention(shop, window("month", "2026-01"))
    assert table.cohorts == () and table.customers == 0 and table.max_age == -1


def test_utc_timestamps_are_bucketed_in_business_time(tmp_path: Path) -> None:
    # the same shop stored in UTC: c4's "2026-08-01 00:00" local is 2026-07-31 16:00 UTC, which
    # bucketing the raw value would put in July (age 0 instead of age 1)
    mapping = dataclasses.replace(Mapping.default(SHANGHAI), timestamps="utc")
    wh = Warehouse.from_url(build_shop(tmp_path / "utc.db", utc=True), mapping)
    try:
        assert triangle(co.retention(wh, window())) == TRIANGLE
        assert triangle(co.retention(wh, window("week", "2026-09")))["2026-W37"] == (
            1, [1, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0]
        )
        # whole amounts: float sums are exact
        assert {c.cohort.label: list(c.cohort.gmv) for c in co.ltv(wh, window(), 6).cohorts} == GMV
    finally:
        wh.engine.dispose()


def test_utc_to_local_follows_daylight_saving_on_sqlite() -> None:
    # Berlin leaves summer time at 2026-10-25 01:00 UTC (03:00 CEST -> 02:00 CET)
    zone = "Europe/Berlin"
    lo, hi = datetime(2026, 10, 1), datetime(2026, 11, 30)
    from zoneinfo import ZoneInfo

    assert utc_offset_segments(ZoneInfo(zone), lo, hi) == [(lo, 120), (datetime(2026, 10, 25, 1, 0), 60)]
    engine = create_engine("sqlite://")
    t = sa_table("t", column("ts", Timestamp))  # as the warehouse declares ordered_at
    with engine.begin() as conn:
        conn.execute(text("create table t (ts text)"))
        conn.execute(text("insert into t values ('2026-10-25 00:59:59'), ('2026-10-25 01:00:00'), "
                          "('2026-10-31 23:30:00.123456')"))
        got = conn.execute(select(utc_to_local(t.c.ts, "sqlite", zone, lo, hi))).scalars().all()
    assert got == ["2026-10-25 02:59:59", "2026-10-25 02:00:00", "2026-11-01 00:30:00"]


# ---- the demo shop, against pandas --------------------------------------------------------------


def expected_cells(shop: Shop, grain: co.Grain, w: co.CohortWindow) -> pd.DataFrame:
    """The definitions written out in pandas: (cohort, age) -> customers, gmv, refunded."""
    o = shop.orders[shop.orders.status != "cancelled"].copy()
    freq = "M" if grain == "month" else "W-SUN"  # W-SUN: weeks ending Sunday, i.e. starting Monday
    o["bucket"] = o.ordered_at.dt.to_period(freq).dt.start_time.dt.date
    first = o.groupby("customer_id").bucket.min().rename("cohort")
    o = o.join(first, on="customer_id")
    o = o[(o.cohort >= w.start) & (o.cohort < w.end) & (o.bucket < w.complete_end)]
    steps = 7 if grain == "week" else None

    def age(row: pd.Series) -> int:
        if steps:
            return (row.bucket - row.cohort).days // 7
        return (row.bucket.year - row.cohort.year) * 12 + row.bucket.month - row.cohort.month

    o["age"] = o.apply(age, axis=1)
    return o.groupby(["cohort", "age"]).agg(
        customers=("customer_id", "nunique"), gmv=("amount", "sum"), refunded=("refunded_amount", "sum")
    )


@pytest.mark.parametrize("grain", ["month", "week"])
def test_demo_retention_matches_pandas(demo_warehouse: Warehouse, demo_shop: Shop, grain: co.Grain) -> None:
    w = window(grain)
    table = co.retention(demo_warehouse, w)
    exp = expected_cells(demo_shop, grain, w)
    assert len(table.cohorts) == exp.index.get_level_values("cohort").nunique() > 2
    for c in table.cohorts:
        assert c.size == exp.loc[(c.start, 0), "customers"]
        assert len(c.customers) == w.complete_ages(c.start)
        for k, n in enumerate(c.customers):
            assert n == (exp.loc[(c.start, k), "customers"] if (c.start, k) in exp.index else 0), (c.label, k)


def test_demo_ltv_matches_pandas(demo_warehouse: Warehouse, demo_shop: Shop) -> None:
    w = window()
    result = co.ltv(demo_warehouse, w, 3)
    exp = expected_cells(demo_shop, "month", w)
    spend = demo_shop.marketing_spend.groupby(demo_shop.marketing_spend.day.dt.to_period("M")).spend.sum()
    for c in result.cohorts:
        size = exp.loc[(c.cohort.start, 0), "customers"]
        ages = min(3, w.complete_ages(c.cohort.start))
        gmv = [exp.loc[(c.cohort.start, k), "gmv"] for k in range(ages)]
        refunded = [exp.loc[(c.cohort.start, k), "refunded"] for k in range(ages)]
        assert list(c.ltv) == pytest.approx(list(pd.Series(gmv).cumsum() / size))
        net = pd.Series(gmv) - pd.Series(refunded)
        assert list(c.ltv_net) == pytest.approx(list(net.cumsum() / size))
        assert c.spend == pytest.approx(spend[pd.Period(c.cohort.start, "M")])
        assert c.cac == pytest.approx(c.spend / size)


# ---- the same shop on DuckDB (the embedded default) and PostgreSQL ----------------------------------

# PostgreSQL runs when OPSBOT_TEST_PG_URL names a scratch database (its tables are replaced).
POSTGRES_URL = os.environ.get("OPSBOT_TEST_PG_URL")


@pytest.mark.parametrize("utc", [False, True], ids=["local", "utc"])
@pytest.mark.parametrize("engine", ["duckdb", "postgresql"])
def test_other_engines_give_the_same_triangles(tmp_path: Path, engine: str, utc: bool) -> None:
    if engine == "postgresql" and not POSTGRES_URL:
        pytest.skip("OPSBOT_TEST_PG_URL is not set")
    url = pg_scratch_url("opsbot_cohorts") if engine == "postgresql" else f"duckdb:///{tmp_path / 'cohorts.duckdb'}"
    assert url
    build_shop_on(url, utc=utc)
    mapping = dataclasses.replace(Mapping.default(SHANGHAI), timestamps="utc" if utc else "local")
    wh = Warehouse.from_url(url, mapping)
    try:
        assert triangle(co.retention(wh, window())) == TRIANGLE
        assert triangle(co.retention(wh, window("week", "2026-09"))) == {
            "2026-W36": (1, [1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0]),
            "2026-W37": (1, [1, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0]),
        }
        result = co.ltv(wh, window(), 6)
        assert {c.cohort.label: list(c.cohort.gmv) for c in result.cohorts} == GMV
        assert {c.cohort.label: c.spend for c in result.cohorts} == SPEND_BY_MONTH
    finally:
        wh.engine.dispose()

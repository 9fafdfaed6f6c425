"""RFM segments (metrics/segments.py) on a hand-made shop whose classes were worked out by hand."""

from __future__ import annotations

import io
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import create_engine

from metrics.data.load import write_shop
from metrics.data.sample import Shop, ShopSpec
from metrics.data.schema import Mapping
from metrics.data.warehouse import Warehouse
from metrics.segments import SEGMENTS, detect_shifts, export_csv, segment_report

AS_OF = date(2026, 11, 25)  # orders before this day count
# customer: [(ordered_at, amount, status)], and the segment as of AS_OF / a month earlier (2026-10-26)
CUSTOMERS = {
    1: ([("2026-11-10 10:00", 50, "paid")], "new", ""),  # first order 15 days ago
    2: ([("2026-06-01 10:00", 100, "completed"), ("2026-09-01 10:00", 100, "completed"),
         ("2026-10-01 10:00", 100, "completed"), ("2026-11-01 10:00", 100, "completed")], "champions", "champions"),
    3: ([("2026-05-01 10:00", 30, "completed"), ("2026-10-15 10:00", 30, "completed")], "active", "active"),
    4: ([("2026-03-01 10:00", 20, "completed"), ("2026-07-01 10:00", 20, "completed")], "at_risk", "at_risk"),
    5: ([("2026-06-01 10:00", 30, "completed")], "dormant", "dormant"),  # one order 177 days ago
    6: ([("2025-09-01 10:00", 20, "completed")], "lost", "lost"),  # 450 days ago
    7: ([("2026-11-20 10:00", 999, "cancelled")], None, None),  # only a cancelled order: no customer
    8: ([("2026-01-10 10:00", 25, "completed")], "dormant", "dormant"),
    9: ([("2026-09-20 10:00", 1000, "completed")], "champions", "champions"),  # one big order: top 20 %
    10: ([("2026-11-24 23:59", 40, "paid"), ("2026-11-25 09:00", 40, "paid")], "new", ""),  # the 25th is after
}


def hand_made_shop() -> Shop:
    rows = []
    order_id = 1
    for customer, (orders, _, _) in CUSTOMERS.items():
        for when, amount, status in orders:
            rows.append((order_id, customer, pd.Timestamp(when), float(amount), status, 0.0, "search", "shoes", "east"))
            order_id += 1
    orders = pd.DataFrame(rows, columns=["order_id", "customer_id", "ordered_at", "amount", "status",
                                         "refunded_amount", "channel", "category", "region"])
    empty_days = pd.DataFrame({"day": pd.to_datetime([]), "channel": pd.Series([], dtype=str)})
    return Shop(orders, empty_days.assign(sessions=[], product_views=[], add_to_cart=[]),
                empty_days.assign(spend=[]), pd.DataFrame(columns=["day", "metric", "dimension", "value", "kind", "magnitude"]),
                pd.DataFrame(columns=["day", "name"]))


@pytest.fixture(params=["sqlite", "duckdb"])
def warehouse(request: pytest.FixtureRequest, tmp_path: Path) -> Warehouse:
    url = f"{request.param}:///{tmp_path / ('shop.' + request.param)}"
    engine = create_engine(url)
    write_shop(engine, hand_made_shop(), ShopSpec(end=AS_OF, days=1))
    engine.dispose()
    wh = Warehouse.from_url(url, Mapping.default())
    yield wh
    wh.engine.dispose()


def test_known_classes(warehouse: Warehouse) -> None:
    report = segment_report(warehouse, AS_OF, keep_frame=True)
    assert report.frame is not None
    got = dict(zip(report.frame.customer_id.astype(int), report.frame.segment, strict=True))
    expected = {c: seg for c, (_, seg, _) in CUSTOMERS.items() if seg}
    assert got == expected
    assert report.counts == {"new": 2, "champions": 2, "active": 1, "at_risk": 1, "dormant": 2, "lost": 1}
    assert report.previous == {"new": 0, "champions": 2, "active": 1, "at_risk": 1, "dormant": 2, "lost": 1}
    assert report.movement[""] == {"new": 2}  # not yet customers a month ago
    assert report.movement["champions"] == {"champions": 2}
    total = 50 + 400 + 60 + 40 + 30 + 20 + 25 + 1000 + 40
    assert report.gmv["champions"] == pytest.approx(1400)
    assert sum(report.gmv_share.values()) == pytest.approx(1.0)
    assert report.gmv_share["champions"] == pytest.approx(1400 / total)
    # order 10's second order (on AS_OF itself) is not counted
    row = report.frame[report.frame.customer_id == 10].iloc[0]
    assert (row.orders, row.gmv, row.last_order_day) == (1, 40.0, date(2026, 11, 24))


def test_csv_round_trip(warehouse: Warehouse) -> None:
    report = segment_report(warehouse, AS_OF, keep_frame=True)
    text = export_csv(report)
    back = pd.read_csv(io.StringIO(text), parse_dates=["last_order_day"])
    assert list(back.columns) == ["customer_id", "last_order_day", "orders", "gmv", "segment"]
    assert len(back) == 9
    frame = report.frame.sort_values("customer_id").reset_index(drop=True)
    back = back.sort_values("customer_id").reset_index(drop=True)
    assert back.customer_id.tolist() == frame.customer_id.astype(int).tolist()
    assert back.segment.tolist() == list(frame.segment)
    assert back.gmv.tolist() == pytest.approx(frame.gmv.tolist())
    assert back.orders.tolist() == frame.orders.tolist()
    assert [d.date() for d in back.last_order_day] == list(frame.last_order_day)
    dormant = pd.read_csv(io.StringIO(export_csv(report, "dormant")))
    assert sorted(dormant.customer_id) == [5, 8]


def report_on(rows: list[tuple[object, ...]], engine: str, tmp_path: Path, mapping: Mapping):  # type: ignore[no-untyped-def]
    """The segment report (with its customers) of a shop holding just these order rows."""
    shop = hand_made_shop()
    shop.orders = pd.DataFrame(rows, columns=list(shop.orders.columns))
    url = f"{engine}:///{tmp_path / ('rows.' + engine)}"
    e = create_engine(url)
    write_shop(e, shop, ShopSpec(end=AS_OF, days=1))
    e.dispose()
    wh = Warehouse.from_url(url, mapping)
    try:
        return segment_report(wh, AS_OF, keep_frame=True)
    finally:
        wh.engine.dispose()


@pytest.mark.parametrize("engine", ["sqlite", "duckdb"])
def test_recency_boundaries(engine: str, tmp_path: Path) -> None:
    """Whole days since the last order decide: 90 is active, 91 at risk, 180/181, 365/366."""
    recency = {11: 30, 12: 90, 13: 91, 14: 180, 15: 181, 16: 365, 17: 366}
    expected = {11: "active", 12: "active", 13: "at_risk", 14: "at_risk", 15: "dormant", 16: "dormant", 17: "lost"}
    rows = []
    for customer, days in recency.items():
        last = pd.Timestamp(AS_OF) - pd.Timedelta(days=days) + pd.Timedelta(hours=23, minutes=59)
        # two orders (so at_risk needs no GMV rank), the first long ago (so none is new); GMV grows
        # with the customer id, so of these only 17 (lost anyway) is in the top 20 %
        for when in (pd.Timestamp("2024-01-01 12:00"), last):
            rows.append((len(rows) + 1, customer, when, float(customer - 10), "completed", 0.0, "search", "shoes", "east"))
    # and one big recent spender: a champion on GMV alone
    rows.append((len(rows) + 1, 99, pd.Timestamp("2026-11-20 10:00"), 10_000.0, "completed", 0.0, "search", "shoes", "east"))
    rows.append((len(rows) + 1, 99, pd.Timestamp("2024-01-01 10:00"), 10.0, "completed", 0.0, "search", "shoes", "east"))
    report = report_on(rows, engine, tmp_path, Mapping.default())
    got = dict(zip(report.frame.customer_id.astype(int), report.frame.segment, strict=True))
    assert got == {**expected, 99: "champions"}


def test_shift_alert() -> None:
    # 100 champions per month; usually 5 decline, this month 20
    assert detect_shifts([(100, 20), (100, 5), (100, 5)])[0]["customers"] == 20
    assert detect_shifts([(100, 6), (100, 5), (100, 5)]) == []
    assert detect_shifts([(10, 4), (10, 0)]) == []  # too few customers moved to matter


# ---- against an independent computation on the demo shop -------------------------------------


def reference_segments(orders: pd.DataFrame, as_of: date) -> tuple[dict[int, str], dict[int, str]]:
    """Each customer's segment as of `as_of` and 30 days earlier, straight from the rules in DESIGN.md."""
    import numpy as np

    o = orders[(orders.status != "cancelled") & orders.customer_id.notna()]
    first = o[o.ordered_at < pd.Timestamp(as_of)].groupby("customer_id").ordered_at.min()

    def at(cut: pd.Timestamp) -> dict[int, str]:
        before = o[o.ordered_at < cut].groupby("customer_id")
        last, count, gmv = before.ordered_at.max(), before.size(), before.amount.sum()
        top = np.quantile(gmv.to_numpy(), 0.8)
        out = {}
        for customer in last.index:
            recency = (cut.normalize() - last[customer].normalize()).days
            tenure = (cut.normalize() - first[customer].normalize()).days
            valuable = gmv[customer] >= top
            if tenure <= 30:
                out[int(customer)] = "new"
            elif recency <= 90:
                out[int(customer)] = "champions" if count[customer] >= 3 or valuable else "active"
            elif recency <= 180 and (count[customer] >= 2 or valuable):
                out[int(customer)] = "at_risk"
            elif recency <= 365:
                out[int(customer)] = "dormant"
            else:
                out[int(customer)] = "lost"
        return out

    return at(pd.Timestamp(as_of)), at(pd.Timestamp(as_of - pd.Timedelta(days=30)))


@pytest.fixture(params=["demo", "sqlite"])
def demo_like(request: pytest.FixtureRequest, demo_warehouse: Warehouse, demo_shop: Shop, tmp_path: Path) -> Warehouse:
    """The demo shop on the tests' warehouse (embedded default, PostgreSQL in CI) and on SQLite,
    which computes the percentile without a percentile function."""
    if request.param == "demo":
        yield demo_warehouse
        return
    url = f"sqlite:///{tmp_path / 'demo.sqlite'}"
    engine = create_engine(url)
    from tests.conftest import DEMO_SPEC
    write_shop(engine, demo_shop, DEMO_SPEC)
    engine.dispose()
    wh = Warehouse.from_url(url, Mapping.default())
    yield wh
    wh.engine.dispose()


def test_demo_shop_matches_the_rules(demo_like: Warehouse, demo_shop: Shop) -> None:
    from tests.conftest import TODAY

    now, before = reference_segments(demo_shop.orders, TODAY)
    report = segment_report(demo_like, TODAY, keep_frame=True)
    assert report.customers == len(now)
    assert report.counts == {s: sum(1 for v in now.values() if v == s) for s in SEGMENTS}
    assert report.previous == {s: sum(1 for v in before.values() if v == s) for s in SEGMENTS}
    moves: dict[str, dict[str, int]] = {}
    for customer, segment in now.items():
        was = before.get(customer, "")
        moves.setdefault(was, {}).setdefault(segment, 0)
        moves[was][segment] += 1
    assert report.movement == moves
    got = dict(zip(report.frame.customer_id.astype(int), report.frame.segment, strict=True))
    assert got == now
    o = demo_shop.orders
    paid = o[(o.status != "cancelled") & (o.ordered_at < pd.Timestamp(TODAY))]
    gmv = paid.groupby("customer_id").amount.sum()
    for segment in SEGMENTS:
        members = [c for c, s in now.items() if s == segment]
        assert report.gmv[segment] == pytest.approx(float(gmv[members].sum()))


@pytest.mark.parametrize("engine", ["sqlite", "duckdb"])
def test_utc_timestamps_count_in_business_local_days(engine: str, tmp_path: Path) -> None:
    """Stored in UTC, read in Asia/Shanghai (UTC+8): days and the as-of cut are local days."""
    import dataclasses

    # 2026-08-26 16:30 UTC is 2026-08-27 00:30 in Shanghai: 90 days before AS_OF locally (active),
    # 91 by the UTC date (at risk)
    # 2026-11-24 17:30 UTC is 2026-11-25 01:30 in Shanghai: on AS_OF itself, so not counted
    rows = [
        (1, 21, pd.Timestamp("2024-01-01 04:00"), 5.0, "completed", 0.0, "search", "shoes", "east"),
        (2, 21, pd.Timestamp("2026-08-26 16:30"), 5.0, "completed", 0.0, "search", "shoes", "east"),
        (3, 22, pd.Timestamp("2024-01-01 04:00"), 1.0, "completed", 0.0, "search", "shoes", "east"),
        (4, 22, pd.Timestamp("2026-11-24 17:30"), 1.0, "completed", 0.0, "search", "shoes", "east"),
        (5, 23, pd.Timestamp("2026-11-20 04:00"), 1000.0, "completed", 0.0, "search", "shoes", "east"),
    ]
    report = report_on(rows, engine, tmp_path, dataclasses.replace(Mapping.default("Asia/Shanghai"), timestamps="utc"))
    got = {int(r.customer_id): (r.segment, r.orders, r.last_order_day) for r in report.frame.itertuples()}
    assert got[21] == ("active", 2, date(2026, 8, 27))
    assert got[22] == ("lost", 1, date(2024, 1, 1))  # its second order is on AS_OF, local time
    assert got[23][0] == "new"

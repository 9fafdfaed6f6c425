"""RFM segments (metrics/segments.py) on a hand-made shop whose classes were worked out by hand."""

from __future__ import annotations

import io
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import create_engine

from metrics.load import write_shop
from metrics.sample import Shop, ShopSpec
from metrics.schema import Mapping
from metrics.segments import SEGMENTS, classify, detect_shifts, export_csv, segment_report
from metrics.warehouse import Warehouse

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


def test_classify_boundaries() -> None:
    import numpy as np

    recency = np.array([30.0, 90, 91, 180, 181, 365, 366, np.nan])
    tenure = np.array([31.0] * 8)
    orders = np.array([1, 1, 2, 2, 2, 1, 1, 0])
    gmv = np.arange(1.0, 9.0)  # the top 20 % (6, 7) are old enough not to matter
    assert list(classify(recency, tenure, orders, gmv)) == [
        "active", "active", "at_risk", "at_risk", "dormant", "dormant", "lost", ""]
    assert set(SEGMENTS) == {"new", "champions", "active", "at_risk", "dormant", "lost"}


def test_shift_alert() -> None:
    # 100 champions per month; usually 5 decline, this month 20
    assert detect_shifts([(100, 20), (100, 5), (100, 5)])[0]["customers"] == 20
    assert detect_shifts([(100, 6), (100, 5), (100, 5)]) == []
    assert detect_shifts([(10, 4), (10, 0)]) == []  # too few customers moved to matter

"""Fulfilment and returns on the hand-made shop (small_products.py), the expected numbers worked
out by hand from the definitions in metrics/products/fulfilment.py and returns.py.

Shipments of the orders that count placed 11-01..03 (order 7's is a cancelled order's):
  3: 6 h, delivered in 2 d (sf, east) · 4: 30 h, 3 d (zto, east) · 5: 12 h, in transit (sf, south)
  6: 5 h, 1 d (sf, east) · 13: 12 h, in transit (zto, east); the rest unshipped.
At 11-04 12:00 with a 24 h SLA the due orders are the 5 shipped and the 7 unshipped placed by
11-03 12:00 (8, 9, 10, 11, 12, 14, 16): 12 due, 4 on time (3, 5, 6, 13).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from metrics.data.schema import Mapping
from metrics.data.warehouse import Warehouse
from metrics.products.fulfilment import fulfilment
from metrics.products.returns import returns
from tests.metrics.products import small_products

START, END, NOW = datetime(2026, 11, 1), datetime(2026, 11, 4), datetime(2026, 11, 4, 12)


@pytest.fixture
def warehouse(tmp_path: Path) -> Warehouse:
    return Warehouse.from_url(small_products.build(tmp_path / "shop.db"), Mapping.default())


def test_on_time_rate_and_percentiles(warehouse: Warehouse) -> None:
    total, _ = fulfilment(warehouse, START, END, NOW)
    assert (total.due, total.on_time, total.shipped, total.delivered) == (12, 4, 5, 3)
    assert total.on_time_rate == pytest.approx(4 / 12)
    # ship hours 5, 6, 12, 12, 30: the median 12, p90 12 + 0.6 × 18; delivery days 1, 2, 3
    assert total.ship_p50 == pytest.approx(12, abs=1e-3) and total.ship_p90 == pytest.approx(22.8, abs=1e-3)
    assert total.delivery_p50 == pytest.approx(2) and total.delivery_p90 == pytest.approx(2.8)


def test_by_carrier_and_by_warehouse(warehouse: Warehouse) -> None:
    _, carriers = fulfilment(warehouse, START, END, NOW, by="carrier")
    got = {c.key: (c.due, c.on_time, c.shipped, c.delivered) for c in carriers}
    assert got == {"sf": (3, 3, 3, 2), "zto": (2, 1, 2, 1)}
    zto = next(c for c in carriers if c.key == "zto")
    assert zto.ship_p50 == pytest.approx(21)
    _, warehouses = fulfilment(warehouse, START, END, NOW, by="warehouse")
    assert [(w.key, w.shipped, w.on_time) for w in warehouses] == [("east_dc", 4, 3), ("south_dc", 1, 1)]


def test_a_tighter_sla(warehouse: Warehouse) -> None:
    total, _ = fulfilment(warehouse, START, END, NOW, sla_hours=8)
    # shipped within 8 h: 3 (6 h) and 6 (5 h); due: the 5 shipped and unshipped placed by 11-04 04:00 (all 11)
    assert (total.due, total.on_time) == (16, 2)


def test_returns_and_their_rates(warehouse: Warehouse) -> None:
    total, by_reason = returns(warehouse, START, END, by="reason")
    # in the period: H 300 (quality), B 50 (size), X 10 (damaged); the October and 11-04 ones are not
    assert (total.units, total.amount) == (3, 360)
    assert total.unit_rate == pytest.approx(3 / 12) and total.amount_rate == pytest.approx(360 / 1135)
    assert [(r.key, r.amount) for r in by_reason] == [("quality", 300), ("size", 50), ("damaged", 10)]
    assert by_reason[0].unit_rate == pytest.approx(1 / 12)  # a reason's share of everything sold


def test_returns_by_sku_and_category(warehouse: Warehouse) -> None:
    _, skus = returns(warehouse, START, END, by="sku")
    rates = {(r.key, kind): rate for r in skus for kind, rate in (("units", r.unit_rate), ("amount", r.amount_rate))}
    assert rates == pytest.approx({("SKU-H", "units"): 1 / 2, ("SKU-H", "amount"): 300 / 550, ("SKU-B", "units"): 1.0,
                                   ("SKU-B", "amount"): 1.0, ("SKU-X", "units"): 1.0, ("SKU-X", "amount"): 10 / 55})
    _, categories = returns(warehouse, START, END, by="category")
    rates = {(r.key, kind): rate for r in categories
             for kind, rate in (("units", r.unit_rate), ("amount", r.amount_rate))}
    # shoes sold A 4 + B 1 units (400 + 50); home H 2 (550); X has no product row: unknown ("")
    assert rates == pytest.approx({("home", "units"): 1 / 2, ("home", "amount"): 300 / 550, ("shoes", "units"): 1 / 5,
                                   ("shoes", "amount"): 50 / 450, ("", "units"): 1.0, ("", "amount"): 10 / 55})


def test_returns_on_a_day_without_sales_have_no_rate(warehouse: Warehouse) -> None:
    """11-04 has no orders but a return of 1 unit (125.00): by the definition (returns of the
    period ÷ sales of the period) there is nothing to divide by, so no rate, never a division
    error; on 11-03 H and X each came back as often as they sold that day: 100 %."""
    total, _ = returns(warehouse, datetime(2026, 11, 4), datetime(2026, 11, 5))
    assert (total.units, total.amount, total.unit_rate) == (1, 125, None)
    day, by_sku = returns(warehouse, datetime(2026, 11, 3), datetime(2026, 11, 4), by="sku")
    # 11-03: sold H 1 + A 2 + X 1 = 4 units; returned H 1 (300) and X 1 (10)
    assert day.unit_rate == pytest.approx(2 / 4)
    assert {r.key: r.unit_rate for r in by_sku} == {"SKU-H": 1.0, "SKU-X": 1.0}

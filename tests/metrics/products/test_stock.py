"""Stock, cover, stock-outs and sell-through on the hand-made shop (small_products.py): every
expected number worked out by hand from the definitions in metrics/products/stock.py."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from metrics.data.schema import Mapping
from metrics.data.warehouse import Warehouse
from metrics.errors import DataNotMapped
from metrics.products import stock
from tests.metrics import small_shop
from tests.metrics.products import small_products

NOV_3 = date(2026, 11, 3)


@pytest.fixture
def warehouse(tmp_path: Path) -> Warehouse:
    return Warehouse.from_url(small_products.build(tmp_path / "shop.db"), Mapping.default())


def test_stock_as_of_a_day_sums_the_warehouses(warehouse: Warehouse) -> None:
    on_hand = dict(zip(*[stock.stock_on(warehouse, NOV_3)[c] for c in ("sku", "on_hand")], strict=True))
    assert on_hand == {"SKU-A": 5, "SKU-T": 0, "SKU-H": 3, "SKU-B": 8}
    # 11-02 has no SKU-B row: the snapshot of that day knows nothing of it
    assert set(stock.stock_on(warehouse, date(2026, 11, 2))["sku"]) == {"SKU-A", "SKU-T", "SKU-H"}
    per = stock.stock_on(warehouse, NOV_3, by_warehouse=True)
    assert {(r.sku, r.warehouse): r.on_hand for r in per.itertuples()}[("SKU-A", "south_dc")] == 3


def test_cover_per_warehouse_and_the_skus_at_risk(warehouse: Warehouse) -> None:
    cover = {(c.sku, c.warehouse): c for c in stock.cover(warehouse, NOV_3)}
    # the 28 days to 11-03, by the warehouse each order shipped from (orders 3, 4, 6, 13 from east_dc;
    # order 1 and 20 never shipped): A sold 2 + 2 at east_dc, stock 2 there → 14 days; none at south_dc
    assert cover[("SKU-A", "east_dc")].cover_days == pytest.approx(14)
    assert cover[("SKU-A", "south_dc")].cover_days is None
    # H: 2 units, 3 on hand → 42 days; with 30 on order it lasts 462 days, far past its 20-day lead time
    assert cover[("SKU-H", "east_dc")].cover_days == pytest.approx(42)
    assert cover[("SKU-H", "east_dc")].cover_with_orders == pytest.approx(462)
    assert cover[("SKU-B", "east_dc")].cover_days == pytest.approx(8 / (1 / 28))
    # T: 4 units (order 7's 3 were cancelled), none left and none on order: below its 3-day lead time
    assert cover[("SKU-T", "east_dc")].cover_days == 0 and cover[("SKU-T", "east_dc")].lead_time == 3
    [risk] = stock.at_risk(warehouse, NOV_3)
    assert (risk.sku, risk.warehouse) == ("SKU-T", "east_dc") and risk.gmv_at_stake == pytest.approx(80 / 28 * 3)


def test_a_stock_out_and_its_lost_sales(warehouse: Warehouse) -> None:
    [out] = stock.stockouts(warehouse, date(2026, 10, 30), date(2026, 11, 4))
    assert (out.sku, out.first, out.last, out.days, out.ongoing) == ("SKU-T", date(2026, 11, 2), NOV_3, 2, True)
    # in stock before: 10-30, 10-31, 11-01 with 0, 0, 4 units (ASP 20): 4/3 a day for 2 days
    assert out.lost_units == pytest.approx(8 / 3) and out.lost_gmv == pytest.approx(160 / 3)
    [at] = stock.stockouts(warehouse, date(2026, 10, 30), date(2026, 11, 4), by_warehouse=True)
    assert at.warehouse == "east_dc"


def test_sell_through(warehouse: Warehouse) -> None:
    total, per = stock.sell_through(warehouse, date(2026, 11, 1), date(2026, 11, 4))
    # 12 units sold; 5 + 0 + 3 + 8 on hand at 11-03
    assert total == pytest.approx(12 / 28)
    assert per.at["SKU-T", "sell_through"] == 1.0 and per.at["SKU-A", "sell_through"] == pytest.approx(4 / 9)


def test_without_an_inventory_table_the_error_says_what_to_map(tmp_path: Path) -> None:
    wh = Warehouse.from_url(small_shop.build(tmp_path / "plain.db"), Mapping.default())
    with pytest.raises(DataNotMapped) as raised:
        stock.cover(wh, NOV_3)
    assert raised.value.key == "table_not_mapped" and raised.value.params["table"] == "inventory"

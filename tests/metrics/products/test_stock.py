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


def test_cover_and_the_skus_at_risk(warehouse: Warehouse) -> None:
    cover = {c.sku: c for c in stock.cover(warehouse, NOV_3)}
    # 28 days to 11-03: A sold 1 (10-15) + 2 + 2 = 5 units, stock 5 → 28 days; H 2 units, stock 3 → 42
    assert cover["SKU-A"].cover_days == pytest.approx(28)
    assert cover["SKU-H"].cover_days == pytest.approx(42)
    assert cover["SKU-B"].cover_days == pytest.approx(8 / (1 / 28))
    # T: 4 units (order 7's 3 were cancelled), none left: cover 0 below its 3-day lead time
    assert cover["SKU-T"].cover_days == 0 and cover["SKU-T"].lead_time == 3
    [risk] = stock.at_risk(warehouse, NOV_3)
    assert risk.sku == "SKU-T" and risk.gmv_at_stake == pytest.approx(80 / 28 * 3)


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

"""The order-line KPIs (units, items per order, ASP, gross margin, margin rate) on the hand-made
shop: the expected numbers are worked out by hand in small_products.py's docstring."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from metrics.data.schema import Mapping
from metrics.data.warehouse import Filter, Warehouse
from metrics.kpis import CATALOG, KpiQuery, evaluate
from metrics.periods import Period
from tests.metrics import small_shop
from tests.metrics.products import small_products

NOV_1_3 = Period(date(2026, 11, 1), date(2026, 11, 4), "2026-11-01..2026-11-03")
LINE_KPIS = "units items_per_order asp gross_margin margin_rate"


def run(wh: Warehouse, names: str, **kw: object):  # type: ignore[no-untyped-def]
    return evaluate(wh, KpiQuery(tuple(CATALOG[n] for n in names.split()), NOV_1_3, **kw))  # type: ignore[arg-type]


def values(result) -> dict[str, float | None]:  # type: ignore[no-untyped-def]
    return {name: mv.value for name, mv in result.totals.items()}


@pytest.fixture
def warehouse(tmp_path: Path) -> Warehouse:
    return Warehouse.from_url(small_products.build(tmp_path / "shop.db"), Mapping.default())


def test_line_kpis_over_three_days(warehouse: Warehouse) -> None:
    assert values(run(warehouse, LINE_KPIS)) == pytest.approx({
        "units": 12, "items_per_order": 12 / 5, "asp": 1135 / 12, "gross_margin": 660, "margin_rate": 660 / 1080,
    })


def test_line_kpis_split_and_filtered_by_their_orders(warehouse: Warehouse) -> None:
    rows = dict(run(warehouse, "units asp", by="channel").rows)
    assert {k: v["units"].value for k, v in rows.items() if v["units"].value} == {"search": 7, "social": 4, "email": 1}
    assert rows["search"]["asp"].value == pytest.approx(1000 / 7)
    north = run(warehouse, "units", filters=(Filter("region", ("north",)),))  # order 6 (H ×1), 13 (H ×1, A ×2)
    assert values(north) == {"units": 4}


def test_a_price_only_source_gives_line_amounts_as_price_times_quantity(tmp_path: Path) -> None:
    wh = Warehouse.from_url(small_products.build(tmp_path / "p.db", lines_with="unit_price"), Mapping.default())
    got = values(run(wh, "asp units"))
    # unit prices × quantities: 150 + 50 + 80 + 300 + 250 + 250 + 55
    assert got == pytest.approx({"asp": 1135 / 12, "units": 12})


def test_without_order_lines_the_line_kpis_are_not_recorded(tmp_path: Path) -> None:
    wh = Warehouse.from_url(small_shop.build(tmp_path / "plain.db"), Mapping.default())
    assert not wh.recorded("units") and wh.missing_columns("units") is None
    assert values(run(wh, "gmv units"))["units"] is None


def test_top_sku_by_gmv_and_units_reads_the_lines(warehouse: Warehouse) -> None:
    from metrics.breakdown import top

    by_gmv = top(warehouse, "sku", CATALOG["gmv"], NOV_1_3)
    # A: 150 + 250, H: 300 + 250, T: 80 (order 7's T is cancelled), X: 55, B: 50
    assert [(r.key, r.value) for r in by_gmv.rows] == [("SKU-H", 550), ("SKU-A", 400), ("SKU-T", 80),
                                                       ("SKU-X", 55), ("SKU-B", 50)]
    assert by_gmv.total == 1135
    by_units = top(warehouse, "sku", CATALOG["units"], NOV_1_3)
    assert {r.key: r.value for r in by_units.rows} == {"SKU-A": 4, "SKU-T": 4, "SKU-H": 2, "SKU-B": 1, "SKU-X": 1}
    orders = top(warehouse, "sku", CATALOG["orders"], NOV_1_3)  # orders holding a line of the SKU
    assert {r.key: r.value for r in orders.rows} == {"SKU-A": 2, "SKU-H": 2, "SKU-T": 1, "SKU-B": 1, "SKU-X": 1}


def test_a_sku_filter_and_daily_units(warehouse: Warehouse) -> None:
    only_a = run(warehouse, "units gmv", filters=(Filter("sku", ("SKU-A",)),))
    assert values(only_a) == {"units": 4, "gmv": 400}
    from datetime import datetime
    daily = warehouse.daily(["units"], datetime(2026, 11, 1), datetime(2026, 11, 4), by="sku")
    got = {(str(r.day), r.key): r.units for r in daily.itertuples()}
    assert got == {("2026-11-01", "SKU-A"): 2, ("2026-11-01", "SKU-B"): 1, ("2026-11-01", "SKU-T"): 4,
                   ("2026-11-01", "SKU-H"): 1, ("2026-11-03", "SKU-H"): 1, ("2026-11-03", "SKU-A"): 2,
                   ("2026-11-03", "SKU-X"): 1}


def test_utc_timestamps_move_a_late_order_into_the_next_business_day(tmp_path: Path) -> None:
    """Read as UTC, order 20 (11-03 23:30) is 11-04 07:30 in Shanghai: out of the period; the
    others of the period stay in it (01:00..15:00 UTC is the same business day)."""
    import dataclasses

    mapping = dataclasses.replace(Mapping.default(), timestamps="utc")
    wh = Warehouse.from_url(small_products.build(tmp_path / "utc.db"), mapping)
    assert values(run(wh, "units asp")) == pytest.approx({"units": 11, "asp": 1080 / 11})


def test_sell_through_and_return_rate_as_kpis(warehouse: Warehouse) -> None:
    # 12 units sold; at 11-03's snapshot A 5, T 0, H 3, B 8 on hand; 3 units returned in the period
    assert values(run(warehouse, "sell_through return_rate")) == pytest.approx(
        {"sell_through": 12 / (12 + 16), "return_rate": 3 / 12})
    # stock is not kept per channel: sell-through by channel is not available, units are
    result = run(warehouse, "sell_through units", by="channel")
    assert "sell_through" in result.unavailable

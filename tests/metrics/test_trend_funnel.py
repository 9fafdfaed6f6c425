from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from metrics.data.schema import Mapping
from metrics.data.warehouse import Warehouse
from metrics.funnel import funnel
from metrics.kpis import CATALOG
from metrics.periods import Period
from metrics.trend import buckets, trend
from tests.metrics import small_shop

NOV = Period(date(2026, 11, 1), date(2026, 11, 4), "2026-11-01..2026-11-03")


@pytest.fixture
def wh(tmp_path: Path) -> Warehouse:
    return Warehouse.from_url(small_shop.build(tmp_path / "s.db"), Mapping.default())


def test_daily_gmv(wh: Warehouse) -> None:
    result = trend(wh, CATALOG["gmv"], NOV)
    assert result.series["total"].tolist() == [700, 460, 835]
    assert [str(d) for d in result.series.index] == ["2026-11-01", "2026-11-02", "2026-11-03"]


def test_daily_conversion_is_na_without_sessions_by_channel(wh: Warehouse) -> None:
    result = trend(wh, CATALOG["conversion"], NOV, by="channel")
    social = result.series["social"].tolist()
    assert social[0] == pytest.approx(1 / 50) and social[1] != social[1] and social[2] == pytest.approx(1 / 60)


def test_weekly_buyers_are_counted_per_week_not_summed(wh: Warehouse) -> None:
    # 2026-11-01 is a Sunday: the range spans the week of Oct 26 (1 day) and of Nov 2 (2 days)
    result = trend(wh, CATALOG["buyers"], NOV, grain="week")
    assert [str(d) for d in result.series.index] == ["2026-10-26", "2026-11-02"]
    # Nov 1: c1 c2 c3 c4 → 4; Nov 2-3: c3 c5 c6 c1 c7 c2 c9 c4 c10 → 9 (c3 twice counts once)
    assert result.series["total"].tolist() == [4, 9]
    assert result.partial == [date(2026, 10, 26), date(2026, 11, 2)]


def test_top_lines_and_other(wh: Warehouse) -> None:
    result = trend(wh, CATALOG["gmv"], NOV, by="region")
    # region GMV over the three days: east 660, north 920, west 380, south 35 → all four fit in the top 5
    assert list(result.series.columns) == ["north", "east", "west", "south"]
    assert result.series.sum(axis=1).tolist() == [700, 460, 835]


def test_buckets_for_months() -> None:
    p = Period(date(2026, 1, 15), date(2026, 3, 10), "x")
    assert buckets(p, "month") == [
        (date(2026, 1, 1), date(2026, 1, 15), date(2026, 2, 1)),
        (date(2026, 2, 1), date(2026, 2, 1), date(2026, 3, 1)),
        (date(2026, 3, 1), date(2026, 3, 1), date(2026, 3, 10)),
    ]


def test_funnel_counts_and_rates(wh: Warehouse) -> None:
    total, rows = funnel(wh, NOV, by="channel")
    assert total.counts == {"sessions": 520, "product_views": 311, "add_to_cart": 106, "orders": 16,
                            "repeat_buyers": 6}
    assert total.rate("orders") == pytest.approx(16 / 106)
    assert total.rate("sessions") is None
    search = next(r for r in rows if r.key == "search")
    assert search.counts["sessions"] == 300 and search.counts["orders"] == 5
    # buyers with 2+ search orders: only c4 (6, 18); c1, c5 and c7 ordered again through other channels
    assert search.counts["repeat_buyers"] == 1


def test_weakest_step_is_the_fall_that_cost_the_most_orders(wh: Warehouse) -> None:
    """Issue 24: the weakest step is defined by the orders its fall cost, not by its level."""
    nov3 = Period(date(2026, 11, 3), date(2026, 11, 4), "d")
    nov1 = Period(date(2026, 11, 1), date(2026, 11, 2), "d")
    total, _ = funnel(wh, nov3, nov1)
    steps = ["sessions", "product_views", "add_to_cart", "orders"]
    now, before = total.counts, total.previous
    assert before is not None
    rate = {s: now[s] / now[p] for p, s in zip(steps, steps[1:], strict=False)}
    was = {s: before[s] / before[p] for p, s in zip(steps, steps[1:], strict=False)}
    # sessions × the fall of the view rate × the cart and order rates now, and so on
    lost = {"product_views": now["sessions"] * (was["product_views"] - rate["product_views"])
            * rate["add_to_cart"] * rate["orders"],
            "add_to_cart": now["product_views"] * (was["add_to_cart"] - rate["add_to_cart"]) * rate["orders"],
            "orders": now["add_to_cart"] * (was["orders"] - rate["orders"])}
    for s, v in lost.items():
        assert total.lost_orders(s) == pytest.approx(v)
    falls = {s: v for s, v in lost.items() if v > 0}
    assert total.weakest() == (max(falls, key=falls.get) if falls else None)


def test_the_weakest_step_is_not_the_lowest_rate() -> None:
    """The issue's case: view → cart at 11 % is always the lowest rate; the step that fell is weakest."""
    from metrics.funnel import FunnelRow

    now = {"sessions": 475_736, "product_views": 275_686, "add_to_cart": 31_122, "orders": 10_803,
           "repeat_buyers": 686}
    before = {"sessions": 470_000, "product_views": 275_560, "add_to_cart": 31_382, "orders": 9_980,
              "repeat_buyers": 636}
    row = FunnelRow("total", now, before)  # type: ignore[arg-type]
    assert row.rate("add_to_cart") < row.rate("product_views")
    assert row.lost_orders("orders") < 0  # cart → order improved: it cost nothing
    assert row.weakest() == max(("product_views", "add_to_cart"), key=row.lost_orders)  # type: ignore[arg-type]
    assert FunnelRow("total", now, now).weakest() is None  # nothing fell: no weakest step
    assert FunnelRow("total", now, None).weakest() is None  # nothing to compare with

"""top, movers and the driver tree: hand-made numbers and exact sums."""

from __future__ import annotations

import math
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from metrics.breakdown import contributions, drivers, movers, shapley_product, top
from metrics.data.schema import Mapping
from metrics.data.warehouse import Warehouse
from metrics.kpis import CATALOG
from metrics.periods import Period
from tests.metrics import small_shop

NOV1 = Period(date(2026, 11, 1), date(2026, 11, 2), "2026-11-01")
NOV2 = Period(date(2026, 11, 2), date(2026, 11, 3), "2026-11-02")
NOV3 = Period(date(2026, 11, 3), date(2026, 11, 4), "2026-11-03")


@pytest.fixture
def wh(tmp_path: Path) -> Warehouse:
    return Warehouse.from_url(small_shop.build(tmp_path / "s.db"), Mapping.default())


def test_top_channels_by_gmv_with_share_and_change(wh: Warehouse) -> None:
    # Nov 3 by channel: search 500+100, social 80, email 20+35+55, direct 45 (15 is cancelled)
    # Nov 2: search 90, social 150+70, email 40, direct 110
    result = top(wh, "channel", CATALOG["gmv"], NOV3, NOV2)
    got = [(r.key, r.value, r.previous) for r in result.rows]
    assert got == [("search", 600, 90), ("email", 110, 40), ("social", 80, 220), ("direct", 45, 110)]
    assert [r.share for r in result.rows] == pytest.approx([600 / 835, 110 / 835, 80 / 835, 45 / 835])
    assert result.total == 835 and result.previous_total == 460


def test_movers_for_a_sum_are_each_slices_change(wh: Warehouse) -> None:
    result = movers(wh, CATALOG["gmv"], NOV3, NOV2, ["channel", "region"])
    channel = {c.key: c.contribution for c in result.by_dimension["channel"]}
    assert channel == {"search": 510, "email": 70, "social": -140, "direct": -65}
    assert sum(channel.values()) == result.change == 375
    region = {c.key: c.contribution for c in result.by_dimension["region"]}
    assert sum(region.values()) == pytest.approx(375)
    # ordered by the size of the move
    assert [c.key for c in result.by_dimension["channel"]][:2] == ["search", "social"]


def test_movers_for_a_ratio_sum_to_the_ratio_change(wh: Warehouse) -> None:
    result = movers(wh, CATALOG["aov"], NOV3, NOV2, ["channel", "category", "region"])
    assert result.change == pytest.approx(835 / 7 - 460 / 5)
    for dim, contribs in result.by_dimension.items():
        assert sum(c.contribution for c in contribs) == pytest.approx(result.change), dim


def test_conversion_movers_only_by_channel(wh: Warehouse) -> None:
    result = movers(wh, CATALOG["conversion"], NOV3, NOV1, ["channel", "region"])
    assert result.unavailable == ["region"]
    assert sum(c.contribution for c in result.by_dimension["channel"]) == pytest.approx(7 / 220 - 4 / 200)


@given(
    st.lists(st.tuples(st.floats(0, 1e6), st.floats(1, 1e6), st.floats(0, 1e6), st.floats(1, 1e6)),
             min_size=1, max_size=8)
)
def test_ratio_contributions_always_sum_exactly(rows: list[tuple[float, float, float, float]]) -> None:
    cur = pd.DataFrame({"gmv": [r[0] for r in rows], "orders": [r[1] for r in rows]}, index=[f"k{i}" for i in range(len(rows))])
    prev = pd.DataFrame({"gmv": [r[2] for r in rows], "orders": [r[3] for r in rows]}, index=cur.index)
    split = contributions(CATALOG["aov"], cur, prev)
    assert split is not None
    expected = cur.gmv.sum() / cur.orders.sum() - prev.gmv.sum() / prev.orders.sum()
    assert math.isclose(sum(c.contribution for c in split), expected, rel_tol=1e-9, abs_tol=1e-6)


@given(st.lists(st.floats(0, 1e5), min_size=3, max_size=3), st.lists(st.floats(0, 1e5), min_size=3, max_size=3))
def test_shapley_split_of_a_product_is_exact(old: list[float], new: list[float]) -> None:
    effects = shapley_product(old, new)
    # float error grows with the mixed products the split evaluates, not with their difference
    scale = max(math.prod(max(a, b) for a, b in zip(old, new, strict=True)), 1.0)
    assert abs(sum(effects) - (math.prod(new) - math.prod(old))) <= 1e-9 * scale


def test_shapley_effects_by_hand() -> None:
    # only sessions double: the whole change is the sessions effect
    assert shapley_product([100, 0.1, 50], [200, 0.1, 50]) == pytest.approx([500, 0, 0])
    # sessions ×2 and conversion ×2: 1000 → 4000, split evenly by symmetry
    assert shapley_product([100, 0.2, 50], [200, 0.4, 50]) == pytest.approx([1500, 1500, 0])


def test_driver_tree_on_the_small_shop(wh: Warehouse) -> None:
    total, rows = drivers(wh, NOV3, NOV1, by="channel")
    assert total.gmv == 835 and total.previous_gmv == 700
    assert total.factors["sessions"] == (220, 200)
    assert total.factors["conversion"] == pytest.approx((7 / 220, 4 / 200))
    assert sum(total.effects.values()) == pytest.approx(135)
    for r in rows:
        assert sum(r.effects.values()) == pytest.approx(r.gmv - r.previous_gmv), r.key


def test_driver_tree_without_sessions_is_undefined(wh: Warehouse) -> None:
    # Nov 2: social sold 220 with zero sessions
    _, rows = drivers(wh, NOV2, NOV1, by="channel")
    social = next(r for r in rows if r.key == "social")
    assert social.effects is None

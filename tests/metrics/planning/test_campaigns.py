"""Campaign lift (metrics/planning/campaigns.py): a known lift injected into a demo shop is recovered."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import create_engine

from metrics.data.load import write_shop
from metrics.data.sample import Shop, ShopSpec, generate
from metrics.data.schema import Mapping
from metrics.data.warehouse import Warehouse
from metrics.planning.campaigns import EventWindow, baseline, campaign_lift, lift_from_daily, shift_year

END = date(2026, 11, 25)
# steady budgets: the injected lift is the only thing moving the window (a budget that moved during
# it would move its orders too, which no baseline of past days can know)
SPEC = ShopSpec(end=END, days=200, orders=80_000, seed=5, anomalies=False, spend_variation=False)
WINDOW = (date(2026, 9, 7), date(2026, 9, 21))  # 14 days, clear of 618 and 11.11
EXTRA = 0.5  # half the window's orders again


def inject(shop: Shop, rng: np.random.Generator) -> tuple[Shop, float, int]:
    """Duplicate a random EXTRA share of the window's orders; returns the shop and the injected
    (non-cancelled) GMV and orders."""
    o = shop.orders
    lo, hi = pd.Timestamp(WINDOW[0]), pd.Timestamp(WINDOW[1])
    window = o[(o.ordered_at >= lo) & (o.ordered_at < hi)]
    copies = window[rng.random(len(window)) < EXTRA].copy()
    copies["order_id"] = np.arange(len(copies)) + o.order_id.max() + 1
    orders = pd.concat([o, copies], ignore_index=True)
    counted = copies[copies.status != "cancelled"]
    return (Shop(orders, shop.traffic, shop.marketing_spend, shop.labels, shop.promotions),
            float(counted.amount.sum()), len(counted))


@pytest.fixture(scope="module")
def lifted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Warehouse, float, int]:
    shop, gmv, orders = inject(generate(SPEC), np.random.default_rng(1))
    path = tmp_path_factory.mktemp("campaign") / "shop.duckdb"
    engine = create_engine(f"duckdb:///{path}")
    write_shop(engine, shop, SPEC)
    engine.dispose()
    wh = Warehouse.from_url(f"duckdb:///{path}", Mapping.default())
    yield wh, gmv, orders
    wh.engine.dispose()


def test_injected_lift_is_recovered(lifted: tuple[Warehouse, float, int]) -> None:
    wh, injected_gmv, injected_orders = lifted
    event = EventWindow("autumn", *WINDOW)
    r = campaign_lift(wh, event, END)
    assert r is not None
    assert r.incremental["gmv"] == pytest.approx(injected_gmv, rel=0.10)
    assert r.incremental["orders"] == pytest.approx(injected_orders, rel=0.10)
    true_lift = injected_gmv / (r.actual["gmv"] - injected_gmv)
    assert r.lift["gmv"] == pytest.approx(true_lift, rel=0.10)
    # copies keep their customers: no new customers were injected, and the AOV is unchanged
    assert abs(r.incremental["new_customers"]) < 0.1 * r.expected["new_customers"]
    assert r.aov == pytest.approx(r.baseline_aov, rel=0.05)
    # nothing was pulled forward: the week after is near its baseline
    assert abs(r.post_incremental["gmv"]) < 0.1 * injected_gmv
    assert r.post_days == 7
    assert r.last_year is None  # the history is 200 days


def test_no_lift_without_a_campaign(lifted: tuple[Warehouse, float, int]) -> None:
    wh, _, _ = lifted
    quiet = EventWindow("quiet", date(2026, 10, 5), date(2026, 10, 19))
    # the campaign weeks before are on the calendar, so the baseline leaves them out
    r = campaign_lift(wh, quiet, END, other_events=[EventWindow("autumn", *WINDOW)])
    assert r is not None
    # no lift claimed: its 80% range holds zero, and the point is within a quiet fortnight's noise
    assert r.lift_low["gmv"] <= 0 <= r.lift_high["gmv"]
    assert abs(r.lift["gmv"]) < 0.08


def test_baseline_follows_weekday_and_trend() -> None:
    days = [date(2026, 1, 5) + timedelta(days=i) for i in range(70)]
    weekday = np.array([1.0, 1.0, 1.0, 1.0, 1.2, 1.5, 1.3])
    values = [100 * weekday[d.weekday()] * 1.01 ** i for i, d in enumerate(days)]
    pre = pd.DataFrame({"gmv": values[:56]}, index=days[:56])
    base = baseline(pre, "gmv", days[56:])
    assert base == pytest.approx(values[56:], rel=1e-6)


def test_roi_pull_forward_and_spend() -> None:
    days = [date(2026, 3, 1) + timedelta(days=i) for i in range(56 + 5 + 7)]
    frame = pd.DataFrame({"gmv": 1000.0, "orders": 10.0, "new_customers": 2.0, "spend": 100.0}, index=days)
    camp = days[56:61]
    frame.loc[camp, ["gmv", "orders"]] = [2000.0, 20.0]  # double for five days
    frame.loc[days[61:64], ["gmv", "orders"]] = [800.0, 8.0]  # three weaker days after
    event = EventWindow("x", camp[0], camp[-1] + timedelta(days=1), spend=2500.0)
    r = lift_from_daily(event, frame, data_end=days[-1] + timedelta(days=1))
    assert r is not None
    assert r.incremental["gmv"] == pytest.approx(5000)
    assert r.lift["gmv"] == pytest.approx(1.0)
    assert r.post_incremental["gmv"] == pytest.approx(-600)
    assert r.net_incremental_gmv == pytest.approx(4400)
    assert r.roi == pytest.approx(4400 / 2500)


def test_last_year_aligned_by_event_day() -> None:
    this = EventWindow("双11", date(2026, 11, 8), date(2026, 11, 13))
    stored = [EventWindow("双11", date(2025, 11, 1), date(2025, 11, 12)), EventWindow("618", date(2025, 6, 16), date(2025, 6, 19))]
    assert shift_year(this, stored).start == date(2025, 11, 1)  # last year's own dates, not 2025-11-08
    assert shift_year(this).start == date(2025, 11, 8)
    leap = EventWindow("leap", date(2028, 2, 29), date(2028, 3, 2))
    assert shift_year(leap).start == date(2027, 2, 28)


def test_lift_range_covers_the_injected_lift(lifted: tuple[Warehouse, float, int]) -> None:
    wh, injected_gmv, _ = lifted
    r = campaign_lift(wh, EventWindow("autumn", *WINDOW), END)
    assert r is not None
    true_lift = injected_gmv / (r.actual["gmv"] - injected_gmv)
    assert r.lift_low["gmv"] <= true_lift <= r.lift_high["gmv"]
    assert r.lift_low["gmv"] < r.lift["gmv"] < r.lift_high["gmv"]
    # no campaign at all: the range holds zero
    quiet = campaign_lift(wh, EventWindow("quiet", date(2026, 10, 5), date(2026, 10, 19)), END,
                          other_events=[EventWindow("autumn", *WINDOW)])
    assert quiet is not None and quiet.lift_low["gmv"] <= 0 <= quiet.lift_high["gmv"]


def test_lift_range_from_the_baseline_fit() -> None:
    """Known noise: log-normal days of sd 0.1 around a flat level; the range's log half-width is
    z x sqrt(parameter variance + day noise), both from the regression's textbook formulas."""
    rng = np.random.default_rng(4)
    days = [date(2026, 3, 2) + timedelta(days=i) for i in range(56 + 7)]
    values = 1000 * np.exp(rng.normal(0, 0.1, len(days)))
    frame = pd.DataFrame({"gmv": values, "orders": values / 100, "new_customers": values / 500}, index=days)
    event = EventWindow("x", days[56], days[-1] + timedelta(days=1))
    r = lift_from_daily(event, frame, data_end=days[-1] + timedelta(days=1))
    assert r is not None
    half = np.log((1 + r.lift_high["gmv"]) / (1 + r.lift["gmv"]))
    # about z x sqrt(sigma^2/56 (level) + trend/weekday terms + sigma^2/7 (the days)): between the
    # level-and-days floor and three times it
    floor = 1.2816 * 0.1 * np.sqrt(1 / 56 + 1 / 7)
    assert floor * 0.7 < half < floor * 3

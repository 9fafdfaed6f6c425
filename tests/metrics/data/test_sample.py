"""The synthetic demo shop: determinism, shape, invariants, realism, and visible injected anomalies.

Every expectation is recomputed here with plain pandas on the generated rows.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from metrics.data.sample import (
    CATEGORIES,
    CHANNELS,
    REGIONS,
    STATUSES,
    Shop,
    ShopSpec,
    expected_gmv,
    generate,
)

END = date(2026, 11, 25)
SMALL = ShopSpec(end=END, days=60, orders=5_000, seed=3)  # covers 11.11
YEAR = ShopSpec(end=END, days=400, orders=40_000, seed=5)  # covers 11.11 twice, 618 and 12.12
ANOMALY_SEEDS = (7, 11, 2024)


@pytest.fixture(scope="module")
def small() -> Shop:
    return generate(SMALL)


@pytest.fixture(scope="module")
def year() -> Shop:
    return generate(YEAR)


def counted(shop: Shop) -> pd.DataFrame:
    o = shop.orders
    o = o[o.status != "cancelled"]
    return o.assign(day=o.ordered_at.dt.normalize())


def daily_gmv(shop: Shop) -> pd.Series:
    return counted(shop).groupby("day").amount.sum()


# ---- determinism and shape ----------------------------------------------------------------------


def test_same_spec_gives_identical_frames(small: Shop) -> None:
    again = generate(SMALL)
    for name in ("orders", "traffic", "marketing_spend", "labels", "promotions",
                 "order_lines", "products", "inventory", "shipments", "returns", "product_labels"):
        pd.testing.assert_frame_equal(getattr(small, name), getattr(again, name), obj=name)


def test_another_seed_gives_other_rows(small: Shop) -> None:
    other = generate(ShopSpec(end=END, days=60, orders=5_000, seed=4))
    assert not small.orders.amount.equals(other.orders.amount)


def test_constants() -> None:
    assert CHANNELS == ("search", "social", "email", "affiliate", "direct", "live_stream")
    assert len(CATEGORIES) == 15 and len(set(CATEGORIES)) == 15
    assert all(c.replace("_", "").isalpha() and c.islower() for c in CATEGORIES)
    assert REGIONS == ("north", "south", "east", "west", "central", "northeast", "northwest", "southwest")


def test_columns_and_dtypes(small: Shop) -> None:
    o = small.orders
    assert list(o.columns) == [
        "order_id", "customer_id", "ordered_at", "amount", "status", "refunded_amount", "channel", "category", "region",
    ]
    assert o.order_id.dtype == np.int64 and o.customer_id.dtype == np.int64
    assert pd.api.types.is_datetime64_any_dtype(o.ordered_at) and o.ordered_at.dt.tz is None
    assert o.amount.dtype == np.float64 and o.refunded_amount.dtype == np.float64
    for col in ("status", "channel", "category", "region"):
        assert pd.api.types.is_string_dtype(o[col]), col
        assert all(isinstance(v, str) for v in o[col].unique())
    t = small.traffic
    assert list(t.columns) == ["day", "channel", "sessions", "product_views", "add_to_cart"]
    assert pd.api.types.is_datetime64_any_dtype(t.day)
    assert (t.day == t.day.dt.normalize()).all()
    for col in ("sessions", "product_views", "add_to_cart"):
        assert t[col].dtype == np.int64
    s = small.marketing_spend
    assert list(s.columns) == ["day", "channel", "spend"]
    assert pd.api.types.is_datetime64_any_dtype(s.day) and s.spend.dtype == np.float64
    assert list(small.labels.columns) == ["day", "metric", "dimension", "value", "kind", "magnitude"]
    assert all(type(d) is date for d in small.labels.day)
    assert list(small.promotions.columns) == ["day", "name"]
    assert all(type(d) is date for d in small.promotions.day)


def test_values_belong_to_the_catalogues(small: Shop) -> None:
    o = small.orders
    assert set(o.status) <= set(STATUSES)
    assert set(o.channel) == set(CHANNELS)
    assert set(o.category) <= set(CATEGORIES)
    assert set(o.region) <= set(REGIONS)
    assert set(small.traffic.channel) == set(CHANNELS)


def test_scale_is_roughly_the_spec(small: Shop) -> None:
    assert 0.85 * SMALL.orders < len(small.orders) < 1.15 * SMALL.orders


# ---- invariants ---------------------------------------------------------------------------------


def test_dates_are_in_the_half_open_range(small: Shop) -> None:
    start = pd.Timestamp(END - timedelta(days=SMALL.days))
    end = pd.Timestamp(END)
    o = small.orders
    assert o.ordered_at.min() >= start and o.ordered_at.max() < end
    days = pd.date_range(start, end, inclusive="left")
    for frame in (small.traffic, small.marketing_spend):
        assert len(frame) == len(days) * len(CHANNELS)
        assert not frame.duplicated(["day", "channel"]).any()
        assert set(frame.day) == set(days)
    for d in list(small.labels.day) + list(small.promotions.day):
        assert start.date() <= d < END


def test_ids(small: Shop) -> None:
    o = small.orders
    assert o.order_id.is_unique and o.order_id.is_monotonic_increasing
    assert o.sort_values("order_id").ordered_at.is_monotonic_increasing
    assert (o.customer_id > 0).all()


def test_amounts_statuses_and_refunds(small: Shop) -> None:
    o = small.orders
    assert (o.amount > 0).all()
    assert np.allclose(o.amount, o.amount.round(2), rtol=0, atol=1e-9)
    assert np.allclose(o.refunded_amount, o.refunded_amount.round(2), rtol=0, atol=1e-9)
    refunded = o.status == "refunded"
    assert (o.refunded_amount[~refunded] == 0).all()
    assert (o.refunded_amount[refunded] > 0).all()
    assert (o.refunded_amount[refunded] <= o.amount[refunded]).all()
    # both full and partial refunds occur
    assert (o.refunded_amount[refunded] == o.amount[refunded]).any()
    assert (o.refunded_amount[refunded] < o.amount[refunded]).any()


def test_status_shares(year: Shop) -> None:
    share = year.orders.status.value_counts(normalize=True)
    assert 0.03 <= share["cancelled"] <= 0.05
    assert 0.04 <= share["refunded"] <= 0.06
    # open orders are recent: nothing older than a week is still placed or paid
    o = year.orders
    old = o.ordered_at < pd.Timestamp(END - timedelta(days=7))
    assert not o[old].status.isin(["placed", "paid"]).any()
    assert o[~old].status.isin(["placed", "paid", "shipped"]).any()


def test_funnel_per_day_and_channel(small: Shop) -> None:
    orders = counted(small).groupby(["day", "channel"]).size().rename("orders")
    t = small.traffic.set_index(["day", "channel"]).join(orders).fillna({"orders": 0})
    assert (t.sessions > t.product_views).all()
    assert (t.product_views > t.add_to_cart).all()
    assert (t.add_to_cart > t.orders).all()


def test_marketing_spend(small: Shop) -> None:
    s = small.marketing_spend
    assert (s.spend >= 0).all()
    assert np.allclose(s.spend, s.spend.round(2), rtol=0, atol=1e-9)
    assert (s[s.channel == "direct"].spend == 0).all()
    assert (s[s.channel != "direct"].spend > 0).all()
    # budgets vary week to week, so a channel's response to spend can be seen
    weekly = s[s.channel == "search"].set_index("day").spend.resample("W").mean()
    assert weekly.std() / weekly.mean() > 0.1


def test_expected_gmv_is_the_truth_of_the_spend_response() -> None:
    spec = ShopSpec(end=END, days=200, orders=60_000, seed=7, anomalies=False)
    shop = generate(spec)
    spend = shop.marketing_spend.pivot(index="day", columns="channel", values="spend")
    kept = shop.orders[shop.orders.status != "cancelled"]
    realised = kept.groupby("channel").amount.sum()
    truth = dict.fromkeys(CHANNELS, 0.0)
    for day, row in spend.iterrows():
        for ch, v in expected_gmv(spec, day.date(), 1, row.to_dict()).items():
            truth[ch] += v
    # GMV of the realised orders agrees with the expectation given the spend (a channel's amounts
    # are heavy-tailed: a few thousand orders are within a few per cent of their mean)
    for ch in CHANNELS:
        assert realised[ch] == pytest.approx(truth[ch], rel=0.08)
    assert realised.sum() == pytest.approx(sum(truth.values()), rel=0.03)
    # traffic follows the budget week by week
    joined = shop.marketing_spend.merge(shop.traffic, on=["day", "channel"])
    search = joined[joined.channel == "search"].set_index("day")[["spend", "sessions"]].resample("W").mean()
    assert np.corrcoef(np.log(search.spend), np.log(search.sessions))[0, 1] > 0.3
    # more spend brings more GMV, each extra yuan less than the one before; direct does not respond
    future = END + timedelta(days=30)
    at = [expected_gmv(spec, future, 30, {ch: x for ch in CHANNELS}) for x in (0.0, 1000.0, 2000.0, 3000.0)]
    for ch in CHANNELS:
        gains = np.diff([a[ch] for a in at])
        if ch == "direct":
            assert np.allclose(gains, 0)
        else:
            assert (gains > 0).all() and gains[0] > gains[1] > gains[2]


def test_channels_differ_in_conversion_and_aov(year: Shop) -> None:
    c = counted(year)
    conversion = c.groupby("channel").size() / year.traffic.groupby("channel").sessions.sum()
    aov = c.groupby("channel").amount.mean()
    assert conversion.max() / conversion.min() > 2
    assert aov.max() / aov.min() > 1.3


def test_no_anomalies_when_switched_off() -> None:
    shop = generate(ShopSpec(end=END, days=60, orders=5_000, seed=3, anomalies=False))
    assert shop.labels.empty
    assert list(shop.labels.columns) == ["day", "metric", "dimension", "value", "kind", "magnitude"]


def test_short_history_and_bad_specs() -> None:
    shop = generate(ShopSpec(end=END, days=3, orders=300))
    assert shop.orders.ordered_at.dt.normalize().nunique() == 3
    assert shop.labels.empty  # no room for anomalies
    assert generate(ShopSpec(end=END, days=10, orders=0)).orders.empty
    for seed in range(10):  # a handful of orders, the first ones days into the history
        tiny = generate(ShopSpec(end=END, days=30, orders=3, seed=seed)).orders
        assert (tiny.customer_id > 0).all()
    with pytest.raises(ValueError):
        generate(ShopSpec(end=END, days=0))


# ---- realism ------------------------------------------------------------------------------------


def test_promotion_days(year: Shop) -> None:
    promos = year.promotions
    by_name = promos.groupby("name").day.apply(list).to_dict()
    assert by_name["11.11"] == [date(2025, 11, 9), date(2025, 11, 10), date(2025, 11, 11),
                                date(2026, 11, 9), date(2026, 11, 10), date(2026, 11, 11)]
    assert by_name["618"] == [date(2026, 6, 16), date(2026, 6, 17), date(2026, 6, 18)]


@pytest.mark.parametrize("spec_name", ["small", "year"])
def test_promotion_peaks_are_visible(spec_name: str, request: pytest.FixtureRequest) -> None:
    shop: Shop = request.getfixturevalue(spec_name)
    gmv = daily_gmv(shop)
    median = gmv.median()
    for peak in (date(2025, 11, 11), date(2026, 6, 18), date(2026, 11, 11)):
        if pd.Timestamp(peak) in gmv.index:
            assert gmv[pd.Timestamp(peak)] > 2 * median, peak
    build_up = gmv[pd.Timestamp(date(2026, 11, 9)) : pd.Timestamp(date(2026, 11, 11))]
    assert (build_up.iloc[:2] > median).all() and build_up.iloc[2] > 1.5 * build_up.iloc[:2].max()


def test_weekly_seasonality_and_growth(year: Shop) -> None:
    promo = {pd.Timestamp(d) for d in year.promotions.day}
    orders = counted(year).groupby("day").size()
    orders = orders[~orders.index.isin(promo)]
    weekend = orders[orders.index.day_of_week >= 5].mean()
    weekday = orders[orders.index.day_of_week < 4].mean()
    assert weekend > 1.1 * weekday
    assert orders.iloc[-90:].mean() > 1.15 * orders.iloc[:90].mean()


def test_customers_mostly_buy_once_with_a_long_tail(year: Shop) -> None:
    o = year.orders.sort_values("order_id")
    per_customer = o.groupby("customer_id").size()
    assert 0.55 < (per_customer == 1).mean() < 0.85
    assert per_customer.max() >= 10
    # repeat orders spread over time
    span = o.groupby("customer_id").ordered_at.agg(["min", "max"])
    span = (span["max"] - span["min"])[per_customer >= 2]
    assert span.dt.days.median() > 14
    # the acquisition channel brings its customers back more than other channels do
    first = o.drop_duplicates("customer_id").set_index("customer_id").channel
    repeat = o[o.duplicated("customer_id")]
    acquired = repeat.customer_id.map(first)
    for channel in ("search", "social", "live_stream"):
        same = (repeat.channel[acquired == channel] == channel).mean()
        others = (repeat.channel[acquired != channel] == channel).mean()
        assert same > 3 * others, channel


def test_hour_of_day_profile(year: Shop) -> None:
    hours = year.orders.ordered_at.dt.hour.value_counts()
    night = hours[[2, 3, 4, 5]].mean()
    assert hours[10] > 5 * night
    assert hours[[20, 21, 22]].mean() > hours[[14, 15, 16]].mean() > night
    assert hours.idxmax() in (20, 21, 22)


# ---- injected anomalies -------------------------------------------------------------------------


def metric_by_day(shop: Shop, metric: str, dimension: str | None, value: str | None) -> pd.Series:
    """The KPI of DESIGN.md per day, for the whole shop or one slice."""
    c = counted(shop)
    t = shop.traffic
    if dimension is not None:
        c = c[c[dimension] == value]
        t = t[t[dimension] == value] if dimension == "channel" else t
    days = pd.DatetimeIndex(sorted(t.day.unique()))
    orders = c.groupby("day").size().reindex(days, fill_value=0)
    gmv = c.groupby("day").amount.sum().reindex(days, fill_value=0.0)
    sessions = t.groupby("day").sessions.sum().reindex(days)
    return {
        "orders": orders.astype(float),
        "gmv": gmv,
        "sessions": sessions.astype(float),
        "conversion": orders / sessions,
        "refund_rate": c.groupby("day").refunded_amount.sum().reindex(days, fill_value=0.0) / gmv,
    }[metric]


def neighbours(series: pd.Series, day: pd.Timestamp, skip: set[pd.Timestamp]) -> pd.Series:
    """The same weekday one to four weeks before and after, leaving out anomalies and promotions."""
    days = [day + pd.Timedelta(weeks=k) for k in (-4, -3, -2, -1, 1, 2, 3, 4)]
    return series[series.index.isin(days) & ~series.index.isin(skip)]


@pytest.fixture(scope="module", params=ANOMALY_SEEDS)
def anomalous(request: pytest.FixtureRequest) -> Shop:
    return generate(ShopSpec(end=END, days=150, orders=100_000, seed=request.param))


def test_labels_describe_five_anomalies(anomalous: Shop) -> None:
    labels = anomalous.labels
    kinds = labels.groupby(["metric", "dimension", "kind"], dropna=False).size().to_dict()
    assert kinds == {
        ("orders", "channel", "drop"): 1,
        ("sessions", "channel", "drop"): 1,
        ("gmv", "category", "spike"): 1,
        ("conversion", np.nan, "collapse"): 1,
        ("orders", np.nan, "collapse"): 1,
        ("refund_rate", "region", "spike"): 1,
        ("sessions", "channel", "level_shift"): 3,
    }
    assert labels[labels.dimension.isna()].value.isna().all()
    assert labels[labels.dimension == "channel"].value.isin(CHANNELS).all()
    assert labels[labels.dimension == "category"].value.isin(CATEGORIES).all()
    assert labels[labels.dimension == "region"].value.isin(REGIONS).all()
    shift = labels[labels.kind == "level_shift"].day.tolist()
    assert shift == [shift[0] + timedelta(days=i) for i in range(3)]
    assert labels[labels.kind == "level_shift"].value.nunique() == 1
    # in the last ~120 days, never on a promotion day, never on the last days
    assert (labels.day >= END - timedelta(days=120)).all()
    assert (labels.day < END - timedelta(days=2)).all()
    assert not labels.day.isin(set(anomalous.promotions.day)).any()
    # distinct anomalies fall on distinct days
    events = labels.drop_duplicates(["day", "kind", "value"])
    assert events.day.nunique() == 7


def test_each_labelled_anomaly_is_visible(anomalous: Shop) -> None:
    labels = anomalous.labels
    skip = {pd.Timestamp(d) for d in list(labels.day) + list(anomalous.promotions.day)}
    for row in labels.itertuples():
        series = metric_by_day(anomalous, row.metric, row.dimension, row.value)
        day = pd.Timestamp(row.day)
        around = neighbours(series, day, skip)
        assert len(around) >= 3
        value, halfway = series[day], around.median() * np.sqrt(1 + row.magnitude)
        # beyond every neighbour, and past the (geometric) halfway point of the injected change
        if row.magnitude < 0:
            assert value < around.min() and value < halfway, (row, value, around.tolist())
        else:
            assert value > around.max() and value > halfway, (row, value, around.tolist())
    # the conversion collapse keeps sessions normal
    collapse = pd.Timestamp(labels[labels.metric == "conversion"].day.iloc[0])
    sessions = metric_by_day(anomalous, "sessions", None, None)
    assert 0.8 < sessions[collapse] / neighbours(sessions, collapse, skip).median() < 1.25


def test_different_seeds_put_anomalies_elsewhere() -> None:
    placements = set()
    for seed in (1, 2, 3):
        labels = generate(ShopSpec(end=END, days=150, orders=3_000, seed=seed)).labels
        placements.add(tuple(sorted(zip(labels.day, labels.metric, labels.kind, strict=True))))
    assert len(placements) == 3


def test_anomaly_days_depend_on_the_seed_not_the_scale() -> None:
    a = generate(ShopSpec(end=END, days=150, orders=3_000, seed=9)).labels
    b = generate(ShopSpec(end=END, days=150, orders=9_000, seed=9)).labels
    pd.testing.assert_frame_equal(a, b)

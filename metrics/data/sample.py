"""The synthetic demo shop: a seeded, vectorised e-commerce history for `opsbot demo` and the tests.

`generate(ShopSpec(end=today))` returns the logical tables of DESIGN.md ("Data") for the `days`
calendar days `[end - days, end)`, plus the ground truth a detector can be scored against:
the injected anomalies (`labels`) and the known promotion days (`promotions`).

The model, in the order it is built:

* **Demand.** Expected orders per day = growth trend (about +35 % a year) x weekday profile
  (Friday-Sunday uplift) x promotions (11.11: Nov 9-10 build-up x1.5/x2, peak Nov 11 x4.5;
  618: Jun 16-17 build-up, peak Jun 18 x3.2; a smaller 12.12) x a pre-11.11 lull and post-promotion dips x day-level noise; scaled so the
  expected total is `spec.orders`. Channel shares drift (live_stream and social grow, search
  shrinks); realised counts per day and channel are Poisson.
* **Customers.** Each order is a returning customer's with a probability per channel (email and
  direct mostly serve existing customers) that ramps up over the first weeks, since the history
  starts with no customers. A new customer's first order fixes its acquisition channel and its
  region. A returning order's customer is drawn from everyone acquired on earlier days with weight
  loyalty (lognormal, long tail) x recency decay (fast early repurchase, slow churn) x channel
  affinity (a customer comes back mostly through the channel that acquired it, or direct/email).
  Result: most customers buy once, a long tail buys many times, spread over time.
* **Orders.** Category mix per channel, amount lognormal per category x channel AOV factor
  (slight discount on promotion days), hour of day quiet at night with peaks around 10:00 and
  20:00-22:00 (a midnight rush on 11.11/618 peak days, evenings for live_stream). Status:
  ~4 % cancelled, ~5 % refunded (category dependent; full or partial refunds), the rest
  placed/paid/shipped/completed by the order's age. order_id increases with ordered_at.
* **Spend and its response.** Each paid channel has a reference daily spend (what its
  reference demand costs at its CPC, growing with the trend, not with weekdays or promotions);
  the team varies it week by week (a weekly budget level, lognormal sd 0.2, reached gradually,
  plus daily noise), as teams that test their channels do. A channel's expected orders respond to the spend:
  reference orders x ((1 - p) + p * log(1 + k*x) / log(1 + k)), x = spend / reference spend, p
  the share of the channel's orders its spend brings at the reference (`_PAID_SHARE`), k how fast
  it saturates (`_SATURATION`). `expected_gmv` gives the resulting GMV for any daily spend, so a
  budget allocation can be scored against the truth (direct and unpaid orders do not respond).
* **Traffic.** Sessions = the day's expected (not realised) orders / channel
  conversion (higher on promotion days), so sessions stay normal when only conversion moves;
  product views and add-to-cart follow channel rates and are clamped so that, per day and
  channel, sessions > product_views > add_to_cart > non-cancelled orders.
* **Anomalies** (if `spec.anomalies`): five, placed by the seed in the last ~120 days (not the
  last two), clear of promotions (+-3 days) and of each other (see `_place_anomalies`):

  1. drop: one channel, one day, orders and sessions x0.4
     -> orders and sessions, channel=X, magnitude -0.6;
  2. spike: one category, one day, x3 its orders -> gmv, category=C, +2.0;
  3. collapse: one day, orders x0.5 in every channel, sessions unchanged
     -> conversion and orders, dimension None (the total), -0.5;
  4. spike: one region, one day, half its orders refunded in full (a courier incident)
     -> refund_rate, region=R, the expected change (about +12: ~3.8 % -> 50 %);
  5. level_shift: another channel, three days, sessions and orders x0.5
     -> sessions, channel=Y, -0.5, one row per day.

  `magnitude` is the injected relative change of the expectation. Metrics that only follow
  (gmv of the dropped channel, aov, roas, ...) are not listed.

* **Products, stock and fulfilment** (`spec.skus` SKUs; 0: none): order lines, the catalogue,
  daily stock per warehouse, shipments and returns made from these orders without changing them,
  with planted stock-outs, a low cover, a carrier delay and a returns spike in `product_labels`
  (if `spec.anomalies`): see `metrics.data.sample_products`.

Everything is drawn from `numpy.random.default_rng` streams spawned from `spec.seed`, so the
same spec gives identical frames; anomaly placement uses its own stream and depends only on
`seed`, `days` and `end` (not on `orders`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import pandas as pd

from metrics.data import sample_products

CHANNELS: tuple[str, ...] = ("search", "social", "email", "affiliate", "direct", "live_stream")
CATEGORIES: tuple[str, ...] = (
    "apparel", "shoes", "bags_accessories", "beauty", "personal_care", "phones", "computers",
    "electronics", "home_appliances", "home_kitchen", "furniture", "baby_kids", "sports_outdoors",
    "food_beverage", "pet_supplies",
)
REGIONS: tuple[str, ...] = ("north", "south", "east", "west", "central", "northeast", "northwest", "southwest")
STATUSES: tuple[str, ...] = ("placed", "paid", "shipped", "completed", "cancelled", "refunded")

_NC = len(CHANNELS)
_CH = {name: i for i, name in enumerate(CHANNELS)}

# --- channels --------------------------------------------------------------------------------------
# order share at the start and at the end of the history (normalised per day)
_SHARE_START = np.array([0.34, 0.16, 0.10, 0.09, 0.23, 0.08])
_SHARE_END = np.array([0.27, 0.20, 0.09, 0.08, 0.21, 0.15])
_CONVERSION = np.array([0.025, 0.012, 0.045, 0.020, 0.035, 0.030])  # orders / sessions
_VIEW_RATE = np.array([0.62, 0.45, 0.70, 0.60, 0.66, 0.80])  # product_views / sessions
_CART_RATE = np.array([0.12, 0.08, 0.16, 0.10, 0.15, 0.12])  # add_to_cart / product_views
_CPC = np.array([1.80, 0.95, 0.25, 1.20, 0.0, 0.85])  # spend per session at the reference spend
# share of a channel's orders its spend brings at the reference spend, and how fast that part saturates
_PAID_SHARE = np.array([0.65, 0.75, 0.30, 0.85, 0.0, 0.75])
_SATURATION = np.array([2.0, 3.0, 1.0, 1.5, 1.0, 3.0])
_BUDGET_WEEKLY_SD = 0.2  # week-to-week variation of a channel's budget (lognormal)
_BUDGET_DAILY_SD = 0.03  # day-to-day noise around the week's level
_AOV_FACTOR = np.array([1.00, 0.88, 1.05, 1.10, 1.15, 0.82])
_CANCEL = np.array([0.036, 0.042, 0.030, 0.045, 0.032, 0.060])
_RETURNING = np.array([0.28, 0.22, 0.85, 0.18, 0.62, 0.33])  # share of returning-customer orders, once ramped up
# affinity[order channel, acquisition channel]: whom a channel brings back
_AFFINITY = np.ones((_NC, _NC)) + 7.0 * np.eye(_NC)
_AFFINITY[_CH["direct"]] = 1.0
_AFFINITY[_CH["email"]] = 1.0

# --- categories: (median price, price sigma, refund probability) -----------------------------------
_CAT = np.array([
    (159, 0.55, 0.090),   # apparel
    (329, 0.45, 0.085),   # shoes
    (219, 0.60, 0.060),   # bags_accessories
    (189, 0.55, 0.040),   # beauty
    (79, 0.50, 0.030),    # personal_care
    (2399, 0.45, 0.035),  # phones
    (4299, 0.40, 0.035),  # computers
    (399, 0.75, 0.050),   # electronics
    (899, 0.60, 0.045),   # home_appliances
    (99, 0.65, 0.035),    # home_kitchen
    (1199, 0.60, 0.055),  # furniture
    (149, 0.60, 0.040),   # baby_kids
    (249, 0.65, 0.050),   # sports_outdoors
    (69, 0.50, 0.020),    # food_beverage
    (109, 0.55, 0.025),   # pet_supplies
])
_CAT_MIX_BASE = np.array([14, 8, 5, 11, 8, 3, 1.5, 6, 3, 9, 2, 7, 6, 10, 5.5])
_CAT_MIX_TILT = {  # multiplicative tilts per channel
    "search": {"phones": 1.6, "computers": 1.8, "electronics": 1.5, "home_appliances": 1.4},
    "social": {"apparel": 1.4, "beauty": 1.5, "bags_accessories": 1.3},
    "email": {"food_beverage": 1.4, "pet_supplies": 1.5, "personal_care": 1.4},
    "affiliate": {"electronics": 1.6, "phones": 1.4, "computers": 1.5, "furniture": 1.4},
    "direct": {"food_beverage": 1.3, "baby_kids": 1.3, "home_kitchen": 1.2},
    "live_stream": {"beauty": 2.2, "apparel": 1.6, "food_beverage": 1.5, "computers": 0.3, "phones": 0.5},
}
_PARTIAL_REFUNDS = 0.35  # share of refunds that are partial (10-90 % of the amount)
_REFUND_WAVE = 0.5  # refund probability of every order of the region on the refund-spike day (full refunds)
_REGION_SHARE = np.array([0.14, 0.18, 0.22, 0.09, 0.12, 0.07, 0.07, 0.11])

# --- calendar --------------------------------------------------------------------------------------
_WEEKDAY = np.array([0.94, 0.95, 0.96, 0.98, 1.04, 1.15, 1.12])  # Monday..Sunday
_GROWTH_PER_YEAR = 0.35
# (name, [(month, day, order multiplier, conversion multiplier)]) - the last day of each is the peak
_PROMOTIONS = (
    ("618", [(6, 16, 1.5, 1.15), (6, 17, 1.9, 1.25), (6, 18, 3.2, 1.45)]),
    ("11.11", [(11, 9, 1.5, 1.15), (11, 10, 2.0, 1.25), (11, 11, 4.5, 1.55)]),
    ("12.12", [(12, 12, 1.8, 1.25)]),
)
# quieter days around promotions (not promotions themselves): shoppers wait, then have bought
_LULLS = (
    [(11, d, 0.92) for d in range(1, 9)]
    + [(11, 12, 0.82), (11, 13, 0.92), (6, 19, 0.85), (6, 20, 0.94), (12, 13, 0.90)]
)

_HOURS = np.array([1.6, 0.9, 0.5, 0.3, 0.25, 0.3, 0.6, 1.4, 2.8, 4.2, 5.4, 5.0,
                   4.1, 3.9, 4.2, 4.4, 4.2, 4.0, 4.3, 5.3, 6.6, 7.0, 6.3, 3.8])
_HOURS_LIVE = _HOURS * np.array([1.2] * 2 + [1.0] * 6 + [0.6] * 10 + [1.1, 1.5, 2.2, 2.4, 2.2, 1.6])
_HOURS_PEAK = _HOURS * np.array([6.0, 3.0, 1.5] + [1.0] * 16 + [1.2, 1.3, 1.4, 1.4, 1.3])

# --- anomalies -------------------------------------------------------------------------------------
_ANOMALY_WINDOW = 120  # anomalies fall in the last this many days...
_ANOMALY_TAIL = 2      # ...but not in the last this many, so each has days after it
_ANOMALY_GAP = 3       # days kept clear between anomalies (and around promotions)
_DROP_CHANNELS = ("search", "social", "direct", "live_stream")
_SPIKE_CATEGORIES = ("apparel", "beauty", "food_beverage", "home_kitchen", "personal_care", "shoes", "baby_kids")
_REFUND_REGIONS = ("north", "south", "east", "central", "southwest")


@dataclass(frozen=True)
class ShopSpec:
    end: date  # the day AFTER the last generated day (half-open); normally today, so the data ends yesterday
    days: int = 400
    orders: int = 120_000  # approximate total orders (all statuses) over all days
    seed: int = 7
    anomalies: bool = True
    # budgets moving week to week (False: every channel spends its reference, a shop whose demand
    # has no driver but the calendar, for tests of a baseline)
    spend_variation: bool = True
    # SKUs in the catalogue: order lines, products, stock, shipments and returns (metrics.data.sample_products);
    # 0 leaves those tables empty
    skus: int = 400


def _frame(name: str) -> pd.DataFrame:
    return field(default_factory=lambda: sample_products.empty(name))  # type: ignore[return-value]


@dataclass
class Shop:
    orders: pd.DataFrame  # order_id, customer_id, ordered_at (naive local), amount, status, refunded_amount, channel, category, region
    traffic: pd.DataFrame  # day (datetime64[ns] midnight), channel, sessions, product_views, add_to_cart
    marketing_spend: pd.DataFrame  # day (datetime64[ns] midnight), channel, spend
    labels: pd.DataFrame  # day (date), metric, dimension (None = total), value, kind, magnitude
    promotions: pd.DataFrame  # day (date), name
    # products, stock and fulfilment (sample_products.COLUMNS; empty for a shop built by hand)
    order_lines: pd.DataFrame = _frame("order_lines")
    products: pd.DataFrame = _frame("products")
    inventory: pd.DataFrame = _frame("inventory")  # day (datetime64[ns] midnight), end of day
    shipments: pd.DataFrame = _frame("shipments")
    returns: pd.DataFrame = _frame("returns")
    product_labels: pd.DataFrame = _frame("product_labels")  # the planted stock and fulfilment events


@dataclass(frozen=True)
class _Anomaly:
    kind: str  # drop | spike | collapse | level_shift
    start: int  # day index
    length: int
    target: str  # the channel, category or region ("" for the total)


def generate(spec: ShopSpec) -> Shop:
    """The shop of `spec`; the same spec always gives identical frames."""
    if spec.days < 1:
        raise ValueError("ShopSpec.days must be at least 1")
    if spec.orders < 0:
        raise ValueError("ShopSpec.orders must not be negative")
    if spec.skus < 0:
        raise ValueError("ShopSpec.skus must not be negative")
    seeds = np.random.SeedSequence(spec.seed).spawn(7)
    rng_demand, rng_customers, rng_orders, rng_traffic, rng_status, rng_anomalies, rng_spend = (
        np.random.default_rng(s) for s in seeds
    )
    n_days = spec.days
    start = spec.end - timedelta(days=n_days)
    dates = [start + timedelta(days=i) for i in range(n_days)]
    promotions, order_mult, conv_mult, peak = _calendar(dates)
    anomalies = _place_anomalies(rng_anomalies, n_days, promotions, dates) if spec.anomalies else []

    # ---- demand: expected orders per day and channel, at the reference spend ----
    t = np.arange(n_days)
    noise = np.exp(rng_demand.normal(0.0, 0.05, n_days))
    reference = _reference_orders(dates, t, n_days, order_mult) * noise[:, None]
    scale = spec.orders / reference.sum() if reference.sum() > 0 else 0.0
    reference *= scale
    # ---- spend, and the demand it brings ----
    ref_spend = _reference_spend(t, n_days, scale)
    levels = _budget_levels(rng_spend, n_days) if spec.spend_variation else np.ones((n_days, _NC))
    spend = np.round(ref_spend * levels, 2)
    expected = reference * _response(spend, ref_spend)

    order_factor = np.ones((n_days, _NC))
    session_factor = np.ones((n_days, _NC))
    category_spike: tuple[int, int, float] | None = None  # (day, category, multiplier)
    refund_spike: tuple[int, int] | None = None  # (day, region)
    for a in anomalies:
        days_of = slice(a.start, a.start + a.length)
        if a.kind == "drop":
            order_factor[days_of, _CH[a.target]] *= 0.4
            session_factor[days_of, _CH[a.target]] *= 0.4
        elif a.kind == "level_shift":
            order_factor[days_of, _CH[a.target]] *= 0.5
            session_factor[days_of, _CH[a.target]] *= 0.5
        elif a.kind == "collapse":
            order_factor[days_of, :] *= 0.5
        elif a.kind == "spike" and a.target in CATEGORIES:
            category_spike = (a.start, CATEGORIES.index(a.target), 3.0)
        elif a.kind == "spike":
            refund_spike = (a.start, REGIONS.index(a.target))

    counts = rng_demand.poisson(expected * order_factor)  # (days, channels)
    cat_mix = _category_mix()
    day_idx = np.repeat(np.repeat(t, _NC), counts.ravel())
    ch_idx = np.repeat(np.tile(np.arange(_NC), n_days), counts.ravel())
    cat_idx = np.full(len(day_idx), -1, dtype=np.int64)
    if category_spike is not None:
        d, c, mult = category_spike
        extra = rng_demand.poisson(expected[d] * order_factor[d] * cat_mix[:, c] * (mult - 1.0))
        # the extra orders join their day and channel, keeping rows grouped by (day, channel)
        pos = np.searchsorted(day_idx * _NC + ch_idx, d * _NC + np.arange(_NC) + 1)
        insert_at = np.repeat(pos, extra)
        day_idx = np.insert(day_idx, insert_at, d)
        ch_idx = np.insert(ch_idx, insert_at, np.repeat(np.arange(_NC), extra))
        cat_idx = np.insert(cat_idx, insert_at, c)
    n = len(day_idx)

    # ---- customers ----
    ramp = 1.0 - np.exp(-t / 40.0)
    p_returning = _RETURNING[None, :] * ramp[:, None]
    is_new = rng_customers.random(n) >= p_returning[day_idx, ch_idx]
    if n:
        is_new[day_idx == day_idx[0]] = True  # the first day with orders has nobody to come back
    customer = _assign_customers(rng_customers, day_idx, ch_idx, is_new, n_days)
    n_customers = int(is_new.sum())
    customer_region = _choice(rng_customers, _REGION_SHARE, n_customers)
    region_idx = customer_region[customer]

    # ---- order attributes ----
    free = cat_idx < 0
    for ch in range(_NC):
        rows = np.flatnonzero(free & (ch_idx == ch))
        cat_idx[rows] = _choice(rng_orders, cat_mix[ch], len(rows))
    median, sigma, refund_p = _CAT[cat_idx, 0], _CAT[cat_idx, 1], _CAT[cat_idx, 2]
    promo_discount = np.where(order_mult[day_idx] > 1.0, 0.92, 1.0)
    amount = median * _AOV_FACTOR[ch_idx] * promo_discount * np.exp(sigma * rng_orders.standard_normal(n))
    amount = np.maximum(np.round(amount, 2), 1.0)

    profile = np.where(peak[day_idx], 2, np.where(ch_idx == _CH["live_stream"], 1, 0))
    hour = np.empty(n, dtype=np.int64)
    for p, weights in enumerate((_HOURS, _HOURS_LIVE, _HOURS_PEAK)):
        rows = np.flatnonzero(profile == p)
        hour[rows] = _choice(rng_orders, weights, len(rows))
    seconds = hour * 3600 + rng_orders.integers(0, 3600, n)
    when = day_idx.astype(np.int64) * 86_400 + seconds
    order = np.argsort(when, kind="stable")

    # ---- status and refunds ----
    cancel_p = _CANCEL[ch_idx] + np.where(order_mult[day_idx] > 1.0, 0.01, 0.0)
    partial = rng_status.random(n) < _PARTIAL_REFUNDS
    if refund_spike is not None:
        # a regional incident (say, a courier losing a day's parcels): a flat share refunded in full
        wave = (day_idx == refund_spike[0]) & (region_idx == refund_spike[1])
        refund_p = np.where(wave, _REFUND_WAVE, refund_p)
        partial &= ~wave
    u = rng_status.random(n)
    cancelled = u < cancel_p
    refunded = ~cancelled & (u < cancel_p + (1 - cancel_p) * refund_p)
    status = _progress(rng_status, n_days - 1 - day_idx)
    status[cancelled] = STATUSES.index("cancelled")
    status[refunded] = STATUSES.index("refunded")
    part = np.round(amount * rng_status.uniform(0.1, 0.9, n), 2)
    refunded_amount = np.where(refunded, np.where(partial, np.clip(part, 0.01, amount), amount), 0.0)

    start64 = np.datetime64(start, "ns")
    orders = pd.DataFrame({
        "order_id": np.arange(1, n + 1, dtype=np.int64) + 100_000_000,
        "customer_id": customer[order] + 1_000_001,
        "ordered_at": start64 + when[order].astype("timedelta64[s]"),
        "amount": amount[order],
        "status": np.asarray(STATUSES, dtype=object)[status[order]],
        "refunded_amount": refunded_amount[order],
        "channel": np.asarray(CHANNELS, dtype=object)[ch_idx[order]],
        "category": np.asarray(CATEGORIES, dtype=object)[cat_idx[order]],
        "region": np.asarray(REGIONS, dtype=object)[region_idx[order]],
    })

    # ---- traffic and spend ----
    counted = np.zeros((n_days, _NC), dtype=np.int64)
    np.add.at(counted, (day_idx[~cancelled], ch_idx[~cancelled]), 1)

    def jitter(sd: float) -> np.ndarray:
        return np.exp(rng_traffic.normal(0.0, sd, (n_days, _NC)))

    sessions = expected / (_CONVERSION[None, :] * conv_mult[:, None]) * session_factor * jitter(0.04)
    views = sessions * _VIEW_RATE * jitter(0.03)
    carts = views * _CART_RATE * jitter(0.05)
    carts = np.maximum(np.round(carts).astype(np.int64), counted + 1)
    views = np.maximum(np.round(views).astype(np.int64), carts + 1)
    sessions = np.maximum(np.round(sessions).astype(np.int64), views + 1)

    day64 = np.repeat(start64 + t.astype("timedelta64[D]"), _NC)
    channel_col = np.tile(np.asarray(CHANNELS, dtype=object), n_days)
    traffic = pd.DataFrame({
        "day": day64, "channel": channel_col,
        "sessions": sessions.ravel(), "product_views": views.ravel(), "add_to_cart": carts.ravel(),
    })
    marketing_spend = pd.DataFrame({"day": day64, "channel": channel_col.copy(), "spend": spend.ravel()})

    facts = sample_products.OrderFacts(
        order_id=orders["order_id"].to_numpy(), seconds=when[order], category=cat_idx[order],
        region=region_idx[order], status=status[order], amount=amount[order],
        refunded_amount=refunded_amount[order], categories=CATEGORIES, regions=REGIONS, statuses=STATUSES,
        category_median=_CAT[:, 0], category_sigma=_CAT[:, 1], category_share=_CAT_MIX_BASE,
        start=start, days=n_days, promotion_days=tuple(dates.index(d) for d in promotions["day"]),
    )
    return Shop(
        orders=orders, traffic=traffic, marketing_spend=marketing_spend,
        labels=_labels(anomalies, dates), promotions=promotions,
        **sample_products.generate_products(facts, spec.skus, spec.seed, spec.anomalies),
    )


def _reference_orders(dates: list[date], t: np.ndarray, n_days: int, order_mult: np.ndarray) -> np.ndarray:
    """Unscaled expected orders per (day, channel) at the reference spend, before day-level noise.

    `t` counts days from the history's first day and may run past `n_days` (the future): channel
    shares then stay where the history ends."""
    weekday = np.array([d.weekday() for d in dates])
    trend = (1 + _GROWTH_PER_YEAR) ** (t / 365.0)
    level = trend * _WEEKDAY[weekday] * order_mult
    share = _shares(t, n_days)
    # live streams carry promotions more than other channels
    share[:, _CH["live_stream"]] *= np.where(order_mult > 1.0, 1.0 + 0.25 * (order_mult - 1.0) / 3.5, 1.0)
    share = share / share.sum(axis=1, keepdims=True)
    return level[:, None] * share


def _shares(t: np.ndarray, n_days: int) -> np.ndarray:
    frac = np.minimum(t / max(n_days - 1, 1), 1.0)[:, None]
    share = _SHARE_START * (1 - frac) + _SHARE_END * frac
    return share / share.sum(axis=1, keepdims=True)


def _budget_levels(rng: np.random.Generator, n_days: int) -> np.ndarray:
    """Each channel's budget relative to its reference spend, per day: a level drawn every week
    (lognormal) and moved to gradually over the week, as teams re-plan budgets, plus daily noise.
    Gradual, so that a budget change is not a step an anomaly detector would alert on."""
    knots = np.exp(rng.normal(0.0, _BUDGET_WEEKLY_SD, (n_days // 7 + 2, _NC)))
    at = np.arange(n_days) / 7.0
    levels = np.column_stack([np.interp(at, np.arange(len(knots)), knots[:, c]) for c in range(_NC)])
    return levels * np.exp(rng.normal(0.0, _BUDGET_DAILY_SD, (n_days, _NC)))


def _reference_spend(t: np.ndarray, n_days: int, scale: float) -> np.ndarray:
    """The daily spend that buys the reference demand: an average day's orders (trend and channel
    share, no weekday or promotion) / conversion x CPC. Direct: 0."""
    trend = (1 + _GROWTH_PER_YEAR) ** (t / 365.0)
    orders = scale * _WEEKDAY.mean() * trend[:, None] * _shares(t, n_days)
    return orders / _CONVERSION[None, :] * _CPC[None, :]


def _response(spend: np.ndarray, ref_spend: np.ndarray) -> np.ndarray:
    """Multiplier of a channel's reference orders at `spend` (1 at the reference spend)."""
    x = np.divide(spend, ref_spend, out=np.ones_like(ref_spend, dtype=np.float64), where=ref_spend > 0)
    p, k = _PAID_SHARE[None, :], _SATURATION[None, :]
    return (1 - p) + p * np.log1p(k * x) / np.log1p(k)


def expected_gmv(spec: ShopSpec, start: date, days: int, daily_spend: dict[str, float]) -> dict[str, float]:
    """The generator's expected GMV per paid channel over `[start, start + days)` (which may lie past
    the history) when each channel in `daily_spend` spends that much every day: the truth a budget
    allocation is scored against. Expected values, no noise, no anomalies; GMV as DESIGN.md defines
    it (orders not cancelled, refunds included)."""
    history_start = spec.end - timedelta(days=spec.days)
    history = [history_start + timedelta(days=i) for i in range(spec.days)]
    # the scale `generate` used: its day-level noise is the first draw of its demand stream
    rng_demand = np.random.default_rng(np.random.SeedSequence(spec.seed).spawn(7)[0])
    noise = np.exp(rng_demand.normal(0.0, 0.05, spec.days))
    hist = _reference_orders(history, np.arange(spec.days), spec.days, _calendar(history)[1]) * noise[:, None]
    scale = spec.orders / hist.sum()
    noise_mean = np.exp(0.05**2 / 2)  # days to come: their noise is unknown, its mean is not
    dates = [start + timedelta(days=i) for i in range(days)]
    t = np.array([(d - history_start).days for d in dates], dtype=np.float64)
    _, order_mult, _, _ = _calendar(dates)
    reference = _reference_orders(dates, t, spec.days, order_mult) * noise_mean * scale
    ref_spend = _reference_spend(t, spec.days, scale)
    spend = np.array([[daily_spend.get(ch, 0.0) for ch in CHANNELS]] * days, dtype=np.float64)
    orders = reference * _response(spend, ref_spend)
    # value of an order: mean amount of the channel's category mix (lognormal means), the promotion
    # discount, and the share not cancelled
    mix = _category_mix()
    mean_amount = (mix * (_CAT[:, 0] * np.exp(_CAT[:, 1] ** 2 / 2))[None, :]).sum(axis=1) * _AOV_FACTOR
    promo = order_mult > 1.0
    kept = 1 - (_CANCEL[None, :] + np.where(promo, 0.01, 0.0)[:, None])
    value = mean_amount[None, :] * np.where(promo, 0.92, 1.0)[:, None] * kept
    gmv = (orders * value).sum(axis=0)
    return {ch: float(gmv[i]) for i, ch in enumerate(CHANNELS) if ch in daily_spend}


def _choice(rng: np.random.Generator, weights: np.ndarray, size: int) -> np.ndarray:
    """`size` indices drawn with probability proportional to `weights`."""
    cum = np.cumsum(weights, dtype=np.float64)
    idx = np.searchsorted(cum, rng.random(size) * cum[-1], side="right")
    return np.minimum(idx, len(weights) - 1)


def _category_mix() -> np.ndarray:
    mix = np.tile(_CAT_MIX_BASE, (_NC, 1)).astype(np.float64)
    for ch, tilts in _CAT_MIX_TILT.items():
        for cat, mult in tilts.items():
            mix[_CH[ch], CATEGORIES.index(cat)] *= mult
    return mix / mix.sum(axis=1, keepdims=True)


def _calendar(dates: list[date]) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray]:
    """Promotion rows, per-day order and conversion multipliers, and peak-day flags."""
    index = {d: i for i, d in enumerate(dates)}
    order_mult = np.ones(len(dates))
    conv_mult = np.ones(len(dates))
    peak = np.zeros(len(dates), dtype=bool)
    rows: list[tuple[date, str]] = []
    years = range(dates[0].year, dates[-1].year + 1)
    for year in years:
        for month, day, mult in _LULLS:
            i = index.get(date(year, month, day))
            if i is not None:
                order_mult[i] *= mult
        for name, promo_days in _PROMOTIONS:
            for k, (month, day, mult, conv) in enumerate(promo_days):
                d = date(year, month, day)
                i = index.get(d)
                if i is None:
                    continue
                order_mult[i] = mult
                conv_mult[i] = conv
                peak[i] = k == len(promo_days) - 1 and name != "12.12"
                rows.append((d, name))
    rows.sort()
    promotions = pd.DataFrame({
        "day": pd.Series([d for d, _ in rows], dtype=object),
        "name": pd.Series([name for _, name in rows], dtype=object),
    })
    return promotions, order_mult, conv_mult, peak


def _place_anomalies(
    rng: np.random.Generator, n_days: int, promotions: pd.DataFrame, dates: list[date]
) -> list[_Anomaly]:
    """Five anomalies at seed-chosen days of the last ~120 days, clear of promotions and each other.

    An anomaly that does not fit (a very short history) is left out.
    """
    lo = max(n_days - _ANOMALY_WINDOW, 7)
    hi = n_days - 1 - _ANOMALY_TAIL  # last day an anomaly may cover
    blocked = np.zeros(n_days + 2 * _ANOMALY_GAP + 4, dtype=bool)  # indexed by day + _ANOMALY_GAP
    index = {d: i for i, d in enumerate(dates)}
    for d in promotions["day"]:
        i = index[d]
        blocked[i : i + 2 * _ANOMALY_GAP + 1] = True  # i - gap .. i + gap
    drop_channel, shift_channel = rng.choice(len(_DROP_CHANNELS), size=2, replace=False)
    wanted = [
        _Anomaly("drop", 0, 1, _DROP_CHANNELS[drop_channel]),
        _Anomaly("spike", 0, 1, _SPIKE_CATEGORIES[rng.integers(len(_SPIKE_CATEGORIES))]),
        _Anomaly("collapse", 0, 1, ""),
        _Anomaly("spike", 0, 1, _REFUND_REGIONS[rng.integers(len(_REFUND_REGIONS))]),
        _Anomaly("level_shift", 0, 3, _DROP_CHANNELS[shift_channel]),
    ]
    placed: list[_Anomaly] = []
    for k in rng.permutation(len(wanted)):
        a = wanted[k]
        starts = [
            s for s in range(lo, hi - a.length + 2)
            if not blocked[s + _ANOMALY_GAP : s + _ANOMALY_GAP + a.length].any()
        ]
        if not starts:
            continue
        s = int(starts[rng.integers(len(starts))])
        placed.append(_Anomaly(a.kind, s, a.length, a.target))
        blocked[s : s + a.length + 2 * _ANOMALY_GAP] = True
    return sorted(placed, key=lambda a: a.start)


def _labels(anomalies: list[_Anomaly], dates: list[date]) -> pd.DataFrame:
    rows: list[tuple[date, str, str | None, str | None, str, float]] = []
    for a in anomalies:
        for i in range(a.start, a.start + a.length):
            d = dates[i]
            if a.kind == "drop":
                rows += [(d, "orders", "channel", a.target, a.kind, -0.6), (d, "sessions", "channel", a.target, a.kind, -0.6)]
            elif a.kind == "level_shift":
                rows.append((d, "sessions", "channel", a.target, a.kind, -0.5))
            elif a.kind == "collapse":
                rows += [(d, "conversion", None, None, a.kind, -0.5), (d, "orders", None, None, a.kind, -0.5)]
            elif a.target in CATEGORIES:
                rows.append((d, "gmv", "category", a.target, a.kind, 2.0))
            else:
                rows.append((d, "refund_rate", "region", a.target, a.kind, _refund_wave_magnitude()))
    columns = ("day", "metric", "dimension", "value", "kind", "magnitude")
    data = {c: pd.Series([r[i] for r in rows], dtype=object) for i, c in enumerate(columns)}
    data["magnitude"] = pd.Series([r[5] for r in rows], dtype=np.float64)
    return pd.DataFrame(data)


def _refund_wave_magnitude() -> float:
    """Expected relative change of a region's refund_rate on the refund-spike day, to 0.1."""
    mix = (_category_mix() * ((_SHARE_START + _SHARE_END) / 2)[:, None]).sum(axis=0)
    mean_amount = _CAT[:, 0] * np.exp(_CAT[:, 1] ** 2 / 2)
    refunded_share = 1 - _PARTIAL_REFUNDS / 2  # partial refunds average half the amount
    normal = (mix * mean_amount * _CAT[:, 2]).sum() * refunded_share / (mix * mean_amount).sum()
    return round(float(_REFUND_WAVE / normal - 1), 1)


def _assign_customers(
    rng: np.random.Generator, day_idx: np.ndarray, ch_idx: np.ndarray, is_new: np.ndarray, n_days: int
) -> np.ndarray:
    """Customer index (0-based, in acquisition order) of every order; rows are grouped by (day, channel).

    A returning order on day d picks a customer acquired before d with probability proportional to
    loyalty x recency(d - acquisition day) x affinity(order channel, acquisition channel). Customers
    of one (day, channel) cohort are contiguous, so the draw is: acquisition channel, then
    acquisition day, then the customer inside that cohort by loyalty (cumulative-sum search).
    """
    n = len(day_idx)
    customer = np.full(n, -1, dtype=np.int64)
    new_rows = np.flatnonzero(is_new)
    n_customers = len(new_rows)
    customer[new_rows] = np.arange(n_customers)
    if n_customers == 0:
        return customer
    loyalty = np.exp(rng.normal(0.0, 1.1, n_customers))
    cum_loyalty = np.concatenate([[0.0], np.cumsum(loyalty)])
    cohort = day_idx[new_rows] * _NC + ch_idx[new_rows]
    cohort_start = np.searchsorted(cohort, np.arange(n_days * _NC + 1))  # customers of cohort k: [start[k], start[k+1])
    cohort_weight = (cum_loyalty[cohort_start[1:]] - cum_loyalty[cohort_start[:-1]]).reshape(n_days, _NC)
    age = np.arange(n_days + 1, dtype=np.float64)
    recency = 0.35 * np.exp(-age / 21.0) + 0.65 * np.exp(-age / 240.0)

    day_start = np.searchsorted(day_idx, np.arange(n_days + 1))
    for d in range(1, n_days):
        lo, hi = day_start[d], day_start[d + 1]
        rows = lo + np.flatnonzero(~is_new[lo:hi])
        if len(rows) == 0:
            continue
        # weight of each earlier cohort today: (acquisition channel, acquisition day)
        w = cohort_weight[:d].T * recency[d - np.arange(d)][None, :]  # (channels, days before d)
        per_channel = w.sum(axis=1)  # > 0 in total: every order of the first day is a new customer's
        # acquisition channel given the order channel
        pick = _AFFINITY * per_channel[None, :]
        cum = np.cumsum(pick, axis=1)
        cum /= cum[:, -1:]
        order_ch = ch_idx[rows]
        acq_ch = (rng.random(len(rows))[:, None] >= cum[order_ch]).sum(axis=1)
        acq_ch = np.minimum(acq_ch, _NC - 1)
        acq_day = np.empty(len(rows), dtype=np.int64)
        for c in np.unique(acq_ch):
            sel = np.flatnonzero(acq_ch == c)
            acq_day[sel] = _choice(rng, w[c], len(sel))
        k = acq_day * _NC + acq_ch
        a, b = cum_loyalty[cohort_start[k]], cum_loyalty[cohort_start[k + 1]]
        idx = np.searchsorted(cum_loyalty, a + rng.random(len(rows)) * (b - a), side="right") - 1
        customer[rows] = np.clip(idx, cohort_start[k], cohort_start[k + 1] - 1)
    return customer


def _progress(rng: np.random.Generator, age: np.ndarray) -> np.ndarray:
    """Status index (placed/paid/shipped/completed) of orders `age` days before the last day."""
    #           placed paid shipped completed
    table = np.array([
        [0.22, 0.58, 0.20, 0.00],  # placed on the last day
        [0.03, 0.17, 0.70, 0.10],
        [0.00, 0.03, 0.52, 0.45],
        [0.00, 0.01, 0.30, 0.69],
        [0.00, 0.00, 0.15, 0.85],
        [0.00, 0.00, 0.06, 0.94],
        [0.00, 0.00, 0.01, 0.99],
    ])
    cum = np.cumsum(table, axis=1)
    cum /= cum[:, -1:]
    rows = cum[np.minimum(age, len(table) - 1)]
    idx = (rng.random(len(age))[:, None] >= rows).sum(axis=1)
    return np.minimum(idx, 3).astype(np.int64)

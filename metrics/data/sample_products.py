"""Products, stock and fulfilment of the demo shop (issue 19): order lines, the catalogue, daily stock,
shipments and returns, generated from the orders `metrics.data.sample` made and consistent with them.

`generate_products` is called by `sample.generate` once the orders exist; it never changes an order.
The model, in the order it is built:

* **Catalogue.** `skus` SKUs spread over the categories by their order share (at least one each),
  with list prices spanning what the category's order lines need (stratified lognormal quantiles
  around 0.65 x the category's median order, the ends stretched to +-2.7 sd, rounded to ...9 /
  ...x.9 prices), a unit cost at a 20-70 % margin (category dependent), a lead time of 3-30 days
  and a Zipf popularity (1 / rank^1.1, mid-priced SKUs a little more likely to rank high).
  Every SKU is stocked at east_dc; each category's best sellers (by units) also at south_dc (55 %
  of them) and north_dc (35 %).
* **Order lines.** Every order (cancelled ones too) gets 1-4 lines (mostly 1; more in cheap
  categories; only as many as its amount buys of the category's cheapest SKU), each worth at
  least that SKU, the rest of the amount (in cents) split Dirichlet(2), and a quantity per line
  (mostly 1; more for consumables). A line's SKU is drawn by popularity among the category's SKUs
  listed between the unit price the line needs and 1.3x it (the cheaper of two draws), so
  line_amount <= unit_price x quantity and the difference is a discount of at most ~23 %, median
  ~10 %; more only in a gap of the price list (the nearest dearer SKU, or the next cheaper one in
  more units, whichever discounts less; the dearest SKU in more units above it). The cents'
  rounding remainder sits on the order's largest line, so the lines sum to the order's amount
  exactly. Two lines of one SKU in an order are merged. With a few SKUs a category the price list
  has wide gaps, and the discounts grow (with 4 SKUs a category, ~15 % of lines above 30 %).
* **Warehouse and shipment.** An order ships from its region's warehouse (north, northeast,
  northwest -> north_dc; south, southwest, west -> south_dc; east, central -> east_dc) if that
  warehouse stocks all its SKUs, else from east_dc. Orders whose status is shipped, completed or
  refunded have one shipment; placed and paid orders (the last ~3 days only) none; cancelled never.
  Shipping delay: 85 % lognormal around 6 h within a day, 15 % 1-3 days, inside the history.
  Carrier by the warehouse's mix; transit uniform per carrier (sf, jd 1-2 days, zto 2-4, yto 2-5);
  delivered_at is NULL while a parcel would still be in transit at the history's end (completed
  orders are delivered before it).
* **Stock.** One end-of-day row per day, SKU and warehouse stocking it. on_hand falls by the units
  shipped from the warehouse that day (by shipped_at, lines of shipped orders) and rises by arrivals;
  on_order is what was ordered and has not arrived. Replenishment is a reorder-point policy with
  a perfect forecast (the generator knows the demand): at the end of each day, if on_hand +
  on_order - the next lead-time days' demand < safety stock (3-7 days of the SKU's average sales
  there), order max(a batch of 10-25 days of sales, the shortfall), arriving after the lead time.
  So on_hand stays at or above the safety stock (>= 1) except where a stock-out is planted.
  Returned units are not put back into stock (written off / sent back to the vendor).
* **Returns.** For each order with refunded_amount > 0: its lines in random order, whole lines
  while they fit the refund, the line that crosses it for the rest (a partial amount, quantity
  pro rata, at least 1), so the returned amounts sum to refunded_amount exactly. One reason per
  order (category-dependent weights over `RETURN_REASONS`); returned_at = delivered_at (shipped_at
  while in transit) + a lognormal lag around 3 days, inside the history.
* **Planted events** (`anomalies`), in the last ~60 days, not in the last 3 (the carrier delay not
  in the last 12, so its parcels are delivered), clear of promotions (+-3 days) and of each other
  (2 days apart), labelled in `product_labels`:

  1. three stock-outs: a SKU of the top fifth by GMV (the ten best selling a unit every other day
     there first) at one of its warehouses (drawn by its units there) runs out on first_day (the
     last order before it was short, none placed since) and stays at on_hand 0 until last_day
     (3-7 days at 0); its demand there on the days after first_day is lost: those lines go to the
     cheapest other SKU of the category stocked there that fits the line's price. A restock
     arrives the day after last_day -> metric on_hand, magnitude = units of demand lost;
  2. one "about to run out": another such SKU, nothing ordered for it at its warehouse for its
     lead time and more, ends the history with on_hand > 0, on_order 0 and cover below its lead
     time -> metric cover_days, first_day = first day from which (on_hand + on_order) / the
     trailing 28 days' average daily units stays below the lead time (it may overlap the others'
     days: it is a state at the end, on another SKU), magnitude = the cover at the end;
  3. one carrier delay: parcels of one carrier (at every warehouse) shipped on 7 days take 3 more
     days -> metric delivery_days, magnitude 3.0;
  4. one returns spike: for 5 days (by returned_at) one of the rarer reasons (quality, wrong_item,
     damaged) of the category most returned from in those days is 6-8x its normal share (the
     category's other returns then are re-labelled, so refunds, and with them the orders, are
     untouched) -> metric return_reason_rate, magnitude = the multiplier of its expected share.
  A stock-out is left out when the history before it is too short to run the stock down (its
  lead time and a batch of days), an event when its days do not fit.

Random streams are spawned from `seed` apart from the orders' ones (the orders do not change);
event days use a stream of their own and depend only on `seed`, `days` and `end`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from statistics import NormalDist

import numpy as np
import pandas as pd

WAREHOUSES: tuple[str, ...] = ("east_dc", "south_dc", "north_dc")
CARRIERS: tuple[str, ...] = ("sf", "zto", "yto", "jd")
RETURN_REASONS: tuple[str, ...] = ("size", "quality", "changed_mind", "wrong_item", "damaged", "late_delivery")

COLUMNS: dict[str, tuple[str, ...]] = {
    "order_lines": ("order_id", "sku", "quantity", "line_amount", "unit_price", "cost"),
    # unit_price (the list price) is the demo's own: the logical products table has no price
    "products": ("sku", "name", "category", "cost", "lead_time_days", "unit_price"),
    "inventory": ("day", "sku", "warehouse", "on_hand", "on_order"),
    "shipments": ("order_id", "shipped_at", "delivered_at", "carrier", "warehouse"),
    "returns": ("order_id", "sku", "quantity", "amount", "reason", "returned_at"),
    "product_labels": ("kind", "sku", "category", "warehouse", "carrier", "reason", "first_day", "last_day",
                       "metric", "magnitude", "expect"),
}

_DAY = 86_400
_EAST, _SOUTH, _NORTH = 0, 1, 2
_REGION_WAREHOUSE = {"north": _NORTH, "northeast": _NORTH, "northwest": _NORTH, "south": _SOUTH,
                     "southwest": _SOUTH, "west": _SOUTH, "east": _EAST, "central": _EAST}
_STOCKED_SHARE = np.array([1.0, 0.55, 0.35])  # share of a category's SKUs (most popular first) per warehouse
_CARRIER_MIX = np.array([  # sf zto yto jd, per warehouse
    [0.22, 0.33, 0.27, 0.18],
    [0.35, 0.30, 0.22, 0.13],
    [0.15, 0.30, 0.20, 0.35],
])
_TRANSIT_DAYS = np.array([(1.0, 2.0), (2.0, 4.0), (2.0, 5.0), (1.0, 2.0)])  # per carrier, uniform
_WINDOW = 1.3  # a line's SKU lists at most this much above the unit price the line needs
_ZIPF = 1.1
_PRICE_LEVEL = 0.65  # median list price / the category's median order amount
_PRICE_SPREAD = (1.15, 0.2)  # list price sigma = a x the category's amount sigma + b
_CENTRAL = 0.5  # how much more likely mid-priced SKUs rank high in popularity

_HEAVY = {"phones", "computers", "home_appliances", "furniture"}
_CONSUMABLE = {"food_beverage", "personal_care", "pet_supplies", "baby_kids", "beauty"}
_LINES_P = {"heavy": [0.86, 0.11, 0.03, 0.0], "other": [0.58, 0.27, 0.11, 0.04]}
_MAX_LINES = 4
_QUANTITY_P = {"heavy": [0.96, 0.04, 0, 0, 0], "consumable": [0.62, 0.22, 0.09, 0.04, 0.03],
               "other": [0.82, 0.13, 0.03, 0.01, 0.01]}
_MARGIN = {"phones": (0.20, 0.30), "computers": (0.20, 0.32), "electronics": (0.25, 0.40),
           "home_appliances": (0.22, 0.38), "beauty": (0.50, 0.70), "apparel": (0.45, 0.65),
           "shoes": (0.40, 0.60), "bags_accessories": (0.45, 0.68)}
_LEAD = {"food_beverage": (3, 10), "personal_care": (5, 15), "beauty": (5, 20), "pet_supplies": (4, 14),
         "furniture": (15, 30), "computers": (10, 30), "phones": (10, 28), "home_appliances": (10, 30)}
#                 size  quality changed wrong damaged late
_REASON_W = {
    "fit": [0.46, 0.14, 0.20, 0.06, 0.06, 0.08],
    "tech": [0.02, 0.36, 0.26, 0.09, 0.14, 0.13],
    "fragile": [0.08, 0.26, 0.22, 0.10, 0.22, 0.12],
    "other": [0.10, 0.26, 0.30, 0.10, 0.11, 0.13],
}
_REASON_GROUP = {"apparel": "fit", "shoes": "fit", "phones": "tech", "computers": "tech", "electronics": "tech",
                 "home_appliances": "tech", "home_kitchen": "fragile", "furniture": "fragile"}
_PREFIX = {"apparel": "APP", "shoes": "SHO", "bags_accessories": "BAG", "beauty": "BTY", "personal_care": "PCR",
           "phones": "PHN", "computers": "CMP", "electronics": "ELC", "home_appliances": "HAP",
           "home_kitchen": "HKT", "furniture": "FUR", "baby_kids": "BBY", "sports_outdoors": "SPT",
           "food_beverage": "FNB", "pet_supplies": "PET"}
_STEMS = {
    "apparel": ["纯棉T恤", "连帽卫衣", "直筒牛仔裤", "轻薄羽绒服", "羊毛针织衫", "商务衬衫", "Polo衫", "Oversize Hoodie"],
    "shoes": ["跑步鞋", "帆布鞋", "切尔西靴", "小白鞋", "登山鞋", "Trail Runner", "Sneaker"],
    "bags_accessories": ["双肩包", "托特包", "真皮钱包", "太阳镜", "行李箱", "Canvas Tote", "棒球帽"],
    "beauty": ["精华液", "保湿面霜", "丝绒口红", "粉底液", "防晒霜", "Sheet Mask", "眼影盘"],
    "personal_care": ["洗发水", "洗发护发套装", "美白牙膏", "电动牙刷", "护手霜", "Shaver"],
    "phones": ["智能手机", "折叠屏手机", "5G手机", "Smartphone", "影像旗舰手机"],
    "computers": ["笔记本电脑", "轻薄本", "游戏本", "平板电脑", "Laptop", "台式主机"],
    "electronics": ["无线蓝牙耳机", "智能手表", "移动电源", "蓝牙音箱", "机械键盘", "Wireless Mouse"],
    "home_appliances": ["空气炸锅", "扫地机器人", "电饭锅", "空气净化器", "高速吹风机", "Dishwasher"],
    "home_kitchen": ["不粘锅", "保温杯", "收纳盒", "刀具套装", "玻璃饭盒", "Bedding Set"],
    "furniture": ["人体工学椅", "实木书桌", "布艺沙发", "乳胶床垫", "Bookshelf", "衣柜"],
    "baby_kids": ["纸尿裤", "婴儿推车", "儿童积木", "防胀气奶瓶", "儿童书包", "Car Seat"],
    "sports_outdoors": ["健身垫", "可调哑铃", "露营帐篷", "骑行头盔", "Jump Rope", "登山杖"],
    "food_beverage": ["每日坚果", "挂耳咖啡", "风干牛肉干", "乌龙茶", "燕麦片", "Sparkling Water"],
    "pet_supplies": ["全价猫粮", "成犬狗粮", "豆腐猫砂", "宠物玩具", "猫抓板", "Pet Treats"],
}
_MODIFIERS = ["Pro", "Plus", "Lite", "Max", "Mini", "Air", "经典款", "升级款", "2026新款", "旗舰款", "基础款", "联名款"]

# planted events
_EVENT_WINDOW = 60  # the last this many days...
_EVENT_TAIL = 3  # ...but not the last this many
_DELAY_TAIL = 12  # the carrier delay ends this many days before the end, so its parcels arrive
_EVENT_GAP = 2  # days between events
_PROMO_GAP = 3
_DELAY_DAYS = 3
_TOP = 10  # stock-outs and the low cover take SKUs among the top fifth by GMV, these many first


@dataclass(frozen=True)
class OrderFacts:
    """What the products are generated from: one entry per order, in order_id order."""

    order_id: np.ndarray
    seconds: np.ndarray  # ordered_at in seconds from the history's first midnight (int64)
    category: np.ndarray  # index into `categories`
    region: np.ndarray  # index into `regions`
    status: np.ndarray  # index into `statuses`
    amount: np.ndarray
    refunded_amount: np.ndarray
    categories: tuple[str, ...]
    regions: tuple[str, ...]
    statuses: tuple[str, ...]
    category_median: np.ndarray  # median order amount per category
    category_sigma: np.ndarray
    category_share: np.ndarray  # share of orders per category
    start: date
    days: int
    promotion_days: tuple[int, ...]  # day indices


def _take(values: np.ndarray | tuple[str, ...], idx: np.ndarray) -> pd.api.extensions.ExtensionArray:
    """Strings `values[idx]` as a string array (a take from the few distinct values: far quicker than
    converting one Python string per row)."""
    return pd.array(np.asarray(values, dtype=object), dtype="str").take(idx)


def empty(name: str) -> pd.DataFrame:
    """The frame `name` with its columns and no rows."""
    return pd.DataFrame({c: pd.Series(dtype=object) for c in COLUMNS[name]})


@dataclass
class _Catalogue:  # SKUs sorted by (category, price)
    category: np.ndarray
    price: np.ndarray  # list price, cents
    cost: np.ndarray  # unit cost, cents
    lead: np.ndarray
    pop: np.ndarray
    cum_pop: np.ndarray  # [0, pop[0], pop[0]+pop[1], ...]
    stocked: np.ndarray  # bit w set: stocked at WAREHOUSES[w] (set by `_stock_ranges` from the sales)
    safety: np.ndarray  # safety stock and reorder batch, in days of sales
    batch: np.ndarray
    code: np.ndarray  # object
    name: np.ndarray  # object
    cat_start: np.ndarray
    cat_end: np.ndarray

    @property
    def key(self) -> np.ndarray:
        return self.category.astype(np.int64) << 40 | self.price


@dataclass
class _Event:
    kind: str
    first: int
    last: int
    sku: int = -1
    warehouse: int = -1
    carrier: int = -1
    category: int = -1
    reason: int = -1
    magnitude: float = 0.0
    order_day: int = -1  # stock-out and low cover: the last order placed before it, and what it was
    order_qty: int = 0


def generate_products(facts: OrderFacts, skus: int, seed: int, anomalies: bool) -> dict[str, pd.DataFrame]:
    """The five product tables and their labels (keys of `COLUMNS`) for the orders of `facts`."""
    if skus == 0:
        return {name: empty(name) for name in COLUMNS}
    streams = np.random.SeedSequence(seed, spawn_key=(7,)).spawn(6)
    rng_cat, rng_lines, rng_ship, rng_stock, rng_returns, rng_events = (np.random.default_rng(s) for s in streams)
    n_days = facts.days
    cat = _catalogue(rng_cat, skus, facts)
    windows = _place_events(rng_events, n_days, facts.promotion_days) if anomalies else []

    # ---- lines, warehouse, shipments ----
    amount_c = np.rint(facts.amount * 100).astype(np.int64)
    line_order, line_sku, line_q, line_c = _draw_lines(rng_lines, facts, amount_c, cat)
    cat.stocked = _stock_ranges(cat, line_sku, line_q)
    n = len(facts.order_id)
    starts = np.searchsorted(line_order, np.arange(n))
    mask = np.bitwise_and.reduceat(cat.stocked[line_sku], starts) if n else np.zeros(0, np.int64)
    region_wh = np.array([_REGION_WAREHOUSE.get(r, _EAST) for r in facts.regions], dtype=np.int64)
    wh = region_wh[facts.region] if n else np.zeros(0, np.int64)
    wh = np.where(mask >> wh & 1 == 1, wh, _EAST)
    ship = _ship(rng_ship, facts, wh)
    ship_day = np.where(ship.shipped, ship.at // _DAY, -1)

    # ---- stock: pairs (sku, warehouse), demand, events, replenishment ----
    pair_of = np.full((len(cat.price), len(WAREHOUSES)), -1, dtype=np.int64)
    has = (cat.stocked[:, None] >> np.arange(len(WAREHOUSES))[None, :] & 1) == 1
    pair_of[has] = np.arange(int(has.sum()))
    pair_sku, pair_wh = np.nonzero(has)
    u_init = rng_stock.random(len(pair_sku))

    def demand(sku_of_line: np.ndarray, q_of_line: np.ndarray, order_of_line: np.ndarray) -> np.ndarray:
        day = ship_day[order_of_line]
        keep = day >= 0
        flat = day[keep] * len(pair_sku) + pair_of[sku_of_line[keep], wh[order_of_line[keep]]]
        counts = np.bincount(flat, weights=q_of_line[keep], minlength=n_days * len(pair_sku))
        return counts.reshape(n_days, len(pair_sku)).astype(np.int64)

    D = demand(line_sku, line_q, line_order)
    events = []
    if windows and n:
        events = _choose_targets(rng_events, windows, cat, facts, D, pair_of, pair_sku, u_init,
                                 line_order, line_sku, line_c, line_q, wh, ship)
    planted = {e.sku for e in events if e.kind in ("stock_out", "low_cover")}
    for e in events:
        if e.kind == "stock_out":
            line_sku, line_q = _substitute(e, cat, planted, line_order, line_sku, line_q, line_c, wh, ship_day)
    if any(e.kind == "stock_out" for e in events):
        line_order, line_sku, line_q, line_c = _merge(line_order, line_sku, line_q, line_c, len(cat.price))
        D = demand(line_sku, line_q, line_order)
    # the planted stock events: their short last order, then none until the restock (or the end)
    stock_events = [e for e in events if e.kind in ("stock_out", "low_cover")]
    cols = np.array([pair_of[e.sku, e.warehouse] for e in stock_events], dtype=np.int64)
    freeze = np.zeros((n_days, len(cols)), dtype=bool)
    forced = np.full((n_days, len(cols)), -1, dtype=np.int64)
    for j, e in enumerate(stock_events):
        stop = e.last - int(cat.lead[e.sku]) if e.kind == "stock_out" else n_days - 1
        freeze[e.order_day + 1 : stop + 1, j] = True
        forced[e.order_day, j] = e.order_qty
    params = _policy(D, cat, pair_sku, u_init)
    on_hand, on_order, _ = _simulate(D, *params, planned=(cols, freeze, forced) if len(cols) else None)
    if (on_hand < 0).any():
        raise RuntimeError("demo stock went negative")  # the policy guarantees it never does

    # ---- the carrier delay, deliveries, returns ----
    for e in events:
        if e.kind == "carrier_delay":
            hit = ship.shipped & (ship.carrier == e.carrier) & (ship_day >= e.first) & (ship_day <= e.last)
            ship.transit[hit] += _DELAY_DAYS * _DAY
            e.magnitude = float(_DELAY_DAYS) if hit.any() else 0.0
    delivered = _deliver(rng_ship, facts, ship)
    spike = next((e for e in events if e.kind == "returns_spike"), None)
    returns = _returns(rng_returns, facts, cat, line_order, line_sku, line_q, line_c, amount_c, ship, delivered, spike)
    # a label only for what shows: a tiny shop may ship nothing by that carrier, or see no returns then
    events = [e for e in events if e.kind not in ("carrier_delay", "returns_spike") or e.magnitude > 0]

    # ---- frames ----
    start64 = np.datetime64(facts.start, "ns")
    codes = cat.code
    frames = {
        "order_lines": pd.DataFrame({
            "order_id": facts.order_id[line_order],
            "sku": _take(codes, line_sku),
            "quantity": line_q,
            "line_amount": line_c / 100.0,
            "unit_price": cat.price[line_sku] / 100.0,
            "cost": cat.cost[line_sku] * line_q / 100.0,
        }),
        "products": _products_frame(cat, facts).sort_values("sku", ignore_index=True),
        "inventory": pd.DataFrame({
            "day": np.repeat(start64 + np.arange(n_days).astype("timedelta64[D]"), len(pair_sku)),
            # the one big table: its names as categories (codes into the few distinct names)
            "sku": pd.Categorical.from_codes(np.tile(pair_sku, n_days), pd.Index(codes, dtype="str")),
            "warehouse": pd.Categorical.from_codes(np.tile(pair_wh, n_days), pd.Index(WAREHOUSES, dtype="str")),
            "on_hand": on_hand.ravel(),
            "on_order": on_order.ravel(),
        }),
        "shipments": _shipments_frame(facts, ship, delivered, start64),
        "returns": returns.assign(
            sku=_take(codes, returns.sku.to_numpy(np.int64)),
            returned_at=start64 + returns.returned_at.to_numpy(np.int64).astype("timedelta64[s]"),
        ),
        "product_labels": _labels(events, cat, facts, on_hand, on_order, D, pair_of),
    }
    return frames


# ---- catalogue ------------------------------------------------------------------------------------


def _catalogue(rng: np.random.Generator, skus: int, facts: OrderFacts) -> _Catalogue:
    names = facts.categories
    n_cat = len(names)
    if skus < n_cat:
        raise ValueError(f"ShopSpec.skus must be 0 or at least {n_cat} (one per category)")
    share = np.asarray(facts.category_share, dtype=np.float64)
    share = share / share.sum()
    extra = (skus - n_cat) * share
    counts = 1 + np.floor(extra).astype(np.int64)
    short = skus - counts.sum()
    counts[np.argsort(-(extra - np.floor(extra)), kind="stable")[:short]] += 1
    inv = NormalDist().inv_cdf
    cats, prices, pops = [], [], []
    for c, k in enumerate(counts):
        u = (np.arange(k) + rng.uniform(0.25, 0.75, k)) / k
        z = np.array([inv(float(x)) for x in u])
        if k >= 3:
            z[0], z[-1] = min(z[0], -2.7), max(z[-1], 2.7)
        sigma = _PRICE_SPREAD[0] * facts.category_sigma[c] + _PRICE_SPREAD[1]
        p = facts.category_median[c] * _PRICE_LEVEL * np.exp(sigma * z)
        cents = np.where(p < 100, np.floor(p) * 100 + 90, (np.floor(p / 10) * 10 + 9) * 100)
        cents = np.maximum(cents, 190).astype(np.int64)
        rank = np.empty(k, dtype=np.int64)
        rank[np.argsort(_CENTRAL * np.abs(z) + rng.random(k), kind="stable")] = np.arange(k)
        cats.append(np.full(k, c))
        prices.append(cents)
        pops.append(1.0 / (rank + 1.0) ** _ZIPF)
    category = np.concatenate(cats)
    price = np.concatenate(prices)
    order = np.lexsort((price, category))  # already grouped by category; sorted by price inside
    category, price = category[order], price[order]
    pop = np.concatenate(pops)[order]
    margin_lo = np.array([_MARGIN.get(names[c], (0.30, 0.55))[0] for c in category])
    margin_hi = np.array([_MARGIN.get(names[c], (0.30, 0.55))[1] for c in category])
    margin = rng.uniform(margin_lo, margin_hi)
    cost = np.maximum(np.rint(price * (1 - margin)), 1).astype(np.int64)
    lead_lo = np.array([_LEAD.get(names[c], (5, 25))[0] for c in category])
    lead_hi = np.array([_LEAD.get(names[c], (5, 25))[1] for c in category])
    lead = rng.integers(lead_lo, lead_hi + 1)
    number = rng.permutation(skus) + 10_001
    prefix = np.array([_PREFIX.get(names[c], names[c][:3].upper()) for c in category], dtype=object)
    code = np.array([f"{p}-{x:05d}" for p, x in zip(prefix, number, strict=True)], dtype=object)
    stem_pick = rng.random(skus)
    mod_pick = rng.integers(0, len(_MODIFIERS), skus)
    name = []
    for i, c in enumerate(category):
        stems = _STEMS.get(names[c], [names[c].replace("_", " ").title()])
        name.append(f"{stems[int(stem_pick[i] * len(stems))]} {_MODIFIERS[mod_pick[i]]}")
    name_s = pd.Series(name)
    dup = name_s.groupby(name_s).cumcount().to_numpy()
    name_arr = np.array([s if d == 0 else f"{s} {d + 1}代" for s, d in zip(name, dup, strict=True)], dtype=object)
    cat_start = np.searchsorted(category, np.arange(n_cat))
    cat_end = np.searchsorted(category, np.arange(n_cat), side="right")
    return _Catalogue(
        category=category, price=price, cost=cost, lead=lead, pop=pop,
        cum_pop=np.concatenate([[0.0], np.cumsum(pop)]), stocked=np.ones(skus, dtype=np.int64),
        safety=rng.uniform(3, 7, skus), batch=rng.uniform(10, 25, skus),
        code=code, name=name_arr, cat_start=cat_start, cat_end=cat_end,
    )


def _stock_ranges(cat: _Catalogue, line_sku: np.ndarray, line_q: np.ndarray) -> np.ndarray:
    """Which warehouses stock each SKU: east_dc all; the others the best sellers (by units) of each
    category, `_STOCKED_SHARE` of them (at least one)."""
    units = np.bincount(line_sku, weights=line_q, minlength=len(cat.price))
    order = np.lexsort((-units, cat.category))  # by category, best sellers first
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order)) - cat.cat_start[cat.category[order]]
    size = (cat.cat_end - cat.cat_start)[cat.category]
    bits = np.zeros(len(order), dtype=np.int64)
    for w, share in enumerate(_STOCKED_SHARE):
        bits |= np.where(rank < np.maximum(1, np.ceil(share * size)), 1 << w, 0)
    return bits


def _products_frame(cat: _Catalogue, facts: OrderFacts) -> pd.DataFrame:
    return pd.DataFrame({
        "sku": cat.code,
        "name": cat.name,
        "category": np.asarray(facts.categories, dtype=object)[cat.category],
        "cost": cat.cost / 100.0,
        "lead_time_days": cat.lead.astype(np.int64),
        "unit_price": cat.price / 100.0,
    })


# ---- order lines ----------------------------------------------------------------------------------


def _kind(name: str, table: dict[str, list[float]]) -> list[float]:
    if name in _HEAVY and "heavy" in table:
        return table["heavy"]
    if name in _CONSUMABLE and "consumable" in table:
        return table["consumable"]
    return table["other"]


def _pick(rng: np.random.Generator, table: np.ndarray, row: np.ndarray) -> np.ndarray:
    """An index per entry of `row`, drawn from that row of the probability `table`."""
    n_rows, k = table.shape
    table = np.where(table.sum(axis=1, keepdims=True) > 0, table, 1.0)  # a row of zeros: uniform
    cum = np.cumsum(table, axis=1, dtype=np.float64)
    cum /= cum[:, -1:]
    # one search over every row's cumulative shares, row r's shifted to [r, r + 1]
    flat = (cum + np.arange(n_rows)[:, None]).ravel()
    idx = np.searchsorted(flat, row + rng.random(len(row)), side="right") - row * k
    return np.clip(idx, 0, k - 1)


def _draw_lines(
    rng: np.random.Generator, facts: OrderFacts, amount_c: np.ndarray, cat: _Catalogue
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(order index, sku index, quantity, amount in cents) per line, grouped by order."""
    names = facts.categories
    c = facts.category
    n = len(c)
    cheapest = cat.price[cat.cat_start]  # per category
    lines_p = np.array([_kind(x, _LINES_P) for x in names])
    k = 1 + _pick(rng, lines_p, c)
    k = np.minimum(k, np.clip(amount_c // (2 * cheapest[c]), 1, _MAX_LINES)) if n else k
    line_order = np.repeat(np.arange(n), k)
    starts = np.concatenate([[0], np.cumsum(k)[:-1]]).astype(np.int64)
    g = rng.gamma(2.0, size=len(line_order))
    w = g / np.add.reduceat(g, starts)[line_order] if n else g
    # each line worth at least the category's cheapest SKU, the rest split by w
    floor = np.minimum(cheapest[c], amount_c // k)[line_order] if n else np.zeros(0, np.int64)
    spare = amount_c[line_order] - k[line_order] * floor if n else floor
    cents = np.maximum(floor + np.floor(spare * w).astype(np.int64), 1)
    if n:
        # the rounding remainder on the order's largest line
        rest = amount_c - np.add.reduceat(cents, starts)
        largest = np.maximum.reduceat(cents, starts)
        hit = np.flatnonzero(cents == largest[line_order])
        of = line_order[hit]
        first = hit[np.concatenate([[True], of[1:] != of[:-1]])]  # the first largest of each order
        cents[first] += rest
    lc = c[line_order]
    q = 1 + _pick(rng, np.array([_kind(x, _QUANTITY_P) for x in names]), lc)
    q = np.clip(q, 1, np.maximum(cents // cheapest[lc], 1))
    need = -(-cents // q)  # the unit price a SKU needs: price * q >= cents
    key = cat.key
    base = lc.astype(np.int64) << 40
    lo = np.searchsorted(key, base | need, side="left")
    hi = np.searchsorted(key, base | np.floor(need * _WINDOW).astype(np.int64), side="right")
    end = cat.cat_end[lc]
    over = lo >= end
    lo = np.where(over, end - 1, lo)
    gap = hi <= lo  # nothing listed in the window: the nearest dearer SKU
    hi = np.where(over, end, np.maximum(hi, lo + 1))
    a, b = cat.cum_pop[lo], cat.cum_pop[hi]
    # by popularity inside the window, the cheaper of two draws (discounts stay small): the SKUs are
    # by price, so that is one draw at the smaller of two uniforms, 1 - sqrt(1 - u)
    u = 1.0 - np.sqrt(1.0 - rng.random(len(lo)))
    sku = np.clip(np.searchsorted(cat.cum_pop, a + u * (b - a), side="right") - 1, lo, hi - 1)
    q = np.maximum(q, -(-cents // cat.price[sku]))  # the dearest SKU is not dear enough: more units
    # in a gap of the price list, the next cheaper SKU in more units when that is the smaller discount
    cheaper = np.maximum(lo - 1, cat.cat_start[lc])
    q_cheaper = np.maximum(q, -(-cents // cat.price[cheaper]))
    better = (gap | over) & (cheaper < lo) & (cat.price[cheaper] * q_cheaper < cat.price[sku] * q)
    sku, q = np.where(better, cheaper, sku), np.where(better, q_cheaper, q)
    return _merge(line_order, sku, q, cents, len(cat.price))


def _merge(
    order: np.ndarray, sku: np.ndarray, q: np.ndarray, cents: np.ndarray, n_skus: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One line per (order, sku), quantities and amounts added to the first of them. Lines are
    grouped by order, at most `_MAX_LINES` an order, so a line's twin is among the few before it."""
    first = np.arange(len(order))
    for back in range(1, _MAX_LINES):  # the earliest twin, as an index
        twin = np.flatnonzero((order[back:] == order[:-back]) & (sku[back:] == sku[:-back])) + back
        first[twin] = np.minimum(first[twin], twin - back)
    keep = first == np.arange(len(order))
    if keep.all():
        return order, sku, q, cents
    q_sum = np.bincount(first, weights=q, minlength=len(order)).astype(np.int64)
    c_sum = np.bincount(first, weights=cents, minlength=len(order)).astype(np.int64)
    return order[keep], sku[keep], q_sum[keep], c_sum[keep]


# ---- shipping -------------------------------------------------------------------------------------


@dataclass
class _Ship:
    shipped: np.ndarray  # bool per order
    at: np.ndarray  # shipped_at, seconds from the start
    warehouse: np.ndarray
    carrier: np.ndarray
    transit: np.ndarray  # seconds
    end: int


def _ship(rng: np.random.Generator, facts: OrderFacts, wh: np.ndarray) -> _Ship:
    n = len(wh)
    end = facts.days * _DAY
    shipped_status = [i for i, s in enumerate(facts.statuses) if s in ("shipped", "completed", "refunded")]
    shipped = np.isin(facts.status, shipped_status)
    quick = rng.random(n) < 0.85
    hours = np.where(quick, np.minimum(np.exp(rng.normal(np.log(6.0), 0.8, n)), 23.5), rng.uniform(24, 72, n))
    delay = np.maximum(np.rint(hours * 3600), 1).astype(np.int64)
    room = end - 1 - facts.seconds  # ship before the end, and (for a return) leave a second after
    late = delay >= room
    squeeze = np.floor(rng.uniform(0.05, 0.9, n) * room).astype(np.int64)
    delay = np.where(late, np.maximum(squeeze, np.minimum(room, 1)), delay)
    at = facts.seconds + np.maximum(delay, 0)
    carrier = _pick(rng, _CARRIER_MIX, wh) if n else np.zeros(0, np.int64)
    lo, hi = _TRANSIT_DAYS[carrier, 0], _TRANSIT_DAYS[carrier, 1]
    transit = np.rint(rng.uniform(lo, hi) * _DAY).astype(np.int64)
    return _Ship(shipped=shipped, at=at, warehouse=wh, carrier=carrier, transit=transit, end=end)


def _deliver(rng: np.random.Generator, facts: OrderFacts, ship: _Ship) -> np.ndarray:
    """delivered_at in seconds from the start, -1 while in transit (or not shipped)."""
    at = ship.at + ship.transit
    completed = facts.status == facts.statuses.index("completed") if "completed" in facts.statuses else False
    room = ship.end - 1 - ship.at
    pulled = ship.at + np.floor(rng.uniform(0.3, 0.95, len(at)) * room).astype(np.int64)
    at = np.where((at >= ship.end) & completed, pulled, at)
    return np.where(ship.shipped & (at < ship.end), at, -1)


def _shipments_frame(facts: OrderFacts, ship: _Ship, delivered: np.ndarray, start64: np.datetime64) -> pd.DataFrame:
    rows = np.flatnonzero(ship.shipped)
    done = delivered[rows]
    delivered_at = start64 + np.maximum(done, 0).astype("timedelta64[s]")
    return pd.DataFrame({
        "order_id": facts.order_id[rows],
        "shipped_at": start64 + ship.at[rows].astype("timedelta64[s]"),
        "delivered_at": np.where(done >= 0, delivered_at, np.datetime64("NaT")).astype("datetime64[ns]"),
        "carrier": _take(CARRIERS, ship.carrier[rows]),
        "warehouse": _take(WAREHOUSES, ship.warehouse[rows]),
    })


# ---- stock ----------------------------------------------------------------------------------------


def _policy(
    D: np.ndarray, cat: _Catalogue, pair_sku: np.ndarray, u_init: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(lead time, safety stock, batch, opening stock) per pair, from its average daily sales."""
    n_days = len(D)
    rate = D.mean(axis=0) if n_days else np.zeros(D.shape[1])
    lead = cat.lead[pair_sku].astype(np.int64)
    safety = np.maximum(np.ceil(rate * cat.safety[pair_sku]), 1).astype(np.int64)
    batch = np.maximum(np.ceil(rate * cat.batch[pair_sku]), 1).astype(np.int64)
    first = np.cumsum(D, axis=0)[np.minimum(lead, n_days) - 1, np.arange(D.shape[1])] if n_days else 0
    opening = first + safety + np.ceil(u_init * batch).astype(np.int64)
    return lead, safety, batch, opening


def _simulate(
    D: np.ndarray, lead: np.ndarray, safety: np.ndarray, batch: np.ndarray, opening: np.ndarray,
    planned: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None, watch: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """End-of-day on_hand and on_order per (day, pair) under the reorder-point policy, and (watch)
    the inventory position before each day's order. `planned` = (pairs, freeze, forced) overrides
    the policy for those pairs: `freeze[d, j]`: no order on day d; `forced[d, j]` >= 0: order
    exactly that on day d."""
    n_days, n_pairs = D.shape
    max_lead = int(lead.max()) if n_pairs else 0
    # C[t] = units shipped on days < t; past the history, the last 28 days' rate (rounded up)
    recent = np.ceil(D[max(0, n_days - 28):].mean(axis=0)).astype(np.int64) if n_days else np.zeros(n_pairs, np.int64)
    C = np.zeros((n_days + max_lead + 2, n_pairs), dtype=np.int64)
    C[1 : n_days + 1] = np.cumsum(D, axis=0)
    C[n_days + 1 :] = C[n_days] + recent * np.arange(1, max_lead + 2)[:, None]
    # coming[d] = units to ship on days d+1 .. d+lead, one lead time at a time (rows read in order)
    coming = np.empty((n_days, n_pairs), dtype=np.int64)
    for L in np.unique(lead):
        at = np.flatnonzero(lead == L)
        coming[:, at] = C[L + 1 : n_days + L + 1][:, at] - C[1 : n_days + 1][:, at]
    del C
    ring = max_lead + 1
    arriving = np.zeros((ring, n_pairs), dtype=np.int64)
    on_hand = np.empty((n_days, n_pairs), dtype=np.int64)
    on_order = np.empty((n_days, n_pairs), dtype=np.int64)
    before = np.empty((n_days, n_pairs), dtype=np.int64) if watch else None
    cols = np.arange(n_pairs)
    oh = opening.astype(np.int64).copy()
    oo = np.zeros(n_pairs, dtype=np.int64)
    for d in range(n_days):
        slot = d % ring
        arrived = arriving[slot].copy()
        arriving[slot] = 0
        oh += arrived - D[d]
        oo -= arrived
        position = oh + oo
        if before is not None:
            before[d] = position
        # projected on_hand when an order placed today would arrive
        projected = position - coming[d]
        q = np.where(projected < safety, np.maximum(batch, safety - projected), 0)
        if planned is not None:
            pairs, freeze, forced = planned
            q[pairs] = np.where(forced[d] >= 0, forced[d], np.where(freeze[d], 0, q[pairs]))
        arriving[(d + lead) % ring, cols] += q
        oo += q
        on_hand[d] = oh
        on_order[d] = oo
    return on_hand, on_order, before


# ---- events ---------------------------------------------------------------------------------------


def _place_events(rng: np.random.Generator, n_days: int, promotion_days: tuple[int, ...]) -> list[_Event]:
    """Days of the planted events (targets are chosen later, from the data)."""
    lo = max(n_days - _EVENT_WINDOW, 0)
    pad = _EVENT_GAP + _PROMO_GAP
    blocked = np.zeros(n_days + 2 * pad + 8, dtype=bool)  # indexed by day + pad
    for d in promotion_days:
        blocked[d + pad - _PROMO_GAP : d + pad + _PROMO_GAP + 1] = True
    wanted = [_Event("stock_out", 0, int(rng.integers(3, 8)) - 1) for _ in range(3)]
    wanted += [_Event("carrier_delay", 0, 6), _Event("returns_spike", 0, 4)]
    best: list[_Event] = []
    for _attempt in range(20):  # random orders and days until every event fits
        free = blocked.copy()
        placed = []
        for i in rng.permutation(len(wanted)):
            e = wanted[i]
            length = e.last + 1
            hi = n_days - 1 - (_DELAY_TAIL if e.kind == "carrier_delay" else _EVENT_TAIL)
            starts = [s for s in range(lo, hi - length + 2) if not free[s + pad : s + pad + length].any()]
            if not starts:
                continue
            s = int(starts[rng.integers(len(starts))])
            placed.append(_Event(e.kind, s, s + length - 1))
            free[s + pad - _EVENT_GAP : s + pad + length + _EVENT_GAP] = True
        if len(placed) > len(best):
            best = placed
        if len(best) == len(wanted):
            break
    return sorted(best, key=lambda e: e.first)


def _choose_targets(
    rng: np.random.Generator, windows: list[_Event], cat: _Catalogue, facts: OrderFacts, D: np.ndarray,
    pair_of: np.ndarray, pair_sku: np.ndarray, u_init: np.ndarray, line_order: np.ndarray,
    line_sku: np.ndarray, line_c: np.ndarray, line_q: np.ndarray, wh: np.ndarray, ship: _Ship,
) -> list[_Event]:
    """What each planted event hits: SKUs among the top by GMV for the stock events (each at a
    warehouse shipping it, when its stock can be run down to 0 in time), a carrier, a category and
    a reason. Events that cannot be placed are left out."""
    counted = facts.status[line_order] != facts.statuses.index("cancelled")
    gmv = np.bincount(line_sku[counted], weights=line_c[counted], minlength=len(cat.price))
    sizes = (cat.cat_end - cat.cat_start)[cat.category]
    # the top fifth by GMV (at least _TOP), in a category with another SKU to take their demand
    top = [int(s) for s in np.argsort(-gmv, kind="stable") if gmv[s] > 0 and sizes[s] >= 2]
    top = top[: max(_TOP, len(cat.price) // 5)]
    shipped_line = ship.shipped[line_order]
    flat = line_sku[shipped_line] * len(WAREHOUSES) + wh[line_order[shipped_line]]
    units = np.bincount(flat, weights=line_q[shipped_line], minlength=len(cat.price) * len(WAREHOUSES))
    units = units.reshape(len(cat.price), len(WAREHOUSES))
    # each at one of its warehouses, drawn by the units it ships from there
    home = {s: int(_pick(rng, units[[s]], np.zeros(1, np.int64))[0]) for s in top}
    # tried in turn: the first _TOP by GMV among those selling a unit every other day there (their
    # loss shows in sales too) in random order, then the others by GMV
    busy = [s for s in top if units[s, home[s]] >= 0.5 * len(D)][:_TOP]
    ranked = [busy[i] for i in rng.permutation(len(busy))] + [s for s in top if s not in busy]
    # can the stock of s at its home warehouse be run down to 0 exactly on `first` (stock-out) or
    # to a low cover at the end? Simulated for batches of candidates until every event has one.
    outs = [w for w in windows if w.kind == "stock_out"]
    used: set[int] = set()
    chosen: list[_Event] = []
    for lo in range(0, len(ranked), 3 * _TOP):
        trials: list[tuple[int, _Event | None]] = []
        columns = []
        for s in ranked[lo : lo + 3 * _TOP]:
            p = pair_of[s, home[s]]
            for w in outs:
                day = D[w.first : w.last - 1, p]
                if not (day > 0).any():
                    continue
                first = w.first + int(np.argmax(day > 0))
                column = D[:, p].copy()
                column[first + 1 : w.last + 1] = 0
                trials.append((s, _Event("stock_out", first, w.last, sku=s, warehouse=home[s],
                                         category=int(cat.category[s]))))
                columns.append(column)
            trials.append((s, None))
            columns.append(D[:, p])
        _choose_stock_events(rng, outs, trials, columns, cat, pair_of, u_init, home, D, used, chosen)
        if len(chosen) == len(outs) + 1:
            break
    for w in windows:
        if w.kind == "carrier_delay":
            chosen.append(_Event(w.kind, w.first, w.last, carrier=int(rng.integers(len(CARRIERS))),
                                 magnitude=float(_DELAY_DAYS)))
        elif w.kind == "returns_spike":  # its category and reason are chosen with the returns
            chosen.append(_Event(w.kind, w.first, w.last, magnitude=float(rng.uniform(6, 8))))
    return sorted(chosen, key=lambda e: (e.first, e.kind))


def _choose_stock_events(
    rng: np.random.Generator, outs: list[_Event], trials: list[tuple[int, _Event | None]],
    columns: list[np.ndarray], cat: _Catalogue, pair_of: np.ndarray, u_init: np.ndarray,
    home: dict[int, int], D: np.ndarray, used: set[int], chosen: list[_Event],
) -> None:
    """The stock-outs and the low cover among the trials (adds to `chosen` and `used`)."""
    n_days = len(D)
    Dc = np.column_stack(columns)
    sk = np.array([s for s, _ in trials])
    params = _policy(Dc, cat, sk, u_init[pair_of[sk, [home[s] for s in sk]]])
    _, _, before = _simulate(Dc, *params, watch=True)
    assert before is not None
    C = np.concatenate([np.zeros((1, Dc.shape[1]), np.int64), np.cumsum(Dc, axis=0)])
    lead = params[0]
    for w in outs:
        if any(e.kind == "stock_out" and e.last == w.last for e in chosen):
            continue
        for j, (s, e) in enumerate(trials):
            if e is None or s in used or e.last != w.last or not _substitutable(cat, chosen + [e], used | {s}):
                continue
            last_order = e.first - int(lead[j]) - 1
            if last_order < 0:
                continue
            gap = before[: last_order + 1, j] - (C[e.first + 1, j] - C[1 : last_order + 2, j])
            ok = np.flatnonzero(gap <= 0)
            if not len(ok):
                continue
            e.magnitude = float(D[e.first + 1 : e.last + 1, pair_of[s, e.warehouse]].sum())
            if e.magnitude <= 0:
                continue  # no demand lost: a stock-out only the stock table would show
            e.order_day, e.order_qty = int(ok[-1]), int(-gap[ok[-1]])
            chosen.append(e)
            used.add(s)
            break
    for j, (s, e) in enumerate(trials):  # the low cover: the first candidate left that fits
        if any(c.kind == "low_cover" for c in chosen):
            break
        if e is not None or s in used or not _substitutable(cat, chosen, used | {s}):
            continue
        L = int(lead[j])
        rate = Dc[max(0, n_days - 28):, j].mean()
        target = max(1, int(rate * L * rng.uniform(0.3, 0.5)))
        last_order = n_days - L - 2
        if rate <= 0 or target >= rate * L or last_order < 0:
            continue
        gap = before[: last_order + 1, j] - (C[n_days, j] - C[1 : last_order + 2, j])
        ok = np.flatnonzero(gap <= target)
        if not len(ok):
            continue
        chosen.append(_Event("low_cover", n_days - 1, n_days - 1, sku=s, warehouse=home[s],
                             category=int(cat.category[s]), order_day=int(ok[-1]),
                             order_qty=int(target - gap[ok[-1]])))
        used.add(s)
        break


def _substitutes(cat: _Catalogue, sku: int, warehouse: int, excluded: set[int]) -> np.ndarray:
    c = cat.category[sku]
    idx = np.arange(cat.cat_start[c], cat.cat_end[c])
    keep = (cat.stocked[idx] >> warehouse & 1 == 1) & ~np.isin(idx, list(excluded))
    return idx[keep]  # by price


def _substitutable(cat: _Catalogue, stock_outs: list[_Event], excluded: set[int]) -> bool:
    """Whether every stock-out keeps a SKU to take its lost demand when `excluded` are planted."""
    return all(len(_substitutes(cat, e.sku, e.warehouse, excluded)) > 0 for e in stock_outs if e.kind == "stock_out")


def _substitute(
    e: _Event, cat: _Catalogue, planted: set[int], line_order: np.ndarray, line_sku: np.ndarray,
    line_q: np.ndarray, line_c: np.ndarray, wh: np.ndarray, ship_day: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """The lost demand of a stock-out: its lines shipping from the warehouse after it ran out go to
    the cheapest other SKU of the category stocked there that fits the line (else the dearest, with
    the quantity the amount needs)."""
    day = ship_day[line_order]
    hit = np.flatnonzero((line_sku == e.sku) & (wh[line_order] == e.warehouse) & (day > e.first) & (day <= e.last))
    subs = _substitutes(cat, e.sku, e.warehouse, planted)
    need = -(-line_c[hit] // line_q[hit])
    at = np.minimum(np.searchsorted(cat.price[subs], need, side="left"), len(subs) - 1)
    sku, q = line_sku.copy(), line_q.copy()
    sku[hit] = subs[at]
    q[hit] = np.maximum(q[hit], -(-line_c[hit] // cat.price[subs[at]]))
    return sku, q


# ---- returns --------------------------------------------------------------------------------------


def _returns(
    rng: np.random.Generator, facts: OrderFacts, cat: _Catalogue, line_order: np.ndarray, line_sku: np.ndarray,
    line_q: np.ndarray, line_c: np.ndarray, amount_c: np.ndarray, ship: _Ship, delivered: np.ndarray,
    spike: _Event | None,
) -> pd.DataFrame:
    """Returned lines (sku as an index, returned_at in seconds from the start)."""
    refund_c = np.rint(facts.refunded_amount * 100).astype(np.int64)
    orders = np.flatnonzero(refund_c > 0)
    rows = np.flatnonzero(refund_c[line_order] > 0)
    shuffle = rows[np.lexsort((rng.random(len(rows)), line_order[rows]))]
    o = line_order[shuffle]
    cents = line_c[shuffle]
    cum = np.cumsum(cents)
    first = np.searchsorted(o, o)  # first line of each line's order (lines are grouped by order)
    upto = cum - (cum[first] - cents[first])  # this order's lines so far, this one included
    before = upto - cents
    goal = refund_c[o]
    whole = upto <= goal
    part = ~whole & (before < goal)
    keep = whole | part
    amount = np.where(whole, cents, goal - before)[keep]
    q = line_q[shuffle][keep]
    q = np.where(whole[keep], q, np.clip(-(-q * amount // cents[keep]), 1, q))
    ret_order = o[keep]
    # per order: a reason and the day it came back
    reason_w = np.array([_REASON_W[_REASON_GROUP.get(c, "other")] for c in facts.categories])
    reason = np.full(len(facts.order_id), -1, dtype=np.int64)
    reason[orders] = _pick(rng, reason_w, facts.category[orders])
    base = np.where(delivered >= 0, delivered, ship.at)
    lag = np.rint(np.exp(rng.normal(np.log(3.0), 0.6, len(orders))) * _DAY).astype(np.int64)
    room = ship.end - 1 - base[orders]
    squeeze = np.floor(rng.uniform(0.1, 0.9, len(orders)) * room).astype(np.int64)
    lag = np.where(lag >= room, np.maximum(squeeze, np.minimum(room, 1)), lag)
    returned = np.full(len(facts.order_id), -1, dtype=np.int64)
    returned[orders] = base[orders] + np.maximum(lag, 0)
    if spike is not None:
        spike.magnitude = 0.0 if not len(orders) else spike.magnitude
    if spike is not None and len(orders):
        # the category most returned from in the window, one of its rarer reasons
        day = returned[orders] // _DAY
        inside = (day >= spike.first) & (day <= spike.last)
        counts = np.bincount(facts.category[orders[inside]], minlength=len(facts.categories))
        spike.category = c = int(np.argmax(counts))
        weights = reason_w[c]
        rare = [i for i in (RETURN_REASONS.index(r) for r in ("quality", "wrong_item", "damaged"))
                if 0.04 <= weights[i] <= 0.15]
        spike.reason = r = int(rare[rng.integers(len(rare))]) if rare else int(np.argmin(weights))
        share = min(1.0, (spike.magnitude - 1) * weights[r] / (1 - weights[r]))
        spike.magnitude = round((weights[r] + share * (1 - weights[r])) / weights[r], 1)
        # that share of the category's other returns in the window (exactly, not by chance: few return)
        hit = np.flatnonzero(inside & (facts.category[orders] == c))
        hit = hit[reason[orders[hit]] != r]
        pick = rng.permutation(len(hit))[: int(np.ceil(share * len(hit)))]
        reason[orders[hit[pick]]] = r
        if not len(pick):
            spike.magnitude = 0.0  # nothing returned in those days: no spike to see
    frame = pd.DataFrame({
        "order_id": facts.order_id[ret_order],
        "sku": line_sku[shuffle][keep],
        "quantity": q.astype(np.int64),
        "amount": amount / 100.0,
        "reason": _take(RETURN_REASONS, reason[ret_order]),
        "returned_at": returned[ret_order],
    })
    return frame.sort_values(["order_id", "sku"], ignore_index=True)


# ---- labels ---------------------------------------------------------------------------------------


def _labels(
    events: list[_Event], cat: _Catalogue, facts: OrderFacts, on_hand: np.ndarray, on_order: np.ndarray,
    D: np.ndarray, pair_of: np.ndarray,
) -> pd.DataFrame:
    def day(i: int) -> date:
        return facts.start + timedelta(days=i)

    rows = []
    for e in events:
        sku = str(cat.code[e.sku]) if e.sku >= 0 else None
        category = facts.categories[e.category] if e.category >= 0 else None
        warehouse = WAREHOUSES[e.warehouse] if e.warehouse >= 0 else None
        carrier = CARRIERS[e.carrier] if e.carrier >= 0 else None
        reason = RETURN_REASONS[e.reason] if e.reason >= 0 else None
        first, last, magnitude = e.first, e.last, e.magnitude
        if e.kind == "stock_out":
            metric = "on_hand"
            expect = (f"{sku} ({cat.name[e.sku]}) is out of stock at {warehouse} from {day(first)} to {day(last)}: "
                      f"on_hand 0, no sales there, about {magnitude:.0f} units of demand lost")
        elif e.kind == "low_cover":
            p = pair_of[e.sku, e.warehouse]
            units = pd.Series(D[:, p]).rolling(28, min_periods=1).mean().to_numpy()
            cover = np.divide(on_hand[:, p] + on_order[:, p], units, out=np.full(len(units), np.inf),
                              where=units > 0)
            lead = int(cat.lead[e.sku])
            if not cover[-1] < lead or on_order[-1, p] != 0:
                continue
            above = np.flatnonzero(cover >= lead)
            first = int(above[-1]) + 1 if len(above) else 0
            magnitude = round(float(cover[-1]), 1)
            metric = "cover_days"
            expect = (f"{sku} ({cat.name[e.sku]}) at {warehouse} will run out: {magnitude:.1f} days of cover "
                      f"left, lead time {lead} days, nothing on order: reorder now")
        elif e.kind == "carrier_delay":
            metric = "delivery_days"
            expect = (f"{carrier} deliveries take about {magnitude:.0f} days longer than usual "
                      f"for parcels shipped {day(first)} to {day(last)}, at every warehouse")
        else:
            metric = "return_reason_rate"
            expect = (f"returns of {category} for reason {reason} are {magnitude:.1f}x their usual share "
                      f"from {day(first)} to {day(last)}")
        rows.append((e.kind, sku, category, warehouse, carrier, reason, day(first), day(last), metric,
                     float(magnitude), expect))
    columns = COLUMNS["product_labels"]
    data = {c: pd.Series([r[i] for r in rows], dtype=object) for i, c in enumerate(columns)}
    data["magnitude"] = pd.Series([r[9] for r in rows], dtype=np.float64)
    return pd.DataFrame(data)

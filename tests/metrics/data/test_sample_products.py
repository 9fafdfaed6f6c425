"""The demo shop's products, stock and fulfilment: each consistency rule checked on its own, with plain
pandas on the generated rows, on a small shop and on the session's demo shop; the planted events are
visible; the tables reach every warehouse engine.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import create_engine, inspect, text

from metrics.data.load import PRODUCT_LABELS, write_shop
from metrics.data.sample import CATEGORIES, Shop, ShopSpec, generate
from metrics.data.sample_products import CARRIERS, COLUMNS, RETURN_REASONS, WAREHOUSES
from metrics.data.schema import PRODUCT_TABLES, READ_INDEXES
from tests.conftest import DEMO_SPEC, PG_URL, pg_scratch_url

END = date(2026, 11, 25)
SMALL = ShopSpec(end=END, days=120, orders=8_000, skus=60, seed=3)
TRANSIT = {"sf": (1, 2), "zto": (2, 4), "yto": (2, 5), "jd": (1, 2)}  # days


@pytest.fixture(scope="module")
def small() -> Shop:
    return generate(SMALL)


@pytest.fixture(params=["small", "demo"])
def shop_and_spec(request: pytest.FixtureRequest) -> tuple[Shop, ShopSpec]:
    if request.param == "small":
        return request.getfixturevalue("small"), SMALL
    return request.getfixturevalue("demo_shop"), DEMO_SPEC


def day0(spec: ShopSpec) -> pd.Timestamp:
    return pd.Timestamp(spec.end - timedelta(days=spec.days))


def lines_with_orders(shop: Shop) -> pd.DataFrame:
    return shop.order_lines.merge(shop.orders, on="order_id", how="left", validate="many_to_one")


def shipped_units(shop: Shop) -> pd.DataFrame:
    """Units shipped per (day, sku, warehouse), from the lines of shipped orders."""
    s = shop.shipments.assign(day=shop.shipments.shipped_at.dt.normalize())
    lines = shop.order_lines.merge(s[["order_id", "day", "warehouse"]], on="order_id")
    return lines.groupby(["day", "sku", "warehouse"]).quantity.sum().rename("shipped").reset_index()


def stock(shop: Shop) -> pd.DataFrame:
    """Inventory with the units shipped that day and the arrivals the stock equation implies."""
    inv = shop.inventory.merge(shipped_units(shop), on=["day", "sku", "warehouse"], how="left")
    inv["shipped"] = inv.shipped.fillna(0).astype(np.int64)
    inv = inv.sort_values(["sku", "warehouse", "day"], ignore_index=True)
    g = inv.groupby(["sku", "warehouse"])
    inv["prev_on_hand"] = g.on_hand.shift()
    inv["prev_on_order"] = g.on_order.shift()
    inv["arrived"] = inv.on_hand - inv.prev_on_hand + inv.shipped
    inv["ordered"] = inv.on_order - inv.prev_on_order + inv.arrived
    return inv


# ---- 1. the catalogue ---------------------------------------------------------------------------


def test_catalogue(shop_and_spec: tuple[Shop, ShopSpec]) -> None:
    shop, spec = shop_and_spec
    p = shop.products
    assert len(p) == spec.skus and p.sku.is_unique
    assert set(p.category) == set(CATEGORIES)  # every category has SKUs, and only the shop's categories
    assert p.name.map(lambda s: isinstance(s, str) and len(s) > 1).all()
    assert p.name.str.contains(r"[\u4e00-\u9fff]").any() and p.name.str.contains(r"[A-Za-z]").any()
    # a chart of products draws their names with the shipped font subset on a fresh install
    from matplotlib import font_manager

    from metrics import charts

    charmap = font_manager.get_font(str(charts.SHIPPED_FONT)).get_charmap()
    wide = {ch for name in p.name for ch in name if ord(ch) > 0x2E80}
    assert not {ch for ch in wide if ord(ch) not in charmap}
    margin = 1 - p.cost / p.unit_price
    assert margin.between(0.2 - 0.005, 0.7 + 0.005).all()
    assert p.lead_time_days.between(3, 30).all() and p.lead_time_days.dtype == np.int64
    # popularity is Zipf-like inside a category: its best-selling fifth sells most of its units
    units = shop.order_lines.merge(p[["sku", "category"]], on="sku").groupby(["category", "sku"]).quantity.sum()
    top = units.groupby(level=0).apply(lambda s: s.nlargest(max(1, len(s) // 5)).sum() / s.sum())
    sizes = p.groupby("category").size()
    big = sizes[sizes >= 10].index
    assert top[big].median() > 0.4 if len(big) else spec.skus < 10 * len(CATEGORIES)


# ---- 2. order lines -----------------------------------------------------------------------------


def test_every_order_has_lines_summing_to_its_amount(shop_and_spec: tuple[Shop, ShopSpec]) -> None:
    shop, _ = shop_and_spec
    o, lines = shop.orders, shop.order_lines
    assert set(lines.order_id) == set(o.order_id)  # cancelled ones too
    total = lines.groupby("order_id").line_amount.sum().reindex(o.order_id)
    assert np.abs(total.to_numpy() - o.amount.to_numpy()).max() < 0.005
    assert np.allclose(lines.line_amount, lines.line_amount.round(2), rtol=0, atol=1e-9)
    assert not lines.duplicated(["order_id", "sku"]).any()
    per_order = lines.groupby("order_id").size()
    assert (per_order <= 3).mean() > 0.95 and (per_order >= 2).mean() > 0.15


def test_lines_agree_with_the_catalogue_and_their_order(shop_and_spec: tuple[Shop, ShopSpec]) -> None:
    shop, _ = shop_and_spec
    m = lines_with_orders(shop).merge(shop.products, on="sku", how="left", suffixes=("", "_product"))
    assert m.name.notna().all()  # every SKU is in the catalogue
    assert (m.category == m.category_product).all()
    assert (m.quantity >= 1).all() and m.quantity.dtype == np.int64
    assert np.allclose(m.unit_price, m.unit_price_product)
    assert np.allclose(m.cost, m.cost_product * m.quantity, rtol=0, atol=0.005)
    listed = m.unit_price * m.quantity
    assert (m.line_amount <= listed + 1e-9).all()  # a discount, never a surcharge
    # mostly a small one (a catalogue of a few SKUs a category leaves gaps between their prices)
    assert (m.line_amount >= 0.7 * listed).mean() > (0.9 if len(shop.products) >= 10 * len(CATEGORIES) else 0.8)
    assert (m.line_amount > 0).all()


# ---- 4. shipments -------------------------------------------------------------------------------


def test_shipments_follow_the_orders(shop_and_spec: tuple[Shop, ShopSpec]) -> None:
    shop, spec = shop_and_spec
    end = pd.Timestamp(spec.end)
    s = shop.shipments.merge(shop.orders, on="order_id", how="left", validate="one_to_one")
    assert s.status.notna().all()
    assert set(s.status) <= {"shipped", "completed", "refunded"}  # never cancelled, placed or paid
    shipped = shop.orders[shop.orders.status.isin(["shipped", "completed", "refunded"])]
    assert set(s.order_id) == set(shipped.order_id)
    unshipped = shop.orders[shop.orders.status.isin(["placed", "paid"])]
    assert (unshipped.ordered_at >= end - pd.Timedelta(days=5)).all()  # only recent orders wait
    assert (s.shipped_at >= s.ordered_at).all() and (s.shipped_at > s.ordered_at).mean() > 0.999
    assert (s.shipped_at < end).all()
    delay = (s.shipped_at - s.ordered_at) / pd.Timedelta(hours=1)
    assert (delay <= 72).all() and 0.75 < (delay <= 24).mean() < 0.95
    assert set(s.carrier) == set(CARRIERS) and set(s.warehouse) <= set(WAREHOUSES)
    done = s[s.delivered_at.notna()]
    assert (done.delivered_at > done.shipped_at).all() and (done.delivered_at < end).all()
    # in transit: only parcels shipped in the last days, never a completed order
    transit = s[s.delivered_at.isna()]
    assert (transit.shipped_at >= end - pd.Timedelta(days=5)).all()
    assert not (transit.status == "completed").any()
    assert s.delivered_at.isna().any()


def test_transit_times_per_carrier(shop_and_spec: tuple[Shop, ShopSpec]) -> None:
    shop, spec = shop_and_spec
    s = shop.shipments.assign(days=lambda f: (f.delivered_at - f.shipped_at) / pd.Timedelta(days=1))
    s = s[s.shipped_at < pd.Timestamp(spec.end) - pd.Timedelta(days=8)]  # deliveries all in
    delay = shop.product_labels[shop.product_labels.kind == "carrier_delay"]
    for row in delay.itertuples():
        hit = (s.carrier == row.carrier) & s.shipped_at.dt.date.between(row.first_day, row.last_day)
        s = s[~hit]
    for carrier, (lo, hi) in TRANSIT.items():
        days = s[s.carrier == carrier].days
        assert days.between(lo, hi).all(), carrier
    # carriers follow the warehouse's mix: jd mostly from the north, sf from the south
    mix = pd.crosstab(shop.shipments.warehouse, shop.shipments.carrier, normalize="index")
    assert mix.loc["north_dc", "jd"] > mix.loc["east_dc", "jd"] and mix.loc["south_dc", "sf"] > mix.loc["east_dc", "sf"]


def test_orders_ship_from_a_warehouse_stocking_every_line(shop_and_spec: tuple[Shop, ShopSpec]) -> None:
    shop, _ = shop_and_spec
    stocked = shop.inventory[["sku", "warehouse"]].drop_duplicates()
    lines = shop.order_lines.merge(shop.shipments[["order_id", "warehouse"]], on="order_id")
    m = lines.merge(stocked, on=["sku", "warehouse"], how="left", indicator=True)
    assert (m._merge == "both").all()
    # regional orders ship from their region's warehouse when it has everything
    s = shop.shipments.merge(shop.orders[["order_id", "region"]], on="order_id")
    assert (s[s.region == "north"].warehouse == "north_dc").mean() > 0.3
    assert (s[s.region == "east"].warehouse == "east_dc").all()


# ---- 3. inventory -------------------------------------------------------------------------------


def test_inventory_has_one_snapshot_per_day_sku_and_warehouse(shop_and_spec: tuple[Shop, ShopSpec]) -> None:
    shop, spec = shop_and_spec
    inv = shop.inventory
    assert pd.api.types.is_datetime64_any_dtype(inv.day) and (inv.day == inv.day.dt.normalize()).all()
    assert not inv.duplicated(["day", "sku", "warehouse"]).any()
    pairs = inv[["sku", "warehouse"]].drop_duplicates()
    assert len(inv) == len(pairs) * spec.days
    assert set(inv.day) == set(pd.date_range(day0(spec), periods=spec.days))
    assert set(pairs.sku) == set(shop.products.sku)  # every SKU is somewhere
    assert set(pairs.warehouse) == set(WAREHOUSES)
    assert pairs.groupby("sku").size().max() > 1  # some SKUs in more than one warehouse
    assert (inv.on_hand >= 0).all() and (inv.on_order >= 0).all()
    assert inv.on_hand.dtype == np.int64 and inv.on_order.dtype == np.int64


def test_the_stock_equation_holds(shop_and_spec: tuple[Shop, ShopSpec]) -> None:
    """on_hand[d] = on_hand[d-1] - units shipped from the warehouse on d + arrivals on d, where the
    arrivals are goods that were on order and orders placed are never negative."""
    shop, _ = shop_and_spec
    inv = stock(shop)
    assert inv.shipped.sum() == shop.order_lines[shop.order_lines.order_id.isin(shop.shipments.order_id)].quantity.sum()
    rest = inv[inv.prev_on_hand.notna()]
    assert (rest.arrived >= 0).all()
    assert (rest.arrived <= rest.prev_on_order).all()  # only what was on order arrives
    assert (rest.ordered >= 0).all()
    assert (rest.arrived > 0).any() and (rest.ordered > 0).any()  # it is replenished
    # where the stock was 0 all day, nothing sold from there
    empty = rest[(rest.prev_on_hand == 0) & (rest.on_hand == 0)]
    assert (empty.shipped == 0).all()


def test_replenishment_arrives_after_the_lead_time(small: Shop) -> None:
    inv = stock(small).merge(small.products[["sku", "lead_time_days"]], on="sku")
    inv = inv[inv.prev_on_hand.notna()]
    # an order placed on day d arrives on d + lead time: each arrival matches an order that many days before
    placed = inv[inv.ordered > 0].assign(day=lambda f: f.day + pd.to_timedelta(f.lead_time_days, unit="D"))
    placed = placed.rename(columns={"ordered": "due"})[["sku", "warehouse", "day", "due"]]
    arrivals = inv[inv.arrived > 0].merge(placed, on=["sku", "warehouse", "day"], how="left")
    # (what was ordered on the first day is not known: it has no day before)
    first_day_orders = arrivals.day - pd.to_timedelta(arrivals.lead_time_days, unit="D") == day0(SMALL)
    assert (arrivals.arrived == arrivals.due)[~first_day_orders].all()
    assert arrivals.due.notna().mean() > 0.9


def test_stock_is_never_out_but_where_planted(small: Shop) -> None:
    inv = small.inventory
    zero = inv[inv.on_hand == 0]
    planted = small.product_labels[small.product_labels.kind == "stock_out"]
    allowed = set()
    for row in planted.itertuples():
        for d in pd.date_range(row.first_day, row.last_day):
            allowed.add((d, row.sku, row.warehouse))
    assert set(zip(zero.day, zero.sku, zero.warehouse, strict=True)) == allowed


# ---- 5. returns ---------------------------------------------------------------------------------


def test_returns_make_up_the_refunds(shop_and_spec: tuple[Shop, ShopSpec]) -> None:
    shop, spec = shop_and_spec
    r, o = shop.returns, shop.orders
    refunded = o[o.refunded_amount > 0].set_index("order_id").refunded_amount
    assert set(r.order_id) == set(refunded.index)
    total = r.groupby("order_id").amount.sum().reindex(refunded.index)
    assert np.abs(total - refunded).max() < 0.006
    m = r.merge(shop.order_lines, on=["order_id", "sku"], how="left", suffixes=("", "_line"), validate="one_to_one")
    assert m.line_amount.notna().all()  # a returned SKU was in the order
    assert ((m.quantity >= 1) & (m.quantity <= m.quantity_line)).all()
    assert ((m.amount > 0) & (m.amount <= m.line_amount + 1e-9)).all()
    assert set(r.reason) <= set(RETURN_REASONS) and r.reason.nunique() == len(RETURN_REASONS)
    s = r.merge(shop.shipments, on="order_id", how="left")
    assert s.shipped_at.notna().all()
    assert (s.returned_at >= s.shipped_at).all()
    assert (s.returned_at[s.delivered_at.notna()] >= s.delivered_at[s.delivered_at.notna()]).all()
    assert (s.returned_at < pd.Timestamp(spec.end)).all()
    # partial refunds: at most one partly returned line per order
    partly = m[m.amount < m.line_amount - 1e-9]
    assert not partly.order_id.duplicated().any()


# ---- 6. planted events --------------------------------------------------------------------------


def test_labels_describe_the_planted_events(shop_and_spec: tuple[Shop, ShopSpec]) -> None:
    shop, spec = shop_and_spec
    labels = shop.product_labels
    assert tuple(labels.columns) == COLUMNS["product_labels"]
    assert labels.kind.value_counts().to_dict() == {"stock_out": 3, "low_cover": 1, "carrier_delay": 1, "returns_spike": 1}
    last = spec.end - timedelta(days=1)
    assert all(type(d) is date for d in list(labels.first_day) + list(labels.last_day))
    assert (labels.first_day >= spec.end - timedelta(days=60)).all() and (labels.last_day <= last).all()
    assert labels.expect.map(lambda s: isinstance(s, str) and len(s) > 20).all()
    # the windowed events do not overlap each other and avoid promotions
    windows = labels[labels.kind != "low_cover"].sort_values("first_day")
    assert (windows.first_day.iloc[1:].to_numpy() > windows.last_day.iloc[:-1].to_numpy()).all()
    promos = set(shop.promotions.day)
    for row in windows.itertuples():
        days = {row.first_day + timedelta(days=i) for i in range((row.last_day - row.first_day).days + 1)}
        assert not days & promos
    assert (labels[labels.kind == "low_cover"].last_day == last).all()
    # stock events hit top sellers by GMV (the top fifth), each a different SKU
    stock_events = labels[labels.kind.isin(["stock_out", "low_cover"])]
    assert stock_events.sku.is_unique
    counted = lines_with_orders(shop)
    gmv = counted[counted.status != "cancelled"].groupby("sku").line_amount.sum()
    assert set(stock_events.sku) <= set(gmv.nlargest(max(12, spec.skus // 5)).index)


def test_stock_outs_are_visible(shop_and_spec: tuple[Shop, ShopSpec]) -> None:
    shop, _ = shop_and_spec
    inv = stock(shop)
    for row in shop.product_labels[shop.product_labels.kind == "stock_out"].itertuples():
        series = inv[(inv.sku == row.sku) & (inv.warehouse == row.warehouse)].set_index("day")
        first, last = pd.Timestamp(row.first_day), pd.Timestamp(row.last_day)
        assert 3 <= (last - first).days + 1 <= 7
        out = series.loc[first:last]
        assert (out.on_hand == 0).all(), row
        assert (out.shipped.iloc[1:] == 0).all()  # the last units went on the first day, then nothing
        assert series.on_hand[first - pd.Timedelta(days=1)] > 0 and series.on_hand[last + pd.Timedelta(days=1)] > 0
        assert series.arrived[last + pd.Timedelta(days=1)] > 0  # restocked the day after
        # the SKU still sells where it has stock, and its category's other SKUs took the demand
        assert row.magnitude > 0


def test_low_cover_is_visible(shop_and_spec: tuple[Shop, ShopSpec]) -> None:
    shop, _ = shop_and_spec
    inv = stock(shop)
    row = shop.product_labels[shop.product_labels.kind == "low_cover"].iloc[0]
    series = inv[(inv.sku == row.sku) & (inv.warehouse == row.warehouse)].set_index("day")
    lead = int(shop.products.set_index("sku").lead_time_days[row.sku])
    rate = series.shipped.iloc[-28:].mean()
    end = series.iloc[-1]
    assert end.on_hand > 0 and end.on_order == 0
    assert end.on_hand / rate < lead
    assert abs(end.on_hand / rate - row.magnitude) < 0.1
    # the other pairs of top sellers have their cover, what is on order included
    cover = inv[inv.day == inv.day.max()].merge(
        inv.groupby(["sku", "warehouse"]).shipped.apply(lambda s: s.iloc[-28:].mean()).rename("rate").reset_index(),
        on=["sku", "warehouse"]).merge(shop.products[["sku", "lead_time_days"]], on="sku")
    busy = cover[(cover.rate >= 1) & ((cover.sku != row.sku) | (cover.warehouse != row.warehouse))]
    assert ((busy.on_hand + busy.on_order) / busy.rate >= busy.lead_time_days).mean() > 0.9


def test_carrier_delay_is_visible(shop_and_spec: tuple[Shop, ShopSpec]) -> None:
    shop, _ = shop_and_spec
    row = shop.product_labels[shop.product_labels.kind == "carrier_delay"].iloc[0]
    s = shop.shipments.assign(days=lambda f: (f.delivered_at - f.shipped_at) / pd.Timedelta(days=1),
                              day=lambda f: f.shipped_at.dt.date)
    s = s[s.delivered_at.notna()]
    inside = s.day.between(row.first_day, row.last_day)
    before = s.day.between(row.first_day - timedelta(days=28), row.first_day - timedelta(days=1))
    for carrier in CARRIERS:
        jump = s[inside & (s.carrier == carrier)].days.median() - s[before & (s.carrier == carrier)].days.median()
        if carrier == row.carrier:
            assert 2.5 < jump < 3.5 and row.magnitude == 3.0
        else:
            assert abs(jump) < 0.5, carrier
    assert s[inside & (s.carrier == row.carrier)].warehouse.nunique() == len(WAREHOUSES)  # at every warehouse


def test_returns_spike_is_visible(shop_and_spec: tuple[Shop, ShopSpec]) -> None:
    shop, spec = shop_and_spec
    row = shop.product_labels[shop.product_labels.kind == "returns_spike"].iloc[0]
    r = shop.returns.merge(shop.orders[["order_id", "category"]], on="order_id")
    r = r[r.category == row.category].drop_duplicates("order_id").assign(day=lambda f: f.returned_at.dt.date)
    inside = r.day.between(row.first_day, row.last_day)
    assert (row.last_day - row.first_day).days + 1 == 5
    share_in = (r[inside].reason == row.reason).mean()
    share_out = (r[~inside].reason == row.reason).mean()
    assert 5 <= row.magnitude <= 10
    assert share_in / share_out > 3  # (a small shop returns little: the share outside is noisy)
    # and so is its count per day (the window's returns are few: a looser bound)
    per_day_in = (r[inside].reason == row.reason).sum() / 5
    per_day_out = (r[~inside].reason == row.reason).sum() / (spec.days - 5)
    assert per_day_in > 2 * per_day_out


def test_nothing_planted_when_anomalies_are_off() -> None:
    shop = generate(replace(SMALL, anomalies=False))
    assert shop.product_labels.empty and tuple(shop.product_labels.columns) == COLUMNS["product_labels"]
    assert (shop.inventory.on_hand > 0).all()
    delivery = (shop.shipments.delivered_at - shop.shipments.shipped_at) / pd.Timedelta(days=1)
    assert delivery.max() <= 5


# ---- determinism, specs -------------------------------------------------------------------------


def test_same_seed_gives_identical_frames(small: Shop) -> None:
    again = generate(SMALL)
    for name in (*PRODUCT_TABLES, "product_labels"):
        pd.testing.assert_frame_equal(getattr(small, name), getattr(again, name), obj=name)
    other = generate(replace(SMALL, seed=4))
    assert not other.order_lines.line_amount.equals(small.order_lines.line_amount)


def test_products_leave_the_orders_alone(small: Shop) -> None:
    bare = generate(replace(SMALL, skus=0))
    for name in ("orders", "traffic", "marketing_spend", "labels", "promotions"):
        pd.testing.assert_frame_equal(getattr(small, name), getattr(bare, name), obj=name)
    for name in (*PRODUCT_TABLES, "product_labels"):
        frame = getattr(bare, name)
        assert frame.empty and tuple(frame.columns) == COLUMNS[name]
    with pytest.raises(ValueError):
        generate(replace(SMALL, skus=len(CATEGORIES) - 1))
    with pytest.raises(ValueError):
        generate(replace(SMALL, skus=-1))
    tiny = generate(ShopSpec(end=END, days=3, orders=300, skus=20))
    assert tiny.product_labels.empty and len(tiny.order_lines) >= len(tiny.orders)
    # a small shop labels only what it can show: every label names its target
    needs = {"stock_out": ["sku", "warehouse"], "low_cover": ["sku", "warehouse"], "carrier_delay": ["carrier"],
             "returns_spike": ["category", "reason"]}
    for seed in range(3):
        labels = generate(ShopSpec(end=END, days=70, orders=300, skus=20, seed=seed)).product_labels
        for row in labels.itertuples():
            assert all(getattr(row, c) is not None for c in needs[row.kind]), row
    assert generate(ShopSpec(end=END, days=10, orders=0, skus=20)).order_lines.empty


# ---- written to the warehouse -------------------------------------------------------------------


def _urls(tmp_path: Path) -> list[str]:
    urls = [f"sqlite:///{tmp_path / 'shop.db'}", f"duckdb:///{tmp_path / 'shop.duckdb'}"]
    return urls + ([pg_scratch_url("opsbot_products")] if PG_URL else [])


def test_the_tables_are_written(small: Shop, tmp_path: Path) -> None:
    for url in _urls(tmp_path):
        engine = create_engine(url)
        try:
            write_shop(engine, small, SMALL)
            present = set(inspect(engine).get_table_names())
            assert {*PRODUCT_TABLES, PRODUCT_LABELS} <= present, url
            with engine.connect() as conn:
                for name in PRODUCT_TABLES:
                    back = pd.read_sql(text(f"select * from {name}"), conn)
                    frame = getattr(small, name)
                    assert len(back) == len(frame), (url, name)
                    assert set(back.columns) == set(COLUMNS[name]) - {"unit_price"} | (
                        {"unit_price"} if name == "order_lines" else set()), (url, name)
                lines = pd.read_sql(text("select order_id, sum(line_amount) as total from order_lines group by order_id"), conn)
                amounts = small.orders.set_index("order_id").amount
                assert np.abs(lines.set_index("order_id").total - amounts.reindex(lines.order_id).to_numpy()).max() < 0.005
                in_transit = conn.execute(text("select count(*) from shipments where delivered_at is null")).scalar()
                assert in_transit == small.shipments.delivered_at.isna().sum()
                on_hand = conn.execute(text("select sum(on_hand) from inventory")).scalar()
                assert on_hand == small.inventory.on_hand.sum()
                shipped = pd.read_sql(text("select shipped_at from shipments order by order_id"), conn).shipped_at
                assert (pd.to_datetime(shipped).to_numpy() == small.shipments.shipped_at.to_numpy()).all()
                labels = pd.read_sql(text(f"select * from {PRODUCT_LABELS}"), conn)
                assert len(labels) == len(small.product_labels)
                assert labels.sku.isna().sum() == small.product_labels.sku.isna().sum()  # NULL, not 'None'
            if engine.dialect.name != "duckdb":  # DuckDB prunes without explicit indexes
                for name in PRODUCT_TABLES:
                    names = {ix["name"] for ix in inspect(engine).get_indexes(name)}
                    assert {ix for ix, _ in READ_INDEXES[name]} <= names, (url, name)
        finally:
            engine.dispose()


def test_a_shop_built_by_hand_still_writes(small: Shop, tmp_path: Path) -> None:
    bare = Shop(small.orders, small.traffic, small.marketing_spend, small.labels, small.promotions)
    engine = create_engine(f"sqlite:///{tmp_path / 'bare.db'}")
    write_shop(engine, bare, SMALL)
    with engine.connect() as conn:
        assert conn.execute(text("select count(*) from orders")).scalar() == len(small.orders)
        assert conn.execute(text("select count(*) from order_lines")).scalar() == 0
    engine.dispose()

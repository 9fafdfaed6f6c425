"""Every product KPI on the demo shop (embedded, and PostgreSQL when CI runs one), against an
independent computation with pandas over the shop's own frames, from the definitions in
docs/products.md."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from metrics.data.sample import Shop
from metrics.data.warehouse import Warehouse
from metrics.kpis import CATALOG, KpiQuery, evaluate
from metrics.periods import Period
from metrics.products import stock
from metrics.products.fulfilment import fulfilment
from metrics.products.returns import returns
from tests.conftest import TODAY

START, END = TODAY - timedelta(days=7), TODAY  # the last seven closed days
LAST = TODAY - timedelta(days=1)


def counted_lines(shop: Shop, start: date, end: date) -> pd.DataFrame:
    o = shop.orders
    keep = o[(o.status != "cancelled") & (o.ordered_at >= pd.Timestamp(start)) & (o.ordered_at < pd.Timestamp(end))]
    return shop.order_lines.merge(keep[["order_id", "channel", "ordered_at"]], on="order_id")


def test_line_kpis_and_top_skus(demo_warehouse: Warehouse, demo_shop: Shop) -> None:
    lines = counted_lines(demo_shop, START, END)
    names = "units items_per_order asp gross_margin margin_rate"
    got = {n: mv.value for n, mv in evaluate(demo_warehouse, KpiQuery(
        tuple(CATALOG[n] for n in names.split()), Period(START, END, "last 7d"))).totals.items()}
    costed = lines[lines.cost.notna()]
    assert got == pytest.approx({
        "units": lines.quantity.sum(), "items_per_order": lines.quantity.sum() / lines.order_id.nunique(),
        "asp": lines.line_amount.sum() / lines.quantity.sum(),
        "gross_margin": (costed.line_amount - costed.cost).sum(),
        "margin_rate": (costed.line_amount - costed.cost).sum() / costed.line_amount.sum()}, rel=1e-9)
    from metrics.breakdown import top

    ranked = top(demo_warehouse, "sku", CATALOG["units"], Period(START, END, "last 7d"))
    expected = lines.groupby("sku").quantity.sum()
    assert {r.key: r.value for r in ranked.rows} == expected[expected > 0].to_dict()


def test_cover_and_stockouts(demo_warehouse: Warehouse, demo_shop: Shop) -> None:
    inv = demo_shop.inventory.assign(day=demo_shop.inventory.day.dt.date, sku=demo_shop.inventory.sku.astype(str),
                                     warehouse=demo_shop.inventory.warehouse.astype(str))
    snap = inv[inv.day == LAST].set_index(["sku", "warehouse"])
    lines = counted_lines(demo_shop, LAST - timedelta(days=27), TODAY).merge(
        demo_shop.shipments[["order_id", "warehouse"]].astype({"warehouse": str}), on="order_id")
    sold = lines.groupby(["sku", "warehouse"]).quantity.sum()
    leads = demo_shop.products.set_index("sku").lead_time_days
    covers = {(c.sku, c.warehouse): c for c in stock.cover(demo_warehouse, LAST)}
    assert set(covers) == set(snap.index)
    risky = set()
    for key, c in covers.items():
        daily = sold.get(key, 0) / 28
        assert (c.on_hand, c.on_order) == (snap.on_hand[key], snap.on_order[key])
        assert c.cover_days == (pytest.approx(snap.on_hand[key] / daily) if daily else None)
        if daily and (snap.on_hand[key] + snap.on_order[key]) / daily < leads[key[0]]:
            risky.add(key)
    assert {(c.sku, c.warehouse) for c in stock.at_risk(demo_warehouse, LAST)} == risky
    planted = demo_shop.product_labels[demo_shop.product_labels.kind == "low_cover"]
    for label in planted.itertuples():  # the planted "about to run out" is among them
        assert (label.sku, label.warehouse) in risky
    # stock-outs per warehouse over the last 60 days: runs of zero days, found here with pandas
    first = TODAY - timedelta(days=60)
    window = inv[(inv.day >= first) & (inv.day < TODAY)].sort_values("day")
    runs = set()
    for (sku, wh), rows in window.groupby(["sku", "warehouse"], observed=True):
        zero = rows.on_hand.to_numpy() <= 0
        days = rows.day.to_numpy()
        for i in np.flatnonzero(zero):
            if i == 0 or not zero[i - 1]:
                runs.add((sku, wh, days[i]))
    found = {(s.sku, s.warehouse, s.first) for s in stock.stockouts(demo_warehouse, first, TODAY, by_warehouse=True)}
    assert found == runs and runs  # the planted ones at least
    planted = demo_shop.product_labels[demo_shop.product_labels.kind == "stock_out"]
    for label in planted.itertuples():
        assert (label.sku, label.warehouse, date.fromisoformat(str(label.first_day))) in found


def test_fulfilment_on_the_demo_shop(demo_warehouse: Warehouse, demo_shop: Shop) -> None:
    now = datetime.combine(TODAY, datetime.min.time()) + timedelta(hours=10)
    total, carriers = fulfilment(demo_warehouse, datetime.combine(START, datetime.min.time()),
                                 datetime.combine(END, datetime.min.time()), now, by="carrier")
    o = demo_shop.orders
    placed = o[(o.status != "cancelled") & (o.ordered_at >= pd.Timestamp(START)) & (o.ordered_at < pd.Timestamp(END))]
    rows = placed.merge(demo_shop.shipments, on="order_id", how="left")
    sla = pd.Timedelta(hours=24)
    due = rows.shipped_at.notna() | (rows.ordered_at + sla <= pd.Timestamp(now))
    on_time = rows.shipped_at.notna() & (rows.shipped_at - rows.ordered_at <= sla)
    assert (total.due, total.on_time, total.shipped) == (due.sum(), (on_time & due).sum(), rows.shipped_at.notna().sum())
    delivery = (rows.delivered_at - rows.shipped_at).dt.total_seconds().dropna() / 86400
    assert total.delivery_p50 == pytest.approx(float(np.percentile(delivery, 50)), rel=1e-6)
    per = rows[rows.shipped_at.notna()].groupby("carrier").order_id.count().to_dict()
    assert {c.key: c.shipped for c in carriers} == per


def test_returns_on_the_demo_shop(demo_warehouse: Warehouse, demo_shop: Shop) -> None:
    start, end = datetime.combine(START, datetime.min.time()), datetime.combine(END, datetime.min.time())
    total, reasons = returns(demo_warehouse, start, end, by="reason")
    r = demo_shop.returns
    inside = r[(r.returned_at >= pd.Timestamp(start)) & (r.returned_at < pd.Timestamp(end))]
    sold = counted_lines(demo_shop, START, END)
    assert total.units == inside.quantity.sum() and total.amount == pytest.approx(inside.amount.sum())
    assert total.unit_rate == pytest.approx(inside.quantity.sum() / sold.quantity.sum())
    assert {x.key: x.units for x in reasons} == inside.groupby("reason").quantity.sum().to_dict()

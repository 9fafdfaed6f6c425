"""The campaign report's units sold and the SKUs that sold out during the campaign, against pandas
over the demo shop's frames (the definitions in docs/planning.md and docs/products.md); a shop
without order lines or stock gets the report it always had."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from bot.app import build_dispatcher
from bot.config import Settings
from metrics.data.sample import Shop
from metrics.data.warehouse import Warehouse
from tests.conftest import Clock
from tests.fakes.chat import Chat
from tests.metrics import small_shop
from tests.metrics.products import small_products

BASELINE = 28  # in-stock days before a stock-out its lost sales are measured over


def counted_lines(shop: Shop, first: date, last: date, channels: tuple[str, ...] = ()) -> float:
    """Units: the line quantities of the orders that count placed on the days first..last."""
    o = shop.orders[shop.orders.status != "cancelled"]
    day = o.ordered_at.dt.date
    o = o[(day >= first) & (day <= last)]
    if channels:
        o = o[o.channel.isin(channels)]
    return float(shop.order_lines[shop.order_lines.order_id.isin(o.order_id)].quantity.sum())


def sold_out_runs(shop: Shop, first: date, last: date) -> list[dict[str, object]]:
    """Runs of zero on_hand snapshot days per SKU and warehouse that begin on a day first..last
    (a SKU at zero the day before began earlier), their days within first..last, and their lost
    sales: the line GMV a day of the 28 days before the run on which the SKU was in stock (over all
    warehouses) × the warehouse's share of the SKU's stock on those days × the days out."""
    inv = shop.inventory.assign(sku=shop.inventory.sku.astype(str), warehouse=shop.inventory.warehouse.astype(str),
                                day=shop.inventory.day.dt.date)
    totals = inv.groupby(["sku", "day"]).on_hand.sum()
    o = shop.orders[shop.orders.status != "cancelled"].assign(day=lambda f: f.ordered_at.dt.date)
    lines = shop.order_lines.merge(o[["order_id", "day"]], on="order_id").assign(
        sku=lambda f: f.sku.astype(str)).groupby(["sku", "day"]).line_amount.sum()
    runs = []
    window = inv[(inv.day >= first - timedelta(days=1)) & (inv.day <= last)]
    for (sku, wh), rows in window.sort_values("day").groupby(["sku", "warehouse"]):
        run: list[date] = []
        for d, q in zip(rows.day, rows.on_hand, strict=True):
            if q == 0:
                run.append(d)
                continue
            if run:
                runs.append((sku, wh, run))
            run = []
        if run:
            runs.append((sku, wh, run))
    out = []
    for sku, wh, run in runs:
        if run[0] < first:
            continue
        days = [d for d, v in totals[sku].items() if v > 0 and d < run[0]][-BASELINE:]
        held = sum(float(inv[(inv.sku == sku) & (inv.warehouse == wh) & (inv.day == d)].on_hand.sum()) for d in days)
        share = held / sum(float(totals[(sku, d)]) for d in days)
        gmv = sum(float(lines.get((sku, d), 0.0)) for d in days)
        out.append({"sku": sku, "warehouse": wh, "first": run[0].isoformat(), "days": len(run),
                    "lost_gmv": gmv / len(days) * share * len(run)})
    return sorted(out, key=lambda r: (-r["lost_gmv"], r["sku"], r["first"]))


async def test_units_sold_over_the_campaign_days_and_against_the_baseline(chat: Chat, demo_shop: Shop) -> None:
    report = await chat.send("campaign report 11.11")  # the demo's promotion, 2026-11-09..11
    assert not report.error, report.plain_text()
    d = report.data
    assert d["actual"]["units"] == pytest.approx(counted_lines(demo_shop, date(2026, 11, 9), date(2026, 11, 11)))
    # the baseline GMV has: units are above it on the campaign days, as GMV is
    assert d["baseline"]["units"] > 0 and d["lift"]["units"] > 0.3 and d["incremental"]["units"] > 0
    lo, hi = d["lift_range"]["units"]
    assert lo < d["lift"]["units"] < hi
    [table] = [t for t in report.tables if t.rows and t.rows[0][0] == "GMV"]
    assert [row[0] for row in table.rows] == ["GMV", "Orders", "New customers", "Units"]
    assert table.rows[3][1] == f"{d['actual']['units']:,.0f}"


async def test_units_of_a_campaign_of_some_channels(chat: Chat, demo_shop: Shop) -> None:
    await chat.send("campaign add promo 2026-11-09..2026-11-11 search social")
    d = (await chat.send("campaign report promo")).data
    assert d["actual"]["units"] == pytest.approx(
        counted_lines(demo_shop, date(2026, 11, 9), date(2026, 11, 11), ("search", "social")))


async def test_the_skus_that_sold_out_during_a_campaign(chat: Chat, demo_shop: Shop) -> None:
    # SPT-10187 runs out at east_dc on 2026-10-31 (a planted stock-out) and is restocked on 11-05
    await chat.send("campaign add autumn 2026-10-29..2026-11-05")
    report = await chat.send("campaign report autumn")
    assert not report.error, report.plain_text()
    expected = sold_out_runs(demo_shop, date(2026, 10, 29), date(2026, 11, 5))
    assert [(r["sku"], r["warehouse"], r["first"]) for r in expected] == [("SPT-10187", "east_dc", "2026-10-31")]
    got = report.data["sold_out"]
    assert [(r["sku"], r["warehouse"], r["first"], r["days"]) for r in got] == [
        (r["sku"], r["warehouse"], r["first"], r["days"]) for r in expected]
    assert [r["lost_gmv"] for r in got] == pytest.approx([r["lost_gmv"] for r in expected])
    [table] = [t for t in report.tables if t.title == "Sold out during the campaign (1)"]
    assert table.rows[0][:5] == ["SPT-10187", "露营帐篷 升级款", "east_dc", "2026-10-31", "5"]
    assert "at the SKU's pace before it ran out" in report.plain_text()


async def test_a_stock_out_that_began_before_the_campaign_is_not_its_doing(chat: Chat, demo_shop: Shop) -> None:
    # CMP-10159 is out everywhere from 2026-09-29 (before); CMP-10147 runs out at north_dc on 10-11 (during)
    await chat.send("campaign add early 2026-10-01..2026-10-14")
    await chat.send("lang zh")
    report = await chat.send("campaign report early")
    assert not report.error, report.plain_text()
    expected = sold_out_runs(demo_shop, date(2026, 10, 1), date(2026, 10, 14))
    assert [(r["sku"], r["warehouse"]) for r in expected] == [("CMP-10147", "north_dc")]
    got = report.data["sold_out"]
    assert [(r["sku"], r["warehouse"], r["first"], r["days"]) for r in got] == [
        (r["sku"], r["warehouse"], r["first"], r["days"]) for r in expected]
    assert [r["lost_gmv"] for r in got] == pytest.approx([r["lost_gmv"] for r in expected])
    assert "活动期间断货（1 个）" in report.plain_text() and "断货开始" in report.plain_text()


async def test_a_campaign_without_stock_outs_says_so(chat: Chat) -> None:
    report = await chat.send("campaign report 11.11")
    assert report.data["sold_out"] == []
    assert "No SKU sold out during the campaign." in report.text


# ---- without the tables: the report it always had -----------------------------------------------------


def chat_over(url: str, tmp_path: Path) -> Chat:
    settings = Settings.model_validate({"warehouse": {"url": url}, "state": {"url": f"sqlite:///{tmp_path / 's.db'}"}})
    wh = Warehouse.from_url(url, settings.mapping())
    return Chat(build_dispatcher(settings, wh, clock=Clock(datetime(2026, 11, 4, 12))))


async def test_a_shop_without_lines_or_stock_gets_the_report_unchanged(tmp_path: Path) -> None:
    shop = chat_over(small_shop.build(tmp_path / "shop.db"), tmp_path)
    await shop.send("campaign add sale 2026-11-02..2026-11-03")
    report = await shop.send("campaign report sale")
    assert not report.error, report.plain_text()
    assert "units" not in report.data["actual"] and "sold_out" not in report.data
    assert [row[0] for row in report.tables[0].rows] == ["GMV", "Orders", "New customers"]
    assert len(report.tables) == 1 and "sold out" not in report.plain_text().lower()


async def test_a_shop_with_lines_but_no_stock_gets_units_only(tmp_path: Path) -> None:
    url = small_products.build(tmp_path / "shop.db")
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("drop table inventory"))
    engine.dispose()
    shop = chat_over(url, tmp_path)
    await shop.send("campaign add sale 2026-11-01..2026-11-03")
    report = await shop.send("campaign report sale")
    assert not report.error, report.plain_text()
    # the hand-made lines (tests/metrics/products/small_products.py): 12 units over 11-01..03
    assert report.data["actual"]["units"] == 12
    assert "sold_out" not in report.data and len(report.tables) == 1

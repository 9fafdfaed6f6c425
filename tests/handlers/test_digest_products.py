"""The digest's stock-and-fulfilment section (`with stock`, `sections = ["stock"]`): its numbers
against pandas over the demo shop's frames, written from the definitions (docs/digest.md,
docs/products.md), the subscription grammar, the late-data refresh, and what a shop without the
tables gets."""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from sqlalchemy import create_engine, select, text

from bot.app import build_dispatcher
from bot.config import DigestSection, Settings
from bot.delivery import scheduler as sched
from bot.delivery.outbox import Deliverer, Outbox
from bot.delivery.scheduler import Runtime, install, run_subscription
from bot.errors import ConfigError
from bot.state.keys import subscription_key
from bot.state.store import Store, Subscription, SubscriptionSections
from handlers import digest
from handlers.digest import digest_subscription_key, fingerprint
from metrics.data.sample import Shop
from metrics.data.warehouse import Warehouse
from tests.conftest import NOW, Clock
from tests.fakes.chat import Chat
from tests.fakes.recording import RecordingAdapter
from tests.handlers.test_texts import said_twice
from tests.metrics import small_shop
from tests.metrics.products import small_products

WINDOW = 28  # [products] cover_window_days
SLA = timedelta(hours=24)  # [products] ship_sla_hours
LOOKBACK = 30  # days a stock-out's first day is looked for in
BASELINE = 28  # in-stock days before a stock-out its lost sales are measured over


# ---- the reference: pandas over the demo shop, from the definitions --------------------------------


def counted_orders(shop: Shop) -> pd.DataFrame:
    o = shop.orders[shop.orders.status != "cancelled"].copy()
    o["day"] = o.ordered_at.dt.date
    return o


def lines_by_day(shop: Shop) -> pd.DataFrame:
    """Line quantity and amount per (sku, order day) over the orders that count."""
    lines = shop.order_lines.merge(counted_orders(shop)[["order_id", "day"]], on="order_id")
    lines["sku"] = lines["sku"].astype(str)
    return lines.groupby(["sku", "day"])[["quantity", "line_amount"]].sum()


def stock_totals(shop: Shop) -> pd.DataFrame:
    inv = shop.inventory.assign(sku=shop.inventory.sku.astype(str), day=shop.inventory.day.dt.date)
    return inv.groupby(["sku", "day"]).on_hand.sum().reset_index()


def out_of_stock(shop: Shop, last: date) -> list[dict[str, object]]:
    """SKUs with zero stock over all their warehouses on `last`: their warehouses, the first day of
    the run of zero days (within the lookback), and its lost sales (the average daily line GMV of
    the 28 in-stock days before the run × the run's days), most lost sales first."""
    totals = stock_totals(shop)
    inv = shop.inventory.assign(sku=shop.inventory.sku.astype(str), warehouse=shop.inventory.warehouse.astype(str),
                                day=shop.inventory.day.dt.date)
    sold = lines_by_day(shop)
    out = []
    for sku in sorted(totals[(totals.day == last) & (totals.on_hand == 0)].sku):
        mine = totals[totals.sku == sku].set_index("day").on_hand.sort_index()
        first = last
        while (first - timedelta(days=1)) in mine.index and mine[first - timedelta(days=1)] == 0 \
                and (last - first).days < LOOKBACK - 1:
            first -= timedelta(days=1)
        in_stock = [d for d, v in mine.items() if v > 0 and d < first][-BASELINE:]
        gmv = sum(float(sold.loc[(sku, d), "line_amount"]) for d in in_stock if (sku, d) in sold.index)
        days = (last - first).days + 1
        warehouses = sorted(inv[(inv.sku == sku) & (inv.day == last)].warehouse)
        out.append({"sku": sku, "warehouses": warehouses, "since": first.isoformat(),
                    "lost_gmv": gmv / len(in_stock) * days})
    return sorted(out, key=lambda r: -r["lost_gmv"])


def out_at_a_warehouse(shop: Shop, last: date) -> set[tuple[str, str]]:
    inv = shop.inventory.assign(sku=shop.inventory.sku.astype(str), warehouse=shop.inventory.warehouse.astype(str),
                                day=shop.inventory.day.dt.date)
    totals = stock_totals(shop)
    zero_total = set(totals[(totals.day == last) & (totals.on_hand == 0)].sku)
    today = inv[(inv.day == last) & (inv.on_hand == 0)]
    return {(r.sku, r.warehouse) for r in today.itertuples() if r.sku not in zero_total}


def at_risk(shop: Shop, last: date) -> list[dict[str, object]]:
    """Per SKU and warehouse (the demo's shipments name the warehouse each order left from): in
    stock on `last`, and on hand + on order ÷ the average daily units of the 28 days through `last`
    of the orders shipped from there below the product's lead time; GMV at stake = the daily line
    GMV of those orders × (lead time − that cover)."""
    inv = shop.inventory.assign(sku=shop.inventory.sku.astype(str), warehouse=shop.inventory.warehouse.astype(str),
                                day=shop.inventory.day.dt.date)
    stock = inv[inv.day == last].set_index(["sku", "warehouse"])
    o = counted_orders(shop)
    o = o[(o.day > last - timedelta(days=WINDOW)) & (o.day <= last)]
    lines = shop.order_lines.merge(o[["order_id"]], on="order_id").merge(
        shop.shipments[["order_id", "warehouse"]], on="order_id")  # unshipped orders have no warehouse
    lines["sku"], lines["warehouse"] = lines.sku.astype(str), lines.warehouse.astype(str)
    sold = lines.groupby(["sku", "warehouse"])[["quantity", "line_amount"]].sum()
    lead = shop.products.assign(sku=shop.products.sku.astype(str)).set_index("sku").lead_time_days
    rows = []
    for (sku, wh), r in stock.iterrows():
        if (sku, wh) not in sold.index or r.on_hand <= 0:
            continue
        daily = sold.loc[(sku, wh), "quantity"] / WINDOW
        lasting = (r.on_hand + r.on_order) / daily
        if daily > 0 and lasting < lead[sku]:
            rows.append({"sku": sku, "warehouse": wh, "cover_days": r.on_hand / daily, "on_order": r.on_order,
                         "lead_time": int(lead[sku]), "daily_gmv": sold.loc[(sku, wh), "line_amount"] / WINDOW,
                         "gmv_at_stake": sold.loc[(sku, wh), "line_amount"] / WINDOW * (lead[sku] - lasting)})
    return sorted(rows, key=lambda r: (-r["gmv_at_stake"], -r["daily_gmv"], r["sku"], r["warehouse"]))


def on_time(shop: Shop, day: date, now: datetime) -> tuple[int, int, dict[str, tuple[int, int]]]:
    """(due, on time, {warehouse: (due, on time)}) of the orders that count placed on `day`, as it
    stood at `now`: a shipment after `now` is not made yet; due = shipped, or unshipped with the
    deadline passed; on time = shipped within 24 h. By warehouse: the shipped orders only."""
    o = counted_orders(shop)
    o = o[o.day == day].merge(shop.shipments[["order_id", "shipped_at", "warehouse"]], on="order_id", how="left")
    shipped = o.shipped_at.notna() & (o.shipped_at <= now)
    due = shipped | (o.ordered_at + SLA <= now)
    ok = shipped & (o.shipped_at - o.ordered_at <= SLA)
    by = {str(w): (int(len(g)), int(ok[g.index].sum())) for w, g in o[shipped].groupby("warehouse", observed=True)}
    return int(due.sum()), int((ok & due).sum()), by


def section(reply) -> dict:  # type: ignore[no-untyped-def]
    assert not reply.error, reply.plain_text()
    return reply.data["sections"]["stock"]


# ---- the numbers -----------------------------------------------------------------------------------


async def test_the_stock_outs_of_a_planted_day(chat: Chat, clock: Clock, demo_shop: Shop) -> None:
    clock.now = datetime(2026, 10, 2, 10, 30)  # CMP-10159 is out everywhere from 2026-09-29
    last = date(2026, 10, 1)
    s = section(await chat.send("digest now with stock"))
    assert s["as_of"] == last.isoformat() and s["missing"] == []
    expected = out_of_stock(demo_shop, last)
    assert expected, "the demo shop's planted stock-out is on this day"
    got = s["stockouts"]
    assert [(r["sku"], r["warehouses"], r["since"]) for r in got] == [
        (r["sku"], r["warehouses"], r["since"]) for r in expected]
    assert [r["lost_gmv"] for r in got] == pytest.approx([r["lost_gmv"] for r in expected])
    assert s["stockouts_count"] == len(expected)


async def test_a_sku_out_at_one_warehouse_only_is_listed_apart(chat: Chat, clock: Clock, demo_shop: Shop) -> None:
    clock.now = datetime(2026, 11, 2, 9, 0)  # SPT-10187 is out at east_dc, in stock elsewhere
    last = date(2026, 11, 1)
    reply = await chat.send("digest now with stock")
    s = section(reply)
    assert s["stockouts"] == [] == out_of_stock(demo_shop, last)
    expected = out_at_a_warehouse(demo_shop, last)
    assert expected
    assert {(r["sku"], w) for r in s["stockouts_partial"] for w in r["warehouses"]} == expected
    assert "Stock as of 2026-11-01, SKUs: none out of stock, 1 out at a warehouse only, " in reply.plain_text()
    [table] = [t for t in reply.tables if t.title and t.title.startswith("Out at a warehouse")]
    assert [row[0] for row in table.rows] == sorted({sku for sku, _ in expected})


async def test_the_skus_about_to_run_out(chat: Chat, demo_shop: Shop) -> None:
    reply = await chat.send("digest now with stock")
    s = section(reply)
    expected = at_risk(demo_shop, NOW.date() - timedelta(days=1))
    assert s["at_risk_count"] == len(expected)
    shown = s["at_risk"]
    assert len(shown) == min(len(expected), digest.SECTION_DATA)
    assert [(r["sku"], r["warehouse"]) for r in shown] == [(r["sku"], r["warehouse"]) for r in expected[:len(shown)]]
    for got, want in zip(shown, expected, strict=False):
        assert got["cover_days"] == pytest.approx(want["cover_days"])
        assert (got["lead_time"], got["on_order"]) == (want["lead_time"], want["on_order"])
        assert got["gmv_at_stake"] == pytest.approx(want["gmv_at_stake"])
    # the chat sees the top five by GMV at stake, and how many more there are
    [table] = [t for t in reply.tables if t.title == f"About to run out ({len(expected)})"]
    assert [(row[0], row[2]) for row in table.rows[:5]] == [(r["sku"], r["warehouse"]) for r in expected[:5]]
    if len(expected) > 5:
        assert table.rows[5][1] == f"… {len(expected) - 5} more"
    assert f"{len(expected)} about to run out (stock and orders would not last the lead time)" in reply.plain_text()


async def test_the_skus_about_to_run_out_on_another_day(chat: Chat, clock: Clock, demo_shop: Shop) -> None:
    clock.now = datetime(2026, 10, 2, 10, 30)  # more of them, with the "… more" row
    s = section(await chat.send("digest now with stock"))
    expected = at_risk(demo_shop, date(2026, 10, 1))
    assert s["at_risk_count"] == len(expected) and len(expected) > 5
    assert [(r["sku"], r["warehouse"]) for r in s["at_risk"]] == [(r["sku"], r["warehouse"]) for r in expected][:50]


async def test_the_on_time_ship_rate_of_yesterday_and_the_day_before(chat: Chat, demo_shop: Shop) -> None:
    reply = await chat.send("digest now with stock")
    s = section(reply)["on_time"]
    now = NOW
    due, ok, by = on_time(demo_shop, date(2026, 11, 24), now)
    assert (s["due"], s["on_time"]) == (due, ok) and s["rate"] == pytest.approx(ok / due)
    due0, ok0, _ = on_time(demo_shop, date(2026, 11, 23), now)
    assert (s["previous"]["due"], s["previous"]["on_time"]) == (due0, ok0)
    assert {w["warehouse"]: (w["due"], w["on_time"]) for w in s["warehouses"]} == by
    worst = min(by, key=lambda w: (by[w][1] / by[w][0], -by[w][0], w))
    assert s["warehouses"][0]["warehouse"] == worst
    text = reply.plain_text()
    assert f"{ok / due:.2%}, {ok:,} of {due:,} due" in text
    assert f"2026-11-23: {ok0 / due0:.2%}" in text


async def test_a_shipment_after_the_digest_time_is_not_made_yet(chat: Chat, clock: Clock, demo_shop: Shop) -> None:
    # at 09:00 on the 24th the orders of the 23rd are still shipping: the data (made later) holds
    # shipments after 09:00, which the digest of 09:00 must not count, or the refresh hours later
    # would read every morning's shipping as restated numbers
    clock.now = datetime(2026, 11, 24, 9, 0)
    s = section(await chat.send("digest now with stock"))["on_time"]
    due, ok, _ = on_time(demo_shop, date(2026, 11, 23), clock.now)
    assert (s["due"], s["on_time"]) == (due, ok)
    later, _, _ = on_time(demo_shop, date(2026, 11, 23), datetime(2026, 11, 24, 23, 59))
    assert later != due  # the test has teeth: counting every shipment in the data gives another number


async def test_the_weekly_digest_rates_last_week_against_the_week_before(chat: Chat, demo_shop: Shop) -> None:
    s = section(await chat.send("digest now weekly with stock"))["on_time"]
    assert s["period"] == {"start": "2026-11-16", "end": "2026-11-23"}
    days = [date(2026, 11, 16) + timedelta(days=i) for i in range(7)]
    assert s["due"] == sum(on_time(demo_shop, d, NOW)[0] for d in days)
    assert s["on_time"] == sum(on_time(demo_shop, d, NOW)[1] for d in days)
    assert s["previous"]["due"] == sum(on_time(demo_shop, d - timedelta(days=7), NOW)[0] for d in days)


@pytest.mark.parametrize("lang", ["en", "zh"])
async def test_the_section_says_nothing_twice(chat: Chat, clock: Clock, lang: str) -> None:
    clock.now = datetime(2026, 10, 2, 10, 30)
    await chat.send(f"lang {lang}")
    reply = await chat.send("digest now with stock")
    assert not reply.error, reply.plain_text()
    assert said_twice(reply) == [], reply.plain_text()
    text = reply.plain_text()
    if lang == "zh":
        assert "库存（截至 2026-10-01）：断货 1 个、即将断货" in text and "订单及时发货率（24 小时内发货）" in text
        assert "断货商品（1 个）" in text
    else:
        assert "Stock as of 2026-10-01, SKUs: 1 out of stock, " in text and "On-time ship rate (within 24 h)" in text
        assert "Out of stock (1)" in text


# ---- the digest without the section is the digest it was ----------------------------------------------


async def test_a_digest_without_the_section_is_unchanged(chat: Chat) -> None:
    plain = await chat.send("digest now")
    stocked = await chat.send("digest now with stock")
    assert "sections" not in plain.data
    assert not any(line.startswith(("Stock as of", "On-time ship rate")) for line in plain.text)
    # the same digest with the section's lines and tables added
    added = [line for line in stocked.text if line not in plain.text]
    assert [line[:13] for line in added] == ["Stock as of 2", "On-time ship "]
    assert [t.title for t in stocked.tables if t not in plain.tables] == [
        t.title for t in stocked.tables if t.title and t.title.startswith(("Out of", "Out at", "About to"))]
    assert {k: v for k, v in stocked.data.items() if k != "sections"} == plain.data
    # the fingerprint of a plain digest is what it always was: the numbers of its metrics
    numbers = json.dumps(plain.data["metrics"], sort_keys=True, default=str)
    assert fingerprint(plain) == hashlib.sha256(numbers.encode()).hexdigest()[:32]
    assert fingerprint(stocked) != fingerprint(plain)


# ---- without the tables ----------------------------------------------------------------------------------


def chat_over(url: str, tmp_path: Path, **extra: object) -> Chat:
    settings = Settings.model_validate({"warehouse": {"url": url}, "state": {"url": f"sqlite:///{tmp_path / 's.db'}"},
                                        **extra})
    wh = Warehouse.from_url(url, settings.mapping())
    return Chat(build_dispatcher(settings, wh, clock=Clock(datetime(2026, 11, 4, 12))))


@pytest.mark.parametrize("lang", ["en", "zh"])
async def test_a_shop_without_the_tables_gets_the_digest_without_the_section(tmp_path: Path, lang: str) -> None:
    shop = chat_over(small_shop.build(tmp_path / "shop.db"), tmp_path)
    await shop.send(f"lang {lang}")
    plain = await shop.send("digest now")
    reply = await shop.send("digest now with stock")
    assert not reply.error and reply.data.get("error") is None, reply.plain_text()
    assert reply.data["sections"]["stock"] == {"missing": ["inventory", "order_lines", "shipments"]}
    [line] = [line for line in reply.text if line not in plain.text]
    if lang == "en":
        assert line == ("Stock and fulfilment left out: it needs the inventory, order_lines, shipments table(s) "
                        "(`opsbot check` shows what is there).")
    else:
        assert line.startswith("未显示库存与履约：需要 inventory、order_lines、shipments 表")
    assert reply.tables == plain.tables


async def test_a_missing_table_leaves_out_only_its_part(tmp_path: Path) -> None:
    url = small_products.build(tmp_path / "shop.db")
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("drop table shipments"))
    engine.dispose()
    reply = await chat_over(url, tmp_path).send("digest now with stock")
    s = section(reply)
    assert s["missing"] == ["shipments"] and "on_time" not in s
    # the hand-made stock (tests/metrics/products/small_products.py): SKU-T out at east_dc from 11-02
    assert [(r["sku"], r["warehouses"], r["since"]) for r in s["stockouts"]] == [("SKU-T", ["east_dc"], "2026-11-02")]
    assert [r["sku"] for r in s["at_risk"]] == []  # SKU-T, the one below its lead time, is out already
    assert "The on-time ship rate left out: it needs the shipments table(s)." in reply.text


async def test_a_channel_scoped_chat_sees_no_stock(dispatcher, demo_settings, demo_shop: Shop) -> None:  # type: ignore[no-untyped-def]
    settings = demo_settings.model_copy(update={"access": demo_settings.access.model_copy(update={
        "chats": ("slack:CSOCIAL",), "scopes": {"slack:CSOCIAL": {"channel": ("social",)}}})})
    dispatcher.services.settings = settings
    social = Chat(dispatcher).as_("slack:CSOCIAL", "slack:U1")
    reply = await social.send("digest now with stock")
    s = section(reply)
    # as in a shop that held only its rows (tests/bot/test_scopes.py): stock is not kept per channel
    assert s["as_of"] is None and s["stockouts"] == [] and s["at_risk"] == []
    assert "No stock snapshot on or before 2026-11-24." in reply.text
    shop = Shop(demo_shop.orders[demo_shop.orders.channel == "social"], demo_shop.traffic, demo_shop.marketing_spend,
                demo_shop.labels, demo_shop.promotions, shipments=demo_shop.shipments)
    due, ok, _ = on_time(shop, date(2026, 11, 24), NOW)
    assert (s["on_time"]["due"], s["on_time"]["on_time"]) == (due, ok)


# ---- subscribing --------------------------------------------------------------------------------------------


async def test_subscribe_with_stock(chat: Chat, store: Store) -> None:
    plain = await chat.send("subscribe digest daily 09:00")
    stocked = await chat.send("subscribe digest daily 09:00 with stock")
    assert not stocked.error, stocked.plain_text()
    assert stocked.data["existing"] is False and stocked.data["subscription"] != plain.data["subscription"]
    assert stocked.data["sections"] == ["stock"] and plain.data["sections"] == []
    assert "with stock and fulfilment" in stocked.plain_text()
    again = await chat.send("subscribe digest daily 09:00 with stock")
    assert again.data["existing"] is True and again.data["subscription"] == stocked.data["subscription"]
    listing = await chat.send("subscriptions")
    assert [s["sections"] for s in listing.data["subscriptions"]] == [[], ["stock"]]
    with store.session() as s:
        sub = s.get(Subscription, stocked.data["subscription"])
        assert sub is not None and sub.sections == ["stock"]
        assert digest.DigestSpec.of(sub).sections == ("stock",)
    # unsubscribing removes its sections too
    assert not (await chat.send(f"unsubscribe {stocked.data['subscription']}")).error
    with store.session() as s:
        assert s.scalars(select(SubscriptionSections)).all() == []


async def test_subscribe_with_stock_in_chinese(chat: Chat) -> None:
    await chat.send("lang zh")
    reply = await chat.send("订阅 日报 每天 09:00 含 库存")
    assert not reply.error, reply.plain_text()
    assert reply.data["sections"] == ["stock"] and "含库存与履约" in reply.plain_text()


@pytest.mark.parametrize(("command", "expect"), [
    ("subscribe digest daily 09:00 with", "`with` takes a section of the digest: stock"),
    ("subscribe digest daily 09:00 with stocks", "(got 'stocks')"),
    ("digest now with returns", "(got 'returns')"),
    ("digest now stock", "digest now with stock"),
])
async def test_bad_section_input(chat: Chat, command: str, expect: str) -> None:
    reply = await chat.send(command)
    assert reply.error and expect in reply.plain_text()


def test_the_key_of_a_subscription_without_sections_is_unchanged() -> None:
    plain = Subscription(chat="slack:C1", cadence="daily", at="09:00", timezone="UTC", metrics=["gmv"])
    assert digest_subscription_key(plain) == subscription_key(plain)
    stocked = Subscription(chat="slack:C1", cadence="daily", at="09:00", timezone="UTC", metrics=["gmv"],
                           sections=["stock"])
    assert digest_subscription_key(stocked) != subscription_key(stocked)
    assert digest_subscription_key(stocked).startswith("subscription:") and len(digest_subscription_key(stocked)) < 100


def test_config_digest_sections_are_validated() -> None:
    assert DigestSection(chat="slack:C1", sections=("stock",)).sections == ("stock",)
    assert DigestSection(chat="slack:C1").sections == ()
    with pytest.raises(ValueError, match="stock"):
        DigestSection(chat="slack:C1", sections=("stocks",))


def test_config_digest_sections_are_refused_in_a_file_by_name(tmp_path: Path) -> None:
    from bot.config import load_settings

    cfg = tmp_path / "opsbot.toml"
    cfg.write_text('[[digest]]\nchat = "slack:COPS"\nsections = ["inventory"]\n')
    with pytest.raises(ConfigError, match="digest.0.sections"):
        load_settings(cfg)


def test_config_digest_sections_reach_the_subscription(tmp_path: Path, store: Store) -> None:
    from bot.config import load_settings
    from bot.run import sync_config_subscriptions

    cfg = tmp_path / "opsbot.toml"
    cfg.write_text('[[digest]]\nchat = "slack:COPS"\nat = "09:00"\nsections = ["stock"]\n')
    sync_config_subscriptions(load_settings(cfg), store)
    with store.session() as s:
        [sub] = s.scalars(select(Subscription)).all()
        assert sub.sections == ["stock"]
    cfg.write_text('[[digest]]\nchat = "slack:COPS"\nat = "09:00"\n')
    sync_config_subscriptions(load_settings(cfg), store)
    with store.session() as s:
        [sub] = s.scalars(select(Subscription)).all()
        assert sub.sections == []


# ---- scheduled: the late-data refresh includes the section ---------------------------------------------------


@pytest.fixture
def runtime(dispatcher, store: Store):  # type: ignore[no-untyped-def]
    adapter = RecordingAdapter()
    outbox = Outbox(store)
    now = {"t": datetime(2026, 11, 25, 9, 0, 5, tzinfo=ZoneInfo("Asia/Shanghai"))}
    rt = Runtime(dispatcher, outbox, Deliverer(outbox, {"slack": adapter}), clock=lambda: now["t"])
    install(rt)
    with store.session() as s, s.begin():
        for sections in ([], ["stock"]):
            s.add(Subscription(chat="slack:COPS", cadence="daily", at="09:00", timezone="Asia/Shanghai", metrics=[],
                               sections=sections))
    return rt, adapter


async def test_late_stock_data_edits_a_digest_with_the_section_only(runtime, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    rt, adapter = runtime
    assert [await run_subscription(i) for i in (1, 2)] == ["enqueued", "enqueued"]
    await rt.deliverer.run_once()
    item = rt.outbox.get("digest:2:2026-11-25")
    assert item.payload["data"]["sections"]["stock"]["as_of"] == "2026-11-24"
    assert "sections" not in rt.outbox.get("digest:1:2026-11-25").payload["data"]
    fire = datetime(2026, 11, 25, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    assert [await sched.refresh_digest(i, fire.isoformat()) for i in (1, 2)] == ["unchanged", "unchanged"]
    # a late stock snapshot: one SKU at risk is restocked
    real = digest.stock_today

    def restocked(*args, **kwargs):  # type: ignore[no-untyped-def]
        found = real(*args, **kwargs)
        found.at_risk = found.at_risk[1:]
        return found

    monkeypatch.setattr(digest, "stock_today", restocked)
    assert [await sched.refresh_digest(i, fire.isoformat()) for i in (1, 2)] == ["unchanged", "edited"]
    [(_, edited)] = adapter.edits
    assert "Updated" in edited.text[0]

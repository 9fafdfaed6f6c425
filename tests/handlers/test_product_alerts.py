"""Product alerts in the dialogue (issue 19): `scan <day>` on the demo shop's planted events answers
with an alert naming the SKU, warehouse, carrier or reason, in English and Chinese, with buttons
that run the relevant command; ack works, and a second scan of the same day posts nothing new.
The daily scan defers them to the end of the quiet hours and pushes them once; a shop without the
product tables scans exactly as before."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import create_engine

from bot.app import build_dispatcher
from bot.config import Settings
from bot.context import ChatRef
from bot.dispatch import Dispatcher
from bot.reply import Reply
from bot.state.store import Store, Subscription
from metrics.data.load import write_shop
from metrics.data.sample import Shop, ShopSpec, generate
from metrics.data.warehouse import Warehouse
from tests.conftest import NOW, Clock
from tests.fakes.chat import Chat


def planted(shop: Shop, kind: str) -> dict:  # type: ignore[type-arg]
    rows = shop.product_labels[shop.product_labels.kind == kind]
    return rows.sort_values("first_day").iloc[0].to_dict()


def product_alerts(reply: Reply, kind: str | None = None) -> list[dict]:  # type: ignore[type-arg]
    return [a for a in reply.data.get("alerts", []) if a.get("product") and kind in (None, a["product"])]


def line_of(reply: Reply, alert: dict) -> str:  # type: ignore[type-arg]
    return next(t for t in reply.text if f"#{alert['id']} " in t)


def commands(reply: Reply) -> set[str]:
    return {a.command for a in reply.actions}


async def test_a_stock_out_alert_ack_and_a_second_scan(chat: Chat, demo_shop: Shop) -> None:
    out = planted(demo_shop, "stock_out")
    reply = await chat.send(f"scan {out['first_day']}")
    assert not reply.error, reply.plain_text()
    [alert] = product_alerts(reply, "stockout_began")
    assert alert["series"] == f"stockout|sku={out['sku']}|warehouse={out['warehouse']}"
    assert alert["since"] == out["first_day"].isoformat() and alert["days_out"] == 1 and alert["lost_gmv"] > 0
    line = line_of(reply, alert)
    assert line.startswith(f"⚠️ #{alert['id']} {out['sku']} ")  # the SKU and its name
    assert f"is out of stock at {out['warehouse']} since {out['first_day']} (1 d); lost sales so far about" in line
    # ack, snooze, and what to look at: the SKU's card and the stock list
    assert {f"ack {alert['id']}", f"snooze {alert['id']} 4h", f"sku {out['sku']}", "stock"} <= commands(reply)
    acked = await chat.send(f"ack {alert['id']}")
    assert acked.data == {"alert": alert["id"], "status": "acked", "by": "console:local"}
    # the same day scanned again: the alert is known, nothing new is posted
    again = await chat.send(f"scan {out['first_day']}")
    assert not product_alerts(again)
    assert any(p["series"] == alert["series"] for p in again.data["products"])  # still found, not told twice


async def test_the_chinese_alert_names_the_carrier(chat: Chat, demo_shop: Shop) -> None:
    delay = planted(demo_shop, "carrier_delay")
    await chat.send("lang zh")
    # the parcels shipped in the window arrive days later: two days after it, the late ones are arriving
    reply = await chat.send(f"scan {delay['last_day'] + timedelta(days=2)}")
    [alert] = product_alerts(reply, "delivery_slow")
    assert alert["series"] == f"delivery|carrier={delay['carrier']}"
    line = line_of(reply, alert)
    assert f"承运商 {delay['carrier']} 配送时长" in line and "通常为" in line and "各仓：" in line, line
    assert "天" in line and "Deliveries" not in line
    button = next(a for a in reply.actions if a.command == "fulfilment last 7d by carrier")
    assert button.label == "按承运商看履约"
    assert any(a.command == f"ack {alert['id']}" and a.label == f"确认 #{alert['id']}" for a in reply.actions)


async def test_a_returns_spike_and_a_low_cover(chat: Chat, demo_shop: Shop) -> None:
    low, spike = planted(demo_shop, "low_cover"), planted(demo_shop, "returns_spike")
    assert spike["first_day"] <= low["first_day"] <= spike["last_day"]  # one scan shows both
    reply = await chat.send(f"scan {low['first_day']}")
    [cover] = product_alerts(reply, "stock_risk")
    assert cover["sku"] == low["sku"] and cover["warehouse"] == low["warehouse"]
    line = line_of(reply, cover)
    assert f"runs short at {low['warehouse']}: {low['magnitude']:.1f} days of cover with what is on order" in line
    assert f"lead time {cover['lead_time']} days" in line and "of GMV at stake" in line
    [returns] = product_alerts(reply, "returns_spike")
    assert (returns["category"], returns["reason"]) == (spike["category"], spike["reason"])
    line = line_of(reply, returns)
    assert f"Returns for {spike['reason']} in {spike['category']}:" in line and "Most of them: " in line
    assert returns["hint"][0]["sku"] in line  # the SKU behind it
    assert {f"sku {low['sku']}", "stock", "returns last 7d by reason"} <= commands(reply)
    assert sum(a.command == "stock" for a in reply.actions) == 1  # one button per view


async def test_the_daily_scan_defers_to_the_end_of_quiet_hours_and_pushes_once(dispatcher: Dispatcher,
                                                                             demo_shop: Shop) -> None:
    from handlers.alerts import scan_day

    out = [r for r in demo_shop.product_labels.to_dict("records") if r["kind"] == "stock_out"][1]
    with dispatcher.services.store.session() as s, s.begin():
        s.add(Subscription(chat="slack:COPS", cadence="daily", at="09:00", timezone="Asia/Shanghai", metrics=[]))
    ctx = dispatcher.context_for(ChatRef("console", "scheduler"))
    morning = datetime.combine(out["first_day"] + timedelta(days=1), datetime.min.time()).replace(
        hour=7, minute=30, tzinfo=ZoneInfo("Asia/Shanghai"))
    [scan] = await ctx.run(scan_day, ctx, out["first_day"], morning)
    series = f"stockout|sku={out['sku']}|warehouse={out['warehouse']}"
    [alert] = [a for a in scan.outcome.push if a.series == series]
    assert alert.severity == "warning" and not any(a.severity == "critical" for a in scan.outcome.push)
    # 07:30 is inside the quiet hours (22:00-08:00): the message waits for 08:00 (00:00 UTC)
    assert scan.not_before == datetime.combine(out["first_day"] + timedelta(days=1), datetime.min.time())
    assert f"out of stock at {out['warehouse']}" in scan.reply.plain_text()
    [rerun] = await ctx.run(scan_day, ctx, out["first_day"], morning + timedelta(minutes=5))
    assert rerun.reply is None


@pytest.fixture
def plain_shop(tmp_path: Path) -> tuple[str, Shop]:
    """A shop of orders and traffic only: its product tables are empty."""
    spec = ShopSpec(end=NOW.date(), days=70, orders=3_000, seed=5, skus=0)
    shop = generate(spec)
    url = f"duckdb:///{tmp_path / 'plain.duckdb'}"
    engine = create_engine(url)
    write_shop(engine, shop, spec)
    engine.dispose()
    return url, shop


async def test_a_shop_without_product_tables_scans_as_before(plain_shop: tuple[str, Shop], tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from handlers import alerts

    url, shop = plain_shop
    drop = shop.labels[(shop.labels.metric == "orders") & (shop.labels.dimension == "channel")].iloc[0]["day"]
    settings = Settings.model_validate({"warehouse": {"url": url}})
    warehouse = Warehouse.from_url(url, settings.mapping())

    async def scan(state: str) -> Reply:
        bot = build_dispatcher(settings, warehouse, clock=Clock(NOW), store=Store(f"sqlite:///{tmp_path / state}"))
        return await Chat(bot).send(f"scan {drop}")

    calls = []
    real = alerts.product_findings
    monkeypatch.setattr(alerts, "product_findings", lambda *a, **k: calls.append(real(*a, **k)) or calls[-1])
    now = await scan("now.db")
    assert not now.error and calls == [([], set())]  # looked, found nothing, scanned nothing
    assert now.data["alerts"] and not product_alerts(now) and "products" not in now.data
    # the reply a scan without product alerts at all gives, to the letter
    monkeypatch.setattr(alerts, "product_findings", lambda *a, **k: ([], set()))
    before = await scan("before.db")
    assert (before.title, before.text, before.actions, before.data) == (now.title, now.text, now.actions, now.data)
    warehouse.engine.dispose()

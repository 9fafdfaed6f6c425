"""`kpi` on the demo shop, checked against pandas on the generator's own rows."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import pytest
from sqlalchemy import text

from metrics.data.sample import Shop
from metrics.data.warehouse import Warehouse
from tests.conftest import TODAY
from tests.fakes.chat import Chat

YESTERDAY = TODAY - timedelta(days=1)


def expected(shop: Shop, start: date, end: date, by: str | None = None) -> pd.DataFrame:
    """The DESIGN.md definitions, written out in pandas."""
    o = shop.orders
    counted = o[o.status != "cancelled"]
    lo, hi = pd.Timestamp(start), pd.Timestamp(end)
    in_period = counted[(counted.ordered_at >= lo) & (counted.ordered_at < hi)]
    first = counted.sort_values(["ordered_at", "order_id"]).drop_duplicates("customer_id")
    new = first[(first.ordered_at >= lo) & (first.ordered_at < hi)]
    t = shop.traffic
    traffic = t[(t.day >= lo) & (t.day < hi)]
    s = shop.marketing_spend
    spend = s[(s.day >= lo) & (s.day < hi)]
    keys = [by] if by else None

    def agg(frame: pd.DataFrame, col: str, how: str) -> pd.Series | float:
        if keys:
            return frame.groupby(keys)[col].agg(how)
        return frame[col].agg(how)

    out = {
        "gmv": agg(in_period, "amount", "sum"),
        "orders": agg(in_period, "order_id", "count"),
        "buyers": agg(in_period, "customer_id", "nunique"),
        "refunded": agg(in_period, "refunded_amount", "sum"),
        "new_customers": agg(new, "customer_id", "count"),
    }
    if by in (None, "channel"):
        out["sessions"] = agg(traffic, "sessions", "sum")
        out["spend"] = agg(spend, "spend", "sum")
    frame = pd.DataFrame(out) if keys else pd.DataFrame([out])
    frame = frame.fillna(0)
    frame["aov"] = frame.gmv / frame.orders
    if "sessions" in frame:
        frame["conversion"] = frame.orders / frame.sessions
        frame["roas"] = frame.gmv / frame.spend.where(frame.spend > 0)
        frame["cac"] = frame.spend / frame.new_customers.where(frame.new_customers > 0)
    frame["refund_rate"] = frame.refunded / frame.gmv
    return frame


async def test_kpi_gmv_yesterday(chat: Chat, demo_shop: Shop) -> None:
    reply = await chat.send("kpi gmv orders yesterday")
    assert not reply.error
    exp = expected(demo_shop, YESTERDAY, TODAY).iloc[0]
    metrics = reply.data["metrics"]
    assert metrics["gmv"]["value"] == pytest.approx(exp.gmv)
    assert metrics["orders"]["value"] == exp.orders
    assert reply.data["period"] == {"start": YESTERDAY.isoformat(), "end": TODAY.isoformat()}
    assert "GMV" in reply.plain_text()


async def test_the_done_when_command(chat: Chat, demo_shop: Shop) -> None:
    reply = await chat.send("kpi gmv orders aov conversion last 7d vs previous by channel")
    assert not reply.error, reply.plain_text()
    start, prev_start = TODAY - timedelta(days=7), TODAY - timedelta(days=14)
    assert reply.data["period"] == {"start": start.isoformat(), "end": TODAY.isoformat()}
    assert reply.data["compare"]["start"] == prev_start.isoformat()
    assert reply.data["compare"]["end"] == start.isoformat()
    cur = expected(demo_shop, start, TODAY)
    prev = expected(demo_shop, prev_start, start)
    for name in ("gmv", "orders", "aov", "conversion"):
        m = reply.data["metrics"][name]
        assert m["value"] == pytest.approx(cur[name].iloc[0])
        assert m["previous"] == pytest.approx(prev[name].iloc[0])
        assert m["change"] == pytest.approx(cur[name].iloc[0] - prev[name].iloc[0])
        assert m["change_pct"] == pytest.approx((cur[name].iloc[0] / prev[name].iloc[0] - 1) * 100)
    by_cur = expected(demo_shop, start, TODAY, "channel")
    by_prev = expected(demo_shop, prev_start, start, "channel")
    rows = {row["channel"]: row["metrics"] for row in reply.data["rows"]}
    assert set(rows) == set(by_cur.index)
    for channel, metrics in rows.items():
        for name in ("gmv", "orders", "aov", "conversion"):
            assert metrics[name]["value"] == pytest.approx(by_cur.loc[channel, name])
            assert metrics[name]["previous"] == pytest.approx(by_prev.loc[channel, name])
    assert len(reply.tables) == 1 and len(reply.tables[0].rows) == len(rows)


async def test_every_skeleton_kpi_this_month(chat: Chat, demo_shop: Shop) -> None:
    reply = await chat.send("kpi gmv orders aov buyers new_customers sessions conversion spend cac roas refund_rate mtd")
    assert not reply.error, reply.plain_text()
    # mtd runs through today so far; the demo shop has no orders today
    exp = expected(demo_shop, TODAY.replace(day=1), TODAY + timedelta(days=1)).iloc[0]
    for name, m in reply.data["metrics"].items():
        assert m["value"] == pytest.approx(exp[name]), name


async def test_by_region_filtered_and_chinese_names(chat: Chat, demo_shop: Shop) -> None:
    reply = await chat.send("kpi 销售额 新客数 上月 by region where channel=search,social")
    assert not reply.error, reply.plain_text()
    first = (TODAY.replace(day=1) - timedelta(days=1)).replace(day=1)
    shop = Shop(
        orders=demo_shop.orders[demo_shop.orders.channel.isin(["search", "social"])],
        traffic=demo_shop.traffic, marketing_spend=demo_shop.marketing_spend,
        labels=demo_shop.labels, promotions=demo_shop.promotions,
    )
    # new customers: first order over all channels, then kept if that first order was search/social
    exp_all = expected(demo_shop, first, TODAY.replace(day=1), "region")
    counted = demo_shop.orders[demo_shop.orders.status != "cancelled"]
    firsts = counted.sort_values(["ordered_at", "order_id"]).drop_duplicates("customer_id")
    firsts = firsts[(firsts.ordered_at >= pd.Timestamp(first)) & (firsts.ordered_at < pd.Timestamp(TODAY.replace(day=1)))]
    new_by_region = firsts[firsts.channel.isin(["search", "social"])].groupby("region").size()
    gmv_by_region = expected(shop, first, TODAY.replace(day=1), "region").gmv
    rows = {row["region"]: row["metrics"] for row in reply.data["rows"]}
    assert set(rows) == set(exp_all.index)
    for region, metrics in rows.items():
        assert metrics["gmv"]["value"] == pytest.approx(gmv_by_region[region])
        assert metrics["new_customers"]["value"] == new_by_region.get(region, 0)


@pytest.mark.parametrize("value", ['"search"', "“search”", "“search\"", "「search」", "'search'", "‘search’"])
async def test_quoted_filter_values_in_any_quotes(chat: Chat, demo_shop: Shop, value: str) -> None:
    """Phones turn straight quotes curly and Chinese text quotes with 「」: all of them quote."""
    reply = await chat.send(f"kpi gmv last month where channel={value}")
    assert not reply.error, reply.plain_text()
    first = (TODAY.replace(day=1) - timedelta(days=1)).replace(day=1)
    orders = demo_shop.orders[demo_shop.orders.channel == "search"]
    shop = Shop(orders=orders, traffic=demo_shop.traffic, marketing_spend=demo_shop.marketing_spend,
                labels=demo_shop.labels, promotions=demo_shop.promotions)
    exp = expected(shop, first, TODAY.replace(day=1)).iloc[0]
    assert reply.data["metrics"]["gmv"]["value"] == pytest.approx(exp.gmv)


async def test_no_metric_gives_the_standard_card_fields(chat: Chat) -> None:
    reply = await chat.send("kpi")
    assert not reply.error
    assert list(reply.data["metrics"]) == ["gmv", "orders", "aov", "conversion", "new_customers", "refund_rate"]
    assert reply.data["compare"]["kind"] == "previous"


async def test_conversion_by_region_is_not_available(chat: Chat) -> None:
    reply = await chat.send("kpi gmv conversion yesterday by region")
    assert not reply.error
    assert reply.data["unavailable"] == ["conversion"]
    assert all(row["metrics"]["conversion"]["value"] is None for row in reply.data["rows"])
    assert "n/a" in reply.plain_text()


def _table_counts(wh: Warehouse) -> dict[str, int]:
    with wh.engine.connect() as conn:
        return {t: conn.execute(text(f"select count(*) from {t}")).scalar_one()
                for t in ("orders", "traffic", "marketing_spend")}


@pytest.mark.parametrize(
    ("command", "expect"),
    [
        ("frobnicate", "Unknown command 'frobnicate'"),
        ("kpii gmv", "Did you mean kpi?"),
        ("kpi gmvv", "Unknown metric 'gmvv'. Did you mean gmv?"),
        ("kpi gmv last 0d", "can't read"),
        ("kpi gmv 2026-13", "can't read"),
        ("kpi gmv by chanel", "Unknown dimension 'chanel'. Did you mean channel?"),
        ("kpi gmv by", "`by` needs a dimension"),
        ("kpi gmv where", "`where` needs a condition"),
        ("kpi gmv where channel=serch", "No orders have channel = 'serch'. Did you mean search?"),
        ("", "empty message"),
        ("   ", "empty message"),
        ("kpi " + "gmv " * 1250, "commands are at most 1000"),
        ("kpi gmv; drop table orders", "Unknown metric 'gmv;'"),
        ("kpi gmv where channel='x' or 1=1", "can't read the condition 'or 1=1'"),
        ("kpi gmv where channel='search' or 1=1", "can't read the condition 'or 1=1'"),
        ("kpi gmv where 1=1", "Unknown dimension '1'"),
        ("kpi gmv yesterday last 7d", "two periods"),
        ("kpi gmv yesterday vs", "compare with"),
        ("kpi gmv \x00\x1b[31m", "Unknown metric"),
    ],
)
async def test_bad_input_gets_a_clear_error(
    chat: Chat, demo_warehouse: Warehouse, command: str, expect: str
) -> None:
    before = _table_counts(demo_warehouse)
    reply = await chat.send(command)
    assert reply.error
    assert expect in reply.plain_text()
    assert _table_counts(demo_warehouse) == before


async def test_errors_show_the_usage_line(chat: Chat) -> None:
    text = await chat.say("kpi gmvv")
    assert "Usage: kpi [metric" in text


async def test_unexpected_failures_get_an_incident_id_not_the_exception(
    chat: Chat, demo_warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("password=hunter2 in postgresql://admin:hunter2@db/shop")

    monkeypatch.setattr(demo_warehouse, "aggregate", boom)
    reply = await chat.send("kpi gmv")
    assert reply.error
    assert "hunter2" not in reply.plain_text() and "hunter2" not in str(reply.data)
    incident = reply.data["incident"]
    assert f"incident {incident}" in caplog.text


async def test_help_lists_commands_and_explains_kpi(chat: Chat) -> None:
    listing = await chat.send("help")
    assert {"help", "kpi"} <= set(listing.data["commands"])
    kpi_help = await chat.say("help kpi")
    assert "Usage: kpi" in kpi_help and "kpi gmv yesterday" in kpi_help and "refund_rate" in kpi_help
    assert "Did you mean kpi?" in await chat.say("help kpj")


async def test_standard_card_compares_day_over_day_and_week_over_week(chat: Chat, demo_shop: Shop) -> None:
    reply = await chat.send("kpi")
    assert not reply.error
    exp = {d: expected(demo_shop, d, d + timedelta(days=1)).iloc[0]
           for d in (YESTERDAY, YESTERDAY - timedelta(days=1), YESTERDAY - timedelta(days=7))}
    for name in ("gmv", "orders", "aov", "conversion", "new_customers", "refund_rate"):
        m = reply.data["metrics"][name]
        assert m["value"] == pytest.approx(exp[YESTERDAY][name])
        assert m["previous"] == pytest.approx(exp[YESTERDAY - timedelta(days=1)][name])
        assert m["week_ago"]["previous"] == pytest.approx(exp[YESTERDAY - timedelta(days=7)][name])
    assert reply.data["compare_week"] == {"start": str(YESTERDAY - timedelta(days=7)),
                                          "end": str(YESTERDAY - timedelta(days=6))}
    assert "d/d" in reply.plain_text() and "w/w" in reply.plain_text()


def test_money_is_stored_exactly(demo_warehouse: Warehouse, demo_shop: Shop) -> None:
    """Amounts keep their cents: a 4-byte float would turn 139.12 into 139.1199951."""
    sample = demo_shop.orders.sample(50, random_state=1)
    with demo_warehouse.engine.connect() as conn:
        stored = dict(conn.execute(text("select order_id, amount from orders where order_id in ("
                                        + ",".join(str(i) for i in sample.order_id) + ")")).all())
    assert {int(k): float(v) for k, v in stored.items()} == dict(zip(sample.order_id, sample.amount, strict=True))

"""trend, top, movers, drivers and funnel on the demo shop, against pandas on the generator's rows."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest

from metrics.data.sample import Shop
from tests.conftest import TODAY
from tests.fakes.chat import Chat

YESTERDAY = TODAY - timedelta(days=1)
PNG = b"\x89PNG\r\n\x1a\n"


def counted(shop: Shop) -> pd.DataFrame:
    o = shop.orders
    o = o[o.status != "cancelled"].copy()
    o["day"] = o.ordered_at.dt.date
    return o


async def test_trend_gmv_last_90d(chat: Chat, demo_shop: Shop) -> None:
    reply = await chat.send("trend gmv last 90d")
    assert not reply.error, reply.plain_text()
    points = reply.data["series"][0]["points"]
    assert len(points) == 90
    assert points[0]["day"] == str(TODAY - timedelta(days=90)) and points[-1]["day"] == str(YESTERDAY)
    daily = counted(demo_shop).groupby("day").amount.sum()
    for p in points:
        assert p["value"] == pytest.approx(daily.get(pd.Timestamp(p["day"]).date(), 0.0))
    assert reply.charts and reply.charts[0].png.startswith(PNG)


async def test_trend_weekly_conversion_by_channel(chat: Chat, demo_shop: Shop) -> None:
    reply = await chat.send("trend conversion last 4w weekly by channel")
    assert not reply.error, reply.plain_text()
    o = counted(demo_shop)
    t = demo_shop.traffic.copy()
    t["day"] = t.day.dt.date
    start = TODAY - timedelta(days=28)
    lines = {s["line"]: s["points"] for s in reply.data["series"]}
    assert set(lines) <= {"search", "social", "email", "affiliate", "direct", "live_stream", "other"}
    for channel, points in lines.items():
        if channel == "other":
            continue
        for p in points:
            week = pd.Timestamp(p["day"]).date()
            lo, hi = max(week, start), min(week + timedelta(days=7), TODAY)
            orders = ((o.channel == channel) & (o.day >= lo) & (o.day < hi)).sum()
            sessions = t[(t.channel == channel) & (t.day >= lo) & (t.day < hi)].sessions.sum()
            assert p["value"] == pytest.approx(orders / sessions)


async def test_top_category_by_gmv_mtd(chat: Chat, demo_shop: Shop) -> None:
    reply = await chat.send("top category by gmv mtd")
    assert not reply.error, reply.plain_text()
    o = counted(demo_shop)
    mtd = o[o.day >= TODAY.replace(day=1)].groupby("category").amount.sum().sort_values(ascending=False)
    rows = reply.data["rows"]
    assert [r["category"] for r in rows] == list(mtd.index)
    assert [r["value"] for r in rows] == pytest.approx(list(mtd.values))
    assert sum(r["share"] for r in rows) == pytest.approx(1.0)


async def test_movers_gmv_yesterday_sum_to_the_change(chat: Chat, demo_shop: Shop) -> None:
    reply = await chat.send("movers gmv yesterday")
    assert not reply.error, reply.plain_text()
    o = counted(demo_shop)
    y = o[o.day == YESTERDAY].amount.sum()
    b = o[o.day == YESTERDAY - timedelta(days=1)].amount.sum()
    assert reply.data["change"] == pytest.approx(y - b)
    for dim in ("channel", "category", "region"):
        contribs = reply.data["dimensions"][dim]
        assert sum(c["contribution"] for c in contribs) == pytest.approx(y - b), dim
        exp = (o[o.day == YESTERDAY].groupby(dim).amount.sum()
               .sub(o[o.day == YESTERDAY - timedelta(days=1)].groupby(dim).amount.sum(), fill_value=0))
        got = {c["value"]: c["contribution"] for c in contribs}
        assert got == pytest.approx(exp.to_dict())


async def test_drivers_add_up(chat: Chat) -> None:
    reply = await chat.send("drivers last 7d vs previous by channel")
    assert not reply.error, reply.plain_text()
    total = reply.data["total"]
    assert sum(total["effects"].values()) == pytest.approx(total["change"])
    f = total["factors"]
    assert f["sessions"]["value"] * f["conversion"]["value"] * f["aov"]["value"] == pytest.approx(total["gmv"])
    for row in reply.data["rows"]:
        assert sum(row["effects"].values()) == pytest.approx(row["change"])


async def test_funnel_last_30d(chat: Chat, demo_shop: Shop) -> None:
    reply = await chat.send("funnel last 30d by channel")
    assert not reply.error, reply.plain_text()
    start = TODAY - timedelta(days=30)
    t = demo_shop.traffic
    t = t[(t.day.dt.date >= start) & (t.day.dt.date < TODAY)]
    o = counted(demo_shop)
    o = o[(o.day >= start) & (o.day < TODAY)]
    per_customer = o.groupby("customer_id").size()
    expected = [t.sessions.sum(), t.product_views.sum(), t.add_to_cart.sum(), len(o), (per_customer >= 2).sum()]
    assert [s["count"] for s in reply.data["steps"]] == pytest.approx(expected)
    assert reply.data["weakest"] in ("product_views", "add_to_cart", "orders", "repeat_buyers")
    assert {r["channel"] for r in reply.data["rows"]} == set(t.channel)


@pytest.mark.parametrize(
    "command",
    ["trend gmv last 30d", "top channel by orders yesterday vs previous", "movers orders yesterday",
     "drivers yesterday", "funnel last 7d", "kpi gmv", "help"],
)
async def test_english_and_chinese(chat: Chat, command: str) -> None:
    en = await chat.send(command)
    assert not en.error, en.plain_text()
    await chat.send("lang zh")
    zh = await chat.send(command)
    assert not zh.error
    assert zh.title != en.title
    assert any("\u4e00" <= ch <= "\u9fff" for ch in zh.plain_text())


@pytest.mark.parametrize(
    ("command", "expect"),
    [
        ("trend", "needs a metric"),
        ("trend gmv orders", "one metric at a time"),
        ("trend gmv last 1000d", "weekly"),
        ("trend conversion by region", "can't be split"),
        ("top", "needs a dimension"),
        ("top colour by gmv", "Unknown dimension 'colour'"),
        ("top channel by", "needs a metric"),
        ("top channel by gmvv", "Did you mean gmv?"),
        ("movers", "needs a metric"),
        ("movers gmv by chanel", "Did you mean channel?"),
        ("drivers orders", "for other metrics use `movers`"),
        ("drivers yesterday by region", "can't be split"),
        ("funnel by category", "can't be split"),
        ("funnel blah", "don't understand 'blah'"),
    ],
)
async def test_bad_input(chat: Chat, command: str, expect: str) -> None:
    reply = await chat.send(command)
    assert reply.error
    assert expect in reply.plain_text()


async def test_the_answer_comes_back_before_its_chart_is_drawn(chat: Chat, dispatcher) -> None:  # type: ignore[no-untyped-def]
    for text in ("trend gmv last 30d", "top category by gmv mtd", "movers gmv yesterday", "funnel last 7d",
                 "retention", "ltv"):
        reply = await chat.send(text)
        assert not reply.error, reply.plain_text()
        assert reply.charts and all(c.pending for c in reply.charts), text
        await dispatcher.draw(reply)
        assert all(not c.pending and c.png.startswith(b"\x89PNG") for c in reply.charts), text

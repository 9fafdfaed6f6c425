"""Unknown is never shown as zero (issue 15): a period outside the data, a missing table or column,
or data not recorded at a chat's scope gets "n/a / no data" with the reason, and null in `data`.

The shop is the hand-made one of tests/metrics/small_shop.py: orders from 2026-10-15 to
2026-11-03, traffic and marketing spend from 2026-11-01 to 2026-11-03; "now" is 2026-11-04 10:00.
Expected days and values are read from its rows here, not from opsbot.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from bot.app import build_dispatcher
from bot.config import Settings
from bot.reply import Reply
from bot.state.store import Store
from metrics.data.warehouse import Warehouse
from tests.conftest import Clock
from tests.fakes.chat import Chat
from tests.metrics import small_shop

NOW = datetime(2026, 11, 4, 10, 0)
ORDERS_FIRST = min(r[2][:10] for r in small_shop.ORDERS)  # 2026-10-15
TRAFFIC_FIRST = min(r[0] for r in small_shop.TRAFFIC)  # 2026-11-01
SPEND_FIRST = min(r[0] for r in small_shop.SPEND)
SCOPED = "slack:CEAST"
ADMIN = "slack:UADMIN"
ZERO_MONEY = re.compile(r"CN¥0\.00|CN¥0(?![.,\d])")


def make_shop(tmp: Path, *statements: str) -> Chat:
    url = small_shop.build(tmp / "shop.db")
    engine = create_engine(url)
    with engine.begin() as conn:
        for statement in statements:
            conn.execute(text(statement))
    engine.dispose()
    settings = Settings.model_validate({
        "warehouse": {"url": url}, "state": {"url": f"sqlite:///{tmp / 'state.db'}"},
        "access": {"chats": [SCOPED], "admins": [ADMIN], "scopes": {SCOPED: {"region": ["east"]}}},
    })
    wh = Warehouse.from_url(url, settings.mapping())
    return Chat(build_dispatcher(settings, wh, clock=Clock(NOW), store=Store(settings.state_url())))


@pytest.fixture
def shop(tmp_path: Path) -> Chat:
    return make_shop(tmp_path)


def ok(reply: Reply) -> str:
    """The reply's text, after checking it is an answer and not an incident."""
    assert reply.data.get("error") not in ("incident", "data_unavailable"), reply.plain_text()
    return reply.plain_text()


def values(data: Any, key: str) -> list[Any]:
    """Every value stored under `key` anywhere in `data`."""
    out = []
    if isinstance(data, dict):
        for k, v in data.items():
            if k == key:
                out.append(v)
            out += values(v, key)
    elif isinstance(data, list):
        for v in data:
            out += values(v, key)
    return out


# ---- a period before the data / in the future ---------------------------------------------------

BEFORE = ["kpi gmv 2020-01", "kpi 2020-01", "trend gmv 2020-01", "top channel by gmv 2020-01",
          "movers gmv 2020-01", "drivers 2020-01", "funnel 2020-01", "retention 2020", "ltv 3 2020",
          "segments as of 2020-01-01", "kpi gmv 2020-01 by channel"]


@pytest.mark.parametrize("command", BEFORE)
async def test_a_period_before_the_data_says_when_the_data_starts(shop: Chat, command: str) -> None:
    reply = await shop.send(command)
    body = ok(reply)
    assert f"starts on {ORDERS_FIRST}" in body
    assert not ZERO_MONEY.search(body), body
    # no number stands for the period: every value in data is null
    for key in ("value", "total", "gmv"):
        assert all(v is None for v in values(reply.data, key) if not isinstance(v, dict)), (key, reply.data)


FUTURE = ["kpi gmv 2030-01", "kpi 2030-01", "trend gmv 2030-01", "top channel by gmv 2030-01",
          "movers gmv 2030-01", "drivers 2030-01", "funnel 2030-01"]


@pytest.mark.parametrize("command", FUTURE)
async def test_a_future_period_has_not_happened(shop: Chat, command: str) -> None:
    reply = await shop.send(command)
    body = ok(reply)
    assert "2030-01" in body and "has not happened yet" in body
    assert not ZERO_MONEY.search(body), body
    assert all(v is None for v in values(reply.data, "value") if not isinstance(v, dict))


async def test_in_chinese_too(shop: Chat) -> None:
    body = ok(await shop.send("指标 销售额 2020-01"))
    assert f"数据从 {ORDERS_FIRST} 开始" in body
    body = ok(await shop.send("指标 销售额 2030-01"))
    assert "尚未到来" in body


async def test_kpi_before_the_data_is_null_not_zero(shop: Chat) -> None:
    reply = await shop.send("kpi gmv orders 2020-01")
    assert reply.data["metrics"]["gmv"]["value"] is None
    assert reply.data["metrics"]["orders"]["value"] is None
    assert [f.value for f in reply.fields] == ["n/a", "n/a"]
    assert reply.data["coverage"]["gaps"]["gmv"] == {
        "reason": "before", "table": "orders", "first": ORDERS_FIRST, "last": "2026-11-03", "columns": []}


# ---- a comparison period outside the data ------------------------------------------------------


def gmv(first: str, last: str, channel: str | None = None) -> float:
    return sum(r[3] for r in small_shop.ORDERS
               if first <= r[2][:10] <= last and r[4] != "cancelled" and channel in (None, r[6]))


async def test_a_comparison_before_the_data_has_no_change(shop: Chat) -> None:
    # 2026-10-15..10-20 is inside the data; the previous 6 days (10-09..10-14) are not
    reply = await shop.send("kpi gmv 2026-10-15..2026-10-20 vs previous")
    metric = reply.data["metrics"]["gmv"]
    assert metric["value"] == pytest.approx(gmv("2026-10-15", "2026-10-20"))
    assert metric["previous"] is None and metric["change"] is None and metric["change_pct"] is None
    body = ok(reply)
    assert "Change n/a for GMV" in body and f"starts on {ORDERS_FIRST}" in body
    assert "+" not in reply.fields[0].value and reply.fields[0].delta is None


async def test_top_and_movers_comparisons_before_the_data(shop: Chat) -> None:
    reply = await shop.send("top channel by gmv 2026-10-15..2026-10-20 vs previous")
    assert reply.data["previous_total"] is None
    assert [r["previous"] for r in reply.data["rows"]] == [None]
    assert [r["change"] for r in reply.data["rows"]] == [None]
    assert f"starts on {ORDERS_FIRST}" in ok(reply)
    reply = await shop.send("movers gmv 2026-10-15..2026-10-20 vs previous")
    assert reply.data["value"] == pytest.approx(gmv("2026-10-15", "2026-10-20"))
    assert reply.data["previous"] is None and reply.data["change"] is None
    assert reply.data["dimensions"] == {}
    assert f"starts on {ORDERS_FIRST}" in ok(reply)


async def test_the_standard_card_week_ago_before_the_traffic(shop: Chat) -> None:
    # yesterday 2026-11-03 vs the same weekday last week, 10-27: orders cover it, traffic does not
    reply = await shop.send("kpi")
    conversion = reply.data["metrics"]["conversion"]["week_ago"]
    assert conversion["previous"] is None and conversion["change"] is None
    assert f"the traffic data starts on {TRAFFIC_FIRST}" in ok(reply)
    # GMV on 10-27 really was zero: a known zero stays a zero
    assert reply.data["metrics"]["gmv"]["week_ago"]["previous"] == gmv("2026-10-27", "2026-10-27") == 0


async def test_a_period_partly_before_the_data_says_so(shop: Chat) -> None:
    reply = await shop.send("kpi gmv sessions 2026-10-30..2026-11-02")
    body = ok(reply)
    assert f"traffic data from {TRAFFIC_FIRST}" in body
    sessions = sum(r[2] for r in small_shop.TRAFFIC if r[0] <= "2026-11-02")
    assert reply.data["metrics"]["sessions"]["value"] == sessions
    reply = await shop.send("trend gmv 2026-10-10..2026-10-20")
    points = {p["day"]: p["value"] for p in reply.data["series"][0]["points"]}
    # before the first order the days are unknown, from it on they are counted (zeros included)
    assert all(points[f"2026-10-{d:02d}"] is None for d in range(10, 15))
    assert points["2026-10-15"] == gmv("2026-10-15", "2026-10-15")
    assert points["2026-10-16"] == 0
    assert f"orders data from {ORDERS_FIRST}" in ok(reply)


async def test_a_partly_covered_period_says_how_many_of_its_days_have_data(shop: Chat) -> None:
    """The issue-24 case: a month whose data starts on its 15th is not a whole month, and says so."""
    first = date.fromisoformat(ORDERS_FIRST)
    with_data = (date(2026, 11, 1) - first).days  # the 15th through the 31st
    reply = await shop.send("kpi gmv 2026-10")
    assert f"orders data from {ORDERS_FIRST} ({with_data} of 31 days have data)" in ok(reply)
    assert reply.data["coverage"]["partial"][0] | {"days_with_data": with_data, "days": 31} \
        == reply.data["coverage"]["partial"][0]
    # a period that runs on past the last loaded day: only the days with data count
    reply = await shop.send("kpi sessions this month")
    traffic_days = len({r[0] for r in small_shop.TRAFFIC if r[0] >= "2026-11-01"})
    assert f"({traffic_days} of 4 days have data)" in ok(reply)
    reply = await shop.send("lang zh")
    assert f"（31 天中 {with_data} 天有数据）" in ok(await shop.send("kpi gmv 2026-10"))


# ---- missing tables and columns -----------------------------------------------------------------

NO_TRAFFIC = ["kpi sessions conversion yesterday", "kpi", "trend sessions last 7d", "trend conversion last 7d",
              "top channel by sessions yesterday", "movers conversion yesterday", "drivers yesterday",
              "funnel last 7d", "digest now"]


@pytest.mark.parametrize("command", NO_TRAFFIC)
async def test_without_a_traffic_table(tmp_path: Path, command: str) -> None:
    chat = make_shop(tmp_path, "drop table traffic")
    reply = await chat.send(command)
    body = ok(reply)
    assert "no traffic table (traffic)" in body, body
    for step in values(reply.data, "steps"):
        for s in step:
            if s["step"] in ("sessions", "product_views", "add_to_cart"):
                assert s["count"] is None
    for name in ("sessions", "conversion"):
        for metric in values(reply.data, name):
            if isinstance(metric, dict) and "value" in metric:
                assert metric["value"] is None
    assert not re.search(r"(Sessions|Conversion)\s*:?\s+0", body), body


async def test_without_a_traffic_table_the_funnel_keeps_what_is_known(tmp_path: Path) -> None:
    chat = make_shop(tmp_path, "drop table traffic")
    reply = await chat.send("funnel 2026-11-01..2026-11-03")
    steps = {s["step"]: s["count"] for s in reply.data["steps"]}
    orders = sum(1 for r in small_shop.ORDERS if "2026-11-01" <= r[2][:10] <= "2026-11-03" and r[4] != "cancelled")
    assert steps == {"sessions": None, "product_views": None, "add_to_cart": None, "orders": orders,
                     "repeat_buyers": steps["repeat_buyers"]}
    assert [row[1] for row in reply.tables[0].rows[:3]] == ["n/a", "n/a", "n/a"]


async def test_without_a_spend_table(tmp_path: Path) -> None:
    chat = make_shop(tmp_path, "drop table marketing_spend")
    reply = await chat.send("kpi spend cac roas yesterday")
    assert [reply.data["metrics"][k]["value"] for k in ("spend", "cac", "roas")] == [None, None, None]
    assert "no marketing spend table (marketing_spend)" in ok(reply)
    reply = await chat.send("ltv")
    assert reply.data["cac"] is None and all(c["cac"] is None for c in reply.data["cohorts"])
    assert "no marketing spend table" in ok(reply)


async def test_without_a_refund_column(tmp_path: Path) -> None:
    chat = make_shop(tmp_path, "alter table orders drop column refunded_amount")
    reply = await chat.send("kpi gmv refund_rate yesterday")
    assert reply.data["metrics"]["refund_rate"]["value"] is None
    assert reply.data["metrics"]["gmv"]["value"] == gmv("2026-11-03", "2026-11-03")
    assert "no refunded_amount column" in ok(reply)
    ok(await chat.send("kpi"))  # the card answers, its refund rate n/a


async def test_without_a_product_views_column(tmp_path: Path) -> None:
    chat = make_shop(tmp_path, "alter table traffic drop column product_views")
    reply = await chat.send("funnel 2026-11-01..2026-11-03")
    steps = {s["step"]: s["count"] for s in reply.data["steps"]}
    assert steps["product_views"] is None
    assert steps["sessions"] == sum(r[2] for r in small_shop.TRAFFIC)
    assert "no product_views column" in ok(reply)


# ---- not recorded at the chat's scope ----------------------------------------------------------


async def test_region_scoped_funnel_has_no_traffic_steps(shop: Chat) -> None:
    chat = shop.as_(SCOPED, ADMIN)
    reply = await chat.send("funnel last 7d")
    body = ok(reply)
    steps = {s["step"]: s for s in reply.data["steps"]}
    assert [steps[s]["count"] for s in ("sessions", "product_views", "add_to_cart")] == [None, None, None]
    east = sum(1 for r in small_shop.ORDERS
               if "2026-10-28" <= r[2][:10] <= "2026-11-03" and r[4] != "cancelled" and r[8] == "east")
    assert steps["orders"]["count"] == east
    assert "not recorded per region" in body
    assert not re.search(r"Sessions \(awareness\)\s+0", body), body


@pytest.mark.parametrize("command", ["trend conversion last 7d", "movers conversion yesterday",
                                     "top channel by sessions yesterday", "drivers yesterday", "ltv"])
async def test_region_scoped_traffic_and_spend_are_not_zero(shop: Chat, command: str) -> None:
    reply = await shop.as_(SCOPED, ADMIN).send(command)
    body = ok(reply)
    assert "not recorded per region" in body
    assert all(v is None for v in values(reply.data, "cac"))
    for factors in values(reply.data, "factors"):
        assert factors["sessions"] == {"value": None, "previous": None}


# ---- segments ----------------------------------------------------------------------------------


async def test_segments_change_against_a_day_before_the_data(shop: Chat) -> None:
    reply = await shop.send("segments")
    # compared with 30 days before 2026-11-04: 2026-10-05, before the first order
    assert reply.data["previous_as_of"] < ORDERS_FIRST
    assert reply.data["previous"] is None
    assert set(reply.data["change"].values()) == {None}
    assert {row[2] for row in reply.tables[0].rows} == {"n/a"}
    assert f"starts on {ORDERS_FIRST}" in ok(reply)


async def test_segments_as_of_a_day_before_the_data(tmp_path: Path) -> None:
    chat = make_shop(tmp_path)
    reply = await chat.send("segments as of 2030-01-01")  # capped at today
    assert reply.data["as_of"] == date(2026, 11, 4).isoformat()
    reply = await chat.send("segments as of 2026-10-14")
    assert "starts on" in ok(reply) and reply.data["customers"] is None

"""`retention` and `ltv` through the dispatcher: numbers against pandas on the demo shop and
against the hand-made shop of tests/metrics/test_cohorts.py, replies in English and Chinese,
charts, and bad input."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest
from matplotlib.image import imread

from bot.app import build_dispatcher
from bot.config import Settings
from bot.reply import Reply
from metrics import cohorts as co
from metrics.data.sample import Shop
from metrics.data.warehouse import Warehouse
from tests.conftest import NOW, TODAY, Clock
from tests.fakes.chat import Chat
from tests.metrics.test_cohorts import GMV, SPEND_BY_MONTH, TRIANGLE, build_shop, expected_cells


@pytest.fixture
def small_chat(tmp_path: Path, clock: Clock) -> Chat:
    url = build_shop(tmp_path / "cohorts.db")
    settings = Settings.model_validate(
        {"warehouse": {"url": url}, "state": {"url": f"sqlite:///{tmp_path / 'state.db'}"}}
    )
    wh = Warehouse.from_url(url, settings.mapping())
    return Chat(build_dispatcher(settings, wh, clock=clock))


def png_shape(reply: Reply) -> tuple[int, ...]:
    assert len(reply.charts) == 1
    png = reply.charts[0].png
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    return imread(io.BytesIO(png), format="png").shape


# ---- the demo shop --------------------------------------------------------------------------------


@pytest.mark.parametrize(("command", "grain"), [("retention", "month"), ("retention by week", "week")])
async def test_retention_matches_pandas(chat: Chat, demo_shop: Shop, command: str, grain: co.Grain) -> None:
    reply = await chat.send(command)
    assert not reply.error, reply.plain_text()
    window = co.cohort_window(grain, None, TODAY)
    exp = expected_cells(demo_shop, grain, window)
    data = reply.data
    assert data["grain"] == grain
    assert data["period"] == {"start": window.start.isoformat(), "end": window.end.isoformat()}
    assert len(data["cohorts"]) == exp.index.get_level_values("cohort").nunique()
    for cohort in data["cohorts"]:
        start = pd.Timestamp(cohort["start"]).date()
        size = exp.loc[(start, 0), "customers"]
        assert cohort["size"] == size
        assert cohort["retention"][0] == 1.0
        expected = [
            (exp.loc[(start, k), "customers"] if (start, k) in exp.index else 0) / size
            for k in range(window.complete_ages(start))
        ]
        assert cohort["retention"] == pytest.approx(expected)
    table = reply.tables[0]
    assert len(table.rows) == len(data["cohorts"])
    assert table.columns[:3] == ["Cohort", "Customers", "M0" if grain == "month" else "W0"]
    assert png_shape(reply)[:2] == (675, 1200)
    assert "in progress" in reply.plain_text()


async def test_retention_in_chinese(chat: Chat) -> None:
    reply = await chat.send("留存 按周 上月")
    assert not reply.error, reply.plain_text()
    assert reply.title.startswith("周度同期群留存率")
    assert reply.tables[0].columns[:2] == ["同期群", "客户数"]
    assert reply.data["grain"] == "week"
    # last month = October 2026: the weeks touching it, Mon Sep 28 to the week of Oct 26
    assert reply.data["period"] == {"start": "2026-09-28", "end": "2026-11-02"}
    assert "尚未结束" in reply.plain_text() and "业务时区" in (reply.footer or "")


async def test_ltv_matches_pandas_and_says_refunds_are_not_subtracted(chat: Chat, demo_shop: Shop) -> None:
    reply = await chat.send("ltv 3")
    assert not reply.error, reply.plain_text()
    window = co.cohort_window("month", None, TODAY)
    exp = expected_cells(demo_shop, "month", window)
    spend = demo_shop.marketing_spend.groupby(demo_shop.marketing_spend.day.dt.to_period("M")).spend.sum()
    data = reply.data
    assert data["months"] == 3 and data["basis"] == "gmv_not_net_of_refunds"
    assert data["cohorts"]
    for cohort in data["cohorts"]:
        start = pd.Timestamp(cohort["start"]).date()
        size = exp.loc[(start, 0), "customers"]
        ages = min(3, window.complete_ages(start))
        gmv = pd.Series([exp.loc[(start, k), "gmv"] for k in range(ages)])
        assert cohort["ltv"] == pytest.approx(list(gmv.cumsum() / size))
        cac = spend[pd.Period(start, "M")] / size
        assert cohort["cac"] == pytest.approx(cac)
        assert cohort["ltv_cac_by_age"] == pytest.approx([v / cac for v in cohort["ltv"]])
        # one age for every cohort (`ltv 3` follows M0-M2, so M2); none for a cohort not there yet
        age = data["ltv_cac_age"]
        assert cohort["ltv_cac"] == (pytest.approx(cohort["ltv"][age] / cac) if ages > age else None)
    assert data["ltv_cac_age"] == 2
    assert "refunds are NOT subtracted" in (reply.footer or "")
    assert reply.tables[0].columns[-2:] == ["LTV/CAC M0", "LTV/CAC M2"]
    assert png_shape(reply)[:2] == (675, 1200)


async def test_ltv_cac_is_the_kpi_cac_of_the_cohort_month(chat: Chat) -> None:
    ltv = await chat.send("ltv 2026-10")
    kpi = await chat.send("kpi cac 2026-10")
    assert [c["cohort"] for c in ltv.data["cohorts"]] == ["2026-10"]
    assert ltv.data["cohorts"][0]["cac"] == pytest.approx(kpi.data["metrics"]["cac"]["value"])


async def test_ltv_in_chinese(chat: Chat) -> None:
    reply = await chat.send("生命周期价值 6个月")
    assert not reply.error, reply.plain_text()
    assert reply.title.startswith("月度同期群 LTV") and reply.data["months"] == 6
    assert reply.tables[0].columns[:3] == ["同期群", "客户数", "获客成本"]
    assert "未扣除退款" in (reply.footer or "")
    assert "¥" in reply.plain_text()


# ---- the hand-made shop ---------------------------------------------------------------------------


async def test_retention_on_the_hand_made_shop(small_chat: Chat) -> None:
    reply = await small_chat.send("retention by month")
    assert not reply.error, reply.plain_text()
    got = {c["cohort"]: (c["size"], c["customers"]) for c in reply.data["cohorts"]}
    assert got == TRIANGLE
    assert reply.data["in_progress"] == "2026-11"
    july = next(row for row in reply.tables[0].rows if row[0] == "2026-07")
    assert july == ["2026-07", "3", "100.0%", "66.7%", "0.0%", "33.3%", ""]
    fields = {f.label: f.value for f in reply.fields}
    assert fields == {"New customers in these cohorts": "11", "Month-1 retention": "55.6%",
                      "Month-3 retention": "25.0%"}  # (1 + 0) / (1 + 3): cohorts 06 and 07


async def test_ltv_on_the_hand_made_shop(small_chat: Chat) -> None:
    reply = await small_chat.send("ltv")
    assert not reply.error, reply.plain_text()
    data = reply.data
    assert data["months"] == co.DEFAULT_LTV_MONTHS
    rows = {c["cohort"]: c for c in data["cohorts"]}
    for label, gmv in GMV.items():
        size = TRIANGLE[label][0]
        assert rows[label]["ltv"] == pytest.approx(list(pd.Series(gmv).cumsum() / size))
        assert rows[label]["spend"] == SPEND_BY_MONTH[label]
    assert rows["2026-08"]["ltv_net"] == pytest.approx([50, 235 / 3, 325 / 3])
    assert rows["2026-09"]["ltv_cac"] is None and rows["2026-09"]["cac"] == 0
    assert data["cac"] == pytest.approx(1050 / 11)
    table = {row[0]: row for row in reply.tables[0].rows}
    assert table["2026-07"] == ["2026-07", "3", "CN¥100.00", "CN¥76.67", "CN¥100.00", "CN¥100.00", "CN¥123.33",
                                "", "0.77×", "1.23×"]
    assert table["2026-08"][-2:] == ["0.50×", "n/a"]  # not at M3 yet: not its latest month instead
    assert table["2026-09"][-1] == "n/a"


async def test_a_period_without_new_customers_is_said_not_an_error(small_chat: Chat) -> None:
    # before the shop's first order (2026-06-20): the reason is that the data starts later
    reply = await small_chat.send("retention 2026-01")
    assert not reply.error
    assert reply.text == ["No data for 2026-01: the orders data starts on 2026-06-20."]
    assert reply.data["cohorts"] == [] and not reply.charts


# ---- bad input ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "expect", "key"),
    [
        ("retention by year", "Cohorts are by month or by week, not 'year'", "cohort_bad_grain"),
        ("retention by channel", "not 'channel'", "cohort_bad_grain"),
        ("retention by", "not 'by'", "cohort_bad_grain"),
        ("retention this month", "'this month' has no complete month or week yet (2026-11", "cohort_no_complete"),
        ("retention by week 2026", "holds 47 cohorts; at most 30", "cohort_too_many"),
        ("retention last 7d vs previous", "can't be compared", "cohort_no_compare"),
        ("retention gmv", "I can't read 'gmv' here", "cohort_unexpected"),
        ("retention 2026-13", "can't read '2026-13' as a period", "bad_period"),
        ("ltv 0", "1 to 24 months, not 0", "ltv_months_range"),
        ("ltv 500", "1 to 24 months, not 500", "ltv_months_range"),
        ("ltv abc", "'abc' is not a number of months", "ltv_bad_months"),
        ("ltv 6 12", "'12' is not a number of months", "ltv_bad_months"),
        ("ltv -3", "'-3' is not a number of months", "ltv_bad_months"),
        ("ltv by week", "LTV cohorts are monthly", "ltv_monthly_only"),
    ],
)
async def test_bad_input_gets_a_clear_error(chat: Chat, command: str, expect: str, key: str) -> None:
    reply = await chat.send(command)
    assert reply.error
    assert reply.data["error"] == key
    text = reply.plain_text()
    assert expect in text
    assert "Usage: " + command.split()[0] in text


async def test_errors_in_chinese(chat: Chat) -> None:
    text = await chat.say("留存 按 年")
    assert "同期群只能按月或按周划分" in text and "用法：retention" in text
    assert "LTV 可追踪 1 到 24 个月" in await chat.say("生命周期价值 0")


async def test_help_knows_both_commands(chat: Chat) -> None:
    listing = await chat.send("help")
    assert {"retention", "ltv"} <= set(listing.data["commands"])
    assert "Cohort retention" in listing.plain_text()
    assert "Usage: ltv [months] [period]" in await chat.say("help ltv")


async def test_the_clock_decides_what_is_complete(chat: Chat, clock: Clock) -> None:
    clock.now = NOW.replace(month=10, day=31, hour=23, minute=59)  # October is not over yet
    reply = await chat.send("retention")
    assert reply.data["period"] == {"start": "2025-10-01", "end": "2026-10-01"}
    assert reply.data["in_progress"] == "2026-10"
    assert all(c["start"] < "2026-10-01" for c in reply.data["cohorts"])

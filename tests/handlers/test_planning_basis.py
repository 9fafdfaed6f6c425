"""Issue 24: numbers that say their basis, and one name per segment (NOW = 2026-11-25).

Every reference is computed here from the demo shop's rows and the definitions (docs/kpis.md), not
from the bot."""

from __future__ import annotations

import re
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from handlers.planning.segments import SEGMENT_WORDS
from metrics.data.sample import Shop
from metrics.segments import SEGMENTS
from tests.conftest import TODAY
from tests.fakes.chat import Chat

DAY = r"(\d{4}-\d{2}-\d{2})"


def counted(shop: Shop) -> pd.DataFrame:
    o = shop.orders
    return o[(o.status != "cancelled") & o.customer_id.notna()]


# ---- LTV/CAC at the same age --------------------------------------------------------------------


def reference_ltv_cac(shop: Shop, age: int) -> dict[str, float | None]:
    """LTV after `age` / CAC per monthly cohort, None for a cohort whose age `age` is not complete."""
    o = counted(shop)
    o = o[o.ordered_at < pd.Timestamp(TODAY.replace(day=1))]  # the month in progress counts for nothing
    first = o.groupby("customer_id").ordered_at.min().dt.to_period("M").rename("cohort")
    o = o.join(first, on="customer_id")
    o = o.assign(age=(o.ordered_at.dt.to_period("M") - o.cohort).apply(lambda d: d.n))
    spend = shop.marketing_spend.groupby(shop.marketing_spend.day.dt.to_period("M")).spend.sum()
    current = pd.Period(TODAY, "M")
    out: dict[str, float | None] = {}
    for cohort, rows in o.groupby("cohort"):
        size = rows.customer_id.nunique()
        if (current - cohort).n <= age:
            out[str(cohort)] = None
            continue
        ltv = rows[rows.age <= age].amount.sum() / size
        out[str(cohort)] = ltv / (spend[cohort] / size)
    return out


async def test_ltv_cac_compares_every_cohort_at_the_same_age(chat: Chat, demo_shop: Shop) -> None:
    reply = await chat.send("ltv")
    assert not reply.error, reply.plain_text()
    data = reply.data
    assert data["ltv_cac_age"] == 3
    got = {c["cohort"]: c for c in data["cohorts"]}
    m3, m0 = reference_ltv_cac(demo_shop, 3), reference_ltv_cac(demo_shop, 0)
    assert set(got) == set(m3)
    for label, cohort in got.items():
        assert cohort["ltv_cac"] == (None if m3[label] is None else pytest.approx(m3[label])), label
        assert cohort["ltv_cac_by_age"][0] == pytest.approx(m0[label]), label
    # the youngest cohorts have not reached M3: n/a there, not their M0 beside an older cohort's M3
    assert got["2026-10"]["ltv_cac"] is None and got["2026-07"]["ltv_cac"] is not None
    table = reply.tables[0]
    assert table.columns[-2:] == ["LTV/CAC M0", "LTV/CAC M3"]
    rows = {r[0]: r for r in table.rows}
    assert rows["2026-10"][-1] == "n/a" and rows["2026-10"][-2].endswith("×")
    assert "same ages" in reply.plain_text()


# ---- segments: one name each, and rules stated as the days they mean ------------------------------


def legend_days(text: str) -> dict[str, tuple[date, date]]:
    spans = {}
    for name, key in (("New: first order", "new"), ("Active: last order", "active"), ("At risk: last order", "at_risk"),
                      ("Dormant: last order", "dormant")):
        m = re.search(re.escape(name) + f" {DAY} – {DAY}", text)
        assert m, name
        spans[key] = (date.fromisoformat(m[1]), date.fromisoformat(m[2]))
    return spans


async def test_segment_rules_state_the_days_the_classes_use(chat: Chat, demo_shop: Shop) -> None:
    reply = await chat.send("segments")
    text = reply.plain_text()
    days = legend_days(text)
    yesterday = TODAY - timedelta(days=1)
    # "the last 90 days" end with the day the segments are as of, and at risk is the 90 days before
    assert days["active"] == (yesterday - timedelta(days=89), yesterday)
    assert days["at_risk"] == (yesterday - timedelta(days=179), days["active"][0] - timedelta(days=1))
    assert days["new"] == (yesterday - timedelta(days=29), yesterday)
    # the legend's days reproduce the counts, independently of the bot
    o = counted(demo_shop)
    o = o[o.ordered_at < pd.Timestamp(TODAY)]
    per = o.groupby("customer_id").agg(first=("ordered_at", "min"), last=("ordered_at", "max"),
                                       orders=("order_id", "size"), gmv=("amount", "sum"))
    first, last = per["first"].dt.date, per["last"].dt.date
    top = per.gmv >= np.quantile(per.gmv.to_numpy(), 0.8)
    new = first >= days["new"][0]
    lo, hi = days["at_risk"]
    at_risk = ~new & (last >= lo) & (last <= hi) & ((per.orders >= 2) | top)
    assert reply.data["counts"]["at_risk"] == int(at_risk.sum())
    active = ~new & (last >= days["active"][0])
    assert reply.data["counts"]["champions"] + reply.data["counts"]["active"] == int(active.sum())
    # and every exported at-risk customer's last order day lies in the stated window
    export = await chat.send("segments export at_risk")
    frame = pd.read_csv(pd.io.common.StringIO(export.data["file"]["content"]), parse_dates=["last_order_day"])
    assert frame.last_order_day.dt.date.between(lo, hi).all()
    assert len(frame) == int(at_risk.sum())


@pytest.mark.parametrize("lang", ["en", "zh"])
async def test_one_name_per_segment_in_each_language(chat: Chat, lang: str) -> None:
    await chat.send(f"lang {lang}")
    reply = await chat.send("segments")
    text = reply.plain_text()
    names = [row[0] for row in reply.tables[0].rows]
    assert names == (["New", "Champions", "Active", "At risk", "Dormant", "Lost"] if lang == "en"
                     else ["新客", "高价值", "活跃", "流失风险", "沉睡", "流失"])
    legend = next(t for t in reply.text if "·" in t)
    for name in names:
        assert f"{name}:" in legend or f"{name}：" in legend, name
    assert "High-value" not in text
    for action in reply.actions:
        # the button shows the table's name, and its command types a word naming the same segment
        shown = next(n for n in names if action.label.endswith(n))
        word = action.command.split()[-1]
        assert SEGMENT_WORDS[word.lower()] == SEGMENTS[names.index(shown)]
        if lang == "zh":
            assert word == shown  # the Chinese name, not an English code
        exported = await chat.send(action.command)
        assert not exported.error and exported.title.startswith(("Export: " + shown, "导出：" + shown))


# ---- campaign spend: the window's spend, and how a cost is derived ----------------------------------


def window_spend(shop: Shop, start: str, last: str) -> float:
    s = shop.marketing_spend
    return float(s[(s.day >= pd.Timestamp(start)) & (s.day <= pd.Timestamp(last))].spend.sum())


async def test_campaign_report_shows_the_window_spend_and_how_its_cost_is_derived(chat: Chat, demo_shop: Shop) -> None:
    builtin = await chat.send("campaign report 11.11")
    spend = window_spend(demo_shop, "2026-11-09", "2026-11-11")
    assert builtin.data["spend_window"] == pytest.approx(spend)
    assert f"Marketing spend over the campaign days (all channels): CN¥{spend:,.0f}" in builtin.plain_text()

    # a week whose spend ran above its baseline: the cost is that excess, and the reply shows the sum
    await chat.send("campaign add autumn 2026-09-21..2026-09-27")
    report = await chat.send("campaign report autumn")
    d = report.data
    assert d["spend_window"] == pytest.approx(window_spend(demo_shop, "2026-09-21", "2026-09-27"))
    assert d["spend_source"] == "estimated"
    assert d["spend"] == pytest.approx(d["spend_window"] - d["spend_baseline"])
    assert d["roi"] == pytest.approx(d["net_incremental_gmv"] / d["spend"])
    text = report.plain_text()
    assert (f"CN¥{d['spend_window']:,.0f} − CN¥{d['spend_baseline']:,.0f} = CN¥{d['spend']:,.0f}") in text

    # a declared cost is named as such, beside the window's spend of the campaign's channels
    await chat.send("campaign add promo 2026-11-09..2026-11-11 search spend 50000")
    declared = await chat.send("campaign report promo")
    search = demo_shop.marketing_spend[demo_shop.marketing_spend.channel == "search"]
    s = float(search[(search.day >= "2026-11-09") & (search.day <= "2026-11-11")].spend.sum())
    assert declared.data["spend_window"] == pytest.approx(s) and declared.data["spend"] == 50_000
    assert "(search)" in declared.plain_text() and "Campaign cost (as added): CN¥50,000" in declared.plain_text()


# ---- the plan says what it assumes around holidays --------------------------------------------------


async def test_plan_states_the_holiday_weights_it_read_and_from_when(dispatcher) -> None:  # type: ignore[no-untyped-def]
    from bot.context import CONSOLE
    from handlers.planning.goals import holiday_lines
    from metrics.planning.goals import fit_profile
    from tests.metrics.planning.test_goals import CNY_EFFECT, cny_history

    ctx = dispatcher.context_for(CONSOLE)
    profile = fit_profile(cny_history(date(2025, 3, 1), date(2026, 11, 30))).as_json()
    lines, data = holiday_lines(ctx, profile, date(2027, 2, 1), date(2027, 3, 1))
    [line] = lines
    assert line.startswith("Chinese New Year (2027-02-06): weighted by what the history's 2026-02-17 did")
    assert data[0]["seen"] == ["2026-02-17"]
    # the weights it states are the ones read (each near the effect the history was made with)
    for (lo, hi), truth in CNY_EFFECT.items():
        w = data[0]["weights"][f"{lo}..{hi}"]
        assert w == pytest.approx(truth, rel=0.08)
        assert f"×{w:.2f}" in line
    # a history without one: weight 1, and said so
    bare = fit_profile(cny_history(date(2026, 4, 1), date(2026, 11, 30))).as_json()
    [unseen], _ = holiday_lines(ctx, bare, date(2027, 2, 1), date(2027, 3, 1))
    assert "not in the history" in unseen and "weigh 1" in unseen


async def test_a_plan_over_11_11_names_its_promotion_days_weights(chat: Chat) -> None:
    reply = await chat.send("plan gmv 3000000 2027Q4")
    line = next(t for t in reply.text if t.startswith("11.11 (2027-11-11)"))
    assert "not in the history" not in line  # its promotion days are weighted as the history's were
    weights = reply.data["holidays"][0]["weights"]
    assert weights["0..0"] == pytest.approx(reply.data["profile"]["promo"]["11-11"], rel=1e-3)

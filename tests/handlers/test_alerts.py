"""Alerts end to end on the demo shop: an injected drop produces one alert in the right chat with
the right slice named; dedup, cooldown, recovery, ack and snooze; rules; bad input."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pandas as pd
import pytest

from bot.config import AlertsSection
from bot.state.alerts import AlertBook, Finding, in_quiet_hours
from bot.state.store import Store
from metrics.data.sample import Shop
from tests.fakes.chat import Chat

# the demo shop's labels: 2026-10-13 orders and sessions of channel=direct drop by 60%;
# 2026-09-28 conversion collapses shop-wide


def label(shop: Shop, metric: str, dimension: str | None = None) -> dict:
    rows = shop.labels[(shop.labels.metric == metric)]
    rows = rows[rows.dimension.isna()] if dimension is None else rows[rows.dimension == dimension]
    return rows.iloc[0].to_dict()


async def test_an_injected_drop_raises_one_alert_naming_the_slice(chat: Chat, demo_shop: Shop) -> None:
    drop = label(demo_shop, "orders", "channel")
    reply = await chat.send(f"scan {drop['day']}")
    assert not reply.error, reply.plain_text()
    series = {a["series"] for a in reply.data["alerts"]}
    # the dropped channel is named: its orders or its sessions (both fell by 60%)
    assert series & {f"orders|channel={drop['value']}", f"sessions|channel={drop['value']}"}
    total = next((a for a in reply.data["alerts"] if a["series"] == "orders"), None)
    if total is not None:  # the drop is large enough to move the total: the slice is named as its cause
        causes = total["root_causes"]["channel"]
        assert causes[0]["value"] == drop["value"]
    # buttons carry the commands, and the click (the command) acknowledges with who
    alert_id = reply.data["alerts"][0]["id"]
    assert any(a.command == f"ack {alert_id}" for a in reply.actions)
    acked = await chat.send(f"ack {alert_id}")
    assert acked.data == {"alert": alert_id, "status": "acked", "by": "console:local"}
    # the same scan again opens nothing new: one alert per series
    again = await chat.send(f"scan {drop['day']}")
    assert "alerts" not in again.data or not again.data.get("alerts")


async def test_the_conversion_collapse_is_found(chat: Chat, demo_shop: Shop) -> None:
    collapse = label(demo_shop, "conversion")
    reply = await chat.send(f"scan {collapse['day']}")
    assert "conversion" in {a["series"] for a in reply.data.get("alerts", [])} | {
        a["kpi"] for a in reply.data["anomalies"] if a["dimension"] is None}


def finding(series: str = "gmv", score: float = 5.0, severity: str = "warning", day: str = "2026-11-24") -> Finding:
    return Finding(series, "detector", day, severity, score, {"kpi": series.split("|")[0], "actual": 1.0,
                                                              "expected": 2.0, "change": -0.5})


NOON = datetime(2026, 11, 25, 12, 0)


def test_dedup_cooldown_and_recovery(store: Store) -> None:
    book = AlertBook(store, AlertsSection(cooldown_hours=6, quiet_hours=None))
    t0 = datetime(2026, 11, 25, 4, 0)
    first = book.record("slack:COPS", [finding()], {"gmv"}, t0, NOON)
    assert [a.series for a in first.push] == ["gmv"]
    # still out of range an hour later, a bit worse: same alert, not pushed again (cooldown)
    second = book.record("slack:COPS", [finding(score=9)], {"gmv"}, t0 + timedelta(hours=1), NOON)
    assert second.push == [] and len(book.open_alerts("slack:COPS")) == 1
    # after the cooldown and worse: pushed again
    third = book.record("slack:COPS", [finding(score=9)], {"gmv"}, t0 + timedelta(hours=7), NOON)
    assert [a.id for a in third.push] == [first.push[0].id]
    # after the cooldown but not worse: quiet
    fourth = book.record("slack:COPS", [finding(score=9.5)], {"gmv"}, t0 + timedelta(hours=14), NOON)
    assert fourth.push == []
    # back in range: closed, with a recovery note
    fifth = book.record("slack:COPS", [], {"gmv"}, t0 + timedelta(hours=20), NOON)
    assert [a.series for a in fifth.recovered] == ["gmv"] and book.open_alerts("slack:COPS") == []


def test_snoozed_and_acked_alerts_stay_quiet(store: Store) -> None:
    book = AlertBook(store, AlertsSection(cooldown_hours=0, quiet_hours=None))
    t0 = datetime(2026, 11, 25, 4, 0)
    alert = book.record("slack:COPS", [finding()], {"gmv"}, t0, NOON).push[0]
    book.snooze(alert.id, t0 + timedelta(hours=4), "slack:U1")
    assert book.record("slack:COPS", [finding(score=50)], {"gmv"}, t0 + timedelta(hours=1), NOON).push == []
    assert book.record("slack:COPS", [finding(score=50)], {"gmv"}, t0 + timedelta(hours=5), NOON).push != []
    book.ack(alert.id, "slack:U1")
    assert book.record("slack:COPS", [finding(score=500)], {"gmv"}, t0 + timedelta(hours=6), NOON).push == []


def test_quiet_hours_and_the_budget(store: Store) -> None:
    book = AlertBook(store, AlertsSection(quiet_hours="22:00-08:00", daily_budget=1))
    night = datetime(2026, 11, 25, 23, 30)
    out = book.record("slack:COPS", [finding("gmv"), finding("orders", severity="critical")], {"gmv", "orders"},
                      datetime(2026, 11, 25, 15, 30), night)
    assert [a.series for a in out.push] == ["orders"] and [a.series for a in out.held] == ["gmv"]
    day = book.record("slack:COPS", [finding("aov"), finding("sessions")], {"aov", "sessions"},
                      datetime(2026, 11, 26, 2, 0), datetime(2026, 11, 26, 10, 0))
    # the critical one used the budget of 1: minor ones wait for the digest
    assert day.push == [] and len(day.held) == 2


@pytest.mark.parametrize(("window", "at", "quiet"), [
    ("22:00-08:00", "23:00", True), ("22:00-08:00", "07:59", True), ("22:00-08:00", "08:00", False),
    ("12:00-13:00", "12:30", True), ("12:00-13:00", "13:30", False), (None, "03:00", False),
])
def test_quiet_hours_window(window: str | None, at: str, quiet: bool) -> None:
    assert in_quiet_hours(window, datetime.fromisoformat(f"2026-11-25 {at}").time()) is quiet


async def test_rules_from_chat(chat: Chat, demo_shop: Shop, dispatcher) -> None:
    from sqlalchemy import select

    from bot.state.store import AlertRule
    from handlers.alerts import rule_findings

    added = await chat.send("alert add orders < 100000 daily by channel")
    assert not added.error and added.data["by"] == "channel"
    pct = await chat.send("alert add refund_rate > 5% daily")
    assert pct.data["threshold"] == pytest.approx(0.05)
    listing = await chat.send("alerts")
    assert [r["kpi"] for r in listing.data["rules"]] == ["orders", "refund_rate"]
    with dispatcher.services.store.session() as s:
        rules = list(s.scalars(select(AlertRule)).all())
    ctx = dispatcher.context_for(chat.chat)
    findings, scanned = rule_findings(ctx, rules[:1], date(2026, 11, 24))
    o = demo_shop.orders
    day = o[(o.status != "cancelled") & (o.ordered_at.dt.date == date(2026, 11, 24))]
    assert {f.series for f in findings} == {f"rule{rules[0].id}:orders|channel={c}" for c in day.channel.unique()}
    assert all(f.details["actual"] == (day.channel == f.details["value"]).sum() for f in findings)
    removed = await chat.send(f"alert rm {rules[0].id}")
    assert not removed.error
    assert [r["kpi"] for r in (await chat.send("alerts")).data["rules"]] == ["refund_rate"]


@pytest.mark.parametrize(("command", "expect"), [
    ("alert", "alert add <metric>"),
    ("alert add refund_rate >", "alert add <metric>"),
    ("alert add refund_rate >= 5%", "not a comparison"),
    ("alert add refund_rate > lots", "not a threshold"),
    ("alert add refund_rate > -5%", "not a threshold"),
    ("alert add orders > 5%", "not a rate"),
    ("alert add gmvv > 5", "Did you mean gmv?"),
    ("alert add conversion > 5% by region", "can't be split"),
    ("alert rm 999", "no rule #999"),
    ("ack", "alert's number"),
    ("ack 999", "no alert #999"),
    ("snooze 1", "alert's number") ,
    ("alerts closed", "alerts open"),
    ("scan yesterday-ish", "scan 2026-11-20"),
])
async def test_bad_alert_input(chat: Chat, command: str, expect: str) -> None:
    if command == "snooze 1":
        command, expect = "snooze 999 4h", "no alert #999"
    reply = await chat.send(command)
    assert reply.error
    assert expect in reply.plain_text()


async def test_snooze_needs_a_duration(chat: Chat, dispatcher) -> None:
    book = AlertBook(dispatcher.services.store, AlertsSection(quiet_hours=None))
    alert = book.record("console:local", [finding()], {"gmv"}, datetime.now(UTC).replace(tzinfo=None), NOON).push[0]
    for bad in (f"snooze {alert.id}", f"snooze {alert.id} soon", f"snooze {alert.id} 0h", f"snooze {alert.id} 90d"):
        assert "Snooze for how long" in await chat.say(bad)
    ok = await chat.send(f"snooze {alert.id} 4h")
    assert not ok.error and ok.data["alert"] == alert.id
    expected = await chat.send(f"expected {alert.id} promo")
    assert expected.data["status"] == "expected"
    assert book.expected_days() == {"2026-11-24"}


async def test_intraday_collapse_is_reported_the_same_day(dispatcher, demo_shop: Shop) -> None:
    """The demo's conversion collapse halves orders all day: by 15:00 the scan says so."""
    from zoneinfo import ZoneInfo

    from bot.context import ChatRef
    from bot.state.store import Subscription
    from handlers.alerts import intraday_scan

    with dispatcher.services.store.session() as s, s.begin():
        s.add(Subscription(chat="slack:COPS", cadence="daily", at="09:00", timezone="Asia/Shanghai", metrics=[]))
    collapse = label(demo_shop, "conversion")["day"]
    now = datetime.combine(collapse, datetime.min.time()).replace(hour=15, tzinfo=ZoneInfo("Asia/Shanghai"))
    ctx = dispatcher.context_for(ChatRef("console", "test"))
    [result] = await ctx.run(intraday_scan, ctx, now)
    assert result.chat == "slack:COPS"
    pushed = {a.series: a for a in result.outcome.push}
    assert "orders@today" in pushed
    o = demo_shop.orders
    so_far = o[(o.status != "cancelled") & (o.ordered_at >= datetime.combine(collapse, datetime.min.time()))
               & (o.ordered_at < now.replace(tzinfo=None))]
    assert pushed["orders@today"].details["actual"] == len(so_far)
    assert pushed["orders@today"].details["change"] < -0.3
    assert "today until 15:00" in result.reply.plain_text()
    # a quiet normal day a week earlier raises nothing
    calm = now - timedelta(days=7)
    [again] = await ctx.run(intraday_scan, ctx, calm)
    assert not any(a.series.startswith("orders@") and a.day == calm.date().isoformat() for a in again.outcome.push)


async def test_campaign_days_are_expected_peaks(chat: Chat, dispatcher) -> None:
    from bot.context import ChatRef
    from handlers.alerts import promotion_days

    ctx = dispatcher.context_for(ChatRef("console", "test"))
    before = promotion_days(ctx)
    assert date(2026, 11, 11) in before  # the demo's promotions table
    added = await chat.send("campaign add spring 2027-03-01..2027-03-03")
    assert not added.error, added.plain_text()
    assert promotion_days(ctx) - before == {date(2027, 3, 1), date(2027, 3, 2), date(2027, 3, 3)}


def test_segment_shifts_become_alerts(dispatcher, monkeypatch) -> None:
    from bot.context import ChatRef
    from handlers import alerts as alerts_mod
    from metrics import segments

    shift = {"from": "champions", "to": ["at_risk", "dormant"], "customers": 40, "rate": 0.2, "usual": 0.05}
    real = segments.segment_report

    def with_shift(*args, **kwargs):  # type: ignore[no-untyped-def]
        report = real(*args, **kwargs)
        report.shifts = [shift]
        return report

    monkeypatch.setattr(segments, "segment_report", with_shift)
    ctx = dispatcher.context_for(ChatRef("console", "test"))
    [found] = alerts_mod.segment_shift_findings(ctx, date(2026, 11, 24))
    assert found.series == alerts_mod.SEGMENT_SERIES and found.score == pytest.approx(4.0)
    book = AlertBook(dispatcher.services.store, AlertsSection(quiet_hours=None))
    out = book.record("slack:COPS", [found], {found.series}, datetime(2026, 11, 25, 1), NOON)
    reply = alerts_mod.render_alerts(ctx, out, date(2026, 11, 24))
    assert "40 Champions" in reply.plain_text()


@pytest.mark.parametrize(("severity", "stake", "typical", "expected"), [
    ("info", 30_000.0, 100_000.0, "critical"),  # a third of a normal day's GMV
    ("info", 6_000.0, 100_000.0, "warning"),
    ("info", 1_000.0, 100_000.0, "info"),
    ("critical", 1_000.0, 100_000.0, "critical"),  # money never lowers a severity
    ("warning", None, 100_000.0, "warning"),  # no money figure (conversion): as detected
])
def test_severity_counts_the_money_at_stake(severity: str, stake: float | None, typical: float,
                                            expected: str) -> None:
    from handlers.alerts import escalate

    assert escalate(severity, stake, typical) == expected


def test_money_at_stake_of_orders_is_the_order_gap_at_aov() -> None:
    from handlers.alerts import money_at_stake

    assert money_at_stake({"kpi": "orders", "actual": 80.0, "expected": 100.0, "aov": 250.0}) == 5000.0
    assert money_at_stake({"kpi": "gmv", "actual": 900.0, "expected": 1000.0}) == 100.0
    assert money_at_stake({"kpi": "conversion", "actual": 0.01, "expected": 0.02}) is None


# ---- threshold rules in every scan (issue 24) -------------------------------------------------------


def refund_rates(shop: Shop, by: str | None = None) -> pd.Series:
    """refund_rate from its definition: sum(refunded_amount) / gmv of non-cancelled orders, by order day."""
    o = shop.orders[shop.orders.status != "cancelled"]
    keys = [o.ordered_at.dt.date] + ([o[by]] if by else [])
    sums = o.groupby(keys)[["refunded_amount", "amount"]].sum()
    return sums["refunded_amount"] / sums["amount"]


def rule_days(shop: Shop) -> tuple[date, date, float]:
    """The last four weeks' highest and lowest refund-rate days, and a threshold (in %) between them."""
    daily = refund_rates(shop)
    recent = daily[daily.index >= date(2026, 10, 28)]
    high, low = recent.idxmax(), recent.idxmin()
    return high, low, round((recent[high] + recent[low]) / 2 * 100, 2)


async def test_a_rule_fires_in_an_on_demand_scan_exactly_when_crossed(chat: Chat, demo_shop: Shop) -> None:
    """`scan` used to run the detector only: a broken rule said '0 anomalies'."""
    high, low, threshold = rule_days(demo_shop)
    total = (await chat.send(f"alert add refund_rate > {threshold}% daily")).data["rule"]
    sliced = (await chat.send(f"alert add refund_rate > {threshold}% daily by region")).data["rule"]
    by_region = refund_rates(demo_shop, "region")

    reply = await chat.send(f"scan {high.isoformat()}")
    assert not reply.error, reply.plain_text()
    broken = {f["series"]: f["actual"] for f in reply.data["rules_broken"]}
    expected = {f"rule{total}:refund_rate": refund_rates(demo_shop)[high]}
    expected |= {f"rule{sliced}:refund_rate|region={r}": v for (d, r), v in by_region.items()
                 if d == high and v * 100 > threshold}
    assert broken.keys() == expected.keys()
    assert all(broken[s] == pytest.approx(v, rel=1e-9) for s, v in expected.items())
    # every breach is an alert in the reply, however many (the daily push budget is for pushes)
    pushed = {a["series"]: a for a in reply.data["alerts"]}
    assert expected.keys() <= pushed.keys()
    assert f"broke the rule > {threshold:.2f}%" in reply.plain_text()

    # the same day scanned again: the same alerts, nothing pushed twice
    again = await chat.send(f"scan {high.isoformat()}")
    assert not {a["series"] for a in again.data.get("alerts", [])} & expected.keys()
    assert {f["series"] for f in again.data["rules_broken"]} == expected.keys()

    # a day under the threshold: the total's alert closes with a recovery note
    calm = await chat.send(f"scan {low.isoformat()}")
    assert refund_rates(demo_shop)[low] * 100 < threshold
    recovered = {a["series"] for a in calm.data["recovered"]}
    assert f"rule{total}:refund_rate" in recovered
    below = {f"rule{sliced}:refund_rate|region={r}" for (d, r), v in by_region.items() if d == low and v * 100 <= threshold}
    assert (expected.keys() & below) <= recovered


async def test_a_rule_alert_marked_expected_stays_quiet_for_its_day(chat: Chat, demo_shop: Shop) -> None:
    high, _, threshold = rule_days(demo_shop)
    await chat.send(f"alert add refund_rate > {threshold}% daily")
    [alert] = [a for a in (await chat.send(f"scan {high}")).data["alerts"] if a["series"].startswith("rule")]
    assert not (await chat.send(f"expected {alert['id']} returns wave")).error
    again = await chat.send(f"scan {high}")
    assert not [a for a in again.data.get("alerts", []) if a["series"].startswith("rule")]
    assert all(a["series"] != alert["series"] for a in (await chat.send("alerts")).data["open"])


async def test_removing_a_rule_closes_its_open_alert(chat: Chat, demo_shop: Shop) -> None:
    high, _, threshold = rule_days(demo_shop)
    rule = (await chat.send(f"alert add refund_rate > {threshold}% daily")).data["rule"]
    await chat.send(f"scan {high}")
    assert any(a["series"].startswith(f"rule{rule}:") for a in (await chat.send("alerts")).data["open"])
    await chat.send(f"alert rm {rule}")
    assert not any(a["series"].startswith(f"rule{rule}:") for a in (await chat.send("alerts")).data["open"])


async def test_the_daily_scan_defers_a_rule_alert_to_the_end_of_quiet_hours(dispatcher, demo_shop: Shop) -> None:
    """The scan runs at 07:30, inside the default quiet hours (22:00-08:00): minor alerts were held
    there for good, so a rule never reached a chat. Now they go out at 08:00."""
    from zoneinfo import ZoneInfo

    from bot.context import ChatRef
    from handlers.alerts import scan_day

    high, _, threshold = rule_days(demo_shop)
    team = Chat(dispatcher, ChatRef("console", "team"))  # the console is always allowed and admin
    rule = (await team.send(f"alert add refund_rate > {threshold}% daily")).data["rule"]
    ctx = dispatcher.context_for(ChatRef("console", "scheduler"))
    morning = datetime.combine(high + timedelta(days=1), datetime.min.time()).replace(
        hour=7, minute=30, tzinfo=ZoneInfo("Asia/Shanghai"))
    [scan] = [c for c in await ctx.run(scan_day, ctx, high, morning) if c.chat == "console:team"]
    assert f"rule{rule}:refund_rate" in {a.series for a in scan.outcome.push}
    # 08:00 in Shanghai, as naive UTC
    assert scan.not_before == datetime.combine(high + timedelta(days=1), datetime.min.time())
    # the next run of the same scan pushes nothing again
    [rerun] = [c for c in await ctx.run(scan_day, ctx, high, morning + timedelta(minutes=5))
               if c.chat == "console:team"]
    assert rerun.reply is None


def test_quiet_hours_defer_minor_alerts_unless_a_critical_one_goes_now(store: Store) -> None:
    book = AlertBook(store, AlertsSection(quiet_hours="22:00-08:00", cooldown_hours=6))
    utc, local = datetime(2026, 11, 24, 23, 30), datetime(2026, 11, 25, 7, 30)
    minor = book.record("slack:COPS", [finding("gmv")], {"gmv"}, utc, local, defer_quiet=True)
    assert [a.series for a in minor.push] == ["gmv"] and minor.not_before == datetime(2026, 11, 25, 0, 0)
    both = book.record("slack:COPS", [finding("gmv"), finding("orders", severity="critical")], {"gmv", "orders"},
                       utc, local, defer_quiet=True)
    assert [a.series for a in both.push] == ["orders"] and both.not_before is None  # gmv was pushed already
    late = book.record("slack:TEAM", [finding("aov")], {"aov"}, datetime(2026, 11, 25, 14, 0),
                       datetime(2026, 11, 25, 22, 0), defer_quiet=True)
    assert late.not_before == datetime(2026, 11, 26, 0, 0)  # 22:00 -> the next morning's 08:00

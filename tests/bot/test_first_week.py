"""A team's first week with opsbot, on the console, Slack and Telegram (issue 24).

Day one the team sets itself up the way people do: it subscribes to the morning digest twice,
adds the same rule twice and puts 双11 on the calendar twice (over the data's own 11.11), then
scans a day its rule must fire on. Then a week of mornings runs, each with the scheduled anomaly
scan and the digest run twice and delivered twice, as a restart or a second instance would. What
the team sees is asserted: one of each thing it asked for, the rule firing exactly on the days the
refund rate (computed here from its definition) is above the threshold, and never a message twice.
"""

from __future__ import annotations

import asyncio
import html
import io
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from sqlalchemy import func, select

from bot.adapters.console import ConsoleAdapter
from bot.adapters.slack.adapter import slack_from_env
from bot.app import build_dispatcher
from bot.config import Settings, SlackSection
from bot.delivery.outbox import Deliverer, Outbox
from bot.delivery.scheduler import Runtime, install, run_alert_scan, run_subscription
from bot.dispatch import Dispatcher
from bot.state.planning import Campaign
from bot.state.store import AlertRule, Store, Subscription
from metrics.data.sample import Shop
from metrics.data.warehouse import Warehouse
from tests.bot.adapters.slack.test_adapter import FORM, SECRET, post
from tests.conftest import Clock
from tests.fakes.chat import Chat
from tests.fakes.slack_api import FakeSlack, fake_slack, slash_command_form  # noqa: F401
from tests.fakes.telegram_api import FakeTelegram, fake_telegram, visible  # noqa: F401

ZONE = ZoneInfo("Asia/Shanghai")
WEEK = [date(2026, 11, 18) + timedelta(days=i) for i in range(7)]  # the "yesterdays" of seven mornings
BEFORE = (date(2026, 10, 28), date(2026, 11, 18))  # the weeks before, where the team's first scan looks


def refund_rates(shop: Shop) -> pd.Series:
    """refund_rate by order day from its definition: sum(refunded_amount) / gmv, orders not cancelled."""
    o = shop.orders[shop.orders.status != "cancelled"]
    sums = o.groupby(o.ordered_at.dt.date)[["refunded_amount", "amount"]].sum()
    return sums["refunded_amount"] / sums["amount"]


@dataclass
class Plan:
    threshold: float  # in %, as typed
    first_scan: date  # a day before the week the rule fires on
    rates: pd.Series

    def above(self, day: date) -> bool:
        return bool(self.rates[day] * 100 > self.threshold)


def plan_for(shop: Shop) -> Plan:
    rates = refund_rates(shop)
    week = rates[[d for d in WEEK]]
    threshold = round(float(week.max() + week.min()) / 2 * 100, 2)  # some days of the week above it, some below
    before = rates[(rates.index >= BEFORE[0]) & (rates.index < BEFORE[1])]
    plan = Plan(threshold, before.idxmax(), rates)
    assert plan.above(plan.first_scan) and any(plan.above(d) for d in WEEK) and not all(plan.above(d) for d in WEEK)
    return plan


@dataclass
class Team:
    """One team's chat on one platform: what it types and reads, and everything the bot sent it."""

    chat: str
    say: Callable[[str], Awaitable[str]]
    received: Callable[[], list[str]]  # texts of every message the chat got, in order
    adapters: dict[str, object]


def count(store: Store, model: type) -> int:
    with store.session() as s:
        return s.scalar(select(func.count()).select_from(model)) or 0


async def first_day(team: Team, store: Store, plan: Plan, clock: Clock) -> None:
    clock.now = datetime.combine(WEEK[0], datetime.min.time()).replace(hour=10, minute=30)
    said = await team.say("subscribe digest daily 09:00")
    assert "Subscribed: #1 daily 09:00" in said, said
    said = await team.say("subscribe digest daily 09:00")
    assert "already has that digest: #1 daily 09:00" in said and "Nothing added" in said, said
    assert count(store, Subscription) == 1

    rule = f"alert add refund_rate > {plan.threshold}% daily"
    said = await team.say(rule)
    assert f"Rule added: #1 Refund rate > {plan.threshold:.2f}% daily" in said, said
    said = await team.say(rule)
    assert f"already has that rule: #1 Refund rate > {plan.threshold:.2f}%" in said, said
    assert count(store, AlertRule) == 1

    # 双11 over the data's own 11.11 (2026-11-09 – 11): added, and the overlap named with its dates
    said = await team.say("campaign add 双11 2026-11-08..2026-11-12")
    assert "#1 双11" in said and "11.11" in said and "2026-11-09" in said and "2026-11-11" in said, said
    said = await team.say("campaign add 双11 2026-11-08..2026-11-12")
    assert "#1 双11" in said and count(store, Campaign) == 1, said
    said = await team.say("campaign add 11.11 2026-11-09..2026-11-11")
    assert "11.11" in said and count(store, Campaign) == 1, said

    # a scan of a day the rule must fire on, with the value computed here
    said = await team.say(f"scan {plan.first_scan.isoformat()}")
    value = f"{plan.rates[plan.first_scan] * 100:.2f}%"
    assert f"Refund rate {value} broke the rule > {plan.threshold:.2f}%" in said, said

    # the chat speaks English; a colleague asks in Chinese and is answered in Chinese, and the chat
    # stays English for the next question (docs/languages.md)
    said = await team.say("lang en")
    said = await team.say("kpi 销售额 昨天")
    assert "销售额" in said and "GMV" not in said, said
    said = await team.say("kpi gmv yesterday")
    assert "GMV" in said and "销售额" not in said, said


async def a_week_of_mornings(team: Team, dispatcher: Dispatcher, store: Store, plan: Plan, clock: Clock) -> None:
    outbox = Outbox(store)
    now = [datetime.combine(WEEK[0], datetime.min.time(), ZONE)]
    install(Runtime(dispatcher, outbox, Deliverer(outbox, team.adapters), clock=lambda: now[0]))  # type: ignore[arg-type]
    deliver = Deliverer(outbox, team.adapters)  # type: ignore[arg-type]
    open_before = True  # the first scan opened the rule's alert
    for day in WEEK:
        morning = datetime.combine(day + timedelta(days=1), datetime.min.time(), ZONE)
        seen = len(team.received())
        for at in (7, 8, 9):
            now[0] = morning.replace(hour=at, minute=30 if at == 7 else 0)
            clock.now = now[0].replace(tzinfo=None)  # the commands' clock runs along
            for _ in range(2):  # twice, as after a restart or on a second instance
                if at == 7:
                    await run_alert_scan()
                if at == 9:
                    await run_subscription(1)
                await deliver.run_once()
        new = team.received()[seen:]
        digests = [t for t in new if "Morning digest" in t]
        assert len(digests) == 1 and day.isoformat() in digests[0], (day, new)
        alerts = [t for t in new if "anomaly alert" in t or "Back in range" in t]
        assert len(alerts) <= 1, (day, alerts)  # one grouped message a morning, never repeated
        fired = [t for t in alerts if "broke the rule" in t]
        if plan.above(day) and not open_before:  # newly broken: the team is told, with the value
            assert fired and f"{plan.rates[day] * 100:.2f}%" in fired[0], (day, new)
        if not plan.above(day):
            assert not fired, (day, new)
            if open_before:  # and the alert it had closes, with a note
                assert alerts and "is back in range" in alerts[0], (day, new)
        open_before = plan.above(day)
    keys = [i.key for i in outbox.recent(limit=200)]
    assert len(keys) == len(set(keys))
    assert all(i.status == "sent" for i in outbox.recent(limit=200))
    said = await team.say("alerts")
    assert ("broke the rule" in said) is plan.above(WEEK[-1]), said


# ---- the three platforms ----------------------------------------------------------------------------


def team_settings(settings: Settings, chat: str, admin: str, **extra: object) -> Settings:
    access = settings.access.model_copy(update={"chats": (chat,), "users": (), "admins": (admin,)})
    return settings.model_copy(update={"access": access, **extra})


async def test_first_week_on_the_console(demo_settings: Settings, demo_warehouse: Warehouse, clock: Clock,
                                         store: Store, demo_shop: Shop) -> None:
    dispatcher = build_dispatcher(demo_settings, demo_warehouse, clock=clock, store=store)
    chat = Chat(dispatcher)
    out = io.StringIO()
    console = ConsoleAdapter(dispatcher, out)

    def received() -> list[str]:
        return [m for m in out.getvalue().split("--- to ")[1:]]

    team = Team(str(chat.chat), chat.say, received, {"console": console})
    plan = plan_for(demo_shop)
    await first_day(team, store, plan, clock)
    await a_week_of_mornings(team, dispatcher, store, plan, clock)


@pytest.fixture
async def slack_team(demo_settings: Settings, demo_warehouse: Warehouse, clock: Clock, store: Store,
                     fake_slack: FakeSlack, monkeypatch: pytest.MonkeyPatch  # noqa: F811
                     ) -> AsyncIterator[tuple[Dispatcher, Team]]:
    settings = team_settings(demo_settings, "slack:COPS", "slack:ULEAD", slack=SlackSection(mode="http", port=0))
    dispatcher = build_dispatcher(settings, demo_warehouse, clock=clock, store=store)
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test-bot-token")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", SECRET)
    monkeypatch.setenv("SLACK_API_URL", fake_slack.api_url)
    adapter = slack_from_env(settings, dispatcher)
    await adapter.start()
    asked = [0]

    async def say(text: str) -> str:
        asked[0] += 1
        body = slash_command_form(text, user="ULEAD", response_url=fake_slack.response_url(str(asked[0])))
        status, _, _ = await post(adapter, body, FORM)
        assert status == 200
        answer = await fake_slack.wait_for("response", asked[0])
        return html.unescape(answer.text)  # mrkdwn escapes <, > and &

    def received() -> list[str]:
        return [html.unescape(c.all_text()) for c in fake_slack.calls_to("chat.postMessage", ok_only=True)
                if c.args.get("channel") == "COPS"]

    yield dispatcher, Team("slack:COPS", say, received, {"slack": adapter})
    await adapter.stop()


async def test_first_week_on_slack(slack_team: tuple[Dispatcher, Team], store: Store, demo_shop: Shop,
                                   clock: Clock) -> None:
    dispatcher, team = slack_team
    plan = plan_for(demo_shop)
    await first_day(team, store, plan, clock)
    await a_week_of_mornings(team, dispatcher, store, plan, clock)


GROUP, LEAD = -1001, 42


@pytest.fixture
async def telegram_team(demo_settings: Settings, demo_warehouse: Warehouse, clock: Clock, store: Store,
                        fake_telegram: FakeTelegram  # noqa: F811
                        ) -> AsyncIterator[tuple[Dispatcher, Team]]:
    from tests.bot.adapters.telegram.test_adapter import make_adapter

    settings = team_settings(demo_settings, f"telegram:{GROUP}", f"telegram:{LEAD}")
    dispatcher = build_dispatcher(settings, demo_warehouse, clock=clock, store=store)
    api = fake_telegram
    adapter = make_adapter(api, dispatcher)
    await adapter.start()

    def texts() -> list[str]:
        return [visible(str(c.params.get("text") or c.params.get("caption") or ""))
                + json.dumps(c.params.get("reply_markup") or {}, ensure_ascii=False)
                for c in api.calls if c.method in ("sendMessage", "sendPhoto") and c.params.get("chat_id") == GROUP]

    async def say(text: str) -> str:
        seen = len(api.calls_to("sendMessage", GROUP))
        api.push(api.message(f"/{text}", chat_id=GROUP, user_id=LEAD))
        await api.wait_for("sendMessage", seen + 1, chat_id=GROUP)
        await asyncio.sleep(0.3)  # a long answer comes in parts
        return "\n".join(visible(str(c.params["text"])) for c in api.calls_to("sendMessage", GROUP)[seen:])

    try:
        yield dispatcher, Team(f"telegram:{GROUP}", say, texts, {"telegram": adapter})
    finally:
        await adapter.stop()


async def test_first_week_on_telegram(telegram_team: tuple[Dispatcher, Team], store: Store,
                                      demo_shop: Shop, clock: Clock) -> None:
    dispatcher, team = telegram_team
    plan = plan_for(demo_shop)
    await first_day(team, store, plan, clock)
    await a_week_of_mornings(team, dispatcher, store, plan, clock)

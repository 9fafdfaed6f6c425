"""The issue's "done when", end to end: the demo shop's injected drop becomes one alert in the right
Slack channel, naming the slice, and a click on its Acknowledge button (a signed block_actions
request to opsbot's HTTP endpoint) records who acknowledged it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.adapters.slack.adapter import SlackAdapter, slack_from_env
from bot.app import build_dispatcher
from bot.config import Settings, SlackSection
from bot.delivery.outbox import Deliverer, Outbox
from bot.delivery.scheduler import Runtime, install, run_alert_scan
from bot.dispatch import Dispatcher
from bot.state.store import Alert, Store, Subscription
from metrics.data.sample import Shop
from metrics.data.warehouse import Warehouse
from tests.bot.adapters.slack.test_adapter import FORM, SECRET, post
from tests.conftest import Clock
from tests.fakes.slack_api import FakeSlack, block_actions_form, fake_slack  # noqa: F401
from tests.fakes.telegram_api import fake_telegram  # noqa: F401


@pytest.fixture
async def slack(demo_settings: Settings, demo_warehouse: Warehouse, clock: Clock, store: Store,
                fake_slack: FakeSlack, monkeypatch: pytest.MonkeyPatch  # noqa: F811
                ) -> AsyncIterator[tuple[Dispatcher, SlackAdapter]]:
    settings = demo_settings.model_copy(update={
        "access": demo_settings.access.model_copy(update={"chats": ("slack:COPS",), "users": (), "admins": ()}),
        "slack": SlackSection(mode="http", port=0),
    })
    dispatcher = build_dispatcher(settings, demo_warehouse, clock=clock, store=store)
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test-bot-token")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", SECRET)
    monkeypatch.setenv("SLACK_API_URL", fake_slack.api_url)
    adapter = slack_from_env(settings, dispatcher)
    await adapter.start()
    yield dispatcher, adapter
    await adapter.stop()


async def scan_the_morning_after_the_drop(dispatcher: Dispatcher, store: Store, demo_shop: Shop, chat: str,
                                          adapter: SlackAdapter | object) -> dict:  # type: ignore[type-arg]
    """Subscribe `chat`, run the scheduled scan the morning after the injected channel drop, deliver."""
    with store.session() as s, s.begin():
        s.add(Subscription(chat=chat, cadence="daily", at="09:00", timezone="Asia/Shanghai", metrics=[]))
    labels = demo_shop.labels
    drop = labels[(labels.metric == "orders") & (labels.dimension == "channel")].iloc[0]
    morning = datetime.combine(drop["day"] + timedelta(days=1), datetime.min.time()).replace(
        hour=7, minute=30, tzinfo=ZoneInfo("Asia/Shanghai"))
    outbox = Outbox(store)
    platform = chat.split(":")[0]
    install(Runtime(dispatcher, outbox, Deliverer(outbox, {platform: adapter}), clock=lambda: morning))  # type: ignore[dict-item]
    assert await run_alert_scan() == "queued 1"
    await Deliverer(outbox, {platform: adapter}).run_once()  # type: ignore[dict-item]
    return dict(drop)


def buttons(blocks: list[dict]) -> dict[str, str]:  # type: ignore[type-arg]
    return {e["text"]["text"]: e["value"] for b in blocks if b["type"] == "actions" for e in b["elements"]}


async def test_injected_drop_alert_is_acknowledged_from_its_button(
    slack: tuple[Dispatcher, SlackAdapter], store: Store, demo_shop: Shop, fake_slack: FakeSlack  # noqa: F811
) -> None:
    dispatcher, adapter = slack
    drop = await scan_the_morning_after_the_drop(dispatcher, store, demo_shop, "slack:COPS", adapter)
    [message] = [c for c in fake_slack.calls_to("chat.postMessage") if "anomaly" in c.text]
    assert message.args["channel"] == "COPS"
    assert f"channel={drop['value']}" in message.text  # the slice is named
    ack = next(v for label, v in buttons(message.blocks).items() if label.startswith("Ack"))
    alert_id = int(ack.split()[1])

    status, _, _ = await post(adapter, block_actions_form(ack, channel="COPS", user="UOPS"), FORM)
    assert status == 200
    for _ in range(100):
        with store.session() as s:
            alert = s.get(Alert, alert_id)
        if alert.status == "acked":
            break
        await asyncio.sleep(0.05)
    assert (alert.status, alert.acked_by) == ("acked", "slack:UOPS")
    answer = await fake_slack.wait_for("chat.postMessage", count=2)
    assert f"Alert #{alert_id} acknowledged by slack:UOPS" in answer.text
    assert json.dumps(message.blocks).count('"type": "button"') >= 5  # ack, assign, 2 snoozes, expected


async def test_telegram_alert_snoozed_from_its_inline_button(
    demo_settings: Settings, demo_warehouse: Warehouse, clock: Clock, store: Store, demo_shop: Shop,
    fake_telegram,  # noqa: F811
) -> None:
    from tests.bot.adapters.telegram.test_adapter import GROUP, OTHER_USER, make_adapter

    settings = demo_settings.model_copy(update={"access": demo_settings.access.model_copy(update={
        "chats": (f"telegram:{GROUP}",), "users": (), "admins": ()})})
    dispatcher = build_dispatcher(settings, demo_warehouse, clock=clock, store=store)
    api = fake_telegram
    adapter = make_adapter(api, dispatcher)
    await adapter.start()
    try:
        await scan_the_morning_after_the_drop(dispatcher, store, demo_shop, f"telegram:{GROUP}", adapter)
        [message] = await api.wait_for("sendMessage", chat_id=GROUP)
        keyboard = [b for row in message.params["reply_markup"]["inline_keyboard"] for b in row]
        snooze = next(b["callback_data"] for b in keyboard if b["text"] == "Snooze 4h")
        alert_id = int(snooze.split()[1])
        api.push(api.callback(snooze, chat_id=GROUP, user_id=OTHER_USER))
        await api.wait_for("answerCallbackQuery")
        calls = await api.wait_for("sendMessage", 2, chat_id=GROUP)
        assert f"Alert #{alert_id} snoozed for 4h" in calls[1].params["text"]
        with store.session() as s:
            alert = s.get(Alert, alert_id)
        assert alert.snoozed_by == f"telegram:{OTHER_USER}" and alert.snoozed_until is not None
    finally:
        await adapter.stop()
